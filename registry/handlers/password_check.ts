/**
 * The password check of logins and password changes, under the login
 * throttle: counted before scrypt runs, per (user, address) and per address.
 */
import type { ErrorCode } from "../../wire/mod.ts";
import { burnPasswordCheck, verifyPassword } from "../passwords.ts";
import type { UserRecord } from "../store.ts";
import { type ClientState, logFrom, type ServiceContext } from "./context.ts";
import { refuse } from "./route.ts";

/** Whole seconds to wait, at least 1. */
export function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * Checks `password` for `user` under the login throttle and returns the
 * account; refuses "not_found", "auth" or "throttled". Used by logins and
 * password changes.
 */
export async function checkPassword(
  ctx: ServiceContext,
  c: ClientState,
  user: string,
  password: string,
  what: "login" | "passwd",
): Promise<UserRecord> {
  // The attempt is counted now, before any await, as a failure of the pair
  // (user, address) and of the address; a success gives both back. So
  // parallel attempts cannot pass the limits while scrypt runs, a stranger
  // elsewhere cannot lock the owner out, and an address is slowed by rate.
  // In a cluster, the failures other registries saw count too.
  const pairKey = `${user}@${c.addressKey}`;
  await sharedWait(ctx, c, user, pairKey, ctx.config.loginFailuresPerPair);
  const now = ctx.now();
  const pair = [pairKey];
  const pairWait = ctx.loginThrottle.reserve(pair, now);
  if (pairWait > 0) {
    logFrom(ctx, c.address, "warn", `${what} throttled`, {
      user,
      addr: c.address,
    });
    refuse("throttled", `too many attempts, retry in ${seconds(pairWait)} s`);
  }
  if (!c.trusted) {
    const wait = ctx.addressFailures.take(c.addressKey, now);
    if (wait > 0) {
      ctx.loginThrottle.release(pair, now);
      logFrom(ctx, c.address, "warn", `${what} throttled`, {
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
    logFrom(ctx, c.address, "warn", `${what} failed`, {
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
      await burnPasswordCheck(password, opts);
      return fail(
        "not_found",
        `no account named '${user}' — sign up first (chat signup, or chat peer --signup)`,
        "unknown user",
      );
    }
    if (!(await verifyPassword(password, record.passwordHash, opts))) {
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
  return record;
}

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
