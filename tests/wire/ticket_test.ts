import assert from "node:assert/strict";
import {
  base64url,
  fromBase64url,
  importEd25519Public,
  openTicket,
  signHello,
  signTicket,
  TICKET_SKEW_MS,
  TICKET_TTL_MS,
  type TicketClaims,
  ticketTimeError,
  verifyHello,
} from "../../wire/ticket.ts";
import { HEX64 } from "./examples.ts";
import { mulberry32, randBytes, randInt } from "../helpers/random.ts";

const NOW = Date.UTC(2024, 4, 1, 12);

async function ed25519(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey("Ed25519", true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
}

async function rawPublic(key: CryptoKey): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.exportKey("raw", key)));
}

function claimsFor(fromKey: string, at = NOW): TicketClaims {
  return {
    v: 1,
    from: "alice",
    from_key: fromKey,
    to: "bob",
    to_cert: HEX64,
    purpose: "chat",
    iat: at,
    exp: at + TICKET_TTL_MS,
    nonce: base64url(crypto.getRandomValues(new Uint8Array(16))),
  };
}

/** Signs an arbitrary body text the way signTicket signs JSON claims. */
async function signRawBody(text: string, key: CryptoKey): Promise<string> {
  const body = base64url(new TextEncoder().encode(text));
  const sig = await crypto.subtle.sign(
    "Ed25519",
    key,
    new TextEncoder().encode(body),
  );
  return `${body}.${base64url(new Uint8Array(sig))}`;
}

/** Replaces the character at `i` with a different base64url character. */
function swapChar(text: string, i: number): string {
  const c = text[i] === "A" ? "B" : "A";
  return text.slice(0, i) + c + text.slice(i + 1);
}

function reasonOf(
  result: { ok: true } | { ok: false; reason: string },
): string {
  assert.equal(result.ok, false);
  return result.ok ? "" : result.reason;
}

