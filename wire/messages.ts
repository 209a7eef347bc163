/**
 * The message catalog: every control message of every connection, as data.
 *
 * Three conversations use the same frames: peer→registry requests, registry→peer
 * replies and events, and peer↔peer messages. Each table maps a `type` to the
 * shape of its other fields; the TypeScript unions are inferred from the tables,
 * so the validator and the types can never disagree.
 */
import {
  arr,
  bool,
  type Field,
  type Infer,
  int,
  nullable,
  obj,
  oneOf,
  opt,
  type Shape,
  str,
} from "./schema.ts";
import { DEVICE_NAME_PATTERN } from "./device_login.ts";
import {
  MAX_BACKLOG_MEMBERS,
  MAX_CANDIDATES,
  MAX_CERT_CHARS,
  MAX_DESCRIPTION_CHARS,
  MAX_LIST_ITEMS,
  MAX_PAGE_ITEMS,
  MAX_PASSWORD_CHARS,
  MAX_ROOM_CAPACITY,
  MAX_SEALED_BOX_CHARS,
  MAX_SEALED_DEVICES,
  MAX_SEARCH_CHARS,
  MAX_STATUS_CHARS,
  MAX_TEXT_CHARS,
  MAX_TICKET_CHARS,
  MAX_WIRE_FILE_NAME_CHARS,
} from "./limits.ts";

/** A user name as sent on the wire: any case, normalised by the receiver. */
export const userName: Field<string> = str({
  min: 1,
  max: 32,
  pattern: /^[A-Za-z0-9_.-]{1,32}$/,
  what: "name (letters, digits, _ . - up to 32)",
});
/** A room name: the same rule as user names. */
export const roomName: Field<string> = userName;

const counter = int(0, Number.MAX_SAFE_INTEGER);
const password = str({ min: 1, max: MAX_PASSWORD_CHARS, wellFormed: true });
const text = str({ min: 1, max: MAX_TEXT_CHARS });
const statusText = str({ max: MAX_STATUS_CHARS });
const isoTime = str({ max: 40 });
const host = str({ min: 1, max: 255 });
const port = int(0, 65535);
const hex64 = str({
  min: 64,
  max: 64,
  pattern: /^[0-9a-f]{64}$/,
  what: "SHA-256 hex digest",
});
const transferId = str({
  min: 1,
  max: 64,
  pattern: /^[A-Za-z0-9_-]+$/,
  what: "transfer id",
});
const b64url = (min: number, max: number) =>
  str({ min, max, pattern: /^[A-Za-z0-9_-]*$/, what: "base64url value" });
const reason = str({ max: 500 });
/** A sender's random message id (16 bytes). */
const messageId = b64url(22, 22);
/** An address a peer may be reached at: host and P2P port. */
const endpoint = obj({ host, port: int(1, 65535) });
/** A peer's endpoints, in the order to try them. */
const endpoints = arr(endpoint, MAX_CANDIDATES + 1);
const ticket = str({ min: 1, max: MAX_TICKET_CHARS });
const nonce = str({
  min: 16,
  max: 64,
  pattern: /^[A-Za-z0-9_-]+$/,
  what: "nonce",
});
const purpose = oneOf("chat", "file");
/** A device's name, as its owner gave it or as its host is called. */
const deviceName = str({
  min: 1,
  max: 32,
  pattern: DEVICE_NAME_PATTERN,
  what: "device name (letters, digits, _ . - up to 32)",
});
/** One recipient device's sealed copy of a message. */
const sealedBox = obj({
  device: deviceName,
  box: b64url(1, MAX_SEALED_BOX_CHARS),
});
/** A raw 32-byte public key (Ed25519 or X25519), base64url. */
const rawKey = b64url(43, 43);
/**
 * Session kinds: "peer" is an interactive session with presence; "tool" is a
 * one-shot command (who, search, send) that is never shown online; "receive"
 * is `chat receive`, not shown online but reachable for file offers.
 */
const sessionKind = oneOf("peer", "tool", "receive");
/**
 * Paging of a list request: skip `offset` entries, return at most `limit`
 * (default DEFAULT_PAGE_ITEMS). Replies carry `total` and, when more
 * follow, `next_offset` to ask for the next page with.
 */
