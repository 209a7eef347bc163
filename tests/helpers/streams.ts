/**
 * Byte-stream helpers for tests: cut bytes into chunks of chosen or random
 * sizes, turn chunks into a ReadableStream, and collect a stream back into
 * one buffer. Decoders must give the same result for every split, so tests
 * feed them the same bytes cut in many ways.
 */
import type { Rand } from "./random.ts";

/** Joins byte arrays into one. */
export function concatBytes(
  parts: readonly Uint8Array[],
): Uint8Array<ArrayBuffer> {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Cuts `bytes` into chunks whose sizes are taken from `sizes` in turn,
 * starting again from the first when the list runs out. Sizes of 0 yield
 * empty chunks (an empty read is legal); the last chunk holds what is left.
 */
export function splitBytes(
  bytes: Uint8Array,
  sizes: readonly number[],
): Uint8Array[] {
  if (sizes.length === 0 || !sizes.some((n) => n > 0)) {
    throw new RangeError("splitBytes needs at least one size above 0");
  }
  for (const n of sizes) {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(`chunk size must be an integer >= 0, got ${n}`);
    }
  }
  const out: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    out.push(bytes.subarray(at, Math.min(at + n, bytes.length)));
    at += n;
  }
  return out;
}

/** Cuts `bytes` into chunks of random sizes between 1 and `maxChunk`. */
export function randomSplit(
  bytes: Uint8Array,
  rand: Rand,
  maxChunk = 64,
): Uint8Array[] {
  if (!Number.isInteger(maxChunk) || maxChunk < 1) {
    throw new RangeError(`maxChunk must be an integer >= 1, got ${maxChunk}`);
  }
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const n = 1 + Math.floor(rand() * maxChunk);
    out.push(bytes.subarray(at, Math.min(at + n, bytes.length)));
    at += n;
  }
  return out;
}

/**
 * A ReadableStream that yields `chunks` one per pull, so it honours the
 * consumer's backpressure. Each chunk is copied: consumers may keep views.
 */
export function streamFromChunks(
  chunks: readonly Uint8Array[],
): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i >= chunks.length) {
        controller.close();
        return;
      }
      controller.enqueue(chunks[i++]!.slice());
    },
  }, { highWaterMark: 0 });
}

/** A stream of `bytes` cut as `splitBytes` cuts them. */
export function streamOf(
  bytes: Uint8Array,
  sizes: readonly number[] = [bytes.length || 1],
): ReadableStream<Uint8Array> {
  return streamFromChunks(splitBytes(bytes, sizes));
}

/** A stream of `bytes` in chunks of random sizes between 1 and `maxChunk`. */
export function randomChunkStream(
  bytes: Uint8Array,
  rand: Rand,
  maxChunk = 64,
): ReadableStream<Uint8Array> {
  return streamFromChunks(randomSplit(bytes, rand, maxChunk));
}

/**
 * Reads a stream to its end and returns everything as one buffer. Fails
 * when more than `maxBytes` arrive, so a runaway producer cannot exhaust
 * the test's memory.
 */
export async function collectBytes(
  stream: ReadableStream<Uint8Array>,
  maxBytes = 256 * 1024 * 1024,
): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > maxBytes) {
      throw new RangeError(`stream exceeded the ${maxBytes}-byte limit`);
    }
    parts.push(chunk);
  }
  return concatBytes(parts);
}

/** Reads every item of a stream into an array. */
export async function collectItems<T>(stream: ReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}
