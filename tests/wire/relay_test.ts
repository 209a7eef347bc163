import assert from "node:assert/strict";
import {
  decodeRelayHello,
  decodeRelayReply,
  encodeRelayHello,
  encodeRelayReply,
  formatRelayEndpoint,
  MAX_RELAY_PREAMBLE_BYTES,
  MAX_RELAY_REASON_CHARS,
  MAX_RELAY_TOKEN_CHARS,
  newRelayLinkId,
  openRelayToken,
  parseRelayEndpoint,
  RELAY_SKEW_MS,
  RELAY_TOKEN_TTL_MS,
  relayHelloDecoder,
  relayReplyDecoder,
  type RelayTokenClaims,
  relayTokenTimeError,
  signRelayRole,
  signRelayToken,
  verifyRelayRole,
} from "../../wire/relay.ts";
import { base64url, openTicket, signTicket } from "../../wire/ticket.ts";
import { FRAME_HEADER_BYTES, KIND_DATA } from "../../wire/frame.ts";
import { mulberry32, randBytes, randInt, testSeed } from "../helpers/random.ts";
import { concatBytes, randomSplit, splitBytes } from "../helpers/streams.ts";

const NOW = Date.UTC(2026, 11, 1, 12);
const enc = new TextEncoder();

async function ed25519(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey("Ed25519", true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
}

async function rawPublic(key: CryptoKey): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.exportKey("raw", key)));
}

function reasonOf(result: { ok: boolean; reason?: string }): string {
  assert.equal(result.ok, false);
  return result.reason ?? "";
}

function codeOf(result: { ok: boolean; code?: string }): string {
  assert.equal(result.ok, false);
  return result.code ?? "";
}

/** Signs an arbitrary body under the relay token's context string. */
async function signRawRelayBody(text: string, key: CryptoKey): Promise<string> {
  const body = base64url(enc.encode(text));
  const sig = await crypto.subtle.sign(
    "Ed25519",
    key,
    enc.encode("chat-relay-token-v1\n" + body),
  );
  return `${body}.${base64url(new Uint8Array(sig))}`;
}

function swapChar(text: string, i: number): string {
  const c = text[i] === "A" ? "B" : "A";
  return text.slice(0, i) + c + text.slice(i + 1);
}

