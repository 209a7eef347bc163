/**
 * Rate limits for log lines a client can cause (a throttled login, a drop):
 * at most `perWindow` lines per source (an address) per window, then one
 * summary line saying how many were suppressed. Pure: time is passed in.
 */
export class LogLimiter {
  readonly #windows = new Map<
    string,
    { start: number; lines: number; suppressed: number }
  >();

  constructor(readonly perWindow: number, readonly windowMs: number) {}

  /** True if `source` may log a line at `now`; counts it either way. */
  admit(source: string, now: number): boolean {
    let w = this.#windows.get(source);
    if (!w || now - w.start >= this.windowMs) {
      w = { start: now, lines: 0, suppressed: w?.suppressed ?? 0 };
      this.#windows.set(source, w);
    }
    if (w.lines < this.perWindow) {
      w.lines++;
      return true;
    }
    w.suppressed++;
    return false;
  }

  /**
   * Sources whose window has ended with lines suppressed, and how many; their
   * counts start again. Expired windows are forgotten.
   */
  flush(now: number): { source: string; suppressed: number }[] {
    const out: { source: string; suppressed: number }[] = [];
    for (const [source, w] of this.#windows) {
      if (now - w.start < this.windowMs) continue;
      if (w.suppressed > 0) out.push({ source, suppressed: w.suppressed });
      this.#windows.delete(source);
    }
    return out;
  }

  /** Sources tracked (for tests and memory checks). */
  get size(): number {
    return this.#windows.size;
  }
}
