/**
 * Reconnection backoff (F18) as a pure function: capped exponential growth
 * with "equal jitter", so a registry restart is not met by every peer at once.
 *
 * Two caps. An attempt that reached the registry and failed there (a timeout,
 * a dropped connection, a login that could not be served) backs off up to
 * `capMs`, so an overloaded registry is not hammered. An attempt that never
 * reached it (connection refused, network unreachable, a TCP connect without
 * an answer) cost the registry nothing, so those retry at most
 * `unreachableCapMs` apart: a registry that
 * was down for a long time is found again within a couple of seconds of its
 * restart instead of up to 30 s later.
 */

/** Backoff settings. */
export interface BackoffPolicy {
  /** Delay before the first retry. */
  baseMs: number;
  /** Largest delay. */
  capMs: number;
  /**
   * Largest delay after an attempt that never reached the registry (refused
   * or unreachable); `capMs` when absent.
   */
  unreachableCapMs?: number;
}

/** The default policy: 0.5 s doubling up to 30 s, or up to 2 s while refused. */
export const DEFAULT_BACKOFF: BackoffPolicy = {
  baseMs: 500,
  capMs: 30_000,
  unreachableCapMs: 2_000,
};

/**
 * Delay before retry number `attempt` (0-based). `random` is in [0, 1); the
 * result lies in [d/2, d] where d = min(cap, base * 2^attempt), and the cap is
 * `unreachableCapMs` when the previous attempt never reached the registry.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: number,
  unreachable = false,
): number {
  const cap = unreachable
    ? Math.min(policy.capMs, policy.unreachableCapMs ?? policy.capMs)
    : policy.capMs;
  const exp = Math.min(cap, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(exp / 2 + (exp / 2) * random);
}

/**
 * The delays of one reconnection, attempt after attempt: refused or
 * unreachable attempts retry within `unreachableCapMs` and do not grow the
 * delay of the attempts that reach the registry, so a registry that was
 * down for a while is not met by peers waiting the full cap once it is back.
 */
export class Backoff {
  #attempt = 0;
  #reached = 0;
  #unreachable = false;

  constructor(readonly policy: BackoffPolicy = DEFAULT_BACKOFF) {}

  /** The delay before the next attempt; `random` is in [0, 1). */
  next(random: number): number {
    return backoffDelay(
      this.#unreachable ? this.#attempt : this.#reached,
      this.policy,
      random,
      this.#unreachable,
    );
  }

  /** Records a failed attempt: `unreachable` when it never reached the registry. */
  failed(unreachable: boolean): void {
    this.#attempt++;
    this.#unreachable = unreachable;
    if (!unreachable) this.#reached++;
  }
}
