import assert from "node:assert/strict";
import {
  decodeP2P,
  decodeReplyData,
  decodeRequest,
  decodeServerMessage,
  encodeJson,
  errorReply,
  okReply,
} from "../../wire/decode.ts";
import {
  ERROR_CODES,
  EVENTS,
  P2P,
  REPLIES,
  REQUESTS,
  type RequestType,
} from "../../wire/messages.ts";
import { MAX_FRAME_BYTES } from "../../wire/frame.ts";
import { MAX_TEXT_CHARS } from "../../wire/limits.ts";
import type { Shape } from "../../wire/schema.ts";
import {
  EVENT_EXAMPLES,
  type Json,
  malformedOf,
  minimalOf,
  P2P_EXAMPLES,
  REPLY_EXAMPLES,
  REQUEST_EXAMPLES,
} from "./examples.ts";

const enc = new TextEncoder();
const bytesOf = (value: unknown) => enc.encode(JSON.stringify(value));

/** Asserts a decode failed with a non-empty reason and returns the reason. */
function refused(
  result: { ok: true } | { ok: false; reason: string },
  context: string,
): string {
  assert.equal(result.ok, false, `${context} was accepted`);
  const { reason } = result as { reason: string };
  assert.equal(typeof reason, "string");
  assert.ok(reason.length > 0, `${context}: empty reason`);
  return reason;
}

/** The catalogs, each with its examples and its decoder. */
const CATALOGS: {
  name: string;
  catalog: Record<string, Shape>;
  examples: Record<string, Json>;
  decode: (bytes: Uint8Array) =>
    | { ok: true; msg: unknown }
    | { ok: false; reason: string; id?: number };
  withId: boolean;
}[] = [
  {
    name: "request",
    catalog: REQUESTS,
    examples: REQUEST_EXAMPLES,
    decode: decodeRequest,
    withId: true,
  },
  {
    name: "event",
    catalog: EVENTS,
    examples: EVENT_EXAMPLES,
    decode: decodeServerMessage,
    withId: false,
  },
  {
    name: "P2P message",
    catalog: P2P,
    examples: P2P_EXAMPLES,
    decode: decodeP2P,
    withId: false,
  },
];

Deno.test("the example tables", async (t) => {
  for (const { name, catalog, examples } of CATALOGS) {
    await t.step(`cover every ${name} type in the catalog`, () => {
      assert.deepEqual(
        Object.keys(examples).sort(),
        Object.keys(catalog).sort(),
      );
    });
  }
  await t.step("cover every reply type in the catalog", () => {
    assert.deepEqual(
      Object.keys(REPLY_EXAMPLES).sort(),
      Object.keys(REPLIES).sort(),
    );
  });
  await t.step("give every request type a reply shape", () => {
    assert.deepEqual(Object.keys(REPLIES).sort(), Object.keys(REQUESTS).sort());
  });
});

