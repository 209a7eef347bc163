/**
 * Presence: who hears that a user came or went, how sessions end, heartbeats
 * and the sweep that ends silent or idle sessions.
 *
 * The rules of expiry are pure (`../presence.ts`); this file applies them and
 * pushes the events. Pushes go only to interactive sessions.
 */
import {
  type Heartbeat,
  heartbeatMacOk,
  type RegistryEvent,
} from "../../wire/mod.ts";
import type { Clock } from "../clock.ts";
import { expiredSessions, forgiveStall } from "../presence.ts";
import type { Session } from "../sessions.ts";
import type { ServiceContext } from "./context.ts";
import { event } from "./route.ts";

/**
 * Sends an event to `user`'s interactive session, if they are online,
 * wherever it is (through the directory: another registry of a cluster).
 */
export function push(
  ctx: ServiceContext,
  user: string,
  ev: RegistryEvent,
): void {
  ctx.directory.deliver([user], ev);
}

/** Users whose audiences one store lookup finds (see announceAll). */
export const AUDIENCE_BATCH = 200;

/** Who should hear about `user`'s presence: online friends and room mates. */
async function audience(ctx: ServiceContext, user: string): Promise<string[]> {
  return online(ctx, (await ctx.store.audiencesOf([user])).get(user));
}

function online(ctx: ServiceContext, names: string[] = []): string[] {
  return names.filter((name) => ctx.directory.peerOf(name));
}

/**
 * Tells the audiences of many users that they went offline, looking the
 * audiences up AUDIENCE_BATCH users at a time; a user who is online again
 * by then (logged in on another instance of a cluster) is left out.
 */
async function announceOffline(
  ctx: ServiceContext,
  users: string[],
): Promise<void> {
  const gone = (user: string) => !ctx.directory.peerOf(user);
  const left = [...new Set(users)].filter(gone);
  for (let i = 0; i < left.length; i += AUDIENCE_BATCH) {
    const batch = left.slice(i, i + AUDIENCE_BATCH);
    const audiences = await ctx.store.audiencesOf(batch);
    for (const user of batch) {
      if (!gone(user)) continue;
      ctx.directory.deliver(
        online(ctx, audiences.get(user)),
        event({ type: "presence", user, online: false }),
      );
    }
  }
}

/** Tells `user`'s audience that they came online or went offline. */
export async function announce(
  ctx: ServiceContext,
  user: string,
  online: boolean,
): Promise<void> {
  ctx.directory.deliver(
    await audience(ctx, user),
    event({ type: "presence", user, online }),
  );
}

/**
 * Tells a newly online user what waited for them: the first page of friend
 * requests and of invitations (loginPushItems each), and, when more wait,
 * a `pending` event with the totals so the client can page through them. An
 * account flooded with invitations is never sent more than that at login.
 */
export async function welcome(ctx: ServiceContext, s: Session): Promise<void> {
  const first = { offset: 0, limit: ctx.config.loginPushItems };
  const requests = await ctx.store.requestsOf(s.user, first);
  for (const from of requests.incoming) {
    s.link.send(event({ type: "friend_request", from }));
  }
  const invites = await ctx.store.invitesFor(s.user, first);
  for (const inv of invites.invites) {
    s.link.send(
      event({ type: "room_invite", room: inv.room, from: inv.inviter }),
    );
  }
  if (
    requests.incomingTotal > requests.incoming.length ||
    invites.total > invites.invites.length
  ) {
    s.link.send(event({
      type: "pending",
      friend_requests: requests.incomingTotal,
      invites: invites.total,
    }));
  }
}

/**
 * Ends a session. A peer going offline gets its last-seen time stored and
 * its audience told — unless `batch` collects the name, so a sweep that
 * ends many sessions writes all their last-seen times in one transaction.
 */
export async function endSession(
  ctx: ServiceContext,
  s: Session,
  why: string,
  batch?: string[],
): Promise<void> {
  if (!ctx.sessions.remove(s)) return;
  if (s.client?.session === s) s.client.session = null;
  ctx.logger.info("logout", { user: s.user, kind: s.kind, reason: why });
  if (s.kind !== "peer") return await release(ctx, s);
  if (batch) {
    batch.push(s.user);
    return await release(ctx, s);
  }
  await wentOffline(ctx, [s.user], [s]);
}

/** Writes the device logins collected since the last sweep, in one batch. */
async function recordDeviceUses(ctx: ServiceContext): Promise<void> {
  if (ctx.deviceUses.size === 0) return;
  const uses = [...ctx.deviceUses.values()];
  ctx.deviceUses.clear();
  try {
    await ctx.store.touchDevices(uses);
  } catch (err) {
    // Only "last used" of `chat devices` is late; the next sweep tries the
    // newer ones again.
    ctx.logger.error("device last-used write failed", {
      devices: uses.length,
      error: err instanceof Error ? err.message : String(err),
    });
  }
}

/** Takes an ended session out of the directory; see the catch for failures. */
async function release(ctx: ServiceContext, s: Session): Promise<void> {
  try {
    await ctx.directory.release(s);
  } catch (err) {
    // The cluster's directory puts itself right from the session table
    // once the database is back (registry/cluster.ts).
    ctx.logger.warn("directory release failed", {
      user: s.user,
      error: err instanceof Error ? err.message : String(err),
    });
  }
}

