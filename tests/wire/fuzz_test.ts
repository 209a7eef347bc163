/**
 * Random input for every decoder of untrusted bytes. Each may refuse input
 * with a reason, but none may throw, and the run is a fixed number of small
 * inputs so it always ends. The seed is in the test name; replay a failure
 * with CHAT_TEST_SEED=<seed> deno test -A tests/wire/fuzz_test.ts.
 */
import assert from "node:assert/strict";
import {
  type Decoded,
  decodeP2P,
  decodeReplyData,
  decodeRequest,
  decodeServerMessage,
} from "../../wire/decode.ts";
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  MAX_FRAME_BYTES,
} from "../../wire/frame.ts";
import {
  decodeHeartbeat,
  encodeHeartbeat,
  verifyHeartbeat,
} from "../../wire/datagram.ts";
import {
  base64url,
  fromBase64url,
  openTicket,
  signTicket,
  TICKET_TTL_MS,
  type TicketClaims,
} from "../../wire/ticket.ts";
import {
  EVENTS,
  P2P,
  REPLIES,
  REQUESTS,
  type RequestType,
} from "../../wire/messages.ts";
import { checkShape } from "../../wire/schema.ts";
import {
  EVENT_EXAMPLES,
  HEX64,
  P2P_EXAMPLES,
  REPLY_EXAMPLES,
  REQUEST_EXAMPLES,
} from "./examples.ts";
import {
  mulberry32,
  pickOne,
  type Rand,
  randBytes,
  randInt,
  testSeed,
} from "../helpers/random.ts";
import { concatBytes, randomSplit } from "../helpers/streams.ts";

const SEED = testSeed(20240501);
const enc = new TextEncoder();
const lossy = new TextDecoder();

/** Inputs per kind; the total is what the test promises (at least 10,000). */
const COUNTS = {
  randomBytes: 3_000,
  mutatedMessages: 3_000,
  jsonish: 3_000,
  frameStreams: 1_000,
  heartbeats: 1_000,
  tickets: 1_000,
};
const TOTAL = Object.values(COUNTS).reduce((a, b) => a + b, 0);

/** Runs one decoder call; a throw fails the test with everything needed to replay it. */
function guard<T>(what: string, input: unknown, i: number, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new Error(
      `${what} threw on input #${i} (seed ${SEED}): ${describe(input)}\n${e}`,
      { cause: e },
    );
  }
}

async function guardAsync<T>(
  what: string,
  input: unknown,
  i: number,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new Error(
      `${what} threw on input #${i} (seed ${SEED}): ${describe(input)}\n${e}`,
      { cause: e },
    );
  }
}

