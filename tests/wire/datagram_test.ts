import assert from "node:assert/strict";
import {
  bytesToHex,
  decodeHeartbeat,
  encodeHeartbeat,
  HEARTBEAT_BYTES,
  heartbeatMacOk,
  heartbeatSeq,
  heartbeatSession,
  hexToBytes,
  looksLikeHeartbeat,
  verifyHeartbeat,
} from "../../wire/datagram.ts";
import { HeartbeatKey } from "../../wire/heartbeat_mac.ts";
import { MAX_DATAGRAM_BYTES } from "../../wire/limits.ts";

const SESSION = "00112233445566778899aabbccddeeff";
const TOKEN = crypto.getRandomValues(new Uint8Array(32));

function decoded(bytes: Uint8Array) {
  const got = decodeHeartbeat(bytes);
  assert.equal(got.ok, true, JSON.stringify(got));
  if (!got.ok) throw new Error("unreachable");
  return got.msg;
}

function refused(bytes: Uint8Array): string {
  const got = decodeHeartbeat(bytes);
  assert.equal(got.ok, false);
  if (got.ok) throw new Error("unreachable");
  return got.reason;
}

Deno.test("heartbeat datagrams", async (t) => {
  await t.step("round-trip the session id and counter", () => {
    for (const seq of [0, 1, 255, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      const bytes = encodeHeartbeat(SESSION, seq, TOKEN);
      assert.equal(bytes.length, HEARTBEAT_BYTES);
      const hb = decoded(bytes);
      assert.equal(hb.session, SESSION);
      assert.equal(hb.seq, seq);
    }
  });

  await t.step("start with the magic CHB and version 1", () => {
    const bytes = encodeHeartbeat(SESSION, 1, TOKEN);
    assert.deepEqual([...bytes.subarray(0, 4)], [0x43, 0x48, 0x42, 1]);
  });

  await t.step("never carry the token itself", () => {
    const bytes = encodeHeartbeat(SESSION, 1, TOKEN);
    const hex = bytesToHex(bytes);
    assert.ok(!hex.includes(bytesToHex(TOKEN.subarray(0, 8))));
  });

  await t.step("decode from a view inside a larger buffer", () => {
    const buf = new Uint8Array(HEARTBEAT_BYTES + 10);
    buf.set(encodeHeartbeat(SESSION, 77, TOKEN), 7);
    const hb = decoded(buf.subarray(7, 7 + HEARTBEAT_BYTES));
    assert.equal(hb.seq, 77);
    assert.equal(verifyHeartbeat(hb, TOKEN), true);
  });

  await t.step("verify with the right token", () => {
    const hb = decoded(encodeHeartbeat(SESSION, 5, TOKEN));
    assert.equal(verifyHeartbeat(hb, TOKEN), true);
  });

  await t.step("fail verification with a wrong token", () => {
    const hb = decoded(encodeHeartbeat(SESSION, 5, TOKEN));
    const other = TOKEN.slice();
    other[0]! ^= 1;
    assert.equal(verifyHeartbeat(hb, other), false);
    assert.equal(verifyHeartbeat(hb, new Uint8Array(0)), false);
  });

  await t.step("fail verification or decoding when any bit is flipped", () => {
    const good = encodeHeartbeat(SESSION, 5, TOKEN);
    for (let i = 0; i < HEARTBEAT_BYTES; i++) {
      for (const bit of [0x01, 0x80]) {
        const bytes = good.slice();
        bytes[i]! ^= bit;
        const got = decodeHeartbeat(bytes);
        if (got.ok) {
          assert.equal(
            verifyHeartbeat(got.msg, TOKEN),
            false,
            `byte ${i} bit ${bit} flipped still verifies`,
          );
        } else {
          assert.ok(i < 4 || i >= 20 && i < 28, `byte ${i} refused`);
        }
      }
    }
  });

  await t.step("refuse a datagram of the wrong length", () => {
    const good = encodeHeartbeat(SESSION, 5, TOKEN);
    for (const n of [0, 1, 4, HEARTBEAT_BYTES - 1]) {
      assert.equal(
        refused(good.subarray(0, n)),
        `heartbeat must be 44 bytes, got ${n}`,
      );
    }
    const long = new Uint8Array(HEARTBEAT_BYTES + 1);
    long.set(good);
    assert.match(refused(long), /must be 44 bytes, got 45/);
  });

  await t.step("refuse wrong magic", () => {
    for (const i of [0, 1, 2]) {
      const bytes = encodeHeartbeat(SESSION, 5, TOKEN);
      bytes[i] = 0x58;
      assert.equal(refused(bytes), "not a heartbeat datagram");
    }
  });

  await t.step("refuse a wrong version", () => {
    for (const v of [0, 2, 255]) {
      const bytes = encodeHeartbeat(SESSION, 5, TOKEN);
      bytes[3] = v;
      assert.equal(refused(bytes), `unsupported heartbeat version ${v}`);
    }
  });

  await t.step("refuse a counter beyond the safe integer range", () => {
    const bytes = encodeHeartbeat(SESSION, 5, TOKEN);
    bytes.fill(0xff, 20, 28);
    assert.equal(refused(bytes), "heartbeat counter out of range");
    // Just past 2^53 - 1: the high half is 0x200000.
    bytes.fill(0, 20, 28);
    bytes[21] = 0x20;
    assert.equal(refused(bytes), "heartbeat counter out of range");
  });

  await t.step(
    "counters on both sides of 2^32 and up to 2^53 - 1 round-trip",
    () => {
      for (
        const seq of [
          0xffffffff,
          0x100000000,
          2 ** 40 + 5,
          Number.MAX_SAFE_INTEGER,
        ]
      ) {
        const d = decodeHeartbeat(encodeHeartbeat(SESSION, seq, TOKEN));
        assert.ok(d.ok);
        assert.equal(d.msg.seq, seq);
        assert.equal(d.msg.session, SESSION);
      }
    },
  );

  await t.step("refuse an oversize datagram before looking inside", () => {
    for (const n of [MAX_DATAGRAM_BYTES + 1, 65_507]) {
      const bytes = new Uint8Array(n);
      bytes.set(encodeHeartbeat(SESSION, 5, TOKEN));
      assert.equal(refused(bytes), "datagram exceeds 1200 bytes");
    }
    assert.match(
      refused(new Uint8Array(MAX_DATAGRAM_BYTES)),
      /must be 44 bytes/,
    );
  });
});

Deno.test("hex helpers", async (t) => {
  await t.step("round-trip every byte value in lower case", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const hex = bytesToHex(all);
    assert.equal(hex, hex.toLowerCase());
    assert.equal(hex.length, 512);
    assert.deepEqual(hexToBytes(hex), all);
  });
});

