/**
 * Token buckets: `rate` tokens per second up to `burst`. Pure: the caller
 * passes the time.
 */
/** Refills in many small steps add rounding error: a token this close counts. */
const EPSILON = 1e-9;

export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(readonly rate: number, readonly burst: number, now: number) {
    this.#tokens = burst;
    this.#at = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1 - EPSILON) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }

  /** Milliseconds until a token is there; 0 when one is there now. */
  waitMs(now: number): number {
    this.#refill(now);
    if (this.#tokens >= 1 - EPSILON) return 0;
    return this.rate > 0
      ? Math.ceil((1 - this.#tokens) / this.rate * 1000)
      : Infinity;
  }

  /** Gives a token back (the attempt it paid for turned out free). */
  refund(): void {
    this.#tokens = Math.min(this.burst, this.#tokens + 1);
  }

  /** True when the bucket is full at `now`: forgetting it changes nothing. */
  full(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.burst - EPSILON;
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#at) / 1000;
    this.#tokens = Math.min(this.burst, this.#tokens + elapsed * this.rate);
    this.#at = now;
  }
}

/**
 * One token bucket per key (an address, say), made when first needed and
 * forgotten once full again, so memory follows the keys that are busy now.
 */
export class KeyedBuckets {
  readonly #buckets = new Map<string, TokenBucket>();

  /** `perMinute` tokens a minute per key, up to `burst`. */
  constructor(readonly perMinute: number, readonly burst: number) {}

  /** Takes a token for `key`: 0 when taken, else the wait in milliseconds. */
  take(key: string, now: number): number {
    let b = this.#buckets.get(key);
    if (!b) {
      b = new TokenBucket(this.perMinute / 60, this.burst, now);
      this.#buckets.set(key, b);
    }
    if (b.take(now)) return 0;
    return b.waitMs(now);
  }

  /** Gives back a token taken for `key`. */
  refund(key: string): void {
    this.#buckets.get(key)?.refund();
  }

  /** Forgets full buckets; call now and then. */
  prune(now: number): void {
    for (const [key, b] of this.#buckets) {
      if (b.full(now)) this.#buckets.delete(key);
    }
  }

  /** Keys tracked (for tests and memory checks). */
  get size(): number {
    return this.#buckets.size;
  }
}
