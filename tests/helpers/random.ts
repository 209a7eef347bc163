/**
 * A seeded pseudo-random generator for tests: the same seed gives the same
 * sequence on every machine, so a failure found by a random test can be
 * replayed exactly. Not for anything that needs secrecy.
 */

/** A source of pseudo-random numbers in [0, 1), like Math.random. */
export type Rand = () => number;

/** mulberry32: a tiny 32-bit generator with a full 2^32 period. */
export function mulberry32(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, max] (inclusive). */
export function randInt(rand: Rand, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

/** One element of a non-empty list. */
export function pickOne<T>(rand: Rand, items: readonly T[]): T {
  if (items.length === 0) {
    throw new RangeError("pickOne needs a non-empty list");
  }
  return items[Math.floor(rand() * items.length)]!;
}

/** `length` pseudo-random bytes. */
export function randBytes(
  rand: Rand,
  length: number,
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

/**
 * The seed for a randomised test: CHAT_TEST_SEED when set (a number, or
 * "random" for a fresh one), otherwise `fallback`. Tests print the seed they
 * used so a failure can be replayed with CHAT_TEST_SEED=<seed>.
 */
export function testSeed(fallback: number): number {
  let raw: string | undefined;
  try {
    raw = Deno.env.get("CHAT_TEST_SEED");
  } catch {
    raw = undefined; // No env permission: use the fixed seed.
  }
  if (raw === undefined || raw === "") return fallback >>> 0;
  if (raw === "random") return (Math.random() * 2 ** 32) >>> 0;
  const n = Number(raw);
  if (!Number.isInteger(n)) {
    throw new RangeError(
      `CHAT_TEST_SEED must be an integer or "random", got "${raw}"`,
    );
  }
  return n >>> 0;
}