/**
 * Stores the last-seen time of users gone offline, then takes their ended
 * `sessions` out of the directory (so nobody sees them offline without a
 * last-seen time) and tells their audiences.
 */
export async function wentOffline(
  ctx: ServiceContext,
  users: string[],
  sessions: Session[] = [],
): Promise<void> {
  try {
    try {
      await ctx.store.setLastSeen(users, ctx.now());
    } finally {
      // Released even when the time could not be stored.
      for (const s of sessions) await release(ctx, s);
    }
    await announceOffline(ctx, users);
  } catch (err) {
    ctx.logger.error("logout bookkeeping failed", {
      users: users.length,
      error: err instanceof Error ? err.message : String(err),
    });
  }
}

/**
 * After another instance of a cluster swept this one's sessions (it stalled
 * longer than its lease) and they were registered again: tells the users
 * elsewhere in the audiences of `back` (this registry's users whose
 * sessions are registered again) that they are online, and tells this
 * registry's own users the presence of `changed` (users who came or went on
 * other instances meanwhile, whose pushes did not reach them).
 */
export async function cameBack(
  ctx: ServiceContext,
  back: string[],
  changed: string[],
): Promise<void> {
  const local = (name: string) => ctx.sessions.peerOf(name) !== undefined;
  for (const user of back) {
    if (!local(user)) continue; // Ended meanwhile.
    // This registry's users never heard that they went offline.
    ctx.directory.deliver(
      (await audience(ctx, user)).filter((name) => !local(name)),
      event({ type: "presence", user, online: true }),
    );
  }
  for (const user of changed) {
    if (local(user)) continue;
    const online = ctx.directory.peerOf(user) !== undefined;
    ctx.directory.deliver(
      (await audience(ctx, user)).filter(local),
      event({ type: "presence", user, online }),
    );
  }
}

/** Accepts a heartbeat datagram if its MAC and counter are right. */
export function acceptHeartbeat(
  ctx: ServiceContext,
  hb: Heartbeat,
  now: number,
): boolean {
  return acceptBeat(ctx, hb.session, hb.seq, hb.bytes, now);
}

/**
 * acceptHeartbeat for a datagram already parsed into its session id and
 * counter (`bytes` passed looksLikeHeartbeat): what the UDP path calls, with
 * nothing to allocate.
 */
export function acceptBeat(
  ctx: ServiceContext,
  session: string,
  seq: number,
  bytes: Uint8Array,
  now: number,
): boolean {
  const s = ctx.sessions.byId(session);
  if (!s || seq <= s.lastSeq || !heartbeatMacOk(bytes, s.macKey)) {
    return false;
  }
  s.lastSeq = seq;
  s.lastBeat = now;
  return true;
}

/** Ends sessions whose heartbeats stopped or that sat idle too long. */
export async function sweep(ctx: ServiceContext, now: number): Promise<number> {
  const cfg = ctx.config;
  const flooded = now - ctx.udpFlood.lastAt <= cfg.heartbeatTtlMs;
  const expired = expiredSessions(
    ctx.sessions.all(),
    now,
    flooded
      ? Math.max(cfg.heartbeatTtlMs, cfg.heartbeatFloodTtlMs)
      : cfg.heartbeatTtlMs,
    cfg.idleTimeoutMs,
  );
  const offline: string[] = [];
  for (const { session, reason } of expired) {
    ctx.logger.info("timeout", {
      user: session.user,
      kind: session.kind,
      reason,
    });
    session.link.send(event({ type: "timeout", reason }));
    await endSession(ctx, session, `timeout:${reason}`, offline);
    void session.link.closeAfterFlush();
  }
  if (offline.length > 0) await wentOffline(ctx, offline);
  await recordDeviceUses(ctx);
  ctx.loginThrottle.prune(now);
  ctx.roomThrottle.prune(now);
  ctx.addressFailures.prune(now);
  ctx.signups.prune(now);
  for (const { source, suppressed } of ctx.logLimiter.flush(now)) {
    ctx.logger.warn("log suppressed", {
      source,
      lines: suppressed,
      window_s: Math.round(ctx.config.logWindowMs / 1000),
    });
  }
  return expired.length;
}

/**
 * Sweeps every `everyMs` on `clock` until disposed. A registry that was not
 * running (SIGSTOP, a suspended machine, a blocked event loop) heard no
 * heartbeats meanwhile: that silence is its own, so it is not held against
 * the peers.
 */
export function startSweeping(
  ctx: ServiceContext,
  clock: Clock,
  everyMs: number,
): Disposable {
  let lastTick = clock.now();
  const id = clock.setInterval(() => {
    const now = clock.now();
    const stalled = now - lastTick - everyMs;
    lastTick = now;
    if (stalled >= everyMs) {
      ctx.logger.warn("registry stalled", { ms: Math.round(stalled) });
      forgiveStall(ctx.sessions.all(), now, stalled);
    }
    sweep(ctx, now).catch((err) =>
      ctx.logger.error("sweep failed", { error: String(err) })
    );
  }, everyMs);
  return { [Symbol.dispose]: () => clock.clearInterval(id) };
}
