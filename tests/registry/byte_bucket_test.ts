import assert from "node:assert/strict";
import { ByteBucket } from "../../registry/byte_bucket.ts";

Deno.test("byte bucket", async (t) => {
  await t.step("starts full and refills at its rate up to the burst", () => {
    const b = new ByteBucket(1000, 500, 0);
    assert.equal(b.available(0), 500);
    b.take(500, 0);
    assert.equal(b.available(0), 0);
    assert.equal(b.available(100), 100);
    assert.equal(b.available(10_000), 500);
  });

  await t.step(
    "says how long until an amount may pass, capped at the burst",
    () => {
      const b = new ByteBucket(1000, 500, 0);
      b.take(500, 0);
      assert.equal(b.msUntil(250, 0), 250);
      assert.equal(b.msUntil(5_000, 0), 500);
      assert.equal(b.msUntil(0, 0), 0);
      assert.equal(b.available(b.msUntil(250, 0)), 250);
    },
  );

  await t.step("ignores time running backwards", () => {
    const b = new ByteBucket(1000, 500, 1_000);
    b.take(500, 1_000);
    assert.equal(b.available(500), 0);
    assert.equal(b.available(1_100), 100);
  });

  await t.step("refuses a rate or burst that could never pass a byte", () => {
    assert.throws(() => new ByteBucket(0, 10, 0), RangeError);
    assert.throws(() => new ByteBucket(10, 0, 0), RangeError);
    assert.throws(() => new ByteBucket(NaN, 10, 0), RangeError);
  });
});
