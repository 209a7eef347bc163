import assert from "node:assert/strict";
import { FailureThrottle } from "../../registry/throttle.ts";

const MINUTE = 60_000;

Deno.test("FailureThrottle", async (t) => {
  await t.step("lets four failures through and stops the fifth", () => {
    const th = new FailureThrottle(5, MINUTE);
    const keys = ["user:alice"];
    for (let i = 0; i < 4; i++) {
      th.fail(keys, 1_000 + i);
      assert.equal(th.retryAfter(keys, 1_000 + i), 0, `after failure ${i + 1}`);
    }
    th.fail(keys, 1_004);
    assert.ok(th.retryAfter(keys, 1_004) > 0);
  });

  await t.step(
    "says how long to wait: until the oldest of the five is a minute old",
    () => {
      const th = new FailureThrottle(5, MINUTE);
      const keys = ["user:alice"];
      for (const at of [0, 10_000, 20_000, 30_000, 40_000]) th.fail(keys, at);
      assert.equal(th.retryAfter(keys, 40_000), 20_000);
      assert.equal(th.retryAfter(keys, 59_999), 1);
      assert.equal(th.retryAfter(keys, 60_000), 0, "the first failure expired");
    },
  );

  await t.step("counts a sliding window, not a fixed minute", () => {
    const th = new FailureThrottle(5, MINUTE);
    const keys = ["addr:10.0.0.1"];
    for (let i = 0; i < 4; i++) th.fail(keys, i * 1000);
    // Far enough on that all four expired: four more are still allowed.
    for (let i = 0; i < 4; i++) th.fail(keys, MINUTE + 5_000 + i);
    assert.equal(th.retryAfter(keys, MINUTE + 5_003), 0);
    th.fail(keys, MINUTE + 5_004);
    assert.equal(th.retryAfter(keys, MINUTE + 5_004), MINUTE - 4);
  });

  await t.step(
    "throttles per key: a user's failures do not block another user",
    () => {
      const th = new FailureThrottle(5, MINUTE);
      for (let i = 0; i < 5; i++) th.fail(["user:alice"], i);
      assert.ok(th.retryAfter(["user:alice"], 10) > 0);
      assert.equal(th.retryAfter(["user:bob"], 10), 0);
    },
  );

  await t.step(
    "blocks when any of the keys is over the limit (user or address)",
    () => {
      const th = new FailureThrottle(5, MINUTE);
      // Five different users failing from one address.
      for (let i = 0; i < 5; i++) th.fail([`user:u${i}`, "addr:1.2.3.4"], i);
      assert.ok(th.retryAfter(["user:fresh", "addr:1.2.3.4"], 10) > 0);
      assert.equal(th.retryAfter(["user:fresh", "addr:5.6.7.8"], 10), 0);
    },
  );

  await t.step("forgets a key's failures when it is cleared", () => {
    const th = new FailureThrottle(5, MINUTE);
    for (let i = 0; i < 5; i++) th.fail(["user:alice"], i);
    th.clear("user:alice");
    assert.equal(th.retryAfter(["user:alice"], 10), 0);
  });

  await t.step("prunes expired keys so memory stays bounded", () => {
    const th = new FailureThrottle(5, MINUTE);
    for (let i = 0; i < 100; i++) th.fail([`addr:${i}`], i);
    assert.equal(th.size, 100);
    th.prune(MINUTE + 50);
    assert.equal(th.size, 49, "keys failed at 51..99 ms are still fresh");
    th.prune(MINUTE + 100);
    assert.equal(th.size, 0);
  });
});

Deno.test("reserve counts an attempt before its check; release gives it back", () => {
  const t = new FailureThrottle(2, 60_000);
  assert.equal(t.reserve(["k"], 1000), 0);
  assert.equal(t.reserve(["k"], 1000), 0);
  // Both still being checked: a third is refused, briefly.
  assert.equal(t.reserve(["k"], 1000), 1000);
  t.release(["k"], 1000);
  assert.equal(t.reserve(["k"], 2000), 0);
  t.confirm(["k"]);
  t.confirm(["k"]);
  // Two failures now: the window, from the first.
  assert.equal(t.retryAfter(["k"], 2000), 59_000);
});

Deno.test("a key full of attempts still being checked waits a second, not the window", () => {
  const t = new FailureThrottle(2, 60_000);
  t.reserve(["k"], 0);
  t.reserve(["k"], 0);
  assert.equal(t.reserve(["k"], 10), 1000);
  t.confirm(["k"]);
  assert.equal(t.reserve(["k"], 10), 1000, "one is still being checked");
  t.confirm(["k"]);
  assert.equal(t.reserve(["k"], 10), 59_990, "both failed: the window");
});
