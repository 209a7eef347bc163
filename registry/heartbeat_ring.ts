/**
 * The heartbeat worker's datagrams on their way to the main thread: a ring
 * in a SharedArrayBuffer with one writer (the worker) and one reader (the
 * main thread, on a timer).
 *
 * Messages between threads were the first way, and they failed under a
 * login storm: with thousands of TLS handshakes in flight after a restart,
 * the main thread ran its timers and its sockets but took the worker's
 * messages up to 13 s late, so sessions whose peers beat on time were
 * ended for silence — and logged in again, more work for a registry already
 * behind. A timer reading shared memory does not queue behind anything.
 *
 * Layout: a header of Int32 slots (HEAD, TAIL, WRAP, REJECTED, DROPPED),
 * then the data: records of [u16 length][bytes], never split at the end —
 * a record that does not fit before it starts again at 0, and WRAP says
 * where the data before it ended. The writer moves HEAD after writing; the
 * reader moves TAIL after reading. One byte always stays free, so HEAD ===
 * TAIL means empty.
 */

const HEAD = 0;
const TAIL = 1;
const WRAP = 2;
const REJECTED = 3;
const DROPPED = 4;
const HEADER_BYTES = 32;

/** Room for about 9 s of heartbeats from 10,000 sessions. */
export const HEARTBEAT_RING_BYTES = 4 * 1024 * 1024;

/** What one drain found besides the records. */
export interface Drained {
  /** Datagrams the worker refused by size or magic since the last drain. */
  rejected: number;
  /** Heartbeats the worker had no room for (the reader fell behind). */
  dropped: number;
}

/** One side of the ring over `buffer` (made by `HeartbeatRing.create`). */
export class HeartbeatRing {
  readonly buffer: SharedArrayBuffer;
  readonly #h: Int32Array;
  readonly #data: Uint8Array;
  readonly #cap: number;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#h = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.#data = new Uint8Array(buffer, HEADER_BYTES);
    this.#cap = this.#data.length;
  }

  /** A new, empty ring with `bytes` of room for records. */
  static create(bytes = HEARTBEAT_RING_BYTES): HeartbeatRing {
    return new HeartbeatRing(new SharedArrayBuffer(HEADER_BYTES + bytes));
  }

  /** Writer: appends one datagram; false (and counted) when there is no room. */
  write(msg: Uint8Array): boolean {
    const need = 2 + msg.length;
    const tail = Atomics.load(this.#h, TAIL);
    let at = Atomics.load(this.#h, HEAD);
    if (at >= tail) {
      if (at + need > this.#cap) {
        // Starts again at 0, leaving the byte before TAIL free.
        if (need >= tail) return this.#drop();
        Atomics.store(this.#h, WRAP, at);
        at = 0;
      }
    } else if (at + need >= tail) {
      return this.#drop();
    }
    this.#data[at] = msg.length >> 8;
    this.#data[at + 1] = msg.length & 0xff;
    this.#data.set(msg, at + 2);
    Atomics.store(this.#h, HEAD, at + need);
    return true;
  }

  /** Writer: counts datagrams refused before the ring. */
  reject(n = 1): void {
    Atomics.add(this.#h, REJECTED, n);
  }

  /**
   * Reader: hands every record written since the last drain to `take`, in
   * at most two runs of whole [u16 length][bytes] records, oldest first.
   */
  drain(take: (records: Uint8Array) => void): Drained {
    const head = Atomics.load(this.#h, HEAD);
    let tail = Atomics.load(this.#h, TAIL);
    if (head < tail) {
      const wrap = Atomics.load(this.#h, WRAP);
      if (wrap > tail) take(this.#data.subarray(tail, wrap));
      tail = 0;
    }
    if (head > tail) take(this.#data.subarray(tail, head));
    Atomics.store(this.#h, TAIL, head);
    return {
      rejected: Atomics.exchange(this.#h, REJECTED, 0),
      dropped: Atomics.exchange(this.#h, DROPPED, 0),
    };
  }

  #drop(): false {
    Atomics.add(this.#h, DROPPED, 1);
    return false;
  }
}
