import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { HeartbeatKey } from "../../wire/heartbeat_mac.ts";
import {
  decodeHeartbeat,
  encodeHeartbeat,
  verifyHeartbeat,
} from "../../wire/mod.ts";
import { mulberry32 } from "../helpers/random.ts";

Deno.test("the heartbeat HMAC equals node:crypto's HMAC-SHA256 for every key and message length it takes", () => {
  const rand = mulberry32(4242);
  const bytes = (n: number) =>
    Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
  for (let keyLen = 0; keyLen <= 64; keyLen++) {
    for (const msgLen of [0, 1, 27, 28, 29, 55]) {
      const key = bytes(keyLen);
      const msg = bytes(msgLen);
      const out = new Uint8Array(32);
      new HeartbeatKey(key).macInto(msg, out);
      assert.deepEqual(
        out,
        new Uint8Array(createHmac("sha256", key).update(msg).digest()),
      );
    }
  }
});

Deno.test("a prepared key gives the same MAC many times and refuses oversize input", () => {
  const key = new HeartbeatKey(new Uint8Array(32).fill(7));
  const a = new Uint8Array(16);
  const b = new Uint8Array(16);
  key.macInto(new Uint8Array(28).fill(1), a);
  key.macInto(new Uint8Array(28).fill(2), b);
  key.macInto(new Uint8Array(28).fill(1), b);
  assert.deepEqual(a, b);
  assert.throws(() => key.macInto(new Uint8Array(56), a), RangeError);
  assert.throws(() => new HeartbeatKey(new Uint8Array(65)), RangeError);
});

Deno.test("macOf covers only the first bytes of a longer buffer, as macInto of that prefix", () => {
  const key = new HeartbeatKey(new Uint8Array(32).fill(3));
  const src = Uint8Array.from({ length: 44 }, (_, i) => i * 7);
  const want = new Uint8Array(16);
  const got = new Uint8Array(16);
  key.macInto(src.slice(0, 28), want);
  key.macOf(src, 28, got);
  assert.deepEqual(got, want);
  // The bytes past the length do not count.
  src[30] = src[30]! ^ 0xff;
  key.macOf(src, 28, got);
  assert.deepEqual(got, want);
  assert.throws(() => key.macOf(src, 56, got), RangeError);
  assert.throws(() => key.macOf(new Uint8Array(10), 28, got), RangeError);
});

Deno.test("a heartbeat verifies with its token as bytes or as a prepared key", () => {
  const token = crypto.getRandomValues(new Uint8Array(32));
  const d = decodeHeartbeat(
    encodeHeartbeat("00112233445566778899aabbccddeeff", 9, token),
  );
  assert.ok(d.ok);
  assert.equal(d.msg.session, "00112233445566778899aabbccddeeff");
  assert.equal(verifyHeartbeat(d.msg, token), true);
  assert.equal(verifyHeartbeat(d.msg, new HeartbeatKey(token)), true);
  assert.equal(
    verifyHeartbeat(d.msg, new HeartbeatKey(new Uint8Array(32))),
    false,
  );
});
