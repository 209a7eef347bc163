/**
 * A framed connection: one reader, one writer, a capped send queue.
 *
 * Whoever owns a FramedConn reads it with `frames()` in one async function and
 * closes it in that function's `finally`. Control messages are queued and
 * written by a single pump; the queue is counted and a peer that stops reading
 * is cut off once it passes `maxQueuedBytes`, so it never stalls anyone else.
 * File data goes through `sendData`, which waits for the bytes to be written,
 * so TCP backpressure paces the sender.
 */
import {
  type ByteBudget,
  encodeFrame,
  encodeJson,
  type Frame,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FramingError,
  MAX_FRAME_BYTES,
  writeHeader,
} from "../wire/mod.ts";

/** The byte stream under a FramedConn; Deno.Conn and Deno.TlsConn satisfy it. */
export interface ByteConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
  /** Ends our direction only (TLS close_notify and FIN), if supported. */
  closeWrite?(): Promise<void>;
}

/** Tunable caps of one connection. */
export interface ConnLimits {
  /** Largest frame payload accepted. */
  maxFrameBytes: number;
  /** Bytes of queued control frames after which the peer is dropped. */
  maxQueuedBytes: number;
  /** Size of the buffer each read fills. */
  readBufferBytes: number;
  /** A budget shared with other connections that partial frames are charged to. */
  budget?: ByteBudget | null;
}

/** Defaults suited to a control connection. */
export const DEFAULT_LIMITS: ConnLimits = {
  maxFrameBytes: MAX_FRAME_BYTES,
  maxQueuedBytes: 4 * 1024 * 1024,
  readBufferBytes: 16 * 1024,
};

/** Raised by `sendData` when the connection is gone. */
export class ConnClosedError extends Error {
  override name = "ConnClosedError";
}

/** Why a connection ended, as seen by its owner. */
export type CloseReason = "eof" | "error" | "overflow" | "framing" | "local";