Deno.test("relay tokens", async (t) => {
  const registry = await ed25519();
  const alice = await ed25519();
  const bob = await ed25519();
  const claims: RelayTokenClaims = {
    v: 1,
    link: newRelayLinkId(),
    a: "alice",
    a_key: await rawPublic(alice.publicKey),
    b: "bob",
    b_key: await rawPublic(bob.publicKey),
    purpose: "file",
    iat: NOW,
    exp: NOW + RELAY_TOKEN_TTL_MS,
    relay: "[2001:db8::1]:15601",
  };
  const token = await signRelayToken(claims, registry.privateKey);

  await t.step("open to the claims they were signed with", async () => {
    assert.deepEqual(await openRelayToken(token, registry.publicKey), {
      ok: true,
      msg: claims,
    });
    assert.ok(token.length <= MAX_RELAY_TOKEN_CHARS, `${token.length}`);
  });

  await t.step("are refused when any character changes", async () => {
    for (const i of [0, 20, token.indexOf(".") + 5, token.length - 3]) {
      const reason = reasonOf(
        await openRelayToken(swapChar(token, i), registry.publicKey),
      );
      assert.equal(reason, "relay token signature is not valid");
    }
  });

  await t.step("are refused when signed by another key", async () => {
    const forged = await signRelayToken(claims, alice.privateKey);
    const opened = await openRelayToken(forged, registry.publicKey);
    assert.equal(reasonOf(opened), "relay token signature is not valid");
    assert.equal(codeOf(opened), "forged");
  });

  await t.step(
    "and introduction tickets cannot stand in for each other",
    async () => {
      // The same key signs both, under different context strings.
      const asTicket = await signTicket(
        claims as unknown as Parameters<typeof signTicket>[0],
        registry.privateKey,
      );
      assert.equal(
        reasonOf(await openRelayToken(asTicket, registry.publicKey)),
        "relay token signature is not valid",
      );
      assert.equal(
        reasonOf(await openTicket(token, registry.publicKey)),
        "ticket signature is not valid",
      );
    },
  );

  await t.step(
    "are refused when malformed, never with an exception",
    async () => {
      const [body, sig] = token.split(".") as [string, string];
      for (
        const bad of [
          "",
          ".",
          body,
          `${body}.${sig}.${sig}`,
          `${body}.`,
          `${body}.${sig.slice(0, -2)}`,
          `${body}+.${sig}`,
          "x".repeat(MAX_RELAY_TOKEN_CHARS + 1),
        ]
      ) {
        assert.equal(
          reasonOf(await openRelayToken(bad, registry.publicKey)),
          "malformed relay token",
          bad.slice(0, 30),
        );
      }
      const notJson = await signRawRelayBody("{nope", registry.privateKey);
      assert.equal(
        reasonOf(await openRelayToken(notJson, registry.publicKey)),
        "malformed relay token",
      );
    },
  );

  await t.step(
    "are refused when signed claims have the wrong shape",
    async () => {
      const cases: [string, unknown][] = [
        ["version 2", { ...claims, v: 2 }],
        ["a bad name", { ...claims, b: "B O B" }],
        ["a short key", { ...claims, a_key: "abc" }],
        ["an unknown purpose", { ...claims, purpose: "proxy" }],
        ["a short link id", { ...claims, link: "abc" }],
        ["no endpoint", { ...claims, relay: undefined }],
        ["an endpoint without a port", { ...claims, relay: "203.0.113.1" }],
        ["a list", [claims]],
      ];
      for (const [why, value] of cases) {
        const bad = await signRawRelayBody(
          JSON.stringify(value),
          registry.privateKey,
        );
        const reason = reasonOf(await openRelayToken(bad, registry.publicKey));
        assert.ok(reason.startsWith("relay token "), `${why}: ${reason}`);
      }
      const port0 = await signRawRelayBody(
        JSON.stringify({ ...claims, relay: "relay.example:0" }),
        registry.privateKey,
      );
      assert.equal(
        reasonOf(await openRelayToken(port0, registry.publicKey)),
        "relay token names no valid relay endpoint",
      );
    },
  );

  await t.step("drop unknown claims", async () => {
    const extra = await signRawRelayBody(
      JSON.stringify({ ...claims, to: "mallory" }),
      registry.privateKey,
    );
    assert.deepEqual(await openRelayToken(extra, registry.publicKey), {
      ok: true,
      msg: claims,
    });
  });

  await t.step("live within their time window", () => {
    assert.equal(relayTokenTimeError(claims, NOW), null);
    assert.equal(relayTokenTimeError(claims, claims.exp + RELAY_SKEW_MS), null);
    assert.equal(
      relayTokenTimeError(claims, claims.exp + RELAY_SKEW_MS + 1),
      "relay token has expired",
    );
    assert.equal(
      relayTokenTimeError(claims, NOW - RELAY_SKEW_MS - 1),
      "relay token is not valid yet",
    );
    assert.equal(
      relayTokenTimeError(
        { ...claims, exp: NOW + RELAY_TOKEN_TTL_MS + 1 },
        NOW,
      ),
      "relay token lives too long",
    );
  });

  await t.step(
    "role signatures bind the role, the token and the key",
    async () => {
      const sigA = await signRelayRole(token, "a", alice.privateKey);
      assert.equal(sigA.length, 86);
      assert.equal(await verifyRelayRole(token, "a", sigA, claims.a_key), true);
      assert.equal(
        await verifyRelayRole(token, "b", sigA, claims.a_key),
        false,
      );
      assert.equal(
        await verifyRelayRole(token, "a", sigA, claims.b_key),
        false,
      );
      assert.equal(
        await verifyRelayRole(swapChar(token, 3), "a", sigA, claims.a_key),
        false,
      );
      for (
        const [sig, key] of [
          ["", claims.a_key],
          [sigA, ""],
          [sigA, "~".repeat(43)],
          ["A".repeat(86), claims.a_key],
          [sigA, "A".repeat(43)],
        ]
      ) {
        assert.equal(await verifyRelayRole(token, "a", sig!, key!), false);
      }
    },
  );
});

