import assert from "node:assert/strict";
import { HeartbeatRing } from "../../registry/heartbeat_ring.ts";

/** The records of one drain, each copied out, and what it counted. */
function drainAll(ring: HeartbeatRing) {
  const records: number[][] = [];
  const runs: number[] = [];
  const counts = ring.drain((run) => {
    runs.push(run.length);
    for (let at = 0; at < run.length;) {
      const len = (run[at]! << 8) | run[at + 1]!;
      records.push([...run.subarray(at + 2, at + 2 + len)]);
      at += 2 + len;
    }
  });
  return { records, runs, ...counts };
}

const msg = (n: number, len = 8) => new Uint8Array(len).fill(n);

Deno.test("the heartbeat ring", async (t) => {
  await t.step("hands over what was written, in order, once", () => {
    const ring = HeartbeatRing.create(1024);
    for (let i = 1; i <= 5; i++) assert.ok(ring.write(msg(i)));
    const d = drainAll(ring);
    assert.deepEqual(d.records.map((r) => r[0]), [1, 2, 3, 4, 5]);
    assert.deepEqual(d.runs, [50]);
    assert.equal(drainAll(ring).records.length, 0);
  });

  await t.step("counts rejected datagrams and reads the count once", () => {
    const ring = HeartbeatRing.create(1024);
    ring.reject();
    ring.reject(4);
    assert.equal(drainAll(ring).rejected, 5);
    assert.equal(drainAll(ring).rejected, 0);
  });

  await t.step(
    "a record that does not fit before the end starts again at 0, whole",
    () => {
      // 10-byte records in 64 bytes: six fit, a drain frees them, and the
      // next ones go on at 60 (four bytes left, not enough) from 0.
      const ring = HeartbeatRing.create(64);
      for (let i = 1; i <= 6; i++) assert.ok(ring.write(msg(i)));
      assert.equal(drainAll(ring).records.length, 6);
      for (let i = 7; i <= 10; i++) assert.ok(ring.write(msg(i)));
      const d = drainAll(ring);
      assert.deepEqual(d.records.map((r) => r[0]), [7, 8, 9, 10]);
      assert.ok(
        d.records.every((r) => r.length === 8 && r.every((b) => b === r[0])),
      );
      // 11 and 12 fit before the end (40–60), 13 starts again at 0: the
      // drain hands them over in two runs, in order.
      for (let i = 11; i <= 13; i++) assert.ok(ring.write(msg(i)));
      const two = drainAll(ring);
      assert.deepEqual(two.records.map((r) => r[0]), [11, 12, 13]);
      assert.deepEqual(two.runs, [20, 10]);
    },
  );

  await t.step("a full ring drops and counts; a drain makes room again", () => {
    const ring = HeartbeatRing.create(64);
    let written = 0;
    for (let i = 0; i < 10; i++) if (ring.write(msg(i))) written++;
    // 64 bytes, one always free: six records of ten bytes.
    assert.equal(written, 6);
    const d = drainAll(ring);
    assert.equal(d.records.length, 6);
    assert.equal(d.dropped, 4);
    assert.ok(ring.write(msg(1)));
  });

  await t.step("many rounds of random sizes lose and reorder nothing", () => {
    const ring = HeartbeatRing.create(500);
    let next = 0;
    let expect = 0;
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 2_000; round++) {
      const n = Math.floor(rand() * 12);
      for (let i = 0; i < n; i++) {
        const len = 1 + Math.floor(rand() * 44);
        const m = new Uint8Array(len).fill(next & 0xff);
        if (ring.write(m)) next++;
        else break;
      }
      for (const r of drainAll(ring).records) {
        assert.ok(r.every((b) => b === (expect & 0xff)), `record ${expect}`);
        expect++;
      }
    }
    assert.equal(expect, next);
    assert.ok(next > 5_000, `${next}`);
  });
});
