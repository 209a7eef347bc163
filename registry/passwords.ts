/**
 * Password hashing with scrypt (node:crypto), a random salt per hash and the
 * parameters stored in the hash text so they can be raised later:
 * `scrypt$N$r$p$SALT$HASH` with base64 salt and hash.
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/** scrypt cost parameters. */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** Interactive-login strength (about 50 ms on one core). */
export const DEFAULT_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 1 };

const KEY_BYTES = 32;

/**
 * Most derivations running at once. Each takes 128·N·r bytes (16 MiB at the
 * default cost) on a worker thread whose memory the allocator keeps, so a
 * burst of logins would otherwise grow the registry by 16 MiB per concurrent
 * login and starve its event loop of cores. One core is left for the loop.
 */
const MAX_CONCURRENT = Math.max(
  1,
  Math.min(4, (navigator.hardwareConcurrency || 2) - 1),
);
let running = 0;
const waiting: (() => void)[] = [];

/**
 * Thrown instead of deriving when the caller no longer wants the result (its
 * client hung up while the derivation waited for a slot).
 */
export class AbandonedError extends Error {
  override name = "AbandonedError";
}

/** Options of a hash or a check. */
export interface DeriveOptions {
  /**
   * Asked once a slot is free: false skips the derivation. After a registry
   * restart thousands of logins queue here; those whose clients gave up must
   * not cost 50 ms each before the ones still waiting are served.
   */
  wanted?: () => boolean;
}

/** Derivations skipped because nobody wanted them any more. */
export const derivations = { done: 0, abandoned: 0 };

async function derive(
  password: string,
  salt: Uint8Array,
  params: ScryptParams,
  opts: DeriveOptions = {},
): Promise<Uint8Array> {
  if (running < MAX_CONCURRENT) running++;
  else await new Promise<void>((resolve) => waiting.push(resolve));
  try {
    if (opts.wanted && !opts.wanted()) {
      derivations.abandoned++;
      throw new AbandonedError("nobody waits for this password check");
    }
    derivations.done++;
    return await deriveNow(password, salt, params);
  } finally {
    // Hand the slot straight to the next waiter, or give it back.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

function deriveNow(
  password: string,
  salt: Uint8Array,
  params: ScryptParams,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize("NFC"),
      salt,
      KEY_BYTES,
      { ...params, maxmem: 256 * params.N * params.r * params.p + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(new Uint8Array(key))),
    );
  });
}

/** Hashes a password with a fresh salt. */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT,
  opts: DeriveOptions = {},
): Promise<string> {
  const salt = new Uint8Array(randomBytes(16));
  const key = await derive(password, salt, params, opts);
  return `scrypt$${params.N}$${params.r}$${params.p}$${b64(salt)}$${b64(key)}`;
}

/** True if `password` matches `stored`. A malformed hash never matches. */
export async function verifyPassword(
  password: string,
  stored: string,
  opts: DeriveOptions = {},
): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 1 << 20) {
    return false;
  }
  const salt = unb64(parts[4]!);
  const expected = unb64(parts[5]!);
  const key = await derive(password, salt, { N, r, p }, opts);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

let dummy: Promise<string> | null = null;

/**
 * Spends the same time as a real check, for unknown users, so response
 * timing does not tell which accounts exist beyond what search already says.
 */
export async function burnPasswordCheck(
  password: string,
  opts: DeriveOptions = {},
): Promise<void> {
  dummy ??= hashPassword("chat-dummy-password");
  await verifyPassword(password, await dummy, opts);
}

function b64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function unb64(text: string): Uint8Array {
  try {
    const bin = atob(text);
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return new Uint8Array();
  }
}
