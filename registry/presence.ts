/**
 * Presence rules (F3, F9) as a pure function: which sessions have gone silent
 * or idle at time `now`.
 */

/** The timing a sweep looks at. */
export interface PresenceTimes {
  lastBeat: number;
  lastAction: number;
  kind: string;
}

/** Why a session is being ended by the sweep. */
export type Expiry = "heartbeat" | "idle";

/**
 * Sessions whose last heartbeat is older than `ttlMs`, and interactive
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
    if (now - s.lastBeat > ttlMs) out.push({ session: s, reason: "heartbeat" });
    else if (idleMs > 0 && s.kind === "peer" && now - s.lastAction > idleMs) {
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