Deno.test("looksLikeHeartbeat: the size, magic and version alone", () => {
  const hb = encodeHeartbeat("ab".repeat(16), 1, new Uint8Array(32));
  assert.equal(looksLikeHeartbeat(hb), true);
  assert.equal(looksLikeHeartbeat(hb.subarray(0, 43)), false);
  assert.equal(looksLikeHeartbeat(new Uint8Array(45)), false);
  for (const at of [0, 1, 2, 3]) {
    const bad = hb.slice();
    bad[at]! ^= 1;
    assert.equal(looksLikeHeartbeat(bad), false, `byte ${at}`);
  }
});

Deno.test("the registry's allocation-free readers agree with decodeHeartbeat and verifyHeartbeat", () => {
  const key = new HeartbeatKey(TOKEN);
  const other = new HeartbeatKey(new Uint8Array(32).fill(1));
  for (const seq of [1, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
    const bytes = encodeHeartbeat(SESSION, seq, TOKEN);
    const hb = decoded(bytes);
    assert.equal(heartbeatSeq(bytes), hb.seq);
    assert.equal(heartbeatSession(bytes), SESSION);
    assert.equal(heartbeatMacOk(bytes, key), true);
    assert.equal(heartbeatMacOk(bytes, other), false);
    bytes[HEARTBEAT_BYTES - 1] = bytes[HEARTBEAT_BYTES - 1]! ^ 1;
    assert.equal(heartbeatMacOk(bytes, key), false);
  }
  // A counter past 2^53 - 1 reads as -1, as decodeHeartbeat refuses it.
  const big = encodeHeartbeat(SESSION, 1, TOKEN);
  big[20] = 0x00;
  big[21] = 0x20;
  assert.equal(heartbeatSeq(big), -1);
  refused(big);
});
