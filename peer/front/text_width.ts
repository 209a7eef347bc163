/**
 * How much room text takes on a terminal: user-perceived characters
 * (grapheme clusters, by Intl.Segmenter) and the columns each one fills.
 *
 * East Asian Wide and Fullwidth characters and emoji (emoji presentation,
 * ZWJ sequences, skin tones, flags, keycaps) take two columns; combining
 * marks and other zero-width characters take none; everything else one
 * (East Asian Ambiguous counts as narrow, as terminals outside CJK locales
 * draw it). Control characters never reach a screen raw: `visibleForm`
 * gives what to draw instead. Pure; plain printable ASCII takes a fast path.
 */

/** Wide and Fullwidth ranges of Unicode's EastAsianWidth (emoji are matched separately). */
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x2329, 0x232a],
  [0x2e80, 0x2e99],
  [0x2e9b, 0x2ef3],
  [0x2f00, 0x2fd5],
  [0x2ff0, 0x303e],
  [0x3041, 0x3096],
  [0x3099, 0x30ff],
  [0x3105, 0x312f],
  [0x3131, 0x318e],
  [0x3190, 0x31e5],
  [0x31ef, 0x321e],
  [0x3220, 0x3247],
  [0x3250, 0xa48c],
  [0xa490, 0xa4c6],
  [0xa960, 0xa97c],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe52],
  [0xfe54, 0xfe66],
  [0xfe68, 0xfe6b],
  [0xff01, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x16ff0, 0x16ff1],
  [0x17000, 0x187f7],
  [0x18800, 0x18cd5],
  [0x18d00, 0x18d08],
  [0x1aff0, 0x1aff3],
  [0x1aff5, 0x1affb],
  [0x1affd, 0x1affe],
  [0x1b000, 0x1b122],
  [0x1b132, 0x1b132],
  [0x1b150, 0x1b152],
  [0x1b155, 0x1b155],
  [0x1b164, 0x1b167],
  [0x1b170, 0x1b2fb],
  [0x1f200, 0x1f202],
  [0x1f210, 0x1f23b],
  [0x1f240, 0x1f248],
  [0x1f250, 0x1f251],
  [0x1f260, 0x1f265],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

/** Whether code point `cp` is East Asian Wide or Fullwidth (binary search). */
export function isWideCodePoint(cp: number): boolean {
  if (cp < 0x1100) return false;
  let lo = 0;
  let hi = WIDE.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = WIDE[mid]!;
    if (cp < a) hi = mid - 1;
    else if (cp > b) lo = mid + 1;
    else return true;
  }
  return false;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const RGI_EMOJI = /^\p{RGI_Emoji}$/v;
const EMOJI_PRESENTATION = /^\p{Emoji_Presentation}/u;
const PICTOGRAPHIC = /^\p{Extended_Pictographic}/u;
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}\u1160-\u11ff]/u;
const BIDI_CONTROL = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

let segmenter: Intl.Segmenter | null = null;

/**
 * Builds the grapheme segmenter and compiles the emoji patterns now (about
 * 15 ms the first time), so the first paste or emoji typed does not wait.
 */
export function warmUp(): void {
  graphemes("a\u0301");
  graphemeWidth("\u{1f44d}\u{1f3fd}");
  graphemeWidth("\u0301\u0301");
}

/** Whether `text` is plain printable ASCII, where a character is one column. */
export function isPrintableAscii(text: string): boolean {
  return PRINTABLE_ASCII.test(text);
}

/** Splits text into grapheme clusters (what a person sees as one character). */
export function graphemes(text: string): string[] {
  if (isPrintableAscii(text)) return text.split("");
  segmenter ??= new Intl.Segmenter(undefined, { granularity: "grapheme" });
  const out: string[] = [];
  for (const s of segmenter.segment(text)) out.push(s.segment);
  return out;
}

/** Whether a grapheme is a bidirectional embedding, override, isolate or mark. */
export function isBidiControl(g: string): boolean {
  return g.length === 1 && BIDI_CONTROL.test(g);
}

/**
 * What to draw in place of a grapheme that must not reach a terminal raw, or
 * null when it is safe as it is: a line break shows as ↵, another C0 control
 * as its control picture (␛ for ESC, ␉ for a tab), DEL as ␡, a C1 control
 * as U+FFFD, and a bidi control as `<U+202E>` so it cannot reorder the line.
 */
