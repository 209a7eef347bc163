/**
 * One valid example of every message in the wire catalog, shared by the
 * decoder tests and the fuzz test. The tables are typed against the catalog,
 * so adding a message type without an example fails the type check, and the
 * tests also assert at run time that every catalog key has an example.
 *
 * Examples carry every optional field, so a test can break each field in turn;
 * `minimalOf` drops the optional ones again.
 */
import type { Shape } from "../../wire/schema.ts";
import type {
  EventType,
  P2POf,
  P2PType,
  RegistryEvent,
  ReplyData,
  RequestOf,
  RequestType,
} from "../../wire/messages.ts";

/** A 43-character base64url value, the size of a raw Ed25519 key or token. */
export const KEY43 = "A".repeat(42) + "E";
/** An 86-character base64url value, the size of an Ed25519 signature. */
export const SIG86 = "B".repeat(85) + "A";
/** A SHA-256 hex digest. */
export const HEX64 = "0123456789abcdef".repeat(4);
/** A session id: 32 lower-case hex characters. */
export const HEX32 = "0123456789abcdef".repeat(2);
/** Something shaped like a PEM certificate (the wire only checks length). */
export const PEM =
  "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
/** An ISO 8601 time. */
export const ISO = "2024-05-01T12:00:00.000Z";

type Body<T> = Omit<T, "type">;

