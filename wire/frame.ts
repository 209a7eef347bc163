/**
 * Length-prefixed frames: the byte layer every TCP connection speaks.
 *
 * Layout: u32 big-endian payload length, one kind byte, then the payload.
 * The length is checked against MAX_FRAME_BYTES before a single payload byte
 * is buffered, and buffers grow with the bytes that arrive, so a hostile
 * length can never make us allocate.
 */
import type { ByteBudget } from "./budget.ts";

/** Largest payload a frame may carry (1 MiB). */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** Bytes before the payload: 4 for the length, 1 for the kind. */
export const FRAME_HEADER_BYTES = 5;

/** Kind byte of a JSON control message. */
export const KIND_CONTROL = 1;
/** Kind byte of a binary data chunk (file contents). */
export const KIND_DATA = 2;

/** A decoded frame. The payload may be a view into the pushed chunk. */
export type Frame =
  | { kind: "control"; payload: Uint8Array }
  | { kind: "data"; payload: Uint8Array };

/** What one push produced: whole frames, and an error that ends the stream. */
export interface DecodeResult {
  frames: Frame[];
  error?: string;
}

/** Encodes one frame; throws only on our own bug (an oversize payload). */
export function encodeFrame(
  kind: "control" | "data",
  payload: Uint8Array,
): Uint8Array {
  if (payload.length > MAX_FRAME_BYTES) {
    throw new RangeError(
      `frame payload of ${payload.length} bytes exceeds ${MAX_FRAME_BYTES}`,
    );
  }
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  writeHeader(out, kind, payload.length);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** Writes a frame header for a payload of `length` bytes into `out[0..5)`. */
export function writeHeader(
  out: Uint8Array,
  kind: "control" | "data",
  length: number,
): void {
  new DataView(out.buffer, out.byteOffset, FRAME_HEADER_BYTES).setUint32(
    0,
    length,
  );
  out[4] = kind === "control" ? KIND_CONTROL : KIND_DATA;
}

/** The big-endian unsigned 32-bit number at `at` (a frame's length, say). */
export function u32At(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) |
    b[at + 3]!) >>> 0;
}

/** Frames at least this big are assembled in a reused buffer (see FrameDecoder). */
const REUSE_MIN_BYTES = 64 * 1024;

/** The first buffer of a frame that spans chunks, unless the frame is smaller. */
const FIRST_BUFFER_BYTES = 4096;

/**
 * Push-style frame decoder: no I/O, survives any split of the byte stream.
 *
 * A frame that spans chunks is assembled in a buffer that grows with the
 * bytes actually received (doubling, up to the announced length), never
 * allocated from the announced length alone: a client that announces 1 MiB
 * and sends ten bytes holds a few KiB. With a budget, those buffers are also
 * charged to it while the frame is partial, and a frame that would pass the
 * budget fails the decoder.
 *
 * After an error the decoder stays failed; the caller closes the connection.
 */
export class FrameDecoder {
  /**
   * A header split across chunks, assembled here; made on the first split,
   * as most headers arrive whole (a registry keeps a decoder per connection).
   */
  #header: Uint8Array | null = null;
  #headerFill = 0;
  /** Whether a frame's payload is being received. */
  #inFrame = false;
  /** The announced payload length of that frame. */
  #length = 0;
  /** Its buffer so far (grown as bytes come), and how much is filled. */
  #payload: Uint8Array | null = null;
  #payloadFill = 0;
  #kind: "control" | "data" = "control";
  #failed: string | null = null;
  #max: number;
  readonly #reuse: boolean;
  #budget: ByteBudget | null;
  /** Bytes of the partial frame's buffer charged to the budget. */
  #charged = 0;
  /** The reusable payload buffer, and whether a frame handed out holds it. */
  #spare: Uint8Array | null = null;
  #spareLent = false;

  /**
   * With `reuseBuffers`, a payload that spans chunks is assembled in one
   * buffer kept across frames, so it is valid only until the next push: for
   * owners like FramedConn that consume each frame before reading on.
   */
  constructor(
    maxFrameBytes = MAX_FRAME_BYTES,
    opts: { reuseBuffers?: boolean; budget?: ByteBudget | null } = {},
  ) {
    this.#max = maxFrameBytes;
    this.#reuse = opts.reuseBuffers ?? false;
    this.#budget = opts.budget ?? null;
  }

  /** True while a frame is partly received (useful to detect truncation at EOF). */
  get pending(): boolean {
    return this.#headerFill > 0 || this.#inFrame;
  }

  /** Bytes the partial frame's buffer holds now (0 between frames). */
  get bufferedBytes(): number {
    return this.#inFrame ? (this.#payload?.length ?? 0) : 0;
  }

