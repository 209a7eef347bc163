/**
 * A token bucket counted in bytes: `bytesPerSecond` refill up to
 * `burstBytes`. Pure: the caller passes the time, so a relay's rate caps are
 * tested on a manual clock.
 */
export class ByteBucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly bytesPerSecond: number,
    readonly burstBytes: number,
    now: number,
  ) {
    if (!(bytesPerSecond > 0) || !(burstBytes >= 1)) {
      throw new RangeError(
        `a byte bucket needs a rate above 0 and a burst of at least 1 byte, got ${bytesPerSecond}/s and ${burstBytes}`,
      );
    }
    this.#tokens = burstBytes;
    this.#at = now;
  }

  /** Whole bytes that may pass at `now`. */
  available(now: number): number {
    this.#refill(now);
    return Math.floor(this.#tokens);
  }

  /** Spends `bytes` (at most what is available). */
  take(bytes: number, now: number): void {
    this.#refill(now);
    this.#tokens = Math.max(0, this.#tokens - bytes);
  }

  /** Milliseconds from `now` until `bytes` (capped at the burst) may pass. */
  msUntil(bytes: number, now: number): number {
    this.#refill(now);
    const missing = Math.min(bytes, this.burstBytes) - this.#tokens;
    return missing <= 0 ? 0 : Math.ceil((missing * 1000) / this.bytesPerSecond);
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#at) / 1000;
    this.#tokens = Math.min(
      this.burstBytes,
      this.#tokens + elapsed * this.bytesPerSecond,
    );
    this.#at = Math.max(this.#at, now);
  }
}