export function visibleForm(g: string): string | null {
  const cp = g.codePointAt(0)!;
  if (cp >= 0x20 && cp < 0x7f) return null;
  if (g === "\n" || g === "\r\n" || g === "\r") return "\u21b5";
  if (cp < 0x20) return String.fromCharCode(0x2400 + cp);
  if (cp === 0x7f) return "\u2421";
  if (cp >= 0x80 && cp < 0xa0) return "\ufffd";
  if (isBidiControl(g)) {
    return `<U+${cp.toString(16).toUpperCase().padStart(4, "0")}>`;
  }
  return null;
}

/** Columns one code point takes on its own. */
function codePointWidth(cp: number, ch: string): number {
  if (cp < 0x300) return 1;
  if (EMOJI_PRESENTATION.test(ch)) return 2;
  if (isWideCodePoint(cp)) return 2;
  if (ZERO_WIDTH.test(ch)) return 0;
  return 1;
}

/**
 * Columns one grapheme takes as it is drawn (after `visibleForm`): 2 for a
 * wide character or an emoji (with its skin tone, ZWJ sequence, flag or
 * keycap), 0 for a lone combining or zero-width mark. Any other cluster
 * takes what its code points take one by one, as terminals draw it: é is
 * 1, a skin tone after a letter stands on its own (x🏽 is 3). A control's
 * width is that of its visible form.
 */
export function graphemeWidth(g: string): number {
  const cp = g.codePointAt(0);
  if (cp === undefined) return 0;
  if (g.length === 1 && cp >= 0x20 && cp < 0x7f) return 1;
  const shown = visibleForm(g);
  if (shown !== null) return shown.length;
  if (g.length === 1 || (g.length === 2 && cp > 0xffff)) {
    return codePointWidth(cp, g);
  }
  // A text presentation selector asks for the narrow glyph.
  if (g.includes("\ufe0e") && !g.includes("\u200d")) {
    return isWideCodePoint(cp) ? 2 : 1;
  }
  if (RGI_EMOJI.test(g)) return 2;
  if (g.includes("\ufe0f") && PICTOGRAPHIC.test(g)) return 2;
  let w = 0;
  for (const ch of g) w += codePointWidth(ch.codePointAt(0)!, ch);
  return w;
}

/** Code points that extend the character before them rather than stand alone. */
const EXTENDS = /^[\p{Grapheme_Extend}\p{Emoji_Modifier}\p{Mc}\u200d]/u;

/**
 * What a line editor draws for a grapheme: its `visibleForm`; a grapheme
 * that starts with a mark (a combining accent or a skin tone with nothing
 * before it) on a dotted circle ◌, as it would otherwise join whatever is
 * drawn before it; another zero-width one (U+200B, say) as `<U+200B>`, so a
 * cursor never sits on something unseen. Null when drawn as it is.
 */
export function editorForm(g: string): string | null {
  const shown = visibleForm(g);
  if (shown !== null) return shown;
  if (EXTENDS.test(g)) return "\u25cc" + g;
  if (graphemeWidth(g) !== 0) return null;
  const cp = g.codePointAt(0)!;
  return `<U+${cp.toString(16).toUpperCase().padStart(4, "0")}>`;
}

/** Columns `editorForm(g) ?? g` takes. */
export function editorWidth(g: string): number {
  const shown = editorForm(g);
  return shown === null ? graphemeWidth(g) : textWidth(shown);
}

/** Columns a plain string (no escape sequences) takes on one row. */
export function textWidth(text: string): number {
  if (isPrintableAscii(text)) return text.length;
  let w = 0;
  for (const g of graphemes(text)) w += graphemeWidth(g);
  return w;
}

/** The text to draw for a plain string: controls in their visible form. */
export function visibleText(text: string): string {
  if (isPrintableAscii(text)) return text;
  let out = "";
  for (const g of graphemes(text)) out += visibleForm(g) ?? g;
  return out;
}

/** CSI sequences (colours, cursor moves) and OSC strings in trusted styled text. */
// deno-lint-ignore no-control-regex
const ANSI_RE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;

/** Removes escape sequences from styled text (ours, never untrusted text). */
export function stripAnsi(text: string): string {
  return text.includes("\x1b") ? text.replace(ANSI_RE, "") : text;
}

/** Columns styled text takes on one row, escape sequences not counted. */
export function styledWidth(text: string): number {
  return textWidth(stripAnsi(text));
}

/**
 * Plain text cut to at most `max` columns, ending in "…" when cut; a wide
 * character never hangs over the limit.
 */
export function truncateText(text: string, max: number): string {
  if (textWidth(text) <= max) return text;
  if (max <= 0) return "";
  let out = "";
  let w = 0;
  for (const g of graphemes(text)) {
    const gw = graphemeWidth(g);
    if (w + gw > max - 1) break;
    out += visibleForm(g) ?? g;
    w += gw;
  }
  return out + "\u2026";
}
