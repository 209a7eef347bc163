import assert from "node:assert/strict";
import { KeyedBuckets, TokenBucket } from "../../registry/rate_limit.ts";

Deno.test("TokenBucket", async (t) => {
  await t.step("starts full and allows a burst, then refuses", () => {
    const b = new TokenBucket(10, 5, 0);
    for (let i = 0; i < 5; i++) assert.ok(b.take(0), `take ${i + 1}`);
    assert.equal(b.take(0), false);
  });

  await t.step("refills at the rate per second", () => {
    const b = new TokenBucket(10, 5, 0);
    for (let i = 0; i < 5; i++) b.take(0);
    assert.equal(b.take(50), false, "half a token after 50 ms");
    assert.ok(b.take(100), "one token after 100 ms");
    assert.equal(b.take(100), false);
    // 300 ms later: three tokens.
    assert.ok(b.take(400));
    assert.ok(b.take(400));
    assert.ok(b.take(400));
    assert.equal(b.take(400), false);
  });

  await t.step("never holds more than the burst however long it rests", () => {
    const b = new TokenBucket(10, 5, 0);
    let n = 0;
    while (b.take(1_000_000)) n++;
    assert.equal(n, 5);
  });

  await t.step("does not mint tokens when the clock goes backwards", () => {
    const b = new TokenBucket(10, 2, 1_000);
    assert.ok(b.take(1_000));
    assert.ok(b.take(1_000));
    assert.equal(b.take(0), false, "a second earlier: still empty");
    assert.equal(b.take(50), false, "half a token since the rewound time");
  });
});

Deno.test("keyed buckets: a burst per key, a wait, refunds, and pruning", () => {
  const b = new KeyedBuckets(6, 2); // one token every 10 s
  assert.equal(b.take("a", 0), 0);
  assert.equal(b.take("a", 0), 0);
  assert.equal(b.take("a", 0), 10_000);
  assert.equal(b.take("b", 0), 0, "keys are independent");
  b.refund("a");
  assert.equal(b.take("a", 0), 0);
  // Many small refills add up to a whole token, rounding and all.
  for (let t = 500; t <= 10_000; t += 500) b.prune(t);
  assert.equal(b.take("a", 10_000), 0);
  b.prune(100_000);
  assert.equal(b.size, 0, "full buckets are forgotten");
});
