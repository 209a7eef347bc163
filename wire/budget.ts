/**
 * A shared byte budget: what many buffers may hold together. The frame
 * decoders of unauthenticated connections charge their partial frames to
 * one, so the memory all of them pin stays bounded whatever they announce.
 */

/** Bytes taken from and given back to a shared limit. */
export interface ByteBudget {
  /** The limit, for messages. */
  readonly limit: number;
  /** Takes `n` bytes; false (and nothing taken) when that would pass the limit. */
  take(n: number): boolean;
  /** Gives `n` bytes back. */
  give(n: number): void;
}

/** A ByteBudget counted in memory. */
export class MemoryBudget implements ByteBudget {
  #used = 0;

  constructor(readonly limit: number) {}

  /** Bytes taken now. */
  get used(): number {
    return this.#used;
  }

  take(n: number): boolean {
    if (this.#used + n > this.limit) return false;
    this.#used += n;
    return true;
  }

  give(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }
}
