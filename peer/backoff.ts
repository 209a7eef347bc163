/**
 * Reconnection backoff (F18) as a pure function: capped exponential growth
 * with "equal jitter", so a registry restart is not met by every peer at once.
 */

/** Backoff settings. */
export interface BackoffPolicy {
  /** Delay before the first retry. */
  baseMs: number;
  /** Largest delay. */
  capMs: number;
}

/** The default policy: 0.5 s doubling up to 30 s. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 30_000 };

/**
 * Delay before retry number `attempt` (0-based). `random` is in [0, 1); the
 * result lies in [d/2, d] where d = min(cap, base * 2^attempt).
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: number,
): number {
  const exp = Math.min(
    policy.capMs,
    policy.baseMs * 2 ** Math.min(attempt, 30),
  );
  return Math.round(exp / 2 + (exp / 2) * random);
}
