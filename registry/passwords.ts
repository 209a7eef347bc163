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
export const MAX_CONCURRENT_DERIVATIONS = Math.max(
  1,
  Math.min(4, (navigator.hardwareConcurrency || 2) - 1),
);

/**
 * Which queue a derivation waits in. Password checks (logins, room
 * passwords) are served before new hashes (sign-ups, new room passwords), so
 * a flood of sign-ups cannot delay the people logging in.
 */
export type Lane = "check" | "hash";

/** How many derivations may wait in each lane before new ones are refused. */
export interface QueueLimits {
  maxQueuedChecks: number;
  maxQueuedHashes: number;
}

/** Defaults: a restart's login storm fits; a sign-up flood does not. */
export const DEFAULT_QUEUE_LIMITS: QueueLimits = {
  maxQueuedChecks: 2000,
  maxQueuedHashes: 50,
};

/**
 * Thrown instead of deriving when the caller no longer wants the result (its
 * client hung up while the derivation waited for a slot).
 */
export class AbandonedError extends Error {
  override name = "AbandonedError";
}

/** Thrown when a lane's queue is full: the caller should retry later. */
export class BusyError extends Error {
  override name = "BusyError";
  constructor(readonly retryAfterMs: number, readonly queued: number) {
    super(
      `the registry is busy (${queued} password checks waiting), retry in ${
        Math.ceil(retryAfterMs / 1000)
      } s`,
    );
  }
}

/**
 * A bounded, two-lane queue in front of the derivation slots. A full lane
 * refuses at once with BusyError, naming how long the queue ahead would
 * take, instead of growing without end.
 */
export class ScryptPool {
  #running = 0;
  readonly #lanes: Record<Lane, (() => void)[]> = { check: [], hash: [] };
  /** Smoothed duration of one derivation, for the retry estimate. */
  #avgMs = 50;

  constructor(
    readonly limits: QueueLimits = DEFAULT_QUEUE_LIMITS,
    readonly maxConcurrent: number = MAX_CONCURRENT_DERIVATIONS,
  ) {}

  /** Derivations waiting, per lane. */
  get queued(): Record<Lane, number> {
    return { check: this.#lanes.check.length, hash: this.#lanes.hash.length };
  }

  /** Derivations running now. */
  get running(): number {
    return this.#running;
  }

  /** Runs `fn` in a slot, waiting in `lane`; BusyError when the lane is full. */
  async run<T>(lane: Lane, fn: () => Promise<T>): Promise<T> {
    if (this.#running < this.maxConcurrent) this.#running++;
    else {
      const queue = this.#lanes[lane];
      const cap = lane === "check"
        ? this.limits.maxQueuedChecks
        : this.limits.maxQueuedHashes;
      if (queue.length >= cap) {
        const ahead = this.#lanes.check.length +
          (lane === "hash" ? queue.length : 0) + this.#running;
        throw new BusyError(
          Math.max(1000, ahead * this.#avgMs / this.maxConcurrent),
          queue.length,
        );
      }
      await new Promise<void>((resolve) => queue.push(resolve));
    }
    const started = performance.now();
    try {
      return await fn();
    } finally {
      this.#avgMs = 0.8 * this.#avgMs + 0.2 * (performance.now() - started);
      // Hand the slot straight to the next waiter, checks first.
      const next = this.#lanes.check.shift() ?? this.#lanes.hash.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

/** The pool used when a caller names none. */
export const sharedPool: ScryptPool = new ScryptPool();

/** Options of a hash or a check. */
export interface DeriveOptions {
  /**
   * Asked once a slot is free: false skips the derivation. After a registry
   * restart thousands of logins queue here; those whose clients gave up must
   * not cost 50 ms each before the ones still waiting are served.
   */
  wanted?: () => boolean;
  /** The queue to wait in (default: the shared one). */
  pool?: ScryptPool;
}

/** Derivations skipped because nobody wanted them any more. */
export const derivations = { done: 0, abandoned: 0 };

function derive(
  password: string,
  salt: Uint8Array,
  params: ScryptParams,
  lane: Lane,
  opts: DeriveOptions = {},
): Promise<Uint8Array> {
  return (opts.pool ?? sharedPool).run(lane, () => {
    if (opts.wanted && !opts.wanted()) {
      derivations.abandoned++;
      throw new AbandonedError("nobody waits for this password check");
    }
    derivations.done++;
    return deriveNow(password, salt, params);
  });
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
  const key = await derive(password, salt, params, "hash", opts);
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
  const key = await derive(password, salt, { N, r, p }, "check", opts);
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
  // Made outside any pool: it is the registry's own, never a client's.
  dummy ??= hashPassword("chat-dummy-password", DEFAULT_SCRYPT, {
    pool: new ScryptPool(),
  });
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
