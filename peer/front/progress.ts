/**
 * The progress bar of file transfers on a terminal (F16): percent, rate and
 * ETA on one line of stderr, redrawn at most ten times a second. Off when
 * stderr is not a terminal.
 */
import type { PeerEvent } from "../core/mod.ts";

type Progress = Extract<PeerEvent, { type: "file_progress" }>;

/** Bytes in human units: 1.5 KiB, 20.0 MiB. */
export function showBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Seconds as m:ss or h:mm:ss. */
export function showEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** One progress line, at most `width` columns. Pure. */
export function formatProgress(p: Progress, width: number): string {
  const arrow = p.direction === "out" ? `→ ${p.peer}` : `← ${p.peer}`;
  const rate = `${showBytes(p.rate)}/s`;
  if (p.size === null || p.size === 0) {
    return truncate(
      `${p.name} ${arrow}  ${showBytes(p.bytes)}  ${rate}`,
      width,
    );
  }
  const fraction = Math.min(1, p.bytes / p.size);
  const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
  const eta = p.rate > 0 ? showEta((p.size - p.bytes) / p.rate) : "--:--";
  const tail = ` ${pct}  ${showBytes(p.bytes)}/${
    showBytes(p.size)
  }  ${rate}  ETA ${eta}`;
  const head = `${p.name} ${arrow} `;
  const barWidth = Math.max(
    0,
    Math.min(30, width - head.length - tail.length - 2),
  );
  const filled = Math.round(fraction * barWidth);
  const bar = barWidth > 0
    ? `[${"#".repeat(filled)}${".".repeat(barWidth - filled)}]`
    : "";
  return truncate(head + bar + tail, width);
}

function truncate(s: string, width: number): string {
  return s.length <= width ? s : s.slice(0, Math.max(0, width - 1)) + "…";
}

/** A self-redrawing line on a terminal stream. */
export class ProgressLine {
  readonly enabled: boolean;
  readonly #out: { writeSync(p: Uint8Array): number };
  readonly #enc = new TextEncoder();
  #last = -Infinity;
  #drawn = false;
  readonly #now: () => number;

  constructor(
    out: { writeSync(p: Uint8Array): number; isTerminal(): boolean },
    now: () => number = Date.now,
  ) {
    this.#out = out;
    this.#now = now;
    this.enabled = out.isTerminal();
  }

  /** Redraws with a progress event (throttled to 10 per second). */
  update(p: Progress): void {
    const line = this.render(p);
    if (line === null) return;
    this.#write(`\r\x1b[2K${line}`);
    this.#drawn = true;
  }

  /**
   * The line to draw for `p` now, or null when it is off or the last one was
   * drawn less than 100 ms ago (the last bytes of a sized transfer always
   * draw). For a front end that draws the line itself (the shell, above its
   * prompt).
   */
  render(p: Progress): string | null {
    if (!this.enabled) return null;
    const now = this.#now();
    if (now - this.#last < 100 && p.bytes !== p.size) return null;
    this.#last = now;
    return formatProgress(p, columns() - 1);
  }

  /** Shows a one-line note (waiting for an answer, say). */
  note(text: string): void {
    if (!this.enabled) return;
    this.#write(`\r\x1b[2K${text}`);
    this.#drawn = true;
  }

  /** Ends the line so later output starts clean. */
  done(): void {
    if (!this.#drawn) return;
    this.#drawn = false;
    this.#write("\n");
  }

  #write(s: string): void {
    try {
      this.#out.writeSync(this.#enc.encode(s));
    } catch {
      // The terminal went away; progress is only decoration.
    }
  }
}

function columns(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 80;
  }
}