const paging = {
  offset: opt(counter),
  limit: opt(int(1, MAX_PAGE_ITEMS)),
};
/**
 * What a paged reply adds to its list: `total` when the request named a page
 * or the list did not fit (so a client that never pages sees the reply it
 * always saw), and `next_offset` when more follow.
 */
const pageInfo = { total: opt(counter), next_offset: opt(counter) };

/** Requests a peer sends to the registry; each also carries a numeric `id`. */
export const REQUESTS = {
  hello: { v: int(0, 65535), client: opt(str({ max: 100 })) },
  signup: { user: userName, password },
  /** A fresh nonce for a device login on this connection (single use). */
  challenge: {},
  /**
   * A login by password (optionally enrolling this machine as `device`
   * with its public keys `device_sign` and `device_dh`) or by device (`device`
   * and `sig`, the device's signature over the challenge: wire/device_login.ts).
   */
  login: {
    user: userName,
    password: opt(password),
    kind: sessionKind,
    p2p_port: opt(port),
    cert: opt(str({ min: 1, max: MAX_CERT_CHARS })),
    key: opt(b64url(43, 43)),
    replace: opt(bool),
    /** The peer's own interface addresses with its P2P port (LAN candidates). */
    candidates: opt(arr(endpoint, MAX_CANDIDATES)),
    device: opt(deviceName),
    device_sign: opt(rawKey),
    device_dh: opt(rawKey),
    sig: opt(b64url(86, 86)),
  },
  /** The user's devices. */
  devices: {},
  /** Removes a device: its sessions end at once and its keys stop working. */
  device_revoke: { name: deviceName },
  /** Ends the live sessions of one device, keeping it. */
  device_logout: { name: deviceName },
  /** Changes the password (the old one is checked). */
  passwd: { old: password, new: password },
  /** Another user's devices and their public keys, as this registry vouches. */
  device_keys: { user: userName },
  logout: {},
  active: {},
  search: { user: userName },
  who: { detailed: opt(bool), ...paging },
  status: { text: opt(statusText) },
  profile: { user: userName },
  friend_request: { user: userName },
  friend_accept: { user: userName },
  friend_decline: { user: userName },
  friend_remove: { user: userName },
  friends: { ...paging },
  requests: { ...paging },
  block: { user: userName },
  unblock: { user: userName },
  blocks: { ...paging },
  introduce: { user: userName, purpose },
  /** Asks the introduced target to dial back (the ticket of the introduction). */
  reverse: { ticket },
  /** Asks for a relay of last resort to the introduced target. */
  relay: { ticket },
  /**
   * A message for an offline user, sealed by the sender's device
   * (`from_device`) to each of the recipient's devices (peer/net/sealed.ts);
   * `mid` is the sender's random id, bound into every box.
   */
  offline_send: {
    to: userName,
    mid: messageId,
    from_device: deviceName,
    boxes: arr(sealedBox, MAX_SEALED_DEVICES),
  },
  offline_fetch: { after: opt(counter), limit: opt(int(1, MAX_PAGE_ITEMS)) },
  /**
   * `ids`: messages this device has; `receipts`: delivery notices seen;
   * `drops`: rooms whose notice of dropped backlog was shown.
   */
  offline_ack: {
    ids: arr(counter, MAX_LIST_ITEMS),
    receipts: opt(arr(counter, MAX_LIST_ITEMS)),
    drops: opt(arr(roomName, MAX_LIST_ITEMS)),
  },
  /** The device keys of members of a room we are in (for its backlog). */
  room_keys: { room: roomName, users: arr(userName, MAX_BACKLOG_MEMBERS) },
  /**
   * A room message left for members who are away: for each, sealed to
   * every device they have now. Members' shares are bounded (oldest go).
   */
  room_store: {
    room: roomName,
    mid: messageId,
    from_device: deviceName,
    members: arr(
      obj({ user: userName, boxes: arr(sealedBox, MAX_SEALED_DEVICES) }),
      MAX_BACKLOG_MEMBERS,
    ),
  },
  room_create: {
    room: roomName,
    password: opt(password),
    capacity: opt(int(1, MAX_ROOM_CAPACITY)),
    description: opt(str({ max: MAX_DESCRIPTION_CHARS })),
  },
  rooms: {
    detailed: opt(bool),
    mine: opt(bool),
    search: opt(str({ max: MAX_SEARCH_CHARS })),
    ...paging,
  },
  room_join: { room: roomName, password: opt(password) },
  room_leave: { room: roomName },
  room_members: { room: roomName, ...paging },
  room_invite: { room: roomName, user: userName },
  invites: { ...paging },
  invite_accept: { room: roomName },
  invite_decline: { room: roomName },
  invite_withdraw: { room: roomName, user: userName },
  room_kick: { room: roomName, user: userName },
  room_unban: { room: roomName, user: userName },
  room_owner: { room: roomName, user: userName },
  room_password: { room: roomName, password: opt(password) },
  ping: {},
} as const satisfies Record<string, Shape>;

