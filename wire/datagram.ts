/**
 * The UDP heartbeat datagram.
 *
 * A heartbeat names a session by its public id and proves knowledge of the
 * session's secret token with an HMAC over the id and a counter that only
 * grows. The token itself never crosses the (unencrypted) UDP path, a captured
 * datagram cannot be replayed, and a datagram naming only a user is
 * meaningless.
 *
 * Layout (44 bytes): "CHB" | version u8 | session id (16 bytes) |
 * counter u64 BE | first 16 bytes of HMAC-SHA256(token, the 28 bytes before).
 */
import { u32At } from "./frame.ts";
import { HeartbeatKey } from "./heartbeat_mac.ts";
import { MAX_DATAGRAM_BYTES } from "./limits.ts";
import type { Decoded } from "./decode.ts";

/** Size of every heartbeat datagram. */
export const HEARTBEAT_BYTES = 44;
const MAGIC = [0x43, 0x48, 0x42]; // "CHB"
const VERSION = 1;
const SIGNED_BYTES = 28;
const MAC_BYTES = 16;

/** A heartbeat whose layout is valid; its MAC is not yet verified. */
export interface Heartbeat {
  /** Session id, 32 lower-case hex characters. */
  session: string;
  /** Monotonic counter chosen by the peer. */
  seq: number;
  /** The raw datagram, kept for MAC verification. */
  bytes: Uint8Array;
}

/** Builds a heartbeat for a session; `token` is the raw secret. */
export function encodeHeartbeat(
  session: string,
  seq: number,
  token: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(HEARTBEAT_BYTES);
  out.set(MAGIC, 0);
  out[3] = VERSION;
  out.set(hexToBytes(session), 4);
  new DataView(out.buffer).setBigUint64(20, BigInt(seq));
  new HeartbeatKey(token).macInto(
    out.subarray(0, SIGNED_BYTES),
    out.subarray(SIGNED_BYTES, HEARTBEAT_BYTES),
  );
  return out;
}

/**
 * True when `bytes` has a heartbeat's size, magic and version: the cheap
 * first check of the registry's UDP path, before any copy, decoding or MAC.
 */
export function looksLikeHeartbeat(bytes: Uint8Array): boolean {
  return bytes.length === HEARTBEAT_BYTES && bytes[0] === MAGIC[0] &&
    bytes[1] === MAGIC[1] && bytes[2] === MAGIC[2] && bytes[3] === VERSION;
}

/** Parses a datagram's layout. Never throws. */
export function decodeHeartbeat(bytes: Uint8Array): Decoded<Heartbeat> {
  if (bytes.length > MAX_DATAGRAM_BYTES) {
    return {
      ok: false,
      reason: `datagram exceeds ${MAX_DATAGRAM_BYTES} bytes`,
    };
  }
  if (bytes.length !== HEARTBEAT_BYTES) {
    return {
      ok: false,
      reason: `heartbeat must be ${HEARTBEAT_BYTES} bytes, got ${bytes.length}`,
    };
  }
  if (
    bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1] || bytes[2] !== MAGIC[2]
  ) {
    return { ok: false, reason: "not a heartbeat datagram" };
  }
  if (bytes[3] !== VERSION) {
    return { ok: false, reason: `unsupported heartbeat version ${bytes[3]}` };
  }
  const seq = heartbeatSeq(bytes);
  if (seq < 0) {
    return { ok: false, reason: "heartbeat counter out of range" };
  }
  return { ok: true, msg: { session: heartbeatSession(bytes), seq, bytes } };
}

/**
 * The counter of a datagram that passed looksLikeHeartbeat, or -1 when it
 * is out of range. With heartbeatSession and heartbeatMacOk, the registry's
 * path for 10,000 heartbeats a second: nothing allocated but the id.
 */
export function heartbeatSeq(bytes: Uint8Array): number {
  // The counter is a big-endian u64; above 2^53 - 1 it is refused. Read as
  // two u32 halves.
  const hi = u32At(bytes, 20);
  return hi > 0x1fffff ? -1 : hi * 0x100000000 + u32At(bytes, 24);
}

/** True when the MAC of a datagram that passed looksLikeHeartbeat was made with `key`. Constant time in the MAC bytes. */
export function heartbeatMacOk(bytes: Uint8Array, key: HeartbeatKey): boolean {
  const mac = MAC_SCRATCH;
  key.macOf(bytes, SIGNED_BYTES, mac);
  let diff = 0;
  for (let i = 0; i < MAC_BYTES; i++) {
    diff |= mac[i]! ^ bytes[SIGNED_BYTES + i]!;
  }
  return diff === 0;
}

/**
 * True when the heartbeat's MAC was made with the key's token. Constant time
 * in the MAC bytes. Pass a HeartbeatKey prepared once per session on hot paths.
 */
export function verifyHeartbeat(
  hb: Heartbeat,
  key: Uint8Array | HeartbeatKey,
): boolean {
  const k = key instanceof HeartbeatKey ? key : new HeartbeatKey(key);
  return heartbeatMacOk(hb.bytes, k);
}

/** Where verifyHeartbeat computes a MAC (JavaScript runs one at a time). */
const MAC_SCRATCH = new Uint8Array(MAC_BYTES);

const HEX_DIGITS = Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
const SESSION_CODES: number[] = new Array(32).fill(0);

/** The session id of a heartbeat (bytes 4..20) as hex, in one flat string. */
export function heartbeatSession(b: Uint8Array): string {
  for (let i = 0; i < 16; i++) {
    const x = b[4 + i]!;
    SESSION_CODES[2 * i] = HEX_DIGITS[x >> 4]!;
    SESSION_CODES[2 * i + 1] = HEX_DIGITS[x & 15]!;
  }
  return String.fromCharCode.apply(null, SESSION_CODES);
}

const HEX = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);

/** Lower-case hex of bytes. */
export function bytesToHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!];
  return s;
}

/** Bytes of an even-length hex string (callers pass validated hex). */
export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  }
  return out;
}