Deno.test("introduction tickets", async (t) => {
  const registry = await ed25519();
  const session = await ed25519();
  const claims = claimsFor(await rawPublic(session.publicKey));
  const ticket = await signTicket(claims, registry.privateKey);

  await t.step("open to the claims they were signed with", async () => {
    assert.deepEqual(await openTicket(ticket, registry.publicKey), {
      ok: true,
      msg: claims,
    });
  });

  await t.step("fit the wire limit for tickets", () => {
    assert.ok(ticket.length <= 2048, `${ticket.length} characters`);
  });

  await t.step(
    "are refused when any character of the body changes",
    async () => {
      const [body] = ticket.split(".") as [string, string];
      for (const i of [0, 10, Math.floor(body.length / 2), body.length - 2]) {
        const bad = swapChar(ticket, i);
        assert.equal(
          reasonOf(await openTicket(bad, registry.publicKey)),
          "ticket signature is not valid",
        );
      }
    },
  );

  await t.step("are refused when the signature changes", async () => {
    const dot = ticket.indexOf(".");
    for (const i of [dot + 1, dot + 30, ticket.length - 3]) {
      const bad = swapChar(ticket, i);
      assert.equal(
        reasonOf(await openTicket(bad, registry.publicKey)),
        "ticket signature is not valid",
      );
    }
  });

  await t.step(
    "are refused when the signature's last character has other spare bits",
    async () => {
      // 64 bytes take 86 characters; the last carries 2 data bits and 4 spare
      // ones. Another spelling of the same signature must not be accepted, or
      // one ticket could be presented under several strings.
      const last = ticket.at(-1)!;
      const alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      const index = alphabet.indexOf(last);
      const twin = alphabet[index ^ 1]!;
      const bad = ticket.slice(0, -1) + twin;
      assert.notEqual(bad, ticket);
      assert.equal((await openTicket(bad, registry.publicKey)).ok, false);
    },
  );

  await t.step("are refused when signed by another key", async () => {
    const mallory = await ed25519();
    const forged = await signTicket(claims, mallory.privateKey);
    assert.equal(
      reasonOf(await openTicket(forged, registry.publicKey)),
      "ticket signature is not valid",
    );
  });

  await t.step(
    "are refused when the verifying key is not a public key",
    async () => {
      assert.equal(
        reasonOf(await openTicket(ticket, registry.privateKey)),
        "ticket signature is not valid",
      );
    },
  );

  await t.step(
    "are refused when they are not two base64url parts",
    async () => {
      const [body, sig] = ticket.split(".") as [string, string];
      for (
        const bad of [
          "",
          ".",
          body,
          `${body}.${sig}.${sig}`,
          `${body}.`,
          `${body}.${sig.slice(0, -2)}`,
          `${body}.${sig}AAAA`,
          `${body}+.${sig}`,
          `${body}.${sig.replace(/.$/, "=")}`,
          `${body}.${"~".repeat(86)}`,
        ]
      ) {
        assert.equal(
          reasonOf(await openTicket(bad, registry.publicKey)),
          "malformed ticket",
          bad.slice(0, 30),
        );
      }
    },
  );

  await t.step("are refused when the body is empty", async () => {
    const sig = ticket.split(".")[1]!;
    assert.equal((await openTicket(`.${sig}`, registry.publicKey)).ok, false);
  });

  await t.step("are refused when a signed body is not JSON", async () => {
    const bad = await signRawBody("not json", registry.privateKey);
    assert.equal(
      reasonOf(await openTicket(bad, registry.publicKey)),
      "malformed ticket",
    );
    const badUtf8 = await (async () => {
      const body = base64url(Uint8Array.of(0x7b, 0xff, 0x7d));
      const sig = await crypto.subtle.sign(
        "Ed25519",
        registry.privateKey,
        new TextEncoder().encode(body),
      );
      return `${body}.${base64url(new Uint8Array(sig))}`;
    })();
    assert.equal(
      reasonOf(await openTicket(badUtf8, registry.publicKey)),
      "malformed ticket",
    );
  });

  await t.step(
    "are refused when signed claims have the wrong shape",
    async () => {
      const cases: [string, unknown][] = [
        ["version 2", { ...claims, v: 2 }],
        ["a bad name", { ...claims, from: "al ice" }],
        ["a short key", { ...claims, from_key: "abc" }],
        ["an upper-case digest", { ...claims, to_cert: HEX64.toUpperCase() }],
        ["an unknown purpose", { ...claims, purpose: "spy" }],
        ["a missing nonce", { ...claims, nonce: undefined }],
        ["a list", [claims]],
        ["null", null],
      ];
      for (const [why, value] of cases) {
        const bad = await signRawBody(
          JSON.stringify(value),
          registry.privateKey,
        );
        const reason = reasonOf(await openTicket(bad, registry.publicKey));
        assert.ok(reason.startsWith("ticket "), `${why}: ${reason}`);
      }
    },
  );

  await t.step("drop nothing and add nothing to the claims", async () => {
    const opened = await openTicket(ticket, registry.publicKey);
    assert.ok(opened.ok);
    assert.deepEqual(
      Object.keys(opened.msg).sort(),
      Object.keys(claims).sort(),
    );
  });
});

Deno.test("ticketTimeError", async (t) => {
  const claims = claimsFor("A".repeat(43));

  await t.step("accepts a ticket within its lifetime", () => {
    assert.equal(ticketTimeError(claims, NOW), null);
    assert.equal(ticketTimeError(claims, NOW + TICKET_TTL_MS), null);
  });

  await t.step("tolerates clock skew at both ends", () => {
    assert.equal(ticketTimeError(claims, NOW - TICKET_SKEW_MS), null);
    assert.equal(
      ticketTimeError(claims, NOW + TICKET_TTL_MS + TICKET_SKEW_MS),
      null,
    );
  });

  await t.step("refuses an expired ticket", () => {
    assert.equal(
      ticketTimeError(claims, NOW + TICKET_TTL_MS + TICKET_SKEW_MS + 1),
      "ticket has expired",
    );
  });

  await t.step("refuses a ticket that is not valid yet", () => {
    assert.equal(
      ticketTimeError(claims, NOW - TICKET_SKEW_MS - 1),
      "ticket is not valid yet",
    );
  });

  await t.step("refuses a ticket that lives too long", () => {
    assert.equal(
      ticketTimeError({ ...claims, exp: NOW + TICKET_TTL_MS + 1 }, NOW),
      "ticket lives too long",
    );
  });
});

