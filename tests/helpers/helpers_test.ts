import assert from "node:assert/strict";
import { ManualClock } from "./clock.ts";
import { mulberry32, randBytes, randInt } from "./random.ts";
import {
  collectBytes,
  collectItems,
  concatBytes,
  randomChunkStream,
  randomSplit,
  splitBytes,
  streamFromChunks,
  streamOf,
} from "./streams.ts";

Deno.test("ManualClock", async (t) => {
  await t.step("reads the start time and moves only when advanced", () => {
    const clock = new ManualClock(1_000);
    assert.equal(clock.now(), 1_000);
    clock.advance(250);
    assert.equal(clock.now(), 1_250);
    clock.advance(0);
    assert.equal(clock.now(), 1_250);
  });

  await t.step("fires a timer once its delay has passed, not before", () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now()), 100);
    clock.advance(99);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, [100]);
    clock.advance(1_000);
    assert.deepEqual(fired, [100]);
    assert.equal(clock.pending, 0);
  });

  await t.step("fires timers in due order and ties in scheduling order", () => {
    const clock = new ManualClock();
    const order: string[] = [];
    clock.setTimeout(() => order.push("c"), 30);
    clock.setTimeout(() => order.push("a"), 10);
    clock.setTimeout(() => order.push("b1"), 20);
    clock.setTimeout(() => order.push("b2"), 20);
    assert.equal(clock.advance(50), 4);
    assert.deepEqual(order, ["a", "b1", "b2", "c"]);
  });

  await t.step("shows each callback the time its timer was due", () => {
    const clock = new ManualClock(5);
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), 10);
    clock.setTimeout(() => seen.push(clock.now()), 40);
    clock.advance(100);
    assert.deepEqual(seen, [15, 45]);
    assert.equal(clock.now(), 105);
  });

  await t.step("does not fire a cleared timer", () => {
    const clock = new ManualClock();
    let fired = false;
    const id = clock.setTimeout(() => fired = true, 10);
    clock.clearTimeout(id);
    clock.clearTimeout(undefined);
    clock.clearTimeout(12345);
    clock.advance(100);
    assert.equal(fired, false);
  });

  await t.step("fires timers scheduled by callbacks inside the window", () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    clock.setTimeout(() => {
      seen.push(clock.now());
      clock.setTimeout(() => seen.push(clock.now()), 10);
    }, 10);
    clock.advance(15);
    assert.deepEqual(seen, [10]);
    clock.advance(5);
    assert.deepEqual(seen, [10, 20]);
  });

  await t.step("repeats an interval until it is cleared", () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    const id = clock.setInterval(() => seen.push(clock.now()), 100);
    clock.advance(350);
    assert.deepEqual(seen, [100, 200, 300]);
    clock.clearInterval(id);
    clock.advance(1_000);
    assert.deepEqual(seen, [100, 200, 300]);
  });

  await t.step("runs a zero-delay interval a bounded number of times", () => {
    const clock = new ManualClock();
    let n = 0;
    clock.setInterval(() => n++, 0);
    clock.advance(5);
    assert.equal(n, 5);
  });

  await t.step("treats a negative or missing delay as zero", () => {
    const clock = new ManualClock();
    let n = 0;
    clock.setTimeout(() => n++, -50);
    clock.setTimeout(() => n++);
    clock.advance(0);
    assert.equal(n, 2);
  });

  await t.step(
    "runNext jumps to the next timer and reports when none is left",
    () => {
      const clock = new ManualClock();
      let fired = 0;
      clock.setTimeout(() => fired++, 3_000);
      assert.equal(clock.runNext(), true);
      assert.equal(clock.now(), 3_000);
      assert.equal(fired, 1);
      assert.equal(clock.runNext(), false);
    },
  );

  await t.step("rejects a negative or infinite advance", () => {
    const clock = new ManualClock();
    assert.throws(() => clock.advance(-1), RangeError);
    assert.throws(() => clock.advance(Infinity), RangeError);
  });

  await t.step(
    "advanceAsync lets awaited work run between timers",
    async () => {
      const clock = new ManualClock();
      const seen: string[] = [];
      clock.setTimeout(async () => {
        await Promise.resolve();
        seen.push("first done");
        clock.setTimeout(() => seen.push("second"), 5);
      }, 5);
      await clock.advanceAsync(10);
      assert.deepEqual(seen, ["first done", "second"]);
    },
  );
});

