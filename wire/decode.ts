/**
 * The one place where untrusted bytes become typed messages.
 *
 * Every function here is total: any input yields `{ ok: true, msg }` or
 * `{ ok: false, reason }`, never an exception.
 */
import { checkShape, pick, type Shape } from "./schema.ts";
import {
  ERROR_CODES,
  type ErrorCode,
  EVENTS,
  P2P,
  type P2PMessage,
  REPLIES,
  type Reply,
  type ReplyData,
  type Request,
  REQUESTS,
  type RequestType,
  type ServerMessage,
} from "./messages.ts";
import { MAX_FRAME_BYTES } from "./frame.ts";

/** The result of decoding untrusted input. */
export type Decoded<T> =
  | { ok: true; msg: T }
  | { ok: false; reason: string; id?: number };

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

function parseJson(payload: Uint8Array): Decoded<Record<string, unknown>> {
  if (payload.length > MAX_FRAME_BYTES) {
    return { ok: false, reason: "message is larger than 1 MiB" };
  }
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    return { ok: false, reason: "message is not valid UTF-8" };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: "message is not valid JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "message must be a JSON object" };
  }
  return { ok: true, msg: value as Record<string, unknown> };
}

function decodeFrom<T>(
  catalog: Record<string, Shape>,
  payload: Uint8Array,
  what: string,
  withId: boolean,
): Decoded<T> {
  const json = parseJson(payload);
  if (!json.ok) return json;
  const raw = json.msg;
  const type = raw.type;
  let id: number | undefined;
  if (withId) {
    const rawId = raw.id;
    if (
      typeof rawId !== "number" || !Number.isSafeInteger(rawId) || rawId < 0
    ) {
      return { ok: false, reason: '"id" must be a non-negative integer' };
    }
    id = rawId;
  }
  if (typeof type !== "string" || !Object.hasOwn(catalog, type)) {
    // String() of an object can throw ({"toString":1}) or be huge (a long
    // array), so only strings are quoted; anything else is named by its kind.
    const shown = typeof type === "string"
      ? type.slice(0, 40)
      : type === null || typeof type !== "object"
      ? String(type)
      : Array.isArray(type)
      ? "array"
      : "object";
    return { ok: false, reason: `unknown ${what} type "${shown}"`, id };
  }
  const shape = catalog[type]!;
  const reason = checkShape(shape, raw);
  if (reason) return { ok: false, reason: `${type}: ${reason}`, id };
  const msg = { type, ...pick(shape, raw) } as Record<string, unknown>;
  if (withId) msg.id = id;
  return { ok: true, msg: msg as T };
}

/** Decodes a request sent by a peer to the registry. */
export function decodeRequest(payload: Uint8Array): Decoded<Request> {
  return decodeFrom<Request>(REQUESTS, payload, "request", true);
}

/** Decodes a P2P message. */
export function decodeP2P(payload: Uint8Array): Decoded<P2PMessage> {
  return decodeFrom<P2PMessage>(P2P, payload, "message", false);
}

/** Decodes anything the registry sends: a reply or a pushed event. */
export function decodeServerMessage(
  payload: Uint8Array,
): Decoded<ServerMessage> {
  const json = parseJson(payload);
  if (!json.ok) return json;
  const raw = json.msg;
  if (raw.type !== "reply") {
    return decodeFrom<ServerMessage>(EVENTS, payload, "event", false);
  }
  const id = raw.id;
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
    return { ok: false, reason: '"id" must be a non-negative integer' };
  }
  if (raw.ok === true) {
    const data = raw.data ?? {};
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      return { ok: false, reason: "reply data must be an object", id };
    }
    return {
      ok: true,
      msg: {
        type: "reply",
        id,
        ok: true,
        data: data as Record<string, unknown>,
      },
    };
  }
  if (raw.ok === false) {
    const error = raw.error;
    if (typeof error !== "string" || error.length > 2000) {
      return { ok: false, reason: "reply error must be a short string", id };
    }
    const code = ERROR_CODES.includes(raw.code as ErrorCode)
      ? raw.code as ErrorCode
      : "internal";
    return { ok: true, msg: { type: "reply", id, ok: false, error, code } };
  }
  return { ok: false, reason: '"ok" must be true or false', id };
}

/** Checks the data of a successful reply against the shape its request expects. */
export function decodeReplyData<K extends RequestType>(
  type: K,
  data: Record<string, unknown>,
): Decoded<ReplyData<K>> {
  const shape: Shape = REPLIES[type];
  const reason = checkShape(shape, data);
  if (reason) return { ok: false, reason: `${type} reply: ${reason}` };
  return { ok: true, msg: pick(shape, data) as ReplyData<K> };
}

/** Serialises a control message to JSON bytes (without the frame header). */
export function encodeJson(msg: object): Uint8Array {
  return utf8Encoder.encode(JSON.stringify(msg));
}

/** Builds a successful reply. */
export function okReply(id: number, data: object = {}): Reply {
  return { type: "reply", id, ok: true, data: data as Record<string, unknown> };
}

/** Builds a failed reply. */
export function errorReply(id: number, code: ErrorCode, error: string): Reply {
  return { type: "reply", id, ok: false, error, code };
}