function describe(input: unknown): string {
  if (input instanceof Uint8Array) {
    const hex = [...input.subarray(0, 200)]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    return `${input.length} bytes: ${hex}${input.length > 200 ? "…" : ""}`;
  }
  const text = typeof input === "string" ? input : JSON.stringify(input);
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

/** A Decoded result must be one of its two forms, with a non-empty reason. */
function assertDecoded(result: Decoded<unknown>, what: string): void {
  if (result.ok) {
    assert.ok("msg" in result, `${what}: ok without msg`);
    return;
  }
  assert.equal(typeof result.reason, "string", `${what}: reason not a string`);
  assert.ok(result.reason.length > 0, `${what}: empty reason`);
  assert.ok(
    result.reason.length < 1000,
    `${what}: reason of ${result.reason.length} characters`,
  );
}

/** What a decoded message must satisfy whenever a decoder accepts it. */
function assertValidRequest(result: Decoded<unknown>): void {
  if (!result.ok) return;
  const msg = result.msg as Record<string, unknown>;
  const shape = REQUESTS[msg.type as RequestType];
  assert.ok(shape, `accepted unknown request type ${msg.type}`);
  assert.equal(checkShape(shape, msg), null);
  assert.ok(Number.isSafeInteger(msg.id) && (msg.id as number) >= 0);
}

function assertValidP2P(result: Decoded<unknown>): void {
  if (!result.ok) return;
  const msg = result.msg as Record<string, unknown>;
  const shape = P2P[msg.type as keyof typeof P2P];
  assert.ok(shape, `accepted unknown P2P type ${msg.type}`);
  assert.equal(checkShape(shape, msg), null);
}

function assertValidServerMessage(result: Decoded<unknown>): void {
  if (!result.ok) return;
  const msg = result.msg as Record<string, unknown>;
  if (msg.type === "reply") {
    assert.ok(typeof msg.ok === "boolean");
    return;
  }
  const shape = EVENTS[msg.type as keyof typeof EVENTS];
  assert.ok(shape, `accepted unknown event type ${msg.type}`);
  assert.equal(checkShape(shape, msg), null);
}

/** Feeds one payload to every JSON decoder. */
function decodeEverywhere(bytes: Uint8Array, i: number): void {
  const request = guard("decodeRequest", bytes, i, () => decodeRequest(bytes));
  assertDecoded(request, "decodeRequest");
  assertValidRequest(request);
  const p2p = guard("decodeP2P", bytes, i, () => decodeP2P(bytes));
  assertDecoded(p2p, "decodeP2P");
  assertValidP2P(p2p);
  const server = guard(
    "decodeServerMessage",
    bytes,
    i,
    () => decodeServerMessage(bytes),
  );
  assertDecoded(server, "decodeServerMessage");
  assertValidServerMessage(server);
  if (server.ok && server.msg.type === "reply" && server.msg.ok) {
    const data = server.msg.data;
    for (const type of Object.keys(REPLIES) as RequestType[]) {
      assertDecoded(
        guard("decodeReplyData", data, i, () => decodeReplyData(type, data)),
        "decodeReplyData",
      );
    }
  }
}

/** Valid JSON messages of every kind, the seeds of the mutation fuzzing. */
function corpus(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const [type, body] of Object.entries(REQUEST_EXAMPLES)) {
    out.push(enc.encode(JSON.stringify({ type, id: 1, ...body })));
  }
  for (const [type, body] of Object.entries(EVENT_EXAMPLES)) {
    out.push(enc.encode(JSON.stringify({ type, ...body })));
  }
  for (const [type, body] of Object.entries(P2P_EXAMPLES)) {
    out.push(enc.encode(JSON.stringify({ type, ...body })));
  }
  for (const data of Object.values(REPLY_EXAMPLES)) {
    out.push(
      enc.encode(JSON.stringify({ type: "reply", id: 2, ok: true, data })),
    );
  }
  out.push(
    enc.encode('{"type":"reply","id":3,"ok":false,"error":"no","code":"auth"}'),
  );
  return out;
}

const TOKENS = [
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
  '"',
  "\\",
  "null",
  "true",
  "-1",
  "1e999",
  "0.5",
  '"type"',
  '"id"',
  '"toString"',
  '"__proto__"',
  "\\u0000",
  "\\ud800",
  "\u00e9",
  "\u{1f600}",
];

/** Changes a few bytes of `bytes`: flips, inserts, deletions, cuts, token splices. */
function mutate(rand: Rand, bytes: Uint8Array): Uint8Array {
  let out: Uint8Array = bytes.slice();
  for (let n = randInt(rand, 1, 4); n > 0; n--) {
    const at = randInt(rand, 0, out.length);
    switch (randInt(rand, 0, 5)) {
      case 0: // flip a bit
        if (out.length > 0) {
          const i = Math.min(at, out.length - 1);
          out[i]! ^= 1 << randInt(rand, 0, 7);
        }
        break;
      case 1: // random byte
        if (out.length > 0) {
          out[Math.min(at, out.length - 1)] = randInt(rand, 0, 255);
        }
        break;
      case 2: // insert a token
        out = concatBytes([
          out.subarray(0, at),
          enc.encode(pickOne(rand, TOKENS)),
          out.subarray(at),
        ]);
        break;
      case 3: // delete a run
        out = concatBytes([
          out.subarray(0, at),
          out.subarray(Math.min(out.length, at + randInt(rand, 1, 8))),
        ]);
        break;
      case 4: // cut the end
        out = out.slice(0, at);
        break;
      default: // duplicate a run
        out = concatBytes([
          out.subarray(0, at),
          out.subarray(Math.max(0, at - 16), at),
          out.subarray(at),
        ]);
    }
  }
  return out;
}

/** Keys the decoders read, and keys that are special to JavaScript objects. */
const SPECIAL_KEYS = [
  "type",
  "id",
  "ok",
  "data",
  "error",
  "code",
  "toString",
  "valueOf",
  "__proto__",
  "constructor",
  "hasOwnProperty",
];
/** Every field name of every message shape. */
const FIELD_KEYS = [
  ...new Set(
    [REQUESTS, EVENTS, P2P, REPLIES].flatMap((c) =>
      Object.values(c).flatMap((shape) => Object.keys(shape))
    ),
  ),
];