/** A connection that speaks frames. See the module doc for the ownership rules. */
export class FramedConn {
  readonly #conn: ByteConn;
  #limits: ConnLimits;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #written = 0;
  #enqueued = 0;
  #pumping = false;
  #waiters: {
    until: number;
    resolve: () => void;
    reject: (e: Error) => void;
  }[] = [];
  #closed = false;
  #closeReason: CloseReason | null = null;
  #closeListeners: ((reason: CloseReason) => void)[] = [];
  #reading = false;
  #writeClosed = false;
  #lingering: Promise<void> | null = null;
  #decoder: FrameDecoder | null = null;

  constructor(conn: ByteConn, limits: Partial<ConnLimits> = {}) {
    this.#conn = conn;
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** True once closed by either side. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Why the connection closed, or null while open. */
  get closeReason(): CloseReason | null {
    return this.#closeReason;
  }

  /** Bytes queued but not yet written. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /**
   * Changes the frame limits for frames still to come: the largest payload
   * and the budget partial frames are charged to (a server raises both once
   * a client has logged in).
   */
  setFrameLimits(maxFrameBytes: number, budget: ByteBudget | null): void {
    this.#limits = { ...this.#limits, maxFrameBytes, budget };
    this.#decoder?.setLimits(maxFrameBytes, budget);
  }

  /**
   * Changes the size of the buffer each read fills, from the next read on:
   * a listener reads an unauthenticated connection with a small one and
   * gives it a big one once it knows who is there.
   */
  setReadBufferBytes(bytes: number): void {
    this.#limits = { ...this.#limits, readBufferBytes: bytes };
  }

  /** Calls `fn` once when the connection closes. */
  onClose(fn: (reason: CloseReason) => void): void {
    if (this.#closed) fn(this.#closeReason!);
    else this.#closeListeners.push(fn);
  }

  /**
   * Yields frames until the peer closes. Throws FramingError on a framing
   * violation. A yielded payload stays valid only until the next frame is
   * requested: copy it to keep it.
   */
  async *frames(): AsyncGenerator<Frame> {
    // Payloads are valid until the next frame is requested (see above), so
    // the decoder may assemble every frame in the same buffer.
    const decoder = new FrameDecoder(this.#limits.maxFrameBytes, {
      reuseBuffers: true,
      budget: this.#limits.budget,
    });
    this.#decoder = decoder;
    let buf = new Uint8Array(this.#limits.readBufferBytes);
    this.#reading = true;
    // One generator, not two: each frame costs a promise and a result
    // object per generator it passes through.
    try {
      while (!this.#closed) {
        // Every frame of the last read has been consumed: the buffer may change.
        if (buf.length !== this.#limits.readBufferBytes) {
          buf = new Uint8Array(this.#limits.readBufferBytes);
        }
        let n: number | null;
        try {
          n = await this.#conn.read(buf);
        } catch {
          // A reset, a failed TLS handshake or a vanished socket: the peer's
          // fault, and all of them end this connection only.
          this.close("error");
          return;
        }
        if (n === null) {
          if (decoder.pending && !this.#closed) {
            this.close("framing");
            throw new FramingError("connection ended inside a frame");
          }
          this.close("eof");
          return;
        }
        const { frames, error } = decoder.push(buf.subarray(0, n));
        for (const frame of frames) {
          yield frame;
          if (this.#closed) return;
        }
        if (error) {
          this.close("framing");
          throw new FramingError(error);
        }
      }
    } finally {
      this.#reading = false;
      // A partial frame's share of a budget goes back with the stream.
      decoder.dispose();
      // The owner stopped reading while a graceful close waits for the peer.
      if (this.#lingering && !this.#closed) void this.#drain();
    }
  }

  /** Queues a control message. Returns false if it was not queued. */
  send(msg: object): boolean {
    return this.sendFrame(encodeFrame("control", encodeJson(msg)));
  }

  /** Queues an encoded frame. Drops the connection when the queue overflows. */
  sendFrame(frame: Uint8Array): boolean {
    if (this.#closed || this.#writeClosed) return false;
    if (this.#queued + frame.length > this.#limits.maxQueuedBytes) {
      this.close("overflow");
      return false;
    }
    this.#queue.push(frame);
    this.#queued += frame.length;
    this.#enqueued += frame.length;
    if (!this.#pumping) this.#pump();
    return true;
  }

  /**
   * Writes a data frame and resolves once it (and everything queued before it)
   * has been handed to the socket. `payload` may be any size up to the frame limit.
   */
  async sendData(payload: Uint8Array): Promise<void> {
    const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
    writeHeader(frame, "data", payload.length);
    frame.set(payload, FRAME_HEADER_BYTES);
    await this.sendPrepared(frame);
  }

  /**
   * Like sendData for a buffer that already holds a data frame header in its
   * first FRAME_HEADER_BYTES; avoids a copy on the hot path.
   */
  async sendPrepared(frame: Uint8Array): Promise<void> {
    if (this.#closed || this.#writeClosed) {
      throw new ConnClosedError("connection is closed");
    }
    this.#queue.push(frame);
    this.#queued += frame.length;
    this.#enqueued += frame.length;
    const until = this.#enqueued;
    const done = new Promise<void>((resolve, reject) => {
      this.#waiters.push({ until, resolve, reject });
    });
    if (!this.#pumping) this.#pump();
    await done;
  }

  /** Resolves when everything queued so far is written. */
  async flush(): Promise<void> {
    if (this.#written >= this.#enqueued) return;
    if (this.#closed) throw new ConnClosedError("connection is closed");
    const until = this.#enqueued;
    await new Promise<void>((resolve, reject) => {
      this.#waiters.push({ until, resolve, reject });
    });
  }

  /** Closes the connection; idempotent. Pending data waiters are rejected. */
  close(reason: CloseReason = "local"): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    this.#queue = [];
    this.#queued = 0;
    this.#decoder?.dispose();
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime: nothing left to release.
    }
    const err = new ConnClosedError("connection closed");
    for (const w of this.#waiters.splice(0)) w.reject(err);
    for (const fn of this.#closeListeners.splice(0)) fn(reason);
  }

  /**
   * Closes gracefully: sends what is queued, ends our direction, and reads
   * (and drops) whatever the peer still sends until it closes too, bounded by
   * `timeoutMs`. Closing a socket with unread data makes the kernel send a
   * reset, which can destroy our own last message (a cancel, say) before the
   * peer reads it; waiting for the peer's end first avoids that. Idempotent.
   */
  closeAfterFlush(timeoutMs = 1000): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#lingering ??= this.#linger(timeoutMs);
    return this.#lingering;
  }

  async #linger(timeoutMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) =>
      this.onClose(() => resolve())
    );
    const timer = setTimeout(() => this.close("local"), timeoutMs);
    // Nothing new is queued from here on; what is queued still goes out.
    this.#writeClosed = true;
    try {
      await Promise.race([this.flush().catch(() => {}), closed]);
      if (this.#closed) return;
      try {
        await this.#conn.closeWrite?.();
      } catch {
        // Already half-closed or gone: the timer or the reader ends it.
      }
      if (!this.#conn.closeWrite) this.close("local");
      else if (!this.#reading) void this.#drain();
      await closed;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads and drops bytes until the peer closes (for a graceful close). */
  async #drain(): Promise<void> {
    const scratch = new Uint8Array(16 * 1024);
    try {
      while (!this.#closed && (await this.#conn.read(scratch)) !== null) {
        // Dropped: the owner no longer wants frames.
      }
    } catch {
      // Reset by the peer: closed either way.
    }
    this.close("eof");
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const chunk = this.#take();
        let off = 0;
        while (off < chunk.length) {
          off += await this.#conn.write(chunk.subarray(off));
        }
        this.#queued -= chunk.length;
        this.#written += chunk.length;
        this.#settle();
      }
    } catch {
      this.close("error");
    } finally {
      this.#pumping = false;
    }
  }

  /** Takes queued frames, coalescing small ones into one write. */
  #take(): Uint8Array {
    const first = this.#queue[0]!;
    if (this.#queue.length === 1 || first.length >= 64 * 1024) {
      return this.#queue.shift()!;
    }
    let n = 0;
    let total = 0;
    while (
      n < this.#queue.length && total + this.#queue[n]!.length <= 64 * 1024
    ) {
      total += this.#queue[n]!.length;
      n++;
    }
    if (n <= 1) return this.#queue.shift()!;
    const out = new Uint8Array(total);
    let at = 0;
    for (const part of this.#queue.splice(0, n)) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  #settle(): void {
    if (this.#waiters.length === 0) return;
    const ready = this.#waiters.filter((w) => w.until <= this.#written);
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => w.until > this.#written);
    for (const w of ready) w.resolve();
  }
}