const onlineUser = {
  user: userName,
  host: opt(host),
  port: opt(port),
  status: opt(statusText),
};
const member = {
  user: userName,
  online: bool,
  role: oneOf("owner", "member"),
};
const roomInfo = {
  room: roomName,
  description: opt(str({ max: MAX_DESCRIPTION_CHARS })),
  members: opt(int(0, MAX_ROOM_CAPACITY)),
  capacity: opt(int(1, MAX_ROOM_CAPACITY)),
  locked: opt(bool),
  owner: opt(userName),
  joined: opt(bool),
};
const roomState = {
  room: roomName,
  owner: userName,
  members: arr(obj(member), MAX_ROOM_CAPACITY),
  ...pageInfo,
};
const list = <T>(item: Field<T>) => arr(item, MAX_LIST_ITEMS);
/** A user's device as the registry vouches for it (device_keys, room_keys). */
const vouchedDevice = obj({
  name: deviceName,
  sign: rawKey,
  dh: rawKey,
  created_at: isoTime,
});

/** The data of a successful reply, per request type. */
export const REPLIES = {
  hello: {
    v: int(0, 65535),
    server: str({ max: 100 }),
    signing_key: b64url(43, 43),
    udp_port: port,
    heartbeat_interval_ms: int(1, 3_600_000),
    heartbeat_ttl_ms: int(1, 3_600_000),
    /** The relay listener's TCP port on the registry's host; absent: no relay. */
    relay_port: opt(port),
  },
  signup: { user: userName },
  challenge: { nonce: b64url(43, 43) },
  login: {
    user: userName,
    session: str({ min: 32, max: 32, pattern: /^[0-9a-f]{32}$/ }),
    token: b64url(43, 43),
    status: statusText,
    host: host,
    /** The device this session belongs to, if any. */
    device: opt(deviceName),
    /**
     * Where heartbeats of this session go: the registry process holding it
     * (one of a cluster may sit behind a load balancer). Absent, the host
     * dialled and hello's udp_port.
     */
    heartbeat_host: opt(host),
    heartbeat_port: opt(port),
  },
  devices: {
    devices: list(obj({
      name: deviceName,
      created_at: isoTime,
      last_used: nullable(isoTime),
      /** True for the device of the session asking. */
      current: bool,
    })),
  },
  device_revoke: { name: deviceName, sessions: counter },
  device_logout: { name: deviceName, sessions: counter },
  passwd: {},
  device_keys: {
    user: userName,
    devices: list(vouchedDevice),
  },
  logout: {},
  active: {},
  search: {
    user: userName,
    online: bool,
    host: opt(host),
    port: opt(port),
    last_seen: nullable(isoTime),
    status: statusText,
  },
  who: { users: list(obj(onlineUser)), ...pageInfo, total: counter },
  status: { status: statusText },
  profile: {
    user: userName,
    status: statusText,
    online: bool,
    last_seen: nullable(isoTime),
    since: isoTime,
    friend: oneOf("none", "friends", "requested", "requested_you", "you"),
  },
  friend_request: { user: userName, state: oneOf("pending", "friends") },
  friend_accept: { user: userName },
  friend_decline: { user: userName },
  friend_remove: { user: userName },
  friends: {
    friends: list(obj({ user: userName, online: bool, status: statusText })),
    ...pageInfo,
  },
  requests: {
    incoming: list(userName),
    outgoing: list(userName),
    incoming_total: opt(counter),
    outgoing_total: opt(counter),
    next_offset: opt(counter),
  },
  block: { user: userName },
  unblock: { user: userName },
  blocks: { users: list(userName), ...pageInfo },
  introduce: {
    user: userName,
    host,
    port,
    cert: str({ min: 1, max: MAX_CERT_CHARS }),
    ticket,
    /** Where to dial, in order: LAN addresses first when both share a public one. */
    candidates: opt(endpoints),
    /** Whether the registry's connect-back probe reached the target (absent: unknown). */
    reachable: opt(bool),
    /** Whether it reached the dialer: a reversed connection needs that. */
    you_reachable: opt(bool),
    /** Whether this registry relays. */
    relay: opt(bool),
  },
  reverse: {},
  /** `host`: where the relay listens, when not at the registry's host. */
  relay: {
    token: str({ min: 1, max: 2048 }),
    port: int(1, 65535),
    host: opt(host),
  },
  /** `devices`: how many of the recipient's devices it was sealed to. */
  offline_send: {
    to: userName,
    sent_at: isoTime,
    devices: counter,
  },
  offline_fetch: {
    messages: list(obj({
      id: counter,
      from: userName,
      from_device: deviceName,
      mid: messageId,
      /** The box sealed to the asking device; absent when none was. */
      box: opt(b64url(1, MAX_SEALED_BOX_CHARS)),
      sent_at: isoTime,
      /** Set for a room's backlog: the room it was said in. */
      room: opt(roomName),
    })),
    /** Rooms whose backlog for the asker overflowed: how many were dropped. */
    dropped: opt(list(obj({ room: roomName, count: counter }))),
    /** Messages of the asker that a recipient's device has fetched and acknowledged. */
    delivered: opt(list(obj({
      id: counter,
      to: userName,
      /** When it was stored, as offline_send answered. */
      sent_at: isoTime,
      delivered_at: isoTime,
    }))),
    /** Messages waiting in all, this page included (when asked or cut). */
    total: opt(counter),
    /** When more follow this page: the `after` to fetch them with. */
    next_after: opt(counter),
  },
  offline_ack: { deleted: counter },
  room_keys: {
    room: roomName,
    /** Those asked for who are members, with their devices. */
    members: list(obj({
      user: userName,
      devices: list(vouchedDevice),
    })),
  },
  room_store: {
    room: roomName,
    /** Members it was kept for. */
    stored: list(userName),
    /** Members whose devices changed meanwhile: seal again for these. */
    stale: list(userName),
  },
  room_create: { room: roomName },
  rooms: { rooms: list(obj(roomInfo)), ...pageInfo },
  room_join: roomState,
  room_leave: { room: roomName },
  room_members: roomState,
  room_invite: { room: roomName, user: userName },
  invites: {
    invites: list(obj({ room: roomName, from: userName, sent_at: isoTime })),
    ...pageInfo,
  },
  invite_accept: roomState,
  invite_decline: { room: roomName },
  invite_withdraw: { room: roomName, user: userName },
  room_kick: { room: roomName, user: userName },
  room_unban: { room: roomName, user: userName },
  room_owner: { room: roomName, user: userName },
  room_password: { room: roomName, locked: bool },
  ping: {},
} as const satisfies { [K in keyof typeof REQUESTS]: Shape };

