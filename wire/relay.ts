/**
 * The relay handshake: relay tokens and the one-frame preambles of a relayed
 * connection. Pure: no I/O.
 *
 * When two peers cannot reach each other, the registry signs a relay token
 * naming the link, both users, both sessions' public keys, the purpose, a
 * short expiry and the relay endpoint. Each peer opens plain TCP to that
 * endpoint and sends one `relay_hello` frame carrying the token, its role
 * (`a` for the side that asked, `b` for the other) and a signature over
 * (role, token) made with its session key, so a token read off the wire is
 * useless to anyone else. The relay answers one frame, `relay_paired` or
 * `relay_refused`, and from then on carries bytes both ways untouched: the
 * peers' own TLS runs inside.
 *
 * Tokens are signed with the registry's ticket key under their own context
 * string, so a relay token can never be taken for an introduction ticket and
 * the other way round.
 */
import { checkShape, type Infer, int, oneOf, pick, str } from "./schema.ts";
import { userName } from "./messages.ts";
import type { Decoded } from "./decode.ts";
import {
  encodeFrame,
  FRAME_HEADER_BYTES,
  KIND_CONTROL,
  u32At,
} from "./frame.ts";
import { base64url, fromBase64url, importEd25519Public } from "./ticket.ts";

/** Relay protocol version carried by every preamble. */
export const RELAY_VERSION = 1;
/** How long a relay token may be presented after issue. */
export const RELAY_TOKEN_TTL_MS = 30_000;
/** Clock difference between registry instances that is tolerated. */
export const RELAY_SKEW_MS = 5_000;
/** Longest relay token. */
export const MAX_RELAY_TOKEN_CHARS = 2048;
/** Largest preamble payload either side accepts (checked before buffering). */
export const MAX_RELAY_PREAMBLE_BYTES = 4096;
/** Longest `host:port` relay endpoint. */
export const MAX_RELAY_ENDPOINT_CHARS = 262;
/** Longest refusal reason. */
export const MAX_RELAY_REASON_CHARS = 300;

/** Which end of a link a connection is: `a` asked for the link, `b` was asked. */
export type RelayRole = "a" | "b";

/** Why a relay refused or ended a connection before pairing. */
export const RELAY_REFUSALS = [
  /** Malformed preamble or token, or a token for another relay. */
  "invalid",
  /** The token's or the role's signature does not verify. */
  "forged",
  /** The token is past its expiry (or not valid yet). */
  "expired",
  /** This role of this link was already presented. */
  "replayed",
  /** A per-user or relay-wide limit is reached; try again later. */
  "limit",
  /** The other side did not arrive in time. */
  "unpaired",
  /** The relay is shutting down. */
  "shutdown",
] as const;
/** A refusal code. */
export type RelayRefusalCode = typeof RELAY_REFUSALS[number];

const KEY = str({ min: 43, max: 43, pattern: /^[A-Za-z0-9_-]+$/, what: "key" });
const ENDPOINT = str({
  min: 3,
  max: MAX_RELAY_ENDPOINT_CHARS,
  pattern: /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/,
  what: "host:port",
});
const LINK = str({
  min: 16,
  max: 64,
  pattern: /^[A-Za-z0-9_-]+$/,
  what: "link id",
});

const CLAIMS = {
  v: int(1, 1),
  link: LINK,
  a: userName,
  a_key: KEY,
  b: userName,
  b_key: KEY,
  purpose: oneOf("chat", "file"),
  iat: int(0, Number.MAX_SAFE_INTEGER),
  exp: int(0, Number.MAX_SAFE_INTEGER),
  relay: ENDPOINT,
} as const;

/** What a relay token asserts. */
export interface RelayTokenClaims {
  v: 1;
  /** Random id of this link, unique per token. */
  link: string;
  /** The user who asked for the link, and that session's Ed25519 public key (raw, base64url). */
  a: string;
  a_key: string;
  /** The other user and that session's key. */
  b: string;
  b_key: string;
  purpose: "chat" | "file";
  /** Issued and expires, ms since the epoch. */
  iat: number;
  exp: number;
  /** The relay endpoint the token is for, `host:port` (`[v6]:port`). */
  relay: string;
}