for (const { name, catalog, examples, decode, withId } of CATALOGS) {
  Deno.test(`decoding every ${name} type`, async (t) => {
    const wrap = (type: string, body: Json, id = 42): Json =>
      withId ? { type, id, ...body } : { type, ...body };

    for (const [type, example] of Object.entries(examples)) {
      const shape = catalog[type]!;

      await t.step(`${type} round-trips with every field`, () => {
        const sent = wrap(type, example);
        const got = decode(bytesOf(sent));
        assert.equal(got.ok, true, JSON.stringify(got));
        assert.deepEqual((got as { msg: unknown }).msg, sent);
      });

      await t.step(`${type} round-trips without its optional fields`, () => {
        const sent = wrap(type, minimalOf(shape, example));
        const got = decode(bytesOf(sent));
        assert.equal(got.ok, true, JSON.stringify(got));
        assert.deepEqual((got as { msg: unknown }).msg, sent);
      });

      await t.step(`${type} drops fields it does not know`, () => {
        const sent = { ...wrap(type, example), extra: 1, admin: true };
        const text = JSON.stringify(sent).replace(
          /^\{/,
          '{"__proto__":{"admin":true},',
        );
        const got = decode(enc.encode(text));
        assert.equal(got.ok, true, JSON.stringify(got));
        const msg = (got as { msg: Json }).msg;
        assert.deepEqual(msg, wrap(type, example));
        assert.equal(Object.getPrototypeOf(msg), Object.prototype);
        assert.equal(msg.admin, undefined);
      });

      await t.step(`${type} is refused in every malformed variant`, () => {
        const variants = malformedOf(shape, example);
        variants.push({
          why: "type in upper case",
          body: { ...example, type: type.toUpperCase() },
        });
        for (const { why, body } of variants) {
          const got = decode(bytesOf(wrap(type, body)));
          const reason = refused(got, `${type} with ${why}`);
          if (why !== "type in upper case") {
            assert.ok(reason.startsWith(`${type}: `), reason);
          }
          if (withId) assert.equal((got as { id?: number }).id, 42);
        }
      });
    }
  });
}

Deno.test("decodeRequest", async (t) => {
  const hello = { type: "hello", id: 1, v: 1 };

  await t.step("refuses an unknown type and still reports the id", () => {
    const got = decodeRequest(bytesOf({ type: "launch_missiles", id: 9 }));
    assert.deepEqual(got, {
      ok: false,
      reason: 'unknown request type "launch_missiles"',
      id: 9,
    });
  });

  await t.step("refuses a request with no type or a non-string type", () => {
    for (const type of [undefined, null, 1, true, [], {}, ["hello"]]) {
      refused(decodeRequest(bytesOf({ ...hello, type })), `type ${type}`);
    }
  });

  await t.step("refuses a type whose conversion to text would throw", () => {
    for (
      const text of [
        '{"id":1,"type":{"toString":1}}',
        '{"id":1,"type":{"toString":1,"valueOf":1}}',
        '{"id":1,"type":[{"toString":1}]}',
      ]
    ) {
      const reason = refused(decodeRequest(enc.encode(text)), text);
      assert.match(reason, /unknown request type/);
    }
  });

  await t.step("keeps the reason short for a huge non-string type", () => {
    const type = Array.from({ length: 50_000 }, (_, i) => i);
    const reason = refused(decodeRequest(bytesOf({ id: 1, type })), "array");
    assert.ok(reason.length < 200, `reason of ${reason.length} characters`);
  });

  await t.step("quotes at most 40 characters of an unknown type", () => {
    const reason = refused(
      decodeRequest(bytesOf({ id: 1, type: "x".repeat(1000) })),
      "long type",
    );
    assert.ok(reason.includes("x".repeat(40)));
    assert.ok(!reason.includes("x".repeat(41)));
  });

  await t.step("refuses a missing, negative, fractional or unsafe id", () => {
    for (const id of [undefined, null, -1, 1.5, "1", 2 ** 53, true, [1]]) {
      const reason = refused(
        decodeRequest(bytesOf({ ...hello, id })),
        `id ${id}`,
      );
      assert.equal(reason, '"id" must be a non-negative integer');
    }
  });

  await t.step("accepts id 0 and the largest safe integer", () => {
    for (const id of [0, Number.MAX_SAFE_INTEGER]) {
      const got = decodeRequest(bytesOf({ ...hello, id }));
      assert.deepEqual(got, { ok: true, msg: { ...hello, id } });
    }
  });

  await t.step("refuses JSON that is not an object", () => {
    for (const text of ["null", "[]", "[1,2]", "1", '"hello"', "true"]) {
      assert.equal(
        refused(decodeRequest(enc.encode(text)), text),
        "message must be a JSON object",
      );
    }
  });

  await t.step("refuses text that is not JSON", () => {
    for (const text of ["", "{", "{'type':1}", '{"type":"hello",}', "NaN"]) {
      assert.equal(
        refused(decodeRequest(enc.encode(text)), text),
        "message is not valid JSON",
      );
    }
  });

  await t.step("refuses invalid UTF-8", () => {
    const cases = [
      [0xff, 0xfe],
      [0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x7d], // overlong "/"
      [0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d], // lone surrogate
      [0x7b, 0x22, 0xe2, 0x82], // cut multi-byte sequence
    ];
    for (const bytes of cases) {
      assert.equal(
        refused(decodeRequest(Uint8Array.from(bytes)), `${bytes}`),
        "message is not valid UTF-8",
      );
    }
  });

  await t.step("accepts multi-byte UTF-8 text", () => {
    const got = decodeRequest(
      bytesOf({
        type: "status",
        id: 1,
        text: "héllo 👋 世界",
      }),
    );
    assert.equal(got.ok, true);
  });

  await t.step("refuses a payload over the frame limit", () => {
    const big = new Uint8Array(MAX_FRAME_BYTES + 1).fill(0x20);
    assert.match(refused(decodeRequest(big), "big"), /larger than 1 MiB/);
  });

  await t.step("checks field limits, not just types", () => {
    const cases: [string, Json][] = [
      ["a name with a space", { type: "search", user: "bob smith" }],
      ["an empty name", { type: "search", user: "" }],
      ["a 33-character name", { type: "search", user: "a".repeat(33) }],
      ["an empty message", { type: "offline_send", to: "bob", text: "" }],
      [
        "an overlong message",
        {
          type: "offline_send",
          to: "bob",
          text: "x".repeat(MAX_TEXT_CHARS + 1),
        },
      ],
      ["an unknown kind", {
        type: "login",
        user: "a",
        password: "p",
        kind: "x",
      }],
      ["port 65536", {
        type: "login",
        user: "a",
        password: "p",
        kind: "peer",
        p2p_port: 65_536,
      }],
      ["capacity 0", { type: "room_create", room: "r", capacity: 0 }],
      ["a negative ack id", { type: "offline_ack", ids: [1, -2] }],
      ["a fractional version", { type: "hello", v: 1.5 }],
      ["an unknown purpose", { type: "introduce", user: "bob", purpose: "x" }],
    ];
    for (const [why, body] of cases) {
      refused(decodeRequest(bytesOf({ id: 1, ...body })), why);
    }
  });

  await t.step(
    "treats an explicit null optional field as a wrong value",
    () => {
      refused(
        decodeRequest(bytesOf({ type: "who", id: 1, detailed: null })),
        "null detailed",
      );
    },
  );
});

Deno.test("decodeP2P", async (t) => {
  await t.step("refuses an unknown type", () => {
    assert.equal(
      refused(decodeP2P(bytesOf({ type: "hello" })), "hello"),
      'unknown message type "hello"',
    );
  });

  await t.step("refuses a request type from the registry catalog", () => {
    refused(decodeP2P(bytesOf({ type: "login", id: 1 })), "login");
  });

  await t.step("accepts a file offer of unknown size", () => {
    const offer = { type: "file_offer", id: "t-2", name: "-", size: null };
    assert.deepEqual(decodeP2P(bytesOf(offer)), { ok: true, msg: offer });
  });

  await t.step("refuses a transfer id that could escape a path", () => {
    refused(
      decodeP2P(bytesOf({ type: "file_accept", id: "../../etc/passwd" })),
      "path id",
    );
  });

  await t.step("refuses an upper-case digest", () => {
    refused(
      decodeP2P(
        bytesOf({ type: "file_ok", id: "t", sha256: "A".repeat(64) }),
      ),
      "upper-case digest",
    );
  });
});

Deno.test("decodeServerMessage", async (t) => {
  await t.step("decodes a successful reply with its data untouched", () => {
    const reply = okReply(3, { user: "alice", extra: [1] });
    assert.deepEqual(decodeServerMessage(encodeJson(reply)), {
      ok: true,
      msg: reply,
    });
  });

  await t.step("gives a successful reply without data an empty object", () => {
    assert.deepEqual(
      decodeServerMessage(bytesOf({ type: "reply", id: 3, ok: true })),
      { ok: true, msg: { type: "reply", id: 3, ok: true, data: {} } },
    );
  });

  await t.step("refuses reply data that is not an object", () => {
    for (const data of [[], "x", 1, true]) {
      const got = decodeServerMessage(
        bytesOf({ type: "reply", id: 3, ok: true, data }),
      );
      assert.equal(
        refused(got, `data ${data}`),
        "reply data must be an object",
      );
      assert.equal((got as { id?: number }).id, 3);
    }
  });

  await t.step("decodes an error reply with every known code", () => {
    for (const code of ERROR_CODES) {
      const reply = errorReply(5, code, "bob is offline");
      assert.deepEqual(decodeServerMessage(encodeJson(reply)), {
        ok: true,
        msg: reply,
      });
    }
  });

  await t.step("reads an unknown or missing error code as internal", () => {
    for (const code of ["exploded", 7, null, undefined, { toString: 1 }]) {
      const got = decodeServerMessage(
        bytesOf({ type: "reply", id: 5, ok: false, error: "oops", code }),
      );
      assert.deepEqual(got, {
        ok: true,
        msg: {
          type: "reply",
          id: 5,
          ok: false,
          error: "oops",
          code: "internal",
        },
      });
    }
  });

  await t.step("refuses an error reply without a short error text", () => {
    for (const error of [undefined, 1, null, "x".repeat(2001)]) {
      refused(
        decodeServerMessage(
          bytesOf({ type: "reply", id: 5, ok: false, error }),
        ),
        `error ${String(error).slice(0, 10)}`,
      );
    }
  });

  await t.step("refuses a reply whose ok is not a boolean", () => {
    for (const ok of [undefined, "true", 1, null]) {
      assert.equal(
        refused(
          decodeServerMessage(bytesOf({ type: "reply", id: 5, ok })),
          `ok ${ok}`,
        ),
        '"ok" must be true or false',
      );
    }
  });

  await t.step("refuses a reply with a bad id", () => {
    for (const id of [undefined, -1, 0.5, "5"]) {
      refused(
        decodeServerMessage(bytesOf({ type: "reply", id, ok: true })),
        `id ${id}`,
      );
    }
  });

  await t.step("refuses an unknown event type", () => {
    assert.equal(
      refused(decodeServerMessage(bytesOf({ type: "meteor" })), "meteor"),
      'unknown event type "meteor"',
    );
  });

  await t.step("refuses non-JSON and non-objects", () => {
    refused(decodeServerMessage(enc.encode("nope")), "nope");
    refused(decodeServerMessage(enc.encode("[]")), "[]");
    refused(decodeServerMessage(Uint8Array.of(0xff)), "0xff");
  });
});

Deno.test("decodeReplyData", async (t) => {
  for (const [name, example] of Object.entries(REPLY_EXAMPLES)) {
    const type = name as RequestType;
    const shape: Shape = REPLIES[type];

    await t.step(`accepts a valid ${type} reply`, () => {
      const got = decodeReplyData(type, example as Json);
      assert.deepEqual(got, { ok: true, msg: example });
    });

    await t.step(
      `accepts a ${type} reply without optional fields and drops extras`,
      () => {
        const minimal = minimalOf(shape, example as Json);
        const got = decodeReplyData(type, { ...minimal, surplus: "x" });
        assert.deepEqual(got, { ok: true, msg: minimal });
      },
    );

    await t.step(`refuses a broken ${type} reply`, () => {
      const variants = malformedOf(shape, example as Json);
      if (variants.length === 0) {
        // An empty shape accepts any object; only a non-object is broken.
        for (const data of [null, [], "x"]) {
          const reason = refused(
            decodeReplyData(type, data as unknown as Json),
            `${type} data ${data}`,
          );
          assert.equal(reason, `${type} reply: must be an object`);
        }
        return;
      }
      for (const { why, body } of variants) {
        const reason = refused(decodeReplyData(type, body), `${type}: ${why}`);
        assert.ok(reason.startsWith(`${type} reply: `), reason);
      }
    });
  }

  await t.step("refuses a bad item inside a list", () => {
    const who = {
      users: [{ user: "bob" }, { user: "not a name" }],
      total: 2,
    };
    assert.match(
      refused(decodeReplyData("who", who), "who"),
      /"users" item 1 "user" is not a valid name/,
    );
    const room = {
      room: "lobby",
      owner: "alice",
      members: [{ user: "alice", online: true, role: "king" }],
    };
    refused(decodeReplyData("room_join", room), "room_join");
  });
});