/** Error codes a failed reply may carry, so programs need not parse prose. */
export const ERROR_CODES = [
  "invalid",
  "version",
  "auth",
  "taken",
  "not_found",
  "offline",
  "online",
  "unavailable",
  "throttled",
  "forbidden",
  "full",
  "exists",
  "limit",
  "state",
  "internal",
] as const;
/** A machine-readable error class. */
export type ErrorCode = typeof ERROR_CODES[number];

/** Events the registry pushes without being asked. */
export const EVENTS = {
  presence: { user: userName, online: bool },
  friend_request: { from: userName },
  friend_accepted: { user: userName },
  friend_removed: { user: userName },
  room_invite: { room: roomName, from: userName },
  invite_withdrawn: { room: roomName },
  /**
   * At login, when more friend requests or invitations wait than were
   * pushed: ask for the rest with `requests` and `invites`.
   */
  pending: { friend_requests: counter, invites: counter },
  room_joined: { room: roomName, user: userName },
  room_left: {
    room: roomName,
    user: userName,
    reason: oneOf("left", "kicked"),
    /** Who removed them (a kick). */
    by: opt(userName),
  },
  room_owner: { room: roomName, user: userName },
  offline_waiting: { count: counter },
  /** Delivery notices of the user's offline messages wait (offline_fetch). */
  delivered_waiting: { count: counter },
  timeout: { reason: oneOf("heartbeat", "idle") },
  /**
   * Dial `from` back: it cannot reach us, we may reach it. The ticket is
   * ours to present to it; `ref` names the link it waits for.
   */
  reverse: {
    from: userName,
    purpose,
    ref: nonce,
    candidates: endpoints,
    cert: str({ min: 1, max: MAX_CERT_CHARS }),
    ticket,
  },
  /** Meet `from` at the registry's relay with this token (role b). */
  relay: {
    from: userName,
    purpose,
    token: str({ min: 1, max: 2048 }),
    port: int(1, 65535),
    /** Where the relay listens, when not at the registry's host. */
    host: opt(host),
  },
  session_ended: { reason: oneOf("replaced", "shutdown", "revoked") },
  error: { reason },
} as const satisfies Record<string, Shape>;