Deno.test("relay endpoints", async (t) => {
  await t.step("parse host:port and bracketed IPv6", () => {
    assert.deepEqual(parseRelayEndpoint("203.0.113.5:15601"), {
      hostname: "203.0.113.5",
      port: 15601,
    });
    assert.deepEqual(parseRelayEndpoint("relay.example:1"), {
      hostname: "relay.example",
      port: 1,
    });
    assert.deepEqual(parseRelayEndpoint("[2001:db8::1]:65535"), {
      hostname: "2001:db8::1",
      port: 65535,
    });
  });

  await t.step("refuse anything else", () => {
    for (
      const bad of [
        "",
        "host",
        "host:",
        ":80",
        "host:0",
        "host:65536",
        "host:99999",
        "2001:db8::1:80",
        "a b:80",
        "host:80/x",
        `${"a".repeat(300)}:80`,
      ]
    ) {
      assert.equal(parseRelayEndpoint(bad), null, bad);
    }
  });

  await t.step("format what they parse", () => {
    for (const text of ["203.0.113.5:15601", "[::1]:9", "relay.example:443"]) {
      const p = parseRelayEndpoint(text)!;
      assert.equal(formatRelayEndpoint(p.hostname, p.port), text);
    }
  });
});

const HELLO = {
  token: "aGVsbG8.c2ln",
  role: "b" as const,
  sig: "A".repeat(86),
};

function header(length: number, kind = 1): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(out.buffer).setUint32(0, length);
  out[4] = kind;
  return out;
}

function frameOf(json: unknown): Uint8Array {
  const payload = enc.encode(JSON.stringify(json));
  return concatBytes([header(payload.length), payload]);
}