Deno.test("hello signatures", async (t) => {
  const registry = await ed25519();
  const session = await ed25519();
  const fromKey = await rawPublic(session.publicKey);
  const ticket = await signTicket(claimsFor(fromKey), registry.privateKey);
  const sig = await signHello(ticket, session.privateKey);

  await t.step("verify with the session key named in the ticket", async () => {
    assert.equal(sig.length, 86);
    assert.equal(await verifyHello(ticket, sig, fromKey), true);
  });

  await t.step("fail for another session key", async () => {
    const other = await rawPublic((await ed25519()).publicKey);
    assert.equal(await verifyHello(ticket, sig, other), false);
  });

  await t.step("fail for another ticket", async () => {
    const other = await signTicket(claimsFor(fromKey), registry.privateKey);
    assert.equal(await verifyHello(other, sig, fromKey), false);
  });

  await t.step("fail for a changed signature", async () => {
    assert.equal(await verifyHello(ticket, swapChar(sig, 5), fromKey), false);
  });

  await t.step(
    "fail for a signature over the bare ticket without the context",
    async () => {
      const bare = base64url(
        new Uint8Array(
          await crypto.subtle.sign(
            "Ed25519",
            session.privateKey,
            new TextEncoder().encode(ticket),
          ),
        ),
      );
      assert.equal(await verifyHello(ticket, bare, fromKey), false);
    },
  );

  await t.step(
    "fail for malformed keys and signatures without throwing",
    async () => {
      const cases: [string, string][] = [
        [sig, ""],
        [sig, fromKey.slice(0, 42)],
        [sig, fromKey + "AAAA"],
        [sig, "!".repeat(43)],
        [sig, "_".repeat(43)],
        ["", fromKey],
        [sig.slice(0, 85), fromKey],
        ["=".repeat(86), fromKey],
      ];
      for (const [s, k] of cases) {
        assert.equal(await verifyHello(ticket, s, k), false, `${s} / ${k}`);
      }
    },
  );

  await t.step(
    "importEd25519Public imports a raw key that verifies",
    async () => {
      const key = await importEd25519Public(fromBase64url(fromKey)!);
      assert.equal(key.type, "public");
    },
  );
});

Deno.test("base64url", async (t) => {
  await t.step("round-trips every length from 0 to 100 bytes", () => {
    const rand = mulberry32(11);
    for (let n = 0; n <= 100; n++) {
      const bytes = randBytes(rand, n);
      const text = base64url(bytes);
      assert.match(text, /^[A-Za-z0-9_-]*$/);
      assert.deepEqual(fromBase64url(text), bytes);
    }
  });

  await t.step("round-trips every byte value", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    assert.deepEqual(fromBase64url(base64url(all)), all);
  });

  await t.step("uses - and _ instead of + and /, with no padding", () => {
    assert.equal(base64url(Uint8Array.of(0xfb, 0xff)), "-_8");
    assert.equal(base64url(Uint8Array.of(0)), "AA");
  });

  await t.step("decodes the empty string to no bytes", () => {
    assert.deepEqual(fromBase64url(""), new Uint8Array(0));
  });

  await t.step("rejects garbage", () => {
    for (
      const text of [
        "A",
        "AAAAA",
        "+/8",
        "AA==",
        "AA=",
        "A A",
        "AA\n",
        "é",
        "AA.A",
        "\0",
      ]
    ) {
      assert.equal(fromBase64url(text), null, JSON.stringify(text));
    }
  });

  await t.step("rejects a spelling whose spare bits are not zero", () => {
    // "AA" is the only spelling of one zero byte; "AB".."AP" differ only in
    // bits that carry no data.
    for (const text of ["AB", "AP", "AAB", "AAD"]) {
      assert.equal(fromBase64url(text), null, text);
    }
    assert.deepEqual(fromBase64url("AA"), Uint8Array.of(0));
    assert.deepEqual(fromBase64url("AAA"), Uint8Array.of(0, 0));
  });

  await t.step("accepts only what base64url itself writes", () => {
    const rand = mulberry32(12);
    for (let i = 0; i < 2_000; i++) {
      const alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      let text = "";
      for (let n = randInt(rand, 0, 12); n > 0; n--) {
        text += alphabet[randInt(rand, 0, 63)];
      }
      const bytes = fromBase64url(text);
      if (bytes) assert.equal(base64url(bytes), text);
    }
  });
});
