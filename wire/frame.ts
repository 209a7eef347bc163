/**
 * Length-prefixed frames: the byte layer every TCP connection speaks.
 *
 * Layout: u32 big-endian payload length, one kind byte, then the payload.
 * The length is checked against MAX_FRAME_BYTES before a single payload byte
 * is buffered, so a hostile length can never make us allocate.
 */

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

/** Frames at least this big are assembled in a reused buffer (see FrameDecoder). */
const REUSE_MIN_BYTES = 64 * 1024;

/**
 * Push-style frame decoder: no I/O, survives any split of the byte stream.
 *
 * After an error the decoder stays failed; the caller closes the connection.
 */
export class FrameDecoder {
  #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFill = 0;
  #payload: Uint8Array | null = null;
  #payloadFill = 0;
  #kind: "control" | "data" = "control";
  #failed: string | null = null;
  readonly #max: number;
  readonly #reuse: boolean;
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
    opts: { reuseBuffers?: boolean } = {},
  ) {
    this.#max = maxFrameBytes;
    this.#reuse = opts.reuseBuffers ?? false;
  }

  /** True while a frame is partly received (useful to detect truncation at EOF). */
  get pending(): boolean {
    return this.#headerFill > 0 || this.#payload !== null;
  }

  /** Feeds a chunk; returns the frames it completed. */
  push(chunk: Uint8Array): DecodeResult {
    const frames: Frame[] = [];
    if (this.#failed) return { frames, error: this.#failed };
    // The frames of the previous push have been consumed.
    this.#spareLent = false;
    let at = 0;
    while (at < chunk.length) {
      if (this.#payload === null) {
        // Fast path: a whole header and payload inside this chunk, no copy.
        if (this.#headerFill === 0 && chunk.length - at >= FRAME_HEADER_BYTES) {
          const view = new DataView(chunk.buffer, chunk.byteOffset + at, 5);
          const length = view.getUint32(0);
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
        this.#header.set(chunk.subarray(at, at + take), this.#headerFill);
        this.#headerFill += take;
        at += take;
        if (this.#headerFill < FRAME_HEADER_BYTES) break;
        const length = new DataView(this.#header.buffer).getUint32(0);
        const kind = this.#header[4]!;
        const err = this.#checkHeader(length, kind);
        if (err) return this.#fail(frames, err);
        this.#begin(length, kind);
        if (length === 0) {
          this.#finish(frames);
          continue;
        }
      }
      const payload: Uint8Array = this.#payload!;
      const take = Math.min(
        payload.length - this.#payloadFill,
        chunk.length - at,
      );
      payload.set(chunk.subarray(at, at + take), this.#payloadFill);
      this.#payloadFill += take;
      at += take;
      if (this.#payloadFill === payload.length) this.#finish(frames);
    }
    return { frames };
  }

  #finish(frames: Frame[]): void {
    if (this.#spare !== null && this.#payload!.buffer === this.#spare.buffer) {
      this.#spareLent = true;
    }
    frames.push({ kind: this.#kind, payload: this.#payload! } as Frame);
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
    this.#payload = this.#buffer(length);
    this.#payloadFill = 0;
    this.#headerFill = FRAME_HEADER_BYTES;
  }

  /**
   * A payload buffer: the reusable one when allowed and free. Only big
   * frames (file data) use it, so a connection of small control frames
   * keeps no buffer between frames.
   */
  #buffer(length: number): Uint8Array {
    if (!this.#reuse || this.#spareLent || length < REUSE_MIN_BYTES) {
      return new Uint8Array(length);
    }
    if (this.#spare === null || this.#spare.length < length) {
      this.#spare = new Uint8Array(length);
    }
    return this.#spare.subarray(0, length);
  }

  #fail(frames: Frame[], error: string): DecodeResult {
    this.#failed = error;
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
