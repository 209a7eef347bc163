import assert from "node:assert/strict";
import {
  encodeFrame,
  type Frame,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  frameDecoderStream,
  FramingError,
  KIND_CONTROL,
  KIND_DATA,
  MAX_FRAME_BYTES,
  writeHeader,
} from "../../wire/frame.ts";
import { MemoryBudget } from "../../wire/budget.ts";
import { mulberry32, randBytes, randInt } from "../helpers/random.ts";
import {
  collectItems,
  concatBytes,
  randomSplit,
  splitBytes,
  streamFromChunks,
  streamOf,
} from "../helpers/streams.ts";

const enc = new TextEncoder();

/** A header announcing `length` payload bytes of kind byte `kind`. */
function header(length: number, kind: number = KIND_CONTROL): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(out.buffer).setUint32(0, length);
  out[4] = kind;
  return out;
}

/** Copies frames out of the decoder's buffers so they can be kept. */
function copied(frames: Frame[]): Frame[] {
  return frames.map((f) => ({ kind: f.kind, payload: f.payload.slice() }));
}

/** Pushes every chunk and returns all frames, failing on any error. */
function decodeAll(decoder: FrameDecoder, chunks: Uint8Array[]): Frame[] {
  const out: Frame[] = [];
  for (const chunk of chunks) {
    const { frames, error } = decoder.push(chunk);
    assert.equal(error, undefined);
    out.push(...copied(frames));
  }
  return out;
}

/** A mix of control and data frames of awkward sizes, including empty ones. */
function sampleFrames(): Frame[] {
  const rand = mulberry32(1);
  const sizes = [0, 1, 4, 5, 6, 0, 0, 100, 4096, 65_537, 3, 0];
  return sizes.map((n, i) => ({
    kind: i % 3 === 0 ? "data" : "control",
    payload: randBytes(rand, n),
  }));
}

function encodeAll(frames: Frame[]): Uint8Array {
  return concatBytes(frames.map((f) => encodeFrame(f.kind, f.payload)));
}

Deno.test("encodeFrame", async (t) => {
  await t.step(
    "writes a big-endian length, the kind byte, then the payload",
    () => {
      const frame = encodeFrame("control", enc.encode("hi"));
      assert.deepEqual([...frame], [0, 0, 0, 2, KIND_CONTROL, 104, 105]);
      const data = encodeFrame("data", new Uint8Array(0x010203));
      assert.deepEqual([...data.subarray(0, 5)], [0, 1, 2, 3, KIND_DATA]);
    },
  );

  await t.step("accepts a payload of exactly the limit", () => {
    const frame = encodeFrame("data", new Uint8Array(MAX_FRAME_BYTES));
    assert.equal(frame.length, FRAME_HEADER_BYTES + MAX_FRAME_BYTES);
  });

  await t.step("refuses a payload over the limit as our own bug", () => {
    assert.throws(
      () => encodeFrame("data", new Uint8Array(MAX_FRAME_BYTES + 1)),
      RangeError,
    );
  });

  await t.step("writeHeader writes into a view at an offset", () => {
    const buf = new Uint8Array(12);
    writeHeader(buf.subarray(3), "data", 258);
    assert.deepEqual([...buf.subarray(3, 8)], [0, 0, 1, 2, KIND_DATA]);
  });
});

