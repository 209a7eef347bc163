/**
 * Accounts and sessions: sign-up, login (with --replace), logout, the
 * keep-alive `active` and the status text.
 */
import {
  base64url,
  bytesToHex,
  CHALLENGE_TTL_MS,
  deviceLoginPayload,
  type ErrorCode,
  fromBase64url,
  HeartbeatKey,
  importEd25519Public,
  MIN_PASSWORD_CHARS,
  type ReplyData,
  type RequestOf,
} from "../../wire/mod.ts";
import { fingerprintPem } from "../../common/fingerprint.ts";
import { hashPassword } from "../passwords.ts";
import type { Session } from "../sessions.ts";
import type { UserRecord } from "../store.ts";
import { type ClientState, logFrom, type ServiceContext } from "./context.ts";
import { checkPassword, seconds } from "./password_check.ts";
import { announce, endSession, welcome } from "./presence.ts";
import {
  event,
  type Handler,
  type OpenRoute,
  refuse,
  type Routes,
} from "./route.ts";

/** The window over which a cluster counts the sign-ups of an address. */
export const SIGNUP_WINDOW_MS = 3_600_000;

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
    // In a cluster, the sign-ups every instance took from this address in
    // the last hour count too: at most the hour's rate plus the burst.
    const shared = c.trusted ? null : ctx.directory.failures;
    const sharedKey = `signup:${c.addressKey}`;
    if (shared) {
      const wait = await shared.wait(
        sharedKey,
        signupsPerHour + signupBurst,
        SIGNUP_WINDOW_MS,
      ).catch((err) => {
        ctx.signups.refund(c.addressKey);
        throw err;
      });
      if (wait > 0) {
        ctx.signups.refund(c.addressKey);
        logFrom(ctx, c.address, "warn", "signup throttled", {
          addr: c.address,
          by: "cluster",
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
      await shared?.record(sharedKey);
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
  let record: UserRecord;
  let device: string | null;
  if (req.sig !== undefined) {
    ({ record, device } = await checkDevice(
      ctx,
      c,
      req,
      user,
      certFingerprint,
    ));
  } else {
    if (req.password === undefined) {
      refuse(
        "invalid",
        "login needs a password, or a device and its signature of a challenge",
      );
    }
    if (
      req.device !== undefined &&
      (req.device_sign === undefined || req.device_dh === undefined)
    ) {
      refuse("invalid", "a device is added with device_sign and device_dh");
    }
    record = await checkPassword(ctx, c, user, req.password, "login");
    device = null;
  }
  if (req.sig === undefined) device = await enrol(ctx, user, req);
  const token = crypto.getRandomValues(new Uint8Array(32));
  const session: Session = {
    id: bytesToHex(crypto.getRandomValues(new Uint8Array(16))),
    macKey: new HeartbeatKey(token),
    user,
    kind: req.kind,
    link: c.link,
    host: c.address,
    p2pPort: req.p2p_port ?? null,
    cert: req.cert ?? null,
    certFingerprint,
    key: req.key ?? null,
    candidates: (req.candidates ?? []).map((e) => ({
      host: e.host,
      port: e.port,
    })),
    reachable: null,
    probe: null,
    device,
    loginAt: ctx.now(),
    lastBeat: ctx.now(),
    lastSeq: 0,
    firstBeatMs: ctx.loginStorm() ? ctx.config.firstHeartbeatMs : 0,
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
  ctx.logger.info("login", {
    user,
    kind: req.kind,
    addr: c.address,
    ...(device !== null ? { device, by: req.sig ? "key" : "password" } : {}),
  });
  startProbe(ctx, session);
  return {
    user,
    session: session.id,
    token: base64url(token),
    status: record.status,
    host: c.address,
    ...(device !== null ? { device } : {}),
    ...(ctx.config.advertise !== undefined
      ? { heartbeat_host: ctx.config.advertise }
      : {}),
    heartbeat_port: ctx.config.udpPort,
  };
}

/**
 * Starts the connect-back probe of a session that listens: the address its
 * connection came from, the port and certificate it registered (registry/probe.ts).
 */
function startProbe(ctx: ServiceContext, s: Session): void {
  if (s.p2pPort === null || !s.cert || s.p2pPort === 0) return;
  s.probe = ctx.probe(s.host, s.p2pPort, s.cert).then((ok) => {
    s.reachable = ok;
    s.probe = null;
    ctx.directory.reached(s);
    ctx.logger.debug("probe", { user: s.user, addr: s.host, reachable: ok });
    return ok;
  });
}

/**
 * A device login: the signature over this connection's challenge, checked
 * with the device's recorded key. Costs a signature check, no scrypt.
 */
async function checkDevice(
  ctx: ServiceContext,
  c: ClientState,
  req: RequestOf<"login">,
  user: string,
  certFingerprint: string | null,
): Promise<{ record: UserRecord; device: string }> {
  // Single use: whatever happens next, this nonce is spent.
  const challenge = c.challenge;
  c.challenge = null;
  if (req.device === undefined) {
    refuse("invalid", "a device login names its device");
  }
  if (
    challenge === null || ctx.now() - challenge.at > CHALLENGE_TTL_MS
  ) {
    refuse(
      "state",
      "no fresh challenge on this connection — ask for one (challenge) right before the login",
    );
  }
  const fail = (code: ErrorCode, message: string, reason: string): never => {
    ctx.stats.loginFailures++;
    logFrom(ctx, c.address, "warn", "login failed", {
      user,
      addr: c.address,
      device: req.device,
      reason,
    });
    return refuse(code, message);
  };
  const record = await ctx.store.getUser(user);
  if (!record) {
    return fail("not_found", `no account named '${user}'`, "unknown user");
  }
  const dev = await ctx.store.getDevice(user, req.device);
  if (!dev) {
    return fail(
      "auth",
      `device '${req.device.toLowerCase()}' of ${user} is not known to this registry (revoked?) — log in with the password to add this machine again`,
      "unknown device",
    );
  }
  const raw = fromBase64url(dev.signKey);
  const sig = fromBase64url(req.sig!);
  let good = false;
  if (raw && raw.length === 32 && sig && sig.length === 64) {
    const key = await importEd25519Public(raw);
    const payload = deviceLoginPayload({
      registry: ctx.fingerprint,
      nonce: challenge.nonce,
      user,
      device: dev.name,
      kind: req.kind,
      cert: certFingerprint ?? "",
      key: req.key ?? "",
    });
    good = await crypto.subtle.verify("Ed25519", key, sig, payload);
  }
  if (!good) {
    return fail(
      "auth",
      `the signature of device '${dev.name}' does not match — log in with the password to add this machine again`,
      "bad device signature",
    );
  }
  // Written with the next presence sweep, in one batch: a restart's storm
  // of re-logins costs no write each.
  ctx.deviceUses.set(`${user} ${dev.name}`, {
    user,
    name: dev.name,
    at: ctx.now(),
  });
  return { record, device: dev.name };
}

/**
 * Adds the device a password login names; returns its name or null. A name
 * the user has already (another machine with the same host name, or this
 * one after it lost its keys) gets a number: laptop-2, laptop-3, … so a
 * login never takes over another device.
 */
async function enrol(
  ctx: ServiceContext,
  user: string,
  req: RequestOf<"login">,
): Promise<string | null> {
  if (
    req.device === undefined || req.device_sign === undefined ||
    req.device_dh === undefined
  ) return null;
  const base = req.device.toLowerCase();
  const taken = new Set(
    (await ctx.store.devicesOf(user)).map((d) => d.name.toLowerCase()),
  );
  let name = base;
  for (let n = 2; taken.has(name); n++) {
    const suffix = `-${n}`;
    name = base.slice(0, 32 - suffix.length) + suffix;
  }
  await ctx.store.addDevice(
    { user, name, signKey: req.device_sign, dhKey: req.device_dh },
    ctx.now(),
    ctx.config.maxDevicesPerUser,
  );
  ctx.logger.info("device added", { user, device: name });
  return name;
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
