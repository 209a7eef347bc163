/**
 * HMAC-SHA256 for heartbeats, specialised for speed.
 *
 * A registry checks one heartbeat per session per second — 10,000 a second at
 * the target load — and node:crypto's createHmac costs about 11 µs per call in
 * Deno, mostly object set-up. A heartbeat's signed part (28 bytes) and an
 * inner digest (32 bytes) each fit one SHA-256 block after padding, so with
 * the key's inner and outer states computed once per session a MAC is two
 * block compressions. Tests check it against node:crypto.
 */

const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);

const IV = new Int32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
]);

const W = new Int32Array(64);
/** Scratch space shared by every key: JavaScript runs one MAC at a time. */
const BLOCK = new Uint8Array(64);
const STATE = new Int32Array(8);

/** One SHA-256 compression of the 64-byte `block` into `state` (in place). */
function compress(state: Int32Array, block: Uint8Array): void {
  for (let i = 0; i < 16; i++) {
    const j = i * 4;
    W[i] = (block[j]! << 24) | (block[j + 1]! << 16) | (block[j + 2]! << 8) |
      block[j + 3]!;
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15]!;
    const w2 = W[i - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^
      (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^
      (w2 >>> 10);
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
  }
  let a = state[0]!, b = state[1]!, c = state[2]!, d = state[3]!;
  let e = state[4]!, f = state[5]!, g = state[6]!, h = state[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^
      ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + K[i]! + W[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^
      ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
  state[5] = (state[5]! + f) | 0;
  state[6] = (state[6]! + g) | 0;
  state[7] = (state[7]! + h) | 0;
}

/** A key of at most 64 bytes, prepared for MACs of messages of at most 55 bytes. */
export class HeartbeatKey {
  /** Inner state in [0, 8), outer in [8, 16): one small array per session. */
  readonly #states = new Int32Array(16);

  constructor(key: Uint8Array) {
    if (key.length > 64) {
      throw new RangeError("heartbeat keys are at most 64 bytes");
    }
    for (const [at, byte] of [[0, 0x36], [8, 0x5c]] as const) {
      BLOCK.fill(byte);
      for (let i = 0; i < key.length; i++) BLOCK[i] = key[i]! ^ byte;
      STATE.set(IV);
      compress(STATE, BLOCK);
      this.#states.set(STATE, at);
    }
  }

  /** HMAC-SHA256(key, message), first `out.length` bytes written to `out`. */
  macInto(message: Uint8Array, out: Uint8Array): void {
    this.macOf(message, message.length, out);
  }

  /**
   * HMAC-SHA256(key, the first `length` bytes of `src`) into `out`, as
   * macInto: the heartbeat path's form, which needs no view of `src`.
   */
  macOf(src: Uint8Array, length: number, out: Uint8Array): void {
    if (length > 55 || length > src.length) {
      throw new RangeError("heartbeat MACs cover at most 55 bytes");
    }
    const block = BLOCK;
    const state = STATE;
    const states = this.#states;
    // Inner: (key ^ ipad) was one block; the message and padding make one more.
    block.fill(0);
    for (let i = 0; i < length; i++) block[i] = src[i]!;
    block[length] = 0x80;
    setBitLength(block, 64 + length);
    for (let i = 0; i < 8; i++) state[i] = states[i]!;
    compress(state, block);
    // Outer: (key ^ opad) block, then the 32-byte inner digest and padding.
    block.fill(0);
    for (let i = 0; i < 8; i++) writeU32(block, i * 4, state[i]!);
    block[32] = 0x80;
    setBitLength(block, 64 + 32);
    for (let i = 0; i < 8; i++) state[i] = states[8 + i]!;
    compress(state, block);
    const n = Math.min(out.length, 32);
    for (let i = 0; i < n; i++) {
      out[i] = (state[i >> 2]! >>> (24 - 8 * (i & 3))) & 0xff;
    }
  }
}

function setBitLength(block: Uint8Array, bytes: number): void {
  const bits = bytes * 8;
  block[60] = (bits >>> 24) & 0xff;
  block[61] = (bits >>> 16) & 0xff;
  block[62] = (bits >>> 8) & 0xff;
  block[63] = bits & 0xff;
}

function writeU32(out: Uint8Array, at: number, v: number): void {
  out[at] = (v >>> 24) & 0xff;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
}
