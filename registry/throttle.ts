/**
 * Failure throttling (F2): at most `limit` failed attempts per key within
 * `windowMs`. Pure apart from its own counters; time is passed in.
 *
 * An attempt is counted when it starts (`reserve`), before the slow check it
 * guards (scrypt), so parallel attempts cannot pass the limit while the first
 * ones are still being checked; a success gives its reservation back
 * (`release`), a failure keeps it (`confirm`). A key that is full only
 * because attempts are still being checked is told to retry in a second.
 */

/** The wait given while a key is full of attempts still being checked. */
export const IN_FLIGHT_RETRY_MS = 1000;

export class FailureThrottle {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #failures = new Map<string, number[]>();
  /** Reserved attempts not yet released or confirmed, per key. */
  readonly #inFlight = new Map<string, number>();

  constructor(limit = 5, windowMs = 60_000) {
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  /** The number of failures allowed per key and window. */
  get limit(): number {
    return this.#limit;
  }

  /** Milliseconds until `keys` may try again; 0 when they may try now. */
  retryAfter(keys: string[], now: number): number {
    let wait = 0;
    for (const key of keys) {
      const times = this.#recent(key, now);
      if (times.length >= this.#limit) {
        const settled = times.length - (this.#inFlight.get(key) ?? 0);
        wait = Math.max(
          wait,
          settled >= this.#limit
            ? times[times.length - this.#limit]! + this.#windowMs - now
            : IN_FLIGHT_RETRY_MS,
        );
      }
    }
    return wait;
  }

  /**
   * Counts an attempt against every key at `now`, as a failure until
   * `release` says otherwise. Returns 0 when reserved, or the wait in
   * milliseconds (and counts nothing) when a key is spent.
   */
  reserve(keys: string[], now: number): number {
    const wait = this.retryAfter(keys, now);
    if (wait > 0) return wait;
    this.fail(keys, now);
    for (const key of keys) {
      this.#inFlight.set(key, (this.#inFlight.get(key) ?? 0) + 1);
    }
    return 0;
  }

  /** Keeps a reservation as the failure it was counted as (the check failed). */
  confirm(keys: string[]): void {
    for (const key of keys) this.#settle(key);
  }

  /** Gives back a reservation made at `at` (the attempt succeeded). */
  release(keys: string[], at: number): void {
    for (const key of keys) {
      this.#settle(key);
      const times = this.#failures.get(key);
      const i = times?.lastIndexOf(at) ?? -1;
      if (i >= 0) times!.splice(i, 1);
      if (times?.length === 0) this.#failures.delete(key);
    }
  }

  /** Records one failure against every key. */
  fail(keys: string[], now: number): void {
    for (const key of keys) {
      const times = this.#recent(key, now);
      times.push(now);
      this.#failures.set(key, times);
    }
  }

  /** Forgets the failures of a key (after a successful login). */
  clear(key: string): void {
    this.#failures.delete(key);
  }

  /** Drops expired entries so memory stays bounded; call now and then. */
  prune(now: number): void {
    for (const [key] of this.#failures) {
      if (this.#recent(key, now).length === 0) this.#failures.delete(key);
    }
  }

  /** Keys currently tracked (for tests and memory checks). */
  get size(): number {
    return this.#failures.size;
  }

  #settle(key: string): void {
    const n = (this.#inFlight.get(key) ?? 0) - 1;
    if (n > 0) this.#inFlight.set(key, n);
    else this.#inFlight.delete(key);
  }

  #recent(key: string, now: number): number[] {
    const times = this.#failures.get(key);
    if (!times) return [];
    const fresh = times.filter((t) => now - t < this.#windowMs);
    if (fresh.length !== times.length) this.#failures.set(key, fresh);
    return fresh;
  }
}
