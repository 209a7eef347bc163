/**
 * Devices (machines that log in with their own key): the challenge a
 * device login signs, the list of a user's devices, revoking one, ending
 * one's sessions, and changing the password.
 */
import { base64url, MIN_PASSWORD_CHARS } from "../../wire/mod.ts";
import { hashPassword } from "../passwords.ts";
import type { ClientState, ServiceContext } from "./context.ts";
import { checkPassword } from "./password_check.ts";
import { endSession } from "./presence.ts";
import {
  event,
  type Handler,
  iso,
  type OpenRoute,
  refuse,
  type Routes,
} from "./route.ts";

/**
 * Ends every session `user` has on device `name`, each told why; returns
 * how many besides that of `except` (the connection asking), which is
 * told and ended but kept open, so its reply still reaches it.
 */
export async function endDeviceSessions(
  ctx: ServiceContext,
  user: string,
  name: string,
  reason: "revoked" | "logout",
  except?: ClientState,
): Promise<number> {
  let n = 0;
  for (const s of ctx.sessions.of(user)) {
    if (s.device !== name) continue;
    if (s.client !== except) n++;
    if (reason === "revoked") {
      s.link.send(event({ type: "session_ended", reason: "revoked" }));
    }
    await endSession(ctx, s, reason === "revoked" ? "device revoked" : reason);
    if (s.client !== except) void s.link.closeAfterFlush();
  }
  return n;
}

const challenge: OpenRoute<"challenge"> = {
  open: true,
  handle: (ctx, c) => {
    const nonce = base64url(crypto.getRandomValues(new Uint8Array(32)));
    c.challenge = { nonce, at: ctx.now() };
    return Promise.resolve({ nonce });
  },
};

const devices: Handler<"devices"> = async (ctx, c) => {
  const list = await ctx.store.devicesOf(c.session.user);
  return {
    devices: list.map((d) => ({
      name: d.name,
      created_at: iso(d.createdAt),
      last_used: d.lastUsed === null ? null : iso(d.lastUsed),
      current: d.name === c.session.device,
    })),
  };
};

const deviceRevoke: Handler<"device_revoke"> = async (ctx, c, req) => {
  const user = c.session.user;
  const name = req.name.toLowerCase();
  if (!(await ctx.store.removeDevice(user, name))) {
    refuse(
      "not_found",
      `${user} has no device named '${name}' — see chat devices`,
    );
  }
  ctx.logger.info("device revoked", { user, device: name });
  // Sessions on it held by the other registries of a cluster end too.
  const elsewhere = await ctx.directory.endDevice(user, name, "revoked");
  const sessions = await endDeviceSessions(ctx, user, name, "revoked", c);
  return { name, sessions: sessions + elsewhere };
};

const deviceLogout: Handler<"device_logout"> = async (ctx, c, req) => {
  const user = c.session.user;
  const name = req.name.toLowerCase();
  if (!(await ctx.store.getDevice(user, name))) {
    refuse(
      "not_found",
      `${user} has no device named '${name}' — see chat devices`,
    );
  }
  // The session asking (chat logout runs on the device) ends by itself.
  let sessions = await ctx.directory.endDevice(user, name, "logout");
  for (const s of ctx.sessions.of(user)) {
    if (s.device !== name || s === c.session) continue;
    sessions++;
    await endSession(ctx, s, "logout");
    void s.link.closeAfterFlush();
  }
  return { name, sessions };
};

const passwd: Handler<"passwd"> = async (ctx, c, req) => {
  const user = c.session.user;
  if ([...req.new].length < MIN_PASSWORD_CHARS) {
    refuse(
      "invalid",
      `the new password is too short: use at least ${MIN_PASSWORD_CHARS} characters`,
    );
  }
  await checkPassword(ctx, c, user, req.old, "passwd");
  const hash = await hashPassword(req.new, ctx.config.scrypt, {
    wanted: () => !c.link.closed,
    pool: ctx.pool,
  });
  await ctx.store.setPasswordHash(user, hash);
  ctx.logger.info("password changed", { user });
  return {};
};

/**
 * Another user's devices with their public keys: what peers pin and check
 * inside the P2P handshake, and what messages for that user are encrypted
 * to. Anyone logged in may ask (the keys are public); an unknown user is
 * not_found, so a typo is not mistaken for a user without devices.
 */
const deviceKeys: Handler<"device_keys"> = async (ctx, _c, req) => {
  const user = req.user.toLowerCase();
  if (!(await ctx.store.getUser(user))) {
    refuse("not_found", `no such user '${user}'`);
  }
  const list = await ctx.store.devicesOf(user);
  return {
    user,
    devices: list.map((d) => ({
      name: d.name,
      sign: d.signKey,
      dh: d.dhKey,
      created_at: iso(d.createdAt),
    })),
  };
};

/** The device requests. */
export const deviceRoutes = {
  challenge,
  devices,
  device_revoke: deviceRevoke,
  device_logout: deviceLogout,
  passwd,
  device_keys: deviceKeys,
} satisfies Partial<Routes>;