Deno.test("FrameDecoder", async (t) => {
  const frames = sampleFrames();
  const bytes = encodeAll(frames);

  await t.step("decodes a stream pushed one byte at a time", () => {
    const decoder = new FrameDecoder();
    assert.deepEqual(decodeAll(decoder, splitBytes(bytes, [1])), frames);
    assert.equal(decoder.pending, false);
  });

  await t.step("decodes many frames from one chunk", () => {
    const many = Array.from(
      { length: 500 },
      (_, i): Frame => ({ kind: "control", payload: enc.encode(`{"n":${i}}`) }),
    );
    const { frames: got, error } = new FrameDecoder().push(encodeAll(many));
    assert.equal(error, undefined);
    assert.deepEqual(copied(got), many);
  });

  await t.step("decodes the same frames whatever the chunk sizes", () => {
    for (const sizes of [[2], [3, 7], [4, 1, 6], [5], [6], [4095], [0, 9]]) {
      const decoder = new FrameDecoder();
      assert.deepEqual(
        decodeAll(decoder, splitBytes(bytes, sizes)),
        frames,
        `sizes ${sizes}`,
      );
    }
    for (let seed = 0; seed < 30; seed++) {
      const chunks = randomSplit(bytes, mulberry32(seed), 300);
      assert.deepEqual(decodeAll(new FrameDecoder(), chunks), frames);
    }
  });

  await t.step("ignores an empty chunk", () => {
    const decoder = new FrameDecoder();
    assert.deepEqual(decoder.push(new Uint8Array(0)), { frames: [] });
    assert.equal(decoder.pending, false);
  });

  await t.step("decodes zero-length frames whole and split", () => {
    const empty = encodeFrame("control", new Uint8Array(0));
    const three = concatBytes([
      empty,
      empty,
      encodeFrame("data", new Uint8Array(0)),
    ]);
    const whole = new FrameDecoder().push(three);
    assert.equal(whole.error, undefined);
    assert.deepEqual(
      whole.frames.map((f) => [f.kind, f.payload.length]),
      [["control", 0], ["control", 0], ["data", 0]],
    );
    const decoder = new FrameDecoder();
    const split = decodeAll(decoder, splitBytes(three, [1]));
    assert.deepEqual(split.map((f) => f.payload.length), [0, 0, 0]);
    assert.equal(decoder.pending, false);
  });

  await t.step("accepts a frame of exactly the limit", () => {
    const big = encodeFrame("data", new Uint8Array(MAX_FRAME_BYTES).fill(7));
    const decoder = new FrameDecoder();
    const got = decodeAll(decoder, splitBytes(big, [65_536]));
    assert.equal(got.length, 1);
    assert.equal(got[0]!.payload.length, MAX_FRAME_BYTES);
    assert.equal(got[0]!.payload[MAX_FRAME_BYTES - 1], 7);
  });

  await t.step(
    "rejects an oversize length from the header alone, before buffering",
    () => {
      const decoder = new FrameDecoder();
      const { frames: got, error } = decoder.push(header(MAX_FRAME_BYTES + 1));
      assert.deepEqual(got, []);
      assert.match(error ?? "", /exceeds the limit of 1048576 bytes/);
      // Nothing of the announced frame is held: no payload buffer exists.
      assert.equal(decoder.pending, false);
    },
  );

  await t.step("rejects a 4 GiB length without trying to allocate it", () => {
    // Allocating 4 GiB would throw or take seconds; an immediate error
    // proves the length was checked first.
    for (const sizes of [[5], [1], [2, 3]]) {
      const decoder = new FrameDecoder();
      const results = splitBytes(header(0xffff_ffff, KIND_DATA), sizes).map(
        (c) => decoder.push(c),
      );
      const last = results.at(-1)!;
      assert.match(last.error ?? "", /4294967295 bytes exceeds/);
      assert.ok(results.slice(0, -1).every((r) => r.error === undefined));
    }
  });

  await t.step("honours a smaller limit given to the constructor", () => {
    const decoder = new FrameDecoder(16);
    assert.equal(
      decoder.push(encodeFrame("control", new Uint8Array(16))).error,
      undefined,
    );
    const { error } = decoder.push(header(17));
    assert.match(error ?? "", /17 bytes exceeds the limit of 16 bytes/);
  });

  await t.step(
    "returns the frames before a bad header together with the error",
    () => {
      const good = encodeFrame("control", enc.encode("{}"));
      const { frames: got, error } = new FrameDecoder().push(
        concatBytes([good, good, header(MAX_FRAME_BYTES + 1)]),
      );
      assert.equal(got.length, 2);
      assert.ok(error);
    },
  );

  await t.step("rejects an unknown kind byte", () => {
    for (const kind of [0, 3, 0x7f, 0xff]) {
      const whole = new FrameDecoder().push(header(0, kind));
      assert.equal(whole.error, `unknown frame kind ${kind}`);
      const decoder = new FrameDecoder();
      const parts = splitBytes(header(3, kind), [1]).map((c) =>
        decoder.push(c)
      );
      assert.equal(parts.at(-1)!.error, `unknown frame kind ${kind}`);
    }
  });

  await t.step("reports a truncated frame as pending", () => {
    const frame = encodeFrame("control", enc.encode("hello"));
    const decoder = new FrameDecoder();
    assert.equal(decoder.pending, false);
    decoder.push(frame.subarray(0, 3));
    assert.equal(decoder.pending, true, "inside the header");
    decoder.push(frame.subarray(3, 7));
    assert.equal(decoder.pending, true, "inside the payload");
    const { frames: got } = decoder.push(frame.subarray(7));
    assert.equal(got.length, 1);
    assert.equal(decoder.pending, false);

    const fast = new FrameDecoder();
    fast.push(frame.subarray(0, frame.length - 1));
    assert.equal(fast.pending, true, "whole header, payload short by one");
  });

  await t.step("stays failed after an error", () => {
    const decoder = new FrameDecoder();
    const first = decoder.push(header(0, 9));
    assert.ok(first.error);
    const good = encodeFrame("control", enc.encode("{}"));
    for (let i = 0; i < 3; i++) {
      const again = decoder.push(good);
      assert.deepEqual(again.frames, []);
      assert.equal(again.error, first.error);
    }
  });
});

