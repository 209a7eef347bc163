/** Reconnection backoff (F18) as the pure function it is. */
import { assert, assertEquals } from "../../helpers/assert.ts";
import { mulberry32 } from "../../helpers/random.ts";
import {
  Backoff,
  backoffDelay,
  type BackoffPolicy,
  DEFAULT_BACKOFF,
} from "../../../peer/net/backoff.ts";

const POLICY: BackoffPolicy = { baseMs: 100, capMs: 5_000 };

Deno.test("the first retry waits between half the base and the base", () => {
  assertEquals(backoffDelay(0, POLICY, 0), 50);
  assertEquals(backoffDelay(0, POLICY, 0.999999), 100);
  assertEquals(backoffDelay(0, POLICY, 0.5), 75);
});

Deno.test("the ceiling of each delay doubles until it reaches the cap", () => {
  const ceilings = [0, 1, 2, 3, 4, 5, 6, 7].map((a) =>
    backoffDelay(a, POLICY, 0.999999)
  );
  assertEquals(ceilings, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  const floors = [0, 1, 2, 3, 4, 5, 6, 7].map((a) =>
    backoffDelay(a, POLICY, 0)
  );
  assertEquals(floors, [50, 100, 200, 400, 800, 1600, 2500, 2500]);
});

Deno.test("no attempt number, however large, exceeds the cap or overflows", () => {
  for (const attempt of [31, 100, 1_000, 1e9, Number.MAX_SAFE_INTEGER]) {
    const d = backoffDelay(attempt, POLICY, 0.5);
    assert(Number.isFinite(d), `attempt ${attempt} gave ${d}`);
    assert(d >= POLICY.capMs / 2 && d <= POLICY.capMs, `${attempt}: ${d}`);
  }
});

Deno.test("jitter keeps every delay within [d/2, d] and actually spreads them", () => {
  const rand = mulberry32(42);
  for (let attempt = 0; attempt < 12; attempt++) {
    const d = Math.min(POLICY.capMs, POLICY.baseMs * 2 ** attempt);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const delay = backoffDelay(attempt, POLICY, rand());
      assert(Number.isInteger(delay), `delay ${delay} is not whole ms`);
      assert(delay >= d / 2 && delay <= d, `attempt ${attempt}: ${delay}`);
      seen.add(delay);
    }
    assert(seen.size > 10, `attempt ${attempt}: only ${seen.size} values`);
  }
});

Deno.test("the delay grows monotonically with the attempt for a fixed random", () => {
  for (const r of [0, 0.3, 0.999]) {
    let last = 0;
    for (let attempt = 0; attempt < 20; attempt++) {
      const d = backoffDelay(attempt, POLICY, r);
      assert(d >= last, `attempt ${attempt}: ${d} < ${last}`);
      last = d;
    }
  }
});

Deno.test("the default policy starts at half a second and caps at 30 s", () => {
  assertEquals(DEFAULT_BACKOFF.baseMs, 500);
  assertEquals(DEFAULT_BACKOFF.capMs, 30_000);
  assertEquals(backoffDelay(0, DEFAULT_BACKOFF, 0.999999), 500);
  assertEquals(backoffDelay(50, DEFAULT_BACKOFF, 0.999999), 30_000);
});

Deno.test("after a refused attempt the default policy retries within 2 s, however long the outage", () => {
  for (const attempt of [0, 1, 2, 3, 10, 1_000]) {
    const d = backoffDelay(attempt, DEFAULT_BACKOFF, 0.999999, true);
    assert(d <= 2_000, `attempt ${attempt}: ${d} ms`);
  }
  assertEquals(backoffDelay(0, DEFAULT_BACKOFF, 0.999999, true), 500);
  assertEquals(backoffDelay(50, DEFAULT_BACKOFF, 0, true), 1_000);
  // Once the registry answers again but fails, the full cap applies at once.
  assertEquals(backoffDelay(50, DEFAULT_BACKOFF, 0.999999, false), 30_000);
});

Deno.test("a policy without an unreachable cap treats every failure alike", () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    assertEquals(
      backoffDelay(attempt, POLICY, 0.7, true),
      backoffDelay(attempt, POLICY, 0.7, false),
    );
  }
  const odd = { baseMs: 100, capMs: 1_000, unreachableCapMs: 9_000 };
  assertEquals(
    backoffDelay(20, odd, 0.999999, true),
    1_000,
    "never above capMs",
  );
});

Deno.test("a fast test policy (50 ms doubling to 200 ms) stays fast", () => {
  const fast = { baseMs: 50, capMs: 200 };
  for (let attempt = 0; attempt < 50; attempt++) {
    assert(backoffDelay(attempt, fast, 0.999999) <= 200);
  }
});

Deno.test("a registry down for a while is retried soon once it answers: refused attempts do not grow the delay", () => {
  const b = new Backoff(DEFAULT_BACKOFF);
  assertEquals(b.next(0.999999), 500);
  // Down for a minute: refused, retried every 2 s at most.
  for (let i = 0; i < 30; i++) {
    b.failed(true);
    assert(b.next(0.999999) <= 2_000, `refused attempt ${i}`);
  }
  // Back, and overloaded: the first timeout waits about a second, not 30 s.
  b.failed(false);
  assertEquals(b.next(0.999999), 1_000);
  b.failed(false);
  assertEquals(b.next(0.999999), 2_000);
  for (let i = 0; i < 10; i++) b.failed(false);
  assertEquals(b.next(0.999999), DEFAULT_BACKOFF.capMs);
});