/** Messages between two peers over an authenticated P2P connection. */
export const P2P = {
  p2p_hello: {
    v: int(0, 65535),
    ticket: str({ min: 1, max: MAX_TICKET_CHARS }),
    sig: b64url(86, 86),
    purpose,
    /** On a reversed connection: the `ref` of the link the listener waits for. */
    reverse: opt(nonce),
    /** The dialer's device and its signature (wire/device_proof.ts). */
    device: opt(deviceName),
    device_sig: opt(b64url(86, 86)),
  },
  p2p_welcome: {
    v: int(0, 65535),
    user: userName,
    /** The listener's device and its signature (wire/device_proof.ts). */
    device: opt(deviceName),
    device_sig: opt(b64url(86, 86)),
  },
  /** The registry's connect-back probe, sent inside TLS pinned to our certificate. */
  p2p_probe: { v: int(0, 65535) },
  p2p_probe_ok: { v: int(0, 65535) },
  chat_request: { text: opt(text), id: opt(counter) },
  chat_accept: {},
  chat_reject: {},
  chat_close: { reason },
  msg: {
    id: counter,
    text,
    room: opt(roomName),
  },
  ack: { id: counter, room: opt(roomName) },
  file_offer: {
    id: transferId,
    name: str({ min: 0, max: MAX_WIRE_FILE_NAME_CHARS }),
    size: nullable(counter),
    room: opt(roomName),
  },
  file_accept: { id: transferId },
  file_reject: { id: transferId, reason: opt(reason) },
  file_cancel: { id: transferId, reason },
  file_end: {
    id: transferId,
    size: counter,
    sha256: hex64,
  },
  file_ok: { id: transferId, sha256: hex64 },
  file_fail: { id: transferId, reason },
  error: { reason },
} as const satisfies Record<string, Shape>;

type Union<T extends Record<string, Shape>, Extra = unknown> = {
  [K in keyof T & string]: { type: K } & Infer<T[K]> & Extra;
}[keyof T & string];

/** Request type names. */
export type RequestType = keyof typeof REQUESTS & string;
/** A request from a peer to the registry. */
export type Request = Union<typeof REQUESTS, { id: number }>;
/** The request of one type. */
export type RequestOf<K extends RequestType> = Extract<Request, { type: K }>;
/** The data of a successful reply to a request of type K. */
export type ReplyData<K extends RequestType> = Infer<(typeof REPLIES)[K]>;
/** A reply as it travels: data is checked against REPLIES by the client. */
export type Reply =
  | { type: "reply"; id: number; ok: true; data: Record<string, unknown> }
  | { type: "reply"; id: number; ok: false; error: string; code: ErrorCode };
/** Event type names pushed by the registry. */
export type EventType = keyof typeof EVENTS & string;
/** An event pushed by the registry. */
export type RegistryEvent = Union<typeof EVENTS>;
/** Anything the registry sends. */
export type ServerMessage = Reply | RegistryEvent;
/** P2P message type names. */
export type P2PType = keyof typeof P2P & string;
/** A message between peers. */
export type P2PMessage = Union<typeof P2P>;
/** The P2P message of one type. */
export type P2POf<K extends P2PType> = Extract<P2PMessage, { type: K }>;