Deno.test("frameDecoderStream", async (t) => {
  const frames = sampleFrames();
  const bytes = encodeAll(frames);

  await t.step("yields the frames of a stream split at random", async () => {
    for (let seed = 0; seed < 10; seed++) {
      const chunks = randomSplit(
        bytes,
        mulberry32(seed),
        randInt(mulberry32(seed), 1, 500),
      );
      const got = await collectItems(
        streamFromChunks(chunks).pipeThrough(frameDecoderStream()),
      );
      assert.deepEqual(copied(got), frames);
    }
  });

  await t.step("errors with FramingError on an oversize length", async () => {
    const good = encodeFrame("control", enc.encode("{}"));
    const stream = streamOf(concatBytes([good, header(MAX_FRAME_BYTES + 1)]))
      .pipeThrough(frameDecoderStream());
    const reader = stream.getReader();
    const first = await reader.read();
    assert.equal(first.value?.kind, "control");
    await assert.rejects(reader.read(), (e: unknown) => {
      assert.ok(e instanceof FramingError);
      assert.match(e.message, /exceeds the limit/);
      return true;
    });
  });

  await t.step("errors with FramingError on an unknown kind", async () => {
    const stream = streamOf(header(1, 42)).pipeThrough(frameDecoderStream());
    await assert.rejects(collectItems(stream), FramingError);
  });

  await t.step(
    "errors with FramingError when the stream ends inside a frame",
    async () => {
      const frame = encodeFrame("data", new Uint8Array(100));
      for (const cut of [1, 4, 5, 50, 104]) {
        const stream = streamOf(frame.subarray(0, cut), [7])
          .pipeThrough(frameDecoderStream());
        await assert.rejects(collectItems(stream), (e: unknown) => {
          assert.ok(e instanceof FramingError);
          assert.equal(e.message, "connection ended inside a frame");
          return true;
        });
      }
    },
  );

  await t.step("ends cleanly when the stream ends between frames", async () => {
    const got = await collectItems(
      streamOf(new Uint8Array(0)).pipeThrough(frameDecoderStream()),
    );
    assert.deepEqual(got, []);
  });

  await t.step("uses the limit it was given", async () => {
    const stream = streamOf(encodeFrame("data", new Uint8Array(11)))
      .pipeThrough(frameDecoderStream(10));
    await assert.rejects(collectItems(stream), FramingError);
  });
});

