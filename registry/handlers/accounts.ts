/**
 * Accounts and sessions: sign-up, login (with --replace), logout, the
 * keep-alive `active` and the status text.
 */
import {
  base64url,
  bytesToHex,
  type ErrorCode,
  HeartbeatKey,
  MIN_PASSWORD_CHARS,
  type ReplyData,
  type RequestOf,
} from "../../wire/mod.ts";
import { fingerprintPem } from "../../common/fingerprint.ts";
import {
  burnPasswordCheck,
  hashPassword,
  verifyPassword,
} from "../passwords.ts";
import type { Session } from "../sessions.ts";
import type { UserRecord } from "../store.ts";
import { type ClientState, logFrom, type ServiceContext } from "./context.ts";
import { announce, endSession, welcome } from "./presence.ts";
import {
  event,
  type Handler,
  type OpenRoute,
  refuse,
  type Routes,
} from "./route.ts";

const signup: OpenRoute<"signup"> = {
  open: true,
  handle: async (ctx, c, req) => {
    const user = req.user.toLowerCase();
    if ([...req.password].length < MIN_PASSWORD_CHARS) {
      refuse(
        "invalid",
        `password is too short: use at least ${MIN_PASSWORD_CHARS} characters`,
      );
    }
    if (await ctx.store.getUser(user)) {
      refuse("taken", `username '${user}' is taken — choose another name`);
    }
    // Taken before the hash is queued, so parallel sign-ups cannot pass it.
    const { signupBurst, signupsPerHour } = ctx.config;
    if (!c.trusted) {
      const wait = ctx.signups.take(c.addressKey, ctx.now());
      if (wait > 0) {
        logFrom(ctx, c.address, "warn", "signup throttled", {
          addr: c.address,
        });
        refuse(
          "throttled",
          `too many sign-ups from ${c.addressKey} (${signupBurst} at once, ${signupsPerHour} an hour), retry in ${
            seconds(wait)
          } s`,
        );
      }
    }
    let created = false;
    try {
      const hash = await hashPassword(req.password, ctx.config.scrypt, {
        wanted: () => !c.link.closed,
        pool: ctx.pool,
      });
      await ctx.store.createUser(user, hash, ctx.now());
      created = true;
    } finally {
      // A sign-up that never happened (busy, abandoned, taken meanwhile) is free.
      if (!created && !c.trusted) ctx.signups.refund(c.addressKey);
    }
    ctx.logger.info("signup", { user, addr: c.address });
    return { user };
  },
};

const login: OpenRoute<"login"> = {
  open: true,
  handle: logIn,
  // Presence and what waited go out after the reply, so a client sees
  // itself logged in before the first event of its session.
  afterReply: async (ctx, c) => {
    const s = c.session;
    if (s?.kind !== "peer") return;
    await announce(ctx, s.user, true);
    await welcome(ctx, s);
  },
};

/**
 * Refuses "throttled" when the registries of a cluster together saw `limit`
 * failures of `key` in the window (a registry alone counts them itself).
 */
export async function sharedWait(
  ctx: ServiceContext,
  c: ClientState,
  user: string,
  key: string,
  limit: number,
): Promise<void> {
  const shared = ctx.directory.failures;
  if (!shared) return;
  const wait = await shared.wait(key, limit, ctx.config.failureWindowMs);
  if (wait <= 0) return;
  logFrom(ctx, c.address, "warn", "login throttled", {
    user,
    addr: c.address,
    reason: "cluster",
  });
  refuse("throttled", `too many attempts, retry in ${seconds(wait)} s`);
}

/**
 * Records a failure for the other registries of a cluster, before the
 * refusal is answered (so the next attempt, wherever, sees it).
 */
export async function shareFailure(
  ctx: ServiceContext,
  key: string,
): Promise<void> {
  try {
    await ctx.directory.failures?.record(key);
  } catch (err) {
    // This registry's own count still holds; only the cluster's misses one.
    ctx.logger.warn("shared failure not recorded", {
      error: err instanceof Error ? err.message : String(err),
    });
  }
}

/** Whole seconds to wait, at least 1. */
function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