const HELLO = {
  v: int(1, 1),
  token: str({
    min: 3,
    max: MAX_RELAY_TOKEN_CHARS,
    pattern: /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/,
    what: "relay token",
  }),
  role: oneOf("a", "b"),
  sig: str({
    min: 86,
    max: 86,
    pattern: /^[A-Za-z0-9_-]+$/,
    what: "signature",
  }),
} as const;

/** The first frame a peer sends on a relay connection. */
export type RelayHello = { type: "relay_hello" } & Infer<typeof HELLO>;

const REPLIES = {
  relay_paired: { v: int(1, 1), link: LINK },
  relay_refused: {
    v: int(1, 1),
    code: oneOf(...RELAY_REFUSALS),
    reason: str({ max: MAX_RELAY_REASON_CHARS }),
  },
} as const;

/** The one frame the relay answers: paired (bytes flow next) or refused (then closed). */
export type RelayReply =
  | { type: "relay_paired" } & Infer<typeof REPLIES.relay_paired>
  | { type: "relay_refused" } & Infer<typeof REPLIES.relay_refused>;

const TOKEN_CONTEXT = "chat-relay-token-v1\n";
const ROLE_CONTEXT = "chat-relay-hello-v1\n";
const enc = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Signs relay claims with the registry's private key; returns the token string. */
export async function signRelayToken(
  claims: RelayTokenClaims,
  key: CryptoKey,
): Promise<string> {
  const body = base64url(enc.encode(JSON.stringify(claims)));
  const sig = await crypto.subtle.sign(
    "Ed25519",
    key,
    enc.encode(TOKEN_CONTEXT + body),
  );
  return `${body}.${base64url(new Uint8Array(sig))}`;
}

/**
 * What opening a token gave: its claims, or why not, as `invalid` (not a
 * well-formed token) or `forged` (its signature does not verify).
 */
export type OpenedRelayToken =
  | { ok: true; msg: RelayTokenClaims }
  | { ok: false; code: "invalid" | "forged"; reason: string };

/** Verifies a relay token's signature and shape; does not check time or endpoint. */
export async function openRelayToken(
  token: string,
  registryKey: CryptoKey,
): Promise<OpenedRelayToken> {
  if (typeof token !== "string" || token.length > MAX_RELAY_TOKEN_CHARS) {
    return { ok: false, code: "invalid", reason: "malformed relay token" };
  }
  const parts = token.split(".");
  if (parts.length !== 2) {
    return { ok: false, code: "invalid", reason: "malformed relay token" };
  }
  const [body, sigText] = parts as [string, string];
  const sig = fromBase64url(sigText);
  const bytes = fromBase64url(body);
  if (!sig || !bytes || sig.length !== 64) {
    return { ok: false, code: "invalid", reason: "malformed relay token" };
  }
  let good = false;
  try {
    good = await crypto.subtle.verify(
      "Ed25519",
      registryKey,
      sig,
      enc.encode(TOKEN_CONTEXT + body),
    );
  } catch {
    good = false; // A key of the wrong kind verifies nothing.
  }
  if (!good) {
    return {
      ok: false,
      code: "forged",
      reason: "relay token signature is not valid",
    };
  }
  let claims: unknown;
  try {
    claims = JSON.parse(utf8.decode(bytes));
  } catch {
    return { ok: false, code: "invalid", reason: "malformed relay token" };
  }
  const reason = checkShape(CLAIMS, claims);
  if (reason) {
    return { ok: false, code: "invalid", reason: `relay token ${reason}` };
  }
  const msg = pick(CLAIMS, claims as object) as RelayTokenClaims;
  if (!parseRelayEndpoint(msg.relay)) {
    return {
      ok: false,
      code: "invalid",
      reason: "relay token names no valid relay endpoint",
    };
  }
  return { ok: true, msg };
}

/** Checks a token's time window against `now` (ms since the epoch). */
export function relayTokenTimeError(
  claims: RelayTokenClaims,
  now: number,
): string | null {
  if (claims.exp + RELAY_SKEW_MS < now) return "relay token has expired";
  if (claims.iat - RELAY_SKEW_MS > now) return "relay token is not valid yet";
  if (claims.exp - claims.iat > RELAY_TOKEN_TTL_MS) {
    return "relay token lives too long";
  }
  return null;
}

