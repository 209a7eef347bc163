/**
 * Event-loop lag of a `chat registry` process, sampled from inside it: run
 * with `deno run --preload bench/lag_probe.ts main.ts registry …` and
 * CHAT_BENCH_LAG_FILE set. A 10 ms timer records how late it fires; the
 * samples are appended to the file as `epoch ms,lag ms,` pairs every second
 * and when the process exits, so a registry killed with SIGKILL still leaves
 * all but its last second.
 */

/** Where the samples go; the probe does nothing without it. */
export const LAG_FILE_ENV = "CHAT_BENCH_LAG_FILE";

/** This file, for --preload. */
export const LAG_PROBE = new URL(import.meta.url).pathname;

/** Lag samples a probed registry left in its file, as [time, lag, …]. */
export async function readLag(lagFile: string): Promise<number[]> {
  try {
    const text = await Deno.readTextFile(lagFile);
    return text.split(",").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Lag samples whose time falls in [from, to]. */
export function lagIn(flat: number[], from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    if (flat[i]! >= from && flat[i]! <= to) out.push(flat[i + 1]!);
  }
  return out;
}

function startProbe(lagFile: string): void {
  let samples: number[] = [];
  const every = 10;
  let expected = performance.now() + every;
  const tick = () => {
    const now = performance.now();
    samples.push(
      Date.now(),
      Math.round(Math.max(0, now - expected) * 100) / 100,
    );
    expected = now + every;
    timer = later(tick, every);
  };
  // Preloaded timers must not keep the loop alive: Deno runs the main
  // module only once the preloaded ones have nothing left to wait for.
  const later = (fn: () => void, ms: number) => {
    const id = setTimeout(fn, ms);
    Deno.unrefTimer(id);
    return id;
  };
  let timer = later(tick, every);
  const flush = () => {
    if (samples.length === 0) return;
    try {
      Deno.writeTextFileSync(lagFile, samples.join(",") + ",", {
        append: true,
      });
      samples = [];
    } catch {
      // Out of descriptors in a storm: keep them for the next second.
    }
  };
  const flusher = setInterval(flush, 1_000);
  Deno.unrefTimer(flusher);
  // The registry exits with Deno.exit once it has shut down.
  globalThis.addEventListener("unload", () => {
    clearTimeout(timer);
    clearInterval(flusher);
    flush();
  });
}

const lagFile = Deno.env.get(LAG_FILE_ENV);
if (lagFile) startProbe(lagFile);
