/**
 * "Did you mean": the known word closest to a mistyped one, by edit
 * distance (insertions, deletions, substitutions and swaps of two
 * neighbours each cost one), so `pear` finds `peer` and `--regsitry` finds
 * `--registry`. Pure.
 */

/** The edit distance of `a` and `b` with swaps of neighbours (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  // d[i][j]: distance of the first i of x and the first j of y.
  const d: number[][] = Array.from(
    { length: x.length + 1 },
    (_, i) => Array.from({ length: y.length + 1 }, (_, j) => i === 0 ? j : i),
  );
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let best = Math.min(
        d[i - 1]![j]! + 1,
        d[i]![j - 1]! + 1,
        d[i - 1]![j - 1]! + cost,
      );
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[x.length]![y.length]!;
}

/**
 * How far a word may be from a known one and still be suggested: one edit
 * for short words, one more per four characters, at most three.
 */
export function suggestionLimit(word: string): number {
  return Math.min(3, 1 + Math.floor([...word].length / 4));
}

/**
 * The candidate closest to `word` (ignoring case), or null when none is
 * within `suggestionLimit`; a tie goes to the candidate listed first.
 */
export function closest(
  word: string,
  candidates: Iterable<string>,
): string | null {
  const w = word.toLowerCase();
  let best: string | null = null;
  let bestDistance = suggestionLimit(w) + 1;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDistance && d < [...c].length) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
