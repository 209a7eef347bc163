/**
 * Presence rules (F3, F9) as a pure function: which sessions have gone silent
 * or idle at time `now`.
 */

/** The timing a sweep looks at. */
export interface PresenceTimes {
  lastBeat: number;
  /** The counter of the last heartbeat accepted; 0 before the first. */
  lastSeq: number;
  /**
   * How long its first heartbeat may take when that is longer than the
   * TTL (0: the TTL): set for a login during a storm (see
   * ServiceConfig.firstHeartbeatMs).
   */
  firstBeatMs: number;
  lastAction: number;
  kind: string;
}

/** Why a session is being ended by the sweep. */
export type Expiry = "heartbeat" | "idle";

/**
 * Sessions whose last heartbeat is older than `ttlMs` (or, before the
 * first, than their own `firstBeatMs` when longer), and interactive
 * sessions without a user action for `idleMs` (0 disables idle logout).
 */
export function expiredSessions<S extends PresenceTimes>(
  sessions: Iterable<S>,
  now: number,
  ttlMs: number,
  idleMs: number,
): { session: S; reason: Expiry }[] {
  const out: { session: S; reason: Expiry }[] = [];
  for (const s of sessions) {
    const allowed = s.lastSeq === 0 ? Math.max(ttlMs, s.firstBeatMs) : ttlMs;
    if (now - s.lastBeat > allowed) {
      out.push({ session: s, reason: "heartbeat" });
    } else if (idleMs > 0 && s.kind === "peer" && now - s.lastAction > idleMs) {
      out.push({ session: s, reason: "idle" });
    }
  }
  return out;
}

/**
 * Moves the last heartbeat and action of every session forward by `stalledMs`
 * (never past `now`): time the registry itself was not running is not held
 * against the peers.
 */
export function forgiveStall(
  sessions: Iterable<{ lastBeat: number; lastAction: number }>,
  now: number,
  stalledMs: number,
): void {
  for (const s of sessions) {
    s.lastBeat = Math.min(now, s.lastBeat + stalledMs);
    s.lastAction = Math.min(now, s.lastAction + stalledMs);
  }
}