Deno.test("FrameDecoder memory follows the bytes received", async (t) => {
  const header = (length: number) => {
    const h = new Uint8Array(FRAME_HEADER_BYTES);
    new DataView(h.buffer).setUint32(0, length);
    h[4] = 1;
    return h;
  };

  await t.step(
    "an announced 1 MiB with ten bytes sent holds a few KiB",
    () => {
      const decoder = new FrameDecoder(2 * 1024 * 1024);
      decoder.push(header(1024 * 1024));
      decoder.push(new Uint8Array(10));
      assert.ok(decoder.bufferedBytes <= 4096, `${decoder.bufferedBytes}`);
      // It grows by doubling as bytes come, up to the length.
      decoder.push(new Uint8Array(10_000));
      assert.ok(decoder.bufferedBytes < 32 * 1024, `${decoder.bufferedBytes}`);
      const { frames } = decoder.push(new Uint8Array(1024 * 1024 - 10_010));
      assert.equal(frames.length, 1);
      assert.equal(frames[0]!.payload.length, 1024 * 1024);
      assert.equal(decoder.bufferedBytes, 0);
    },
  );

  await t.step("partial frames are charged to a shared budget", () => {
    const budget = new MemoryBudget(10_000);
    const a = new FrameDecoder(MAX_FRAME_BYTES, { budget });
    const b = new FrameDecoder(MAX_FRAME_BYTES, { budget });
    a.push(header(8_000));
    a.push(new Uint8Array(7_000));
    assert.equal(budget.used, 7_000, "what arrived, not what was announced");
    b.push(header(5_000));
    const over = b.push(new Uint8Array(100));
    assert.match(
      over.error ?? "",
      /^partial frames hold more memory than allowed \(10000 bytes for all connections\); try again later$/,
    );
    assert.equal(budget.used, 7_000, "the failed frame took nothing");
    const done = a.push(new Uint8Array(1_000));
    assert.equal(done.frames.length, 1);
    assert.equal(budget.used, 0, "a whole frame gives its share back");
    a.push(header(3_000));
    a.push(new Uint8Array(10));
    assert.ok(budget.used > 0);
    a.dispose();
    assert.equal(budget.used, 0, "disposing gives back a partial frame");
  });

  await t.step(
    "limits change for the frames to come; whole frames in one chunk cost nothing",
    () => {
      const budget = new MemoryBudget(100);
      const decoder = new FrameDecoder(1_000, { budget });
      const big = encodeFrame("control", new Uint8Array(5_000));
      // A whole frame inside one chunk is handed out without a copy.
      decoder.setLimits(10_000, budget);
      assert.equal(decoder.push(big).frames.length, 1);
      assert.equal(budget.used, 0);
      decoder.setLimits(10_000, null);
      assert.equal(decoder.push(big.subarray(0, 4_000)).error, undefined);
      assert.equal(decoder.push(big.subarray(4_000)).frames.length, 1);
      decoder.setLimits(1_000, budget);
      assert.match(decoder.push(big).error ?? "", /exceeds the limit of 1000/);
    },
  );
});

Deno.test("a decoder that reuses its buffer still gives every frame its own bytes", () => {
  // FramedConn lets the decoder assemble every frame in one buffer; a frame
  // completed and a new one begun in the same chunk must not share it.
  const sizes = [300, 5, 70_000, 70_001, 1, 0, 65_536, 200_000, 100];
  const frames = sizes.map((n, i) =>
    encodeFrame(i % 2 ? "control" : "data", new Uint8Array(n).fill(i + 1))
  );
  const all = new Uint8Array(frames.reduce((a, f) => a + f.length, 0));
  let at = 0;
  for (const f of frames) {
    all.set(f, at);
    at += f.length;
  }
  for (const step of [1, 7, 1000, 65_536, 100_000, all.length]) {
    const dec = new FrameDecoder(1024 * 1024, { reuseBuffers: true });
    const seen: string[] = [];
    for (let i = 0; i < all.length; i += step) {
      const { frames: out, error } = dec.push(all.subarray(i, i + step));
      assert.deepEqual(error, undefined);
      // Check each payload before the next push, as FramedConn's owner does.
      for (const f of out) {
        const first = f.payload[0] ?? 0;
        assert(f.payload.every((b) => b === first), `step ${step}`);
        seen.push(`${f.kind}:${f.payload.length}:${first}`);
      }
    }
    assert.deepEqual(seen, [
      "data:300:1",
      "control:5:2",
      "data:70000:3",
      "control:70001:4",
      "data:1:5",
      "control:0:0",
      "data:65536:7",
      "control:200000:8",
      "data:100:9",
    ]);
  }
});