Deno.test("relay preambles", async (t) => {
  const hello = encodeRelayHello(HELLO);
  const expected = { type: "relay_hello", v: 1, ...HELLO };

  await t.step("decode one byte at a time", () => {
    const d = relayHelloDecoder();
    for (let i = 0; i < hello.length - 1; i++) {
      assert.equal(d.push(hello.subarray(i, i + 1)), null, `byte ${i}`);
    }
    assert.deepEqual(d.push(hello.subarray(hello.length - 1)), {
      ok: true,
      msg: expected,
      rest: new Uint8Array(0),
    });
  });

  await t.step(
    "hand back the stream bytes that follow in the same chunk",
    () => {
      const after = randBytes(mulberry32(7), 5000);
      const d = relayHelloDecoder();
      const r = d.push(concatBytes([hello, after]));
      assert.ok(r?.ok);
      assert.deepEqual(r.msg, expected);
      assert.deepEqual(r.rest, after);
    },
  );

  await t.step("give the same result for every split", () => {
    const seed = testSeed(42);
    const rand = mulberry32(seed);
    const after = randBytes(rand, 300);
    const all = concatBytes([hello, after]);
    for (let round = 0; round < 200; round++) {
      const d = relayHelloDecoder();
      const chunks = round % 2
        ? randomSplit(all, rand, 40)
        : splitBytes(all, [randInt(rand, 1, all.length)]);
      let got = null;
      const rest: Uint8Array[] = [];
      for (const c of chunks) {
        if (got) {
          rest.push(c);
          continue;
        }
        got = d.push(c);
        if (got?.ok) rest.push(got.rest);
      }
      assert.ok(got?.ok, `seed ${seed} round ${round}`);
      assert.deepEqual(got.msg, expected);
      assert.deepEqual(concatBytes(rest), after, `seed ${seed} round ${round}`);
    }
  });

  await t.step("refuse an oversize length before buffering its payload", () => {
    const d = relayHelloDecoder();
    assert.deepEqual(d.push(header(MAX_RELAY_PREAMBLE_BYTES + 1)), {
      ok: false,
      reason: `relay preamble of ${
        MAX_RELAY_PREAMBLE_BYTES + 1
      } bytes exceeds ${MAX_RELAY_PREAMBLE_BYTES}`,
    });
    assert.equal(d.push(hello)?.ok, false, "stays failed");
    const huge = relayHelloDecoder().push(header(0xffff_ffff));
    assert.equal(huge?.ok, false);
  });

  await t.step("refuse a data frame, wrong JSON, types and versions", () => {
    const cases: [Uint8Array, RegExp][] = [
      [header(2, KIND_DATA), /control frame/],
      [concatBytes([header(3), enc.encode("{x}")]), /not UTF-8 JSON/],
      [concatBytes([header(2), Uint8Array.of(0xc3, 0x28)]), /not UTF-8 JSON/],
      [frameOf([1, 2]), /JSON object/],
      [frameOf(null), /JSON object/],
      [frameOf({ ...expected, type: "relay_paired" }), /expected relay_hello/],
      [frameOf({ ...expected, v: 2 }), /version 2 is not spoken here/],
      [frameOf({ ...expected, v: undefined }), /version \(none\)/],
      [frameOf({ ...expected, role: "c" }), /"role" must be one of a, b/],
      [frameOf({ ...expected, sig: "short" }), /"sig"/],
      [frameOf({ ...expected, token: "no dot" }), /"token"/],
      [frameOf({ ...expected, token: undefined }), /"token" is missing/],
    ];
    for (const [bytes, pattern] of cases) {
      const r = relayHelloDecoder().push(bytes);
      assert.equal(r?.ok, false);
      assert.match(r.ok ? "" : r.reason, pattern);
    }
  });

  await t.step("keep only the fields they know", () => {
    const r = relayHelloDecoder().push(frameOf({ ...expected, extra: 1 }));
    assert.ok(r?.ok);
    assert.deepEqual(r.msg, expected);
  });

  await t.step("survive random garbage without throwing", () => {
    const seed = testSeed(99);
    const rand = mulberry32(seed);
    for (let round = 0; round < 2000; round++) {
      const d = round % 2 ? relayHelloDecoder() : relayReplyDecoder();
      const junk = round % 3 === 0
        ? randBytes(rand, randInt(rand, 0, 600))
        : (() => {
          // A valid frame with some bytes flipped.
          const b = hello.slice();
          for (let k = randInt(rand, 1, 4); k > 0; k--) {
            b[randInt(rand, 0, b.length - 1)] = randInt(rand, 0, 255);
          }
          return b;
        })();
      for (const c of randomSplit(junk, rand, 64)) {
        const r = d.push(c);
        if (r) {
          assert.ok(r.ok || typeof r.reason === "string");
          break;
        }
      }
    }
  });

  await t.step("replies round-trip", () => {
    const paired = encodeRelayReply({
      type: "relay_paired",
      link: "L".repeat(22),
    });
    assert.deepEqual(relayReplyDecoder().push(paired), {
      ok: true,
      msg: { type: "relay_paired", v: 1, link: "L".repeat(22) },
      rest: new Uint8Array(0),
    });
    const refused = encodeRelayReply({
      type: "relay_refused",
      code: "limit",
      reason: "x".repeat(MAX_RELAY_REASON_CHARS + 50),
    });
    const r = relayReplyDecoder().push(refused);
    assert.ok(r?.ok && r.msg.type === "relay_refused");
    assert.equal(r.msg.code, "limit");
    assert.equal(r.msg.reason.length, MAX_RELAY_REASON_CHARS);
  });

  await t.step("replies with an unknown code or type are refused", () => {
    assert.equal(
      decodeRelayReply(
        enc.encode(
          JSON.stringify({
            type: "relay_refused",
            v: 1,
            code: "nah",
            reason: "",
          }),
        ),
      ).ok,
      false,
    );
    assert.equal(
      decodeRelayReply(
        enc.encode(JSON.stringify({ type: "relay_hello", v: 1 })),
      ).ok,
      false,
    );
    assert.equal(
      decodeRelayHello(new Uint8Array(MAX_RELAY_PREAMBLE_BYTES + 1)).ok,
      false,
    );
  });

  await t.step("an encoder refuses to write an oversize preamble", () => {
    assert.throws(
      () =>
        encodeRelayHello({
          ...HELLO,
          token: "x".repeat(MAX_RELAY_PREAMBLE_BYTES),
        }),
      RangeError,
    );
  });
});