  /**
   * Changes the limits for frames whose header comes from now on: the
   * largest payload, and the budget partial frames are charged to.
   */
  setLimits(maxFrameBytes: number, budget: ByteBudget | null): void {
    this.#max = maxFrameBytes;
    if (budget === this.#budget) return;
    this.#release();
    this.#budget = budget;
  }

  /** Gives back what the partial frame holds of the budget (the stream ended). */
  dispose(): void {
    this.#release();
  }

  /** Feeds a chunk; returns the frames it completed. */
  push(chunk: Uint8Array): DecodeResult {
    const frames: Frame[] = [];
    if (this.#failed) return { frames, error: this.#failed };
    // The frames of the previous push have been consumed.
    this.#spareLent = false;
    let at = 0;
    while (at < chunk.length) {
      if (!this.#inFrame) {
        // Fast path: a whole header and payload inside this chunk, no copy.
        if (this.#headerFill === 0 && chunk.length - at >= FRAME_HEADER_BYTES) {
          const length = u32At(chunk, at);
          const kind = chunk[at + 4]!;
          const err = this.#checkHeader(length, kind);
          if (err) return this.#fail(frames, err);
          const start = at + FRAME_HEADER_BYTES;
          if (chunk.length - start >= length) {
            frames.push({
              kind: kind === KIND_CONTROL ? "control" : "data",
              payload: chunk.subarray(start, start + length),
            });
            at = start + length;
            continue;
          }
          this.#begin(length, kind);
          at = start;
          continue;
        }
        const take = Math.min(
          FRAME_HEADER_BYTES - this.#headerFill,
          chunk.length - at,
        );
        const header = this.#header ??= new Uint8Array(FRAME_HEADER_BYTES);
        header.set(chunk.subarray(at, at + take), this.#headerFill);
        this.#headerFill += take;
        at += take;
        if (this.#headerFill < FRAME_HEADER_BYTES) break;
        const length = u32At(header, 0);
        const kind = header[4]!;
        const err = this.#checkHeader(length, kind);
        if (err) return this.#fail(frames, err);
        this.#begin(length, kind);
        if (length === 0) {
          this.#finish(frames);
          continue;
        }
      }
      const take = Math.min(
        this.#length - this.#payloadFill,
        chunk.length - at,
      );
      const err = this.#ensure(this.#payloadFill + take);
      if (err) return this.#fail(frames, err);
      this.#payload!.set(chunk.subarray(at, at + take), this.#payloadFill);
      this.#payloadFill += take;
      at += take;
      if (this.#payloadFill === this.#length) this.#finish(frames);
    }
    return { frames };
  }

  #finish(frames: Frame[]): void {
    const buf = this.#payload ?? new Uint8Array(0);
    if (this.#spare !== null && buf.buffer === this.#spare.buffer) {
      this.#spareLent = true;
    }
    const payload = buf.length === this.#length
      ? buf
      : buf.subarray(0, this.#length);
    frames.push({ kind: this.#kind, payload } as Frame);
    this.#release();
    this.#inFrame = false;
    this.#payload = null;
    this.#payloadFill = 0;
    this.#headerFill = 0;
  }

  #checkHeader(length: number, kind: number): string | null {
    if (length > this.#max) {
      return `frame of ${length} bytes exceeds the limit of ${this.#max} bytes`;
    }
    if (kind !== KIND_CONTROL && kind !== KIND_DATA) {
      return `unknown frame kind ${kind}`;
    }
    return null;
  }

  #begin(length: number, kind: number): void {
    this.#kind = kind === KIND_CONTROL ? "control" : "data";
    this.#inFrame = true;
    this.#length = length;
    this.#payload = null;
    this.#payloadFill = 0;
    this.#headerFill = FRAME_HEADER_BYTES;
  }

  /**
   * Makes the payload buffer hold at least `need` bytes: the spare one when
   * allowed and big enough, else a new one of twice the size (at most the
   * announced length), keeping what was received. Returns an error when the
   * budget cannot cover the growth.
   */
  #ensure(need: number): string | null {
    const current = this.#payload;
    if (current !== null && current.length >= need) return null;
    const grown = Math.min(
      this.#length,
      Math.max(need, 2 * (current?.length ?? 0), FIRST_BUFFER_BYTES),
    );
    const useSpare = this.#reuse && !this.#spareLent &&
      this.#length >= REUSE_MIN_BYTES;
    if (useSpare && this.#spare !== null && this.#spare.length >= grown) {
      // The spare is already paid for by earlier frames of this connection.
      const spare = this.#spare.subarray(0, this.#length);
      if (current !== null && current.buffer !== spare.buffer) {
        spare.set(current.subarray(0, this.#payloadFill));
      }
      this.#payload = spare;
      return null;
    }
    if (this.#budget && !this.#budget.take(grown - this.#charged)) {
      return `partial frames hold more memory than allowed (${this.#budget.limit} bytes for all connections); try again later`;
    }
    if (this.#budget) this.#charged = grown;
    const next = new Uint8Array(grown);
    if (current !== null) next.set(current.subarray(0, this.#payloadFill));
    this.#payload = next;
    if (useSpare) this.#spare = next;
    return null;
  }

  #release(): void {
    if (this.#charged > 0) this.#budget?.give(this.#charged);
    this.#charged = 0;
  }

  #fail(frames: Frame[], error: string): DecodeResult {
    this.#failed = error;
    this.#release();
    this.#inFrame = false;
    this.#payload = null;
    return { frames, error };
  }
}

/** Adapts a FrameDecoder to a TransformStream; a framing error errors the stream. */
export function frameDecoderStream(
  maxFrameBytes = MAX_FRAME_BYTES,
): TransformStream<Uint8Array, Frame> {
  const decoder = new FrameDecoder(maxFrameBytes);
  return new TransformStream({
    transform(chunk, controller) {
      const { frames, error } = decoder.push(chunk);
      for (const f of frames) controller.enqueue(f);
      if (error) controller.error(new FramingError(error));
    },
    flush(controller) {
      if (decoder.pending) {
        controller.error(new FramingError("connection ended inside a frame"));
      }
    },
  });
}

/** A violation of the framing rules: the connection must be closed. */
export class FramingError extends Error {
  override name = "FramingError";
}
