/**
 * Lines to stdout without blocking the event loop.
 *
 * console.log writes synchronously: a script that stops reading the JSON
 * mode's output would freeze the whole peer, heartbeats included, until the
 * registry timed it out. Here lines are queued and written by one async pump;
 * a reader that falls more than `maxQueuedBytes` behind ends the peer with a
 * clear message instead of growing memory without bound.
 */

/** A writable byte sink (Deno.stdout). */
export interface ByteSink {
  write(p: Uint8Array): Promise<number>;
}

/** Queued, ordered line output. */
export class LineWriter {
  readonly #sink: ByteSink;
  readonly #max: number;
  readonly #enc = new TextEncoder();
  #queue: Uint8Array[] = [];
  #queued = 0;
  #pumping: Promise<void> | null = null;
  #failed: string | null = null;
  /** Called once if the reader falls too far behind or the sink fails. */
  onOverflow: (why: string) => void = () => {};

  constructor(sink: ByteSink, maxQueuedBytes = 64 * 1024 * 1024) {
    this.#sink = sink;
    this.#max = maxQueuedBytes;
  }

  /** Queues one line (a newline is added). */
  line = (text: string): void => {
    if (this.#failed) return;
    const bytes = this.#enc.encode(text + "\n");
    if (this.#queued + bytes.length > this.#max) {
      this.#fail(`stdout is not being read (${this.#queued} bytes waiting)`);
      return;
    }
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    this.#pumping ??= this.#pump();
  };

  async #pump(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#failed) {
        const batch = this.#queue.splice(0, 256);
        const size = batch.reduce((n, b) => n + b.length, 0);
        const out = batch.length === 1 ? batch[0]! : concat(batch, size);
        let off = 0;
        while (off < out.length) {
          off += await this.#sink.write(out.subarray(off));
        }
        this.#queued -= size;
      }
    } catch (err) {
      this.#fail(
        `cannot write to stdout: ${err instanceof Error ? err.message : err}`,
      );
    } finally {
      this.#pumping = null;
    }
  }

  #fail(why: string): void {
    if (this.#failed) return;
    this.#failed = why;
    this.#queue = [];
    this.#queued = 0;
    this.onOverflow(why);
  }

  /** Resolves when everything queued is written (or writing failed). */
  async flush(): Promise<void> {
    while (this.#pumping) await this.#pumping;
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