/** The presenter's proof of its session key for one role: base64url Ed25519. */
export async function signRelayRole(
  token: string,
  role: RelayRole,
  sessionKey: CryptoKey,
): Promise<string> {
  const sig = await crypto.subtle.sign(
    "Ed25519",
    sessionKey,
    enc.encode(`${ROLE_CONTEXT}${role}\n${token}`),
  );
  return base64url(new Uint8Array(sig));
}

/** Verifies a role signature against the session key the token names for that role. */
export async function verifyRelayRole(
  token: string,
  role: RelayRole,
  sig: string,
  publicKey: string,
): Promise<boolean> {
  const raw = fromBase64url(publicKey);
  const sigBytes = fromBase64url(sig);
  if (!raw || raw.length !== 32 || !sigBytes || sigBytes.length !== 64) {
    return false;
  }
  try {
    return await crypto.subtle.verify(
      "Ed25519",
      await importEd25519Public(raw),
      sigBytes,
      enc.encode(`${ROLE_CONTEXT}${role}\n${token}`),
    );
  } catch {
    return false; // Not a usable Ed25519 key.
  }
}

/** Splits `host:port` (or `[v6]:port`) into its parts; null when it is not one. */
export function parseRelayEndpoint(
  text: string,
): { hostname: string; port: number } | null {
  if (ENDPOINT.check(text) !== null) return null;
  const at = text.lastIndexOf(":");
  let hostname = text.slice(0, at);
  const port = Number(text.slice(at + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  if (hostname.startsWith("[")) hostname = hostname.slice(1, -1);
  return { hostname, port };
}

/** Writes `host:port`, bracketing IPv6 addresses. */
export function formatRelayEndpoint(hostname: string, port: number): string {
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}

/** Encodes the hello frame a peer sends first. */
export function encodeRelayHello(
  hello: Omit<RelayHello, "type" | "v">,
): Uint8Array {
  return encodePreamble({
    type: "relay_hello",
    v: RELAY_VERSION,
    token: hello.token,
    role: hello.role,
    sig: hello.sig,
  });
}

/** Encodes the relay's answer frame. */
export function encodeRelayReply(
  reply:
    | { type: "relay_paired"; link: string }
    | { type: "relay_refused"; code: RelayRefusalCode; reason: string },
): Uint8Array {
  return encodePreamble(
    reply.type === "relay_paired"
      ? { type: reply.type, v: RELAY_VERSION, link: reply.link }
      : {
        type: reply.type,
        v: RELAY_VERSION,
        code: reply.code,
        reason: reply.reason.slice(0, MAX_RELAY_REASON_CHARS),
      },
  );
}

function encodePreamble(msg: object): Uint8Array {
  const payload = enc.encode(JSON.stringify(msg));
  if (payload.length > MAX_RELAY_PREAMBLE_BYTES) {
    throw new RangeError(
      `relay preamble of ${payload.length} bytes exceeds ${MAX_RELAY_PREAMBLE_BYTES}`,
    );
  }
  return encodeFrame("control", payload);
}

/** Decodes a hello payload (the frame's JSON); never throws. */
export function decodeRelayHello(payload: Uint8Array): Decoded<RelayHello> {
  const raw = parseObject(payload);
  if (!raw.ok) return raw;
  if (raw.msg.type !== "relay_hello") {
    return { ok: false, reason: "expected relay_hello" };
  }
  const reason = versionError(raw.msg) ?? checkShape(HELLO, raw.msg);
  if (reason) return { ok: false, reason: `relay_hello: ${reason}` };
  return { ok: true, msg: { type: "relay_hello", ...pick(HELLO, raw.msg) } };
}

/** Decodes the relay's answer payload; never throws. */
export function decodeRelayReply(payload: Uint8Array): Decoded<RelayReply> {
  const raw = parseObject(payload);
  if (!raw.ok) return raw;
  const type = raw.msg.type;
  if (type !== "relay_paired" && type !== "relay_refused") {
    return { ok: false, reason: "expected relay_paired or relay_refused" };
  }
  const shape = REPLIES[type];
  const reason = versionError(raw.msg) ?? checkShape(shape, raw.msg);
  if (reason) return { ok: false, reason: `${type}: ${reason}` };
  return { ok: true, msg: { type, ...pick(shape, raw.msg) } as RelayReply };
}

function versionError(raw: Record<string, unknown>): string | null {
  if (raw.v === RELAY_VERSION) return null;
  return `relay protocol version ${
    typeof raw.v === "number" ? raw.v : "(none)"
  } is not spoken here (this side speaks ${RELAY_VERSION})`;
}

function parseObject(payload: Uint8Array): Decoded<Record<string, unknown>> {
  if (payload.length > MAX_RELAY_PREAMBLE_BYTES) {
    return {
      ok: false,
      reason: `relay preamble exceeds ${MAX_RELAY_PREAMBLE_BYTES} bytes`,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(payload));
  } catch {
    return { ok: false, reason: "relay preamble is not UTF-8 JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "relay preamble must be a JSON object" };
  }
  return { ok: true, msg: value as Record<string, unknown> };
}

/** What a preamble decoder's push produced once it is done. */
export type PreambleResult<T> =
  | { ok: true; msg: T; rest: Uint8Array }
  | { ok: false; reason: string };

/**
 * Push-style reader of the one preamble frame at the start of a relayed
 * stream: survives any split, checks the length before buffering, and hands
 * back the bytes that followed the frame in the same chunk (`rest`, copied),
 * which belong to the spliced stream. `push` returns null while it needs
 * more bytes and never throws; after a result every push fails.
 */
export class PreambleDecoder<T> {
  readonly #decode: (payload: Uint8Array) => Decoded<T>;
  #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFill = 0;
  #payload: Uint8Array | null = null;
  #payloadFill = 0;
  #done = false;

  constructor(decode: (payload: Uint8Array) => Decoded<T>) {
    this.#decode = decode;
  }

  /** Feeds bytes; a result once the frame is complete or wrong, else null. */
  push(chunk: Uint8Array): PreambleResult<T> | null {
    if (this.#done) return { ok: false, reason: "relay preamble already read" };
    let at = 0;
    if (this.#payload === null) {
      const take = Math.min(
        FRAME_HEADER_BYTES - this.#headerFill,
        chunk.length,
      );
      this.#header.set(chunk.subarray(0, take), this.#headerFill);
      this.#headerFill += take;
      at = take;
      if (this.#headerFill < FRAME_HEADER_BYTES) return null;
      const length = u32At(this.#header, 0);
      if (this.#header[4] !== KIND_CONTROL) {
        return this.#fail("relay preamble must be a control frame");
      }
      if (length > MAX_RELAY_PREAMBLE_BYTES) {
        return this.#fail(
          `relay preamble of ${length} bytes exceeds ${MAX_RELAY_PREAMBLE_BYTES}`,
        );
      }
      this.#payload = new Uint8Array(length);
    }
    const payload = this.#payload;
    const take = Math.min(
      payload.length - this.#payloadFill,
      chunk.length - at,
    );
    payload.set(chunk.subarray(at, at + take), this.#payloadFill);
    this.#payloadFill += take;
    at += take;
    if (this.#payloadFill < payload.length) return null;
    this.#done = true;
    const decoded = this.#decode(payload);
    if (!decoded.ok) return { ok: false, reason: decoded.reason };
    return { ok: true, msg: decoded.msg, rest: chunk.slice(at) };
  }

  #fail(reason: string): PreambleResult<T> {
    this.#done = true;
    return { ok: false, reason };
  }
}

/** A decoder for the hello a relay reads first. */
export function relayHelloDecoder(): PreambleDecoder<RelayHello> {
  return new PreambleDecoder(decodeRelayHello);
}

/** A decoder for the reply a peer reads first. */
export function relayReplyDecoder(): PreambleDecoder<RelayReply> {
  return new PreambleDecoder(decodeRelayReply);
}

/** A fresh random link id (16 bytes, base64url). */
export function newRelayLinkId(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(16)));
}