function randomKey(rand: Rand): string {
  return pickOne(rand, rand() < 0.5 ? SPECIAL_KEYS : FIELD_KEYS);
}

const TYPE_NAMES = [
  "reply",
  ...Object.keys(REQUESTS),
  ...Object.keys(EVENTS),
  ...Object.keys(P2P),
];

/** A random JSON value that leans towards what the decoders look for. */
function randomJson(rand: Rand, depth = 0): unknown {
  const choice = randInt(rand, 0, depth >= 4 ? 5 : 8);
  switch (choice) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return pickOne(rand, [
        0,
        1,
        -1,
        0.5,
        -0,
        2 ** 53,
        Number.MAX_SAFE_INTEGER,
        1e308,
        65_536,
        randInt(rand, -1000, 100_000),
      ]);
    case 3:
      return pickOne(rand, TYPE_NAMES);
    case 4:
      return pickOne(rand, [
        "",
        "alice",
        "a b",
        "x".repeat(randInt(rand, 0, 9000)),
        HEX64,
        "\u0000",
        "\u{1f600}",
      ]);
    case 5:
      return String.fromCharCode(...randBytes(rand, randInt(rand, 0, 20)));
    case 6:
    case 7: {
      const obj: Record<string, unknown> = {};
      for (let n = randInt(rand, 0, 6); n > 0; n--) {
        obj[randomKey(rand)] = randomJson(rand, depth + 1);
      }
      if (depth === 0 && rand() < 0.5) obj.type = pickOne(rand, TYPE_NAMES);
      if (depth === 0 && rand() < 0.7) obj.id = randInt(rand, -2, 5);
      return obj;
    }
    default:
      return Array.from(
        { length: randInt(rand, 0, 5) },
        () => randomJson(rand, depth + 1),
      );
  }
}