/** The fields (besides type and id) of one request of every type. */
export const REQUEST_EXAMPLES: {
  [K in RequestType]: Omit<RequestOf<K>, "type" | "id">;
} = {
  hello: { v: 1, client: "chat 0.1.0" },
  signup: { user: "alice", password: "correct horse" },
  login: {
    user: "Alice",
    password: "correct horse",
    kind: "peer",
    p2p_port: 40_000,
    cert: PEM,
    key: KEY43,
    replace: true,
    device: "laptop",
    device_sign: KEY43,
    device_dh: KEY43,
    sig: SIG86,
  },
  challenge: {},
  devices: {},
  device_revoke: { name: "laptop" },
  device_logout: { name: "laptop" },
  passwd: { old: "correct horse", new: "battery staple" },
  device_keys: { user: "bob" },
  logout: {},
  active: {},
  search: { user: "bob" },
  who: { detailed: true, offset: 200, limit: 100 },
  status: { text: "out for lunch" },
  profile: { user: "bob" },
  friend_request: { user: "bob" },
  friend_accept: { user: "bob" },
  friend_decline: { user: "bob" },
  friend_remove: { user: "bob" },
  friends: {},
  requests: {},
  block: { user: "mallory" },
  unblock: { user: "mallory" },
  blocks: {},
  introduce: { user: "bob", purpose: "chat" },
  reverse: { ticket: "body.signature" },
  relay: { ticket: "body.signature" },
  offline_send: {
    to: "bob",
    mid: "mmmmmmmmmmmmmmmmmmmmmm",
    from_device: "laptop",
    boxes: [{
      device: "desk",
      box:
        "AQxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    }],
  },
  offline_fetch: { after: 7, limit: 100 },
  offline_ack: { ids: [1, 2, 3], receipts: [4], drops: ["lobby"] },
  room_keys: { room: "lobby", users: ["carol", "dave"] },
  room_store: {
    room: "lobby",
    mid: "mmmmmmmmmmmmmmmmmmmmmm",
    from_device: "laptop",
    members: [{
      user: "carol",
      boxes: [{
        device: "desk",
        box:
          "AQxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
      }],
    }],
  },
  room_create: {
    room: "lobby",
    password: "open sesame",
    capacity: 10,
    description: "where everyone meets",
  },
  rooms: { detailed: false, search: "lob", offset: 0, limit: 50 },
  room_join: { room: "lobby", password: "open sesame" },
  room_leave: { room: "lobby" },
  room_members: { room: "lobby" },
  room_invite: { room: "lobby", user: "carol" },
  invites: {},
  invite_accept: { room: "lobby" },
  invite_decline: { room: "lobby" },
  room_kick: { room: "lobby", user: "mallory" },
  room_owner: { room: "lobby", user: "carol" },
  invite_withdraw: { room: "lobby", user: "carol" },
  room_unban: { room: "lobby", user: "mallory" },
  room_password: { room: "lobby", password: "new secret" },
  ping: {},
};

/** The fields (besides type) of one registry event of every type. */
export const EVENT_EXAMPLES: {
  [K in EventType]: Body<Extract<RegistryEvent, { type: K }>>;
} = {
  presence: { user: "bob", online: true },
  friend_request: { from: "bob" },
  friend_accepted: { user: "bob" },
  friend_removed: { user: "bob" },
  room_invite: { room: "lobby", from: "carol" },
  invite_withdrawn: { room: "lobby" },
  pending: { friend_requests: 3, invites: 250 },
  room_joined: { room: "lobby", user: "bob" },
  room_left: { room: "lobby", user: "bob", reason: "kicked", by: "alice" },
  room_owner: { room: "lobby", user: "carol" },
  offline_waiting: { count: 2 },
  delivered_waiting: { count: 1 },
  timeout: { reason: "heartbeat" },
  reverse: {
    from: "alice",
    purpose: "chat",
    ref: "AAAAAAAAAAAAAAAAAAAAAAAA",
    candidates: [{ host: "10.1.0.2", port: 40_000 }, {
      host: "203.0.113.10",
      port: 40_000,
    }],
    cert: PEM,
    ticket: "body.signature",
  },
  relay: {
    from: "alice",
    purpose: "file",
    token: "body.signature",
    port: 15_601,
  },
  session_ended: { reason: "replaced" },
  error: { reason: "request could not be read" },
};

/** The fields (besides type) of one P2P message of every type. */
export const P2P_EXAMPLES: { [K in P2PType]: Body<P2POf<K>> } = {
  p2p_hello: { v: 1, ticket: "body.signature", sig: SIG86, purpose: "file" },
  p2p_welcome: { v: 1, user: "bob" },
  p2p_probe: { v: 1 },
  p2p_probe_ok: { v: 1 },
  chat_request: { text: "hi, got a minute?", id: 1 },
  chat_accept: {},
  chat_reject: {},
  chat_close: { reason: "bye" },
  msg: { id: 7, text: "hello *world*", room: "lobby" },
  ack: { id: 7, room: "lobby" },
  file_offer: { id: "t-1", name: "photo.jpg", size: 1024, room: "lobby" },
  file_accept: { id: "t-1" },
  file_reject: { id: "t-1", reason: "no space" },
  file_cancel: { id: "t-1", reason: "cancelled by alice" },
  file_end: { id: "t-1", size: 1024, sha256: HEX64 },
  file_ok: { id: "t-1", sha256: HEX64 },
  file_fail: { id: "t-1", reason: "hash mismatch" },
  error: { reason: "unexpected message" },
};

const ROOM_STATE = {
  room: "lobby",
  owner: "alice",
  members: [
    { user: "alice", online: true, role: "owner" as const },
    { user: "bob", online: false, role: "member" as const },
  ],
};

/** The data of a successful reply to every request type. */
export const REPLY_EXAMPLES: { [K in RequestType]: ReplyData<K> } = {
  hello: {
    v: 1,
    server: "chat 0.1.0",
    signing_key: KEY43,
    udp_port: 15_500,
    heartbeat_interval_ms: 1_000,
    heartbeat_ttl_ms: 3_000,
  },
  signup: { user: "alice" },
  login: {
    user: "alice",
    session: HEX32,
    token: KEY43,
    status: "Hey there! I am using chat",
    host: "192.0.2.10",
    device: "laptop",
  },
  challenge: { nonce: KEY43 },
  devices: {
    devices: [{
      name: "laptop",
      created_at: ISO,
      last_used: ISO,
      current: true,
    }],
  },
  device_revoke: { name: "laptop", sessions: 1 },
  device_logout: { name: "laptop", sessions: 0 },
  passwd: {},
  device_keys: {
    user: "bob",
    devices: [{ name: "laptop", sign: KEY43, dh: KEY43, created_at: ISO }],
  },
  logout: {},
  active: {},
  search: {
    user: "bob",
    online: true,
    host: "192.0.2.11",
    port: 40_001,
    last_seen: null,
    status: "Hey there! I am using chat",
  },
  who: {
    users: [{ user: "bob", host: "192.0.2.11", port: 40_001, status: "hi" }],
    total: 1,
  },
  status: { status: "out for lunch" },
  profile: {
    user: "bob",
    status: "hi",
    online: false,
    last_seen: ISO,
    since: ISO,
    friend: "friends",
  },
  friend_request: { user: "bob", state: "pending" },
  friend_accept: { user: "bob" },
  friend_decline: { user: "bob" },
  friend_remove: { user: "bob" },
  friends: {
    friends: [{ user: "bob", online: true, status: "hi" }],
    total: 1,
  },
  requests: {
    incoming: ["carol"],
    outgoing: [],
    incoming_total: 300,
    outgoing_total: 0,
    next_offset: 1,
  },
  block: { user: "mallory" },
  unblock: { user: "mallory" },
  blocks: { users: ["mallory"], total: 1 },
  introduce: {
    user: "bob",
    host: "192.0.2.11",
    port: 40_001,
    cert: PEM,
    ticket: "body.signature",
    candidates: [{ host: "10.2.0.2", port: 40_001 }, {
      host: "192.0.2.11",
      port: 40_001,
    }],
    reachable: false,
    you_reachable: true,
    relay: true,
  },
  reverse: {},
  relay: { token: "body.signature", port: 15_601 },
  offline_send: { to: "bob", sent_at: ISO, devices: 2 },
  offline_fetch: {
    messages: [{
      id: 1,
      from: "bob",
      from_device: "laptop",
      mid: "mmmmmmmmmmmmmmmmmmmmmm",
      box:
        "AQxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
      sent_at: ISO,
    }],
    delivered: [{ id: 3, to: "carol", sent_at: ISO, delivered_at: ISO }],
    dropped: [{ room: "lobby", count: 12 }],
    total: 5,
    next_after: 1,
  },
  offline_ack: { deleted: 1 },
  room_keys: {
    room: "lobby",
    members: [{
      user: "carol",
      devices: [{ name: "desk", sign: KEY43, dh: KEY43, created_at: ISO }],
    }],
  },
  room_store: { room: "lobby", stored: ["carol"], stale: ["dave"] },
  room_create: { room: "lobby" },
  rooms: {
    rooms: [{
      room: "lobby",
      description: "where everyone meets",
      members: 2,
      capacity: 10,
      locked: true,
      owner: "alice",
    }],
    total: 600,
    next_offset: 1,
  },
  room_join: ROOM_STATE,
  room_leave: { room: "lobby" },
  room_members: ROOM_STATE,
  room_invite: { room: "lobby", user: "carol" },
  invites: {
    invites: [{ room: "lobby", from: "alice", sent_at: ISO }],
    total: 1,
  },
  invite_accept: ROOM_STATE,
  invite_decline: { room: "lobby" },
  room_kick: { room: "lobby", user: "mallory" },
  room_owner: { room: "lobby", user: "carol" },
  invite_withdraw: { room: "lobby", user: "carol" },
  room_unban: { room: "lobby", user: "mallory" },
  room_password: { room: "lobby", locked: true },
  ping: {},
};

/** A JSON object as tests build it. */
export type Json = Record<string, unknown>;

/** The example without the fields its shape marks optional. */
export function minimalOf(shape: Shape, example: Json): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(example)) {
    if (!shape[key]?.optional) out[key] = value;
  }
  return out;
}

/** A broken copy of an example, and why it is broken. */
export interface Malformed {
  why: string;
  body: Json;
}

/**
 * Broken variants of an example: each required field dropped, and each field
 * replaced by a value of the wrong JSON type. Empty for an empty shape.
 */
export function malformedOf(shape: Shape, example: Json): Malformed[] {
  const out: Malformed[] = [];
  for (const key of Object.keys(shape)) {
    if (!shape[key]!.optional) {
      const body = { ...example };
      delete body[key];
      out.push({ why: `"${key}" dropped`, body });
    }
    if (Object.hasOwn(example, key)) {
      const wrong = wrongTypeFor(example[key]);
      out.push({
        why: `"${key}" set to ${JSON.stringify(wrong)}`,
        body: { ...example, [key]: wrong },
      });
    }
  }
  return out;
}

/** A value whose JSON type differs from `value`'s. */
export function wrongTypeFor(value: unknown): unknown {
  if (typeof value === "string") return 12.5;
  if (typeof value === "number") return "12";
  if (typeof value === "boolean") return "true";
  if (Array.isArray(value)) return { not: "a list" };
  if (value === null) return true;
  return ["not", "an", "object"];
}