Deno.test("mulberry32", async (t) => {
  await t.step("gives the same sequence for the same seed", () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    for (let i = 0; i < 100; i++) assert.equal(a(), b());
  });

  await t.step("gives different sequences for different seeds", () => {
    const a = mulberry32(1);
    const b = mulberry32(2);
    const same = Array.from({ length: 20 }, () => a() === b()).filter(Boolean);
    assert.ok(same.length < 20);
  });

  await t.step("stays within [0, 1) and spreads over the range", () => {
    const rand = mulberry32(7);
    let low = 0;
    for (let i = 0; i < 10_000; i++) {
      const x = rand();
      assert.ok(x >= 0 && x < 1);
      if (x < 0.5) low++;
    }
    assert.ok(low > 4_500 && low < 5_500, `${low} of 10000 below 0.5`);
  });

  await t.step("randInt covers both ends of its inclusive range", () => {
    const rand = mulberry32(3);
    const seen = new Set<number>();
    for (let i = 0; i < 1_000; i++) seen.add(randInt(rand, 2, 5));
    assert.deepEqual([...seen].sort(), [2, 3, 4, 5]);
  });
});

Deno.test("stream helpers", async (t) => {
  const bytes = Uint8Array.from({ length: 100 }, (_, i) => i);

  await t.step("splitBytes cycles through the given sizes", () => {
    const chunks = splitBytes(bytes, [1, 10]);
    assert.deepEqual(chunks.slice(0, 4).map((c) => c.length), [1, 10, 1, 10]);
    assert.deepEqual(concatBytes(chunks), bytes);
  });

  await t.step("splitBytes allows empty chunks between real ones", () => {
    const chunks = splitBytes(bytes.subarray(0, 4), [0, 2]);
    assert.deepEqual(chunks.map((c) => c.length), [0, 2, 0, 2]);
  });

  await t.step("splitBytes refuses sizes that could never finish", () => {
    assert.throws(() => splitBytes(bytes, []), RangeError);
    assert.throws(() => splitBytes(bytes, [0, 0]), RangeError);
    assert.throws(() => splitBytes(bytes, [2, -1]), RangeError);
    assert.throws(() => splitBytes(bytes, [1.5]), RangeError);
  });

  await t.step("randomSplit keeps every byte in order for any seed", () => {
    for (let seed = 0; seed < 50; seed++) {
      const rand = mulberry32(seed);
      const data = randBytes(rand, randInt(rand, 0, 500));
      const chunks = randomSplit(data, rand, 17);
      assert.ok(chunks.every((c) => c.length >= 1 && c.length <= 17));
      assert.deepEqual(concatBytes(chunks), data);
    }
  });

  await t.step(
    "a stream of split bytes collects back to the same bytes",
    async () => {
      assert.deepEqual(await collectBytes(streamOf(bytes, [3, 7, 1])), bytes);
      assert.deepEqual(await collectBytes(streamOf(bytes)), bytes);
      assert.deepEqual(
        await collectBytes(randomChunkStream(bytes, mulberry32(9), 5)),
        bytes,
      );
    },
  );

  await t.step("an empty stream collects to zero bytes", async () => {
    assert.equal((await collectBytes(streamOf(new Uint8Array(0)))).length, 0);
  });

  await t.step(
    "streamFromChunks yields each chunk as given, copied",
    async () => {
      const chunks = [Uint8Array.of(1, 2), new Uint8Array(0), Uint8Array.of(3)];
      const got = await collectItems(streamFromChunks(chunks));
      assert.deepEqual(got, chunks);
      got[0]![0] = 99;
      assert.equal(chunks[0]![0], 1);
    },
  );

  await t.step(
    "collectBytes stops a stream that passes its limit",
    async () => {
      await assert.rejects(
        collectBytes(streamOf(bytes, [10]), 50),
        RangeError,
      );
    },
  );
});