async function logIn(
  ctx: ServiceContext,
  c: ClientState,
  req: RequestOf<"login">,
): Promise<ReplyData<"login">> {
  const user = req.user.toLowerCase();
  if (c.session) refuse("state", `already logged in as ${c.session.user}`);
  if (
    req.kind !== "tool" &&
    (req.p2p_port === undefined || !req.cert || !req.key)
  ) {
    refuse("invalid", `a ${req.kind} session needs p2p_port, cert and key`);
  }
  const certFingerprint = req.cert ? fingerprintPem(req.cert) : null;
  if (req.cert && !certFingerprint) {
    refuse("invalid", "cert is not a PEM certificate");
  }
  // In a cluster, the failures other registries saw count too.
  const pairKey = `${user}@${c.addressKey}`;
  await sharedWait(ctx, c, user, pairKey, ctx.config.loginFailuresPerPair);
  // The attempt is counted now, before any await, as a failure of the pair
  // (user, address) and of the address; a success gives both back. So
  // parallel attempts cannot pass the limits while scrypt runs, a stranger
  // elsewhere cannot lock the owner out, and an address is slowed by rate.
  const now = ctx.now();
  const pair = [pairKey];
  const pairWait = ctx.loginThrottle.reserve(pair, now);
  if (pairWait > 0) {
    logFrom(ctx, c.address, "warn", "login throttled", {
      user,
      addr: c.address,
    });
    refuse("throttled", `too many attempts, retry in ${seconds(pairWait)} s`);
  }
  if (!c.trusted) {
    const wait = ctx.addressFailures.take(c.addressKey, now);
    if (wait > 0) {
      ctx.loginThrottle.release(pair, now);
      logFrom(ctx, c.address, "warn", "login throttled", {
        user,
        addr: c.address,
        reason: "address",
      });
      refuse(
        "throttled",
        `too many failed logins from ${c.addressKey}, retry in ${
          seconds(wait)
        } s`,
      );
    }
  }
  let failed = false;
  const fail = (code: ErrorCode, message: string, reason: string): never => {
    failed = true;
    ctx.stats.loginFailures++;
    logFrom(ctx, c.address, "warn", "login failed", {
      user,
      addr: c.address,
      reason,
    });
    return refuse(code, message);
  };
  let record: UserRecord | null;
  try {
    // A client that hung up while this check waited for a slot is skipped.
    const opts = { wanted: () => !c.link.closed, pool: ctx.pool };
    record = await ctx.store.getUser(user);
    if (!record) {
      await burnPasswordCheck(req.password, opts);
      return fail(
        "not_found",
        `no account named '${user}' — sign up first (chat signup, or chat peer --signup)`,
        "unknown user",
      );
    }
    if (!(await verifyPassword(req.password, record.passwordHash, opts))) {
      return fail("auth", `wrong password for ${user}`, "wrong password");
    }
  } finally {
    // Anything but a failed check (a success, busy, abandoned) costs nothing.
    if (failed) {
      ctx.loginThrottle.confirm(pair);
      await shareFailure(ctx, pairKey);
    } else {
      ctx.loginThrottle.release(pair, now);
      if (!c.trusted) ctx.addressFailures.refund(c.addressKey);
    }
  }
  ctx.loginThrottle.clear(pairKey);
  if (ctx.directory.failures) {
    void ctx.directory.failures.clear(pairKey).catch(() => {
      // Only lets the pair's old failures run out instead of going at once.
    });
  }
  const token = crypto.getRandomValues(new Uint8Array(32));
  const session: Session = {
    id: bytesToHex(crypto.getRandomValues(new Uint8Array(16))),
    token,
    macKey: new HeartbeatKey(token),
    user,
    kind: req.kind,
    link: c.link,
    host: c.address,
    p2pPort: req.p2p_port ?? null,
    cert: req.cert ?? null,
    certFingerprint,
    key: req.key ?? null,
    loginAt: ctx.now(),
    lastBeat: ctx.now(),
    lastSeq: 0,
    lastAction: ctx.now(),
  };
  // A user has one interactive session: a second is refused, unless it
  // asks to replace the first, which is then told and ended (by the
  // registry process that holds it, when that is another one).
  const claim = await ctx.directory.claim(session, req.replace === true);
  if (!claim.ok) {
    ctx.logger.info("login refused", {
      user,
      addr: c.address,
      reason: "already online",
    });
    refuse(
      "online",
      `${user} is already online — use --replace to end that session`,
    );
  }
  if (claim.replaced) await endReplaced(ctx, claim.replaced);
  c.session = session;
  session.client = c;
  ctx.sessions.add(session);
  ctx.stats.logins++;
  ctx.logger.info("login", { user, kind: req.kind, addr: c.address });
  return {
    user,
    session: session.id,
    token: base64url(token),
    status: record.status,
    host: c.address,
    ...(ctx.config.advertise !== undefined
      ? { heartbeat_host: ctx.config.advertise }
      : {}),
    heartbeat_port: ctx.config.udpPort,
  };
}

/** Tells a replaced session so and ends it. */
export async function endReplaced(
  ctx: ServiceContext,
  older: Session,
): Promise<void> {
  older.link.send(event({ type: "session_ended", reason: "replaced" }));
  await endSession(ctx, older, "replaced");
  void older.link.closeAfterFlush();
}

const logout: Handler<"logout"> = async (ctx, c) => {
  await endSession(ctx, c.session, "logout");
  (c as ClientState).session = null;
  return {};
};

const status: Handler<"status"> = async (ctx, c, req) => {
  if (req.text !== undefined) {
    await ctx.store.setStatus(c.session.user, req.text);
    return { status: req.text };
  }
  const record = await ctx.store.getUser(c.session.user);
  return { status: record?.status ?? "" };
};

/** The account requests. */
export const accountRoutes = {
  signup,
  login,
  logout,
  // Any request counts as a user action; this one is only that.
  active: () => Promise.resolve({}),
  // Not a user action (the gate leaves lastAction alone for it): a client
  // checks the connection is alive without resetting its idle logout.
  ping: () => Promise.resolve({}),
  status,
} satisfies Partial<Routes>;