/** JSON text with "__proto__" as a real key, which JSON.stringify never writes. */
function jsonText(rand: Rand, value: unknown): string {
  let text = JSON.stringify(value) ?? "null";
  if (rand() < 0.2) {
    text = text.replace(/^\{/, '{"__proto__":{"type":"hello"},');
  }
  if (rand() < 0.1) text = lossy.decode(mutate(rand, enc.encode(text)));
  return text;
}

Deno.test(`wire decoders never throw on ${TOTAL} random inputs (seed ${SEED})`, async (t) => {
  const rand = mulberry32(SEED);
  const seeds = corpus();
  let fed = 0;

  await t.step("random bytes", () => {
    for (let i = 0; i < COUNTS.randomBytes; i++) {
      const bytes = randBytes(rand, randInt(rand, 0, i % 10 === 0 ? 2000 : 64));
      if (rand() < 0.3 && bytes.length > 0) bytes[0] = 0x7b; // "{"
      decodeEverywhere(bytes, i);
      assertDecoded(
        guard("decodeHeartbeat", bytes, i, () => decodeHeartbeat(bytes)),
        "decodeHeartbeat",
      );
      const decoder = new FrameDecoder();
      const pushed = guard(
        "FrameDecoder.push",
        bytes,
        i,
        () => decoder.push(bytes),
      );
      for (const f of pushed.frames) {
        assert.ok(f.payload.length <= MAX_FRAME_BYTES);
      }
      fed++;
    }
  });

  await t.step("mutated valid messages", () => {
    for (let i = 0; i < COUNTS.mutatedMessages; i++) {
      const bytes = mutate(rand, pickOne(rand, seeds));
      decodeEverywhere(bytes, i);
      fed++;
    }
  });

  await t.step("random JSON-ish objects", () => {
    for (let i = 0; i < COUNTS.jsonish; i++) {
      const value = randomJson(rand);
      const text = jsonText(rand, value);
      decodeEverywhere(enc.encode(text), i);
      const type = pickOne(rand, Object.keys(REPLIES)) as RequestType;
      assertDecoded(
        guard(
          "decodeReplyData",
          value,
          i,
          () => decodeReplyData(type, value as Record<string, unknown>),
        ),
        "decodeReplyData",
      );
      fed++;
    }
  });

  await t.step("frame streams mutated and split at random", () => {
    for (let i = 0; i < COUNTS.frameStreams; i++) {
      const frames: Frame[] = Array.from(
        { length: randInt(rand, 0, 6) },
        () => ({
          kind: rand() < 0.5 ? "control" : "data",
          payload: rand() < 0.5
            ? pickOne(rand, seeds)
            : randBytes(rand, randInt(rand, 0, 300)),
        }),
      );
      const clean = concatBytes(
        frames.map((f) => encodeFrame(f.kind, f.payload)),
      );
      const mutated = rand() < 0.6;
      const bytes = mutated ? mutate(rand, clean) : clean;
      const decoder = new FrameDecoder(
        randInt(rand, 0, 3) === 0 ? 64 : MAX_FRAME_BYTES,
      );
      const got: Frame[] = [];
      let error: string | undefined;
      let payloadBytes = 0;
      for (const chunk of randomSplit(bytes, rand, randInt(rand, 1, 80))) {
        const result = guard(
          "FrameDecoder.push",
          bytes,
          i,
          () => decoder.push(chunk),
        );
        for (const f of result.frames) {
          payloadBytes += f.payload.length;
          got.push({ kind: f.kind, payload: f.payload.slice() });
          if (f.kind === "control") decodeEverywhere(f.payload, i);
        }
        if (error) {
          assert.equal(result.error, error, "decoder recovered after an error");
        }
        error ??= result.error;
      }
      assert.ok(
        payloadBytes <= bytes.length,
        "decoded more bytes than were pushed",
      );
      if (!mutated && !error) assert.deepEqual(got, frames);
      fed++;
    }
  });

  await t.step("heartbeats mutated at random", () => {
    const token = randBytes(rand, 32);
    for (let i = 0; i < COUNTS.heartbeats; i++) {
      const session = [...randBytes(rand, 16)]
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      const good = encodeHeartbeat(session, randInt(rand, 0, 2 ** 40), token);
      const bytes = rand() < 0.8 ? mutate(rand, good) : good;
      const same = bytes.length === good.length &&
        bytes.every((b, j) => b === good[j]);
      const got = guard(
        "decodeHeartbeat",
        bytes,
        i,
        () => decodeHeartbeat(bytes),
      );
      assertDecoded(got, "decodeHeartbeat");
      if (got.ok) {
        const verified = guard(
          "verifyHeartbeat",
          bytes,
          i,
          () => verifyHeartbeat(got.msg, token),
        );
        assert.equal(
          verified,
          same,
          `verifyHeartbeat on input #${i} (seed ${SEED})`,
        );
      } else {
        assert.equal(same, false, "a valid heartbeat was refused");
      }
      fed++;
    }
  });

  await t.step("tickets mutated at random", async () => {
    const registry = await crypto.subtle.generateKey("Ed25519", false, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const claims: TicketClaims = {
      v: 1,
      from: "alice",
      from_key: "A".repeat(42) + "E",
      to: "bob",
      to_cert: HEX64,
      purpose: "file",
      iat: 1_700_000_000_000,
      exp: 1_700_000_000_000 + TICKET_TTL_MS,
      nonce: "n".repeat(22),
    };
    const good = await signTicket(claims, registry.privateKey);
    const goodBody = fromBase64url(good.split(".")[0]!)!;
    for (let i = 0; i < COUNTS.tickets; i++) {
      let ticket: string;
      const mode = randInt(rand, 0, 3);
      if (mode === 0) {
        // Re-signed mutated claims: reaches the shape check behind the signature.
        const body = base64url(mutate(rand, goodBody));
        const sig = await crypto.subtle.sign(
          "Ed25519",
          registry.privateKey,
          enc.encode(body),
        );
        ticket = `${body}.${base64url(new Uint8Array(sig))}`;
      } else if (mode === 1) {
        ticket = String.fromCharCode(...mutate(rand, enc.encode(good)));
      } else if (mode === 2) {
        ticket = base64url(randBytes(rand, randInt(rand, 0, 200))) + "." +
          base64url(randBytes(rand, rand() < 0.5 ? 64 : randInt(rand, 0, 80)));
      } else {
        ticket = jsonText(rand, randomJson(rand));
      }
      const got = await guardAsync(
        "openTicket",
        ticket,
        i,
        () => openTicket(ticket, registry.publicKey),
      );
      assertDecoded(got, "openTicket");
      if (got.ok && mode !== 0) {
        assert.equal(
          ticket,
          good,
          `a forged ticket opened (seed ${SEED}, #${i})`,
        );
      }
      fed++;
    }
  });

  await t.step(`fed at least 10,000 inputs`, () => {
    assert.ok(fed >= 10_000, `only ${fed} inputs`);
    assert.equal(fed, TOTAL);
  });
});
