/**
 * RegistryService without sockets: a fake connection that records what the
 * service sends (decoded as a client would decode it), a manual clock, a real
 * in-memory SQLite store and cheap scrypt parameters.
 *
 * Requests go through the wire's own decoder and replies through the
 * client's, so a test also proves that what it sent and got is valid on the
 * wire.
 */
import assert from "node:assert/strict";
import { Logger } from "../../../common/log.ts";
import { fingerprintPem } from "../../../common/fingerprint.ts";
import {
  base64url,
  decodeHeartbeat,
  decodeReplyData,
  decodeRequest,
  decodeServerMessage,
  deviceLoginPayload,
  encodeHeartbeat,
  encodeJson,
  type ErrorCode,
  type EventType,
  fromBase64url,
  type Heartbeat,
  PROTOCOL_VERSION,
  type RegistryEvent,
  type ReplyData,
  type RequestOf,
  type RequestType,
  type ServerMessage,
} from "../../../wire/mod.ts";
import {
  type ClientState,
  DEFAULT_SERVICE_CONFIG,
  RegistryService,
  type ServiceConfig,
} from "../../../registry/service.ts";
import type {
  ClientLink,
  Session,
  SessionKind,
} from "../../../registry/sessions.ts";
import { SqliteStore } from "../../../registry/sqlite_store.ts";
import { ManualClock } from "../../helpers/clock.ts";
import { FAST_SCRYPT } from "../../helpers/registry.ts";

/** The manual clock's start: a realistic date, so ISO times read well. */
export const START = Date.parse("2026-01-01T00:00:00.000Z");
/** A password long enough for sign-up. */
export const PASSWORD = "correct horse";
/** The address connections come from unless a test says otherwise. */
export const ADDRESS = "192.0.2.10";
/** A trusted (loopback) address: per-address limits do not count it. */
export const TRUSTED_ADDRESS = "127.0.0.1";
/** The P2P port peer logins announce. */
export const P2P_PORT = 40_123;
/** The certificate fingerprint the fixture's registry has (device logins sign it). */
export const FIXTURE_FINGERPRINT = "ab".repeat(32);

/** A request's fields, without its type and id. */
export type Fields<K extends RequestType> = Omit<RequestOf<K>, "type" | "id">;

/** A failed reply, thrown by `Conn.request`. */
export class ReplyError extends Error {
  override name = "ReplyError";
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

/** A ClientLink that records what it is sent, as a client would decode it. */
export class FakeLink implements ClientLink {
  /** Every message sent, decoded by the client's decoder. */
  readonly received: ServerMessage[] = [];
  /** Messages the client's decoder refused (must stay empty). */
  readonly invalid: string[] = [];
  /** How the service closed the link, if it did. */
  closedBy: "close" | "closeAfterFlush" | null = null;
  /** Set to make the link look hung up (the client went away). */
  hungUp = false;

  get closed(): boolean {
    return this.hungUp || this.closedBy !== null;
  }

  send(msg: object): boolean {
    if (this.closed) return false;
    const d = decodeServerMessage(encodeJson(msg));
    if (d.ok) this.received.push(d.msg);
    else this.invalid.push(`${d.reason}: ${JSON.stringify(msg)}`);
    return true;
  }

  closeAfterFlush(): Promise<void> {
    this.closedBy ??= "closeAfterFlush";
    return Promise.resolve();
  }

  close(): void {
    this.closedBy ??= "close";
  }
}

/** One fake connection to the service. */
export class Conn {
  readonly link: FakeLink = new FakeLink();
  readonly state: ClientState;
  /** The session token of the last login reply (heartbeats are MAC'd with it). */
  token: Uint8Array | null = null;
  #id = 0;
  #taken = 0;

  constructor(readonly service: RegistryService, address: string) {
    this.state = service.connect(this.link, address);
  }

  /** The session's user; throws when not logged in. */
  get user(): string {
    assert.ok(this.state.session, "this connection is not logged in");
    return this.state.session.user;
  }

  /**
   * Sends a request through the wire decoder and the gate; returns whether
   * the connection stays open and the reply, if one came.
   */
  async send<K extends RequestType>(
    type: K,
    fields: Fields<K>,
  ): Promise<{ open: boolean; reply: ServerMessage | undefined }> {
    const id = ++this.#id;
    const decoded = decodeRequest(encodeJson({ ...fields, type, id }));
    if (!decoded.ok) throw new Error(`invalid request: ${decoded.reason}`);
    const open = await this.service.handle(this.state, decoded.msg);
    const reply = this.link.received.find((m) =>
      m.type === "reply" && m.id === id
    );
    return { open, reply };
  }

  /** Sends a request and returns its checked reply data, or throws ReplyError. */
  async request<K extends RequestType>(
    type: K,
    fields: Fields<K>,
  ): Promise<ReplyData<K>> {
    const { reply } = await this.send(type, fields);
    assert.ok(reply?.type === "reply", `no reply to ${type}`);
    if (!reply.ok) throw new ReplyError(reply.code, reply.error);
    const data = decodeReplyData(type, reply.data);
    assert.ok(data.ok, data.ok ? "" : data.reason);
    if (type === "login") {
      this.token = fromBase64url((data.msg as ReplyData<"login">).token);
    }
    return data.msg;
  }

  /** Expects a refusal with `code` whose text matches `text`; returns the text. */
  async refused<K extends RequestType>(
    type: K,
    fields: Fields<K>,
    code: ErrorCode,
    text?: RegExp,
  ): Promise<string> {
    try {
      await this.request(type, fields);
    } catch (err) {
      assert.ok(err instanceof ReplyError, String(err));
      assert.equal(err.code, code, err.message);
      if (text) assert.match(err.message, text);
      return err.message;
    }
    assert.fail(`${type} succeeded; expected a ${code} refusal`);
  }

  /** Says hello with the current protocol version. */
  async hello(): Promise<ReplyData<"hello">> {
    return await this.request("hello", { v: PROTOCOL_VERSION });
  }

  /** Every event pushed so far, optionally of one type. */
  events<T extends EventType>(
    type?: T,
  ): Extract<RegistryEvent, { type: T }>[] {
    return this.link.received.filter((m) =>
      m.type !== "reply" && (type === undefined || m.type === type)
    ) as Extract<RegistryEvent, { type: T }>[];
  }

  /** Messages (replies and events) received since the last call, in order. */
  take(): ServerMessage[] {
    const out = this.link.received.slice(this.#taken);
    this.#taken = this.link.received.length;
    return out;
  }

  /** Ends the connection as the server does when its socket closes. */
  async disconnect(): Promise<void> {
    this.link.hungUp = true;
    await this.service.disconnect(this.state);
  }
}

/** What a peer-kind login carries: a certificate and a session key, per user. */
export function peerKeys(
  user: string,
): { cert: string; key: string; fingerprint: string } {
  // The service only fingerprints the certificate; any DER bytes will do.
  const cert = `-----BEGIN CERTIFICATE-----\n${
    btoa(`certificate of ${user}`)
  }\n-----END CERTIFICATE-----\n`;
  const key = base64url(new TextEncoder().encode(`key of ${user}`.padEnd(32)))
    .slice(0, 43);
  return { cert, key, fingerprint: fingerprintPem(cert)! };
}

/** A heartbeat datagram of `session` with counter `seq`, MAC'd with `token`. */
export function heartbeatOf(
  session: Session,
  seq: number,
  token: Uint8Array,
): Heartbeat {
  const d = decodeHeartbeat(encodeHeartbeat(session.id, seq, token));
  assert.ok(d.ok);
  return d.msg;
}

/** The relay port the fixture's registry announces. */
export const RELAY_PORT = 15_601;

/** Options of a login. */
export interface LoginOptions {
  kind?: SessionKind;
  replace?: boolean;
  address?: string;
  /** LAN candidates the peer reports. */
  candidates?: { host: string; port: number }[];
  /** Log in with the key of the user's device DEVICE (Fixture.addDevices). */
  device?: boolean;
}

/** The device name the offline-message tests give every user. */
export const DEVICE = "desk";
/** A stand-in raw public key: the registry stores keys, it does not use them. */
const STAND_IN_KEY = "A".repeat(43);

/**
 * An offline_send as a peer on device DEVICE makes it for a recipient with
 * one device DEVICE: the "box" is the text in base64url (the registry cannot
 * tell a real box from this one; tests/peer/cmd/sealed_offline_test.ts seals
 * real ones).
 */
export function sealedFields(to: string, text: string): Fields<"offline_send"> {
  return {
    to,
    mid: base64url(crypto.getRandomValues(new Uint8Array(16))),
    from_device: DEVICE,
    boxes: [{ device: DEVICE, box: base64url(new TextEncoder().encode(text)) }],
  };
}

/** The text of a stand-in box of sealedFields. */
export function unsealed(m: { box?: string }): string {
  return new TextDecoder().decode(fromBase64url(m.box ?? "")!);
}

/** A login as `user` with PASSWORD; peer and receive sessions carry their keys. */
export function loginFields(
  user: string,
  opts: Omit<LoginOptions, "address"> = {},
): Fields<"login"> {
  const kind = opts.kind ?? "peer";
  const { cert, key } = peerKeys(user.toLowerCase());
  return {
    user,
    password: PASSWORD,
    kind,
    ...(kind === "tool" ? {} : { p2p_port: P2P_PORT, cert, key }),
    ...(opts.replace ? { replace: true } : {}),
    ...(opts.candidates ? { candidates: opts.candidates } : {}),
  };
}

/** A RegistryService on a manual clock and an in-memory store. */
export class Fixture implements Disposable {
  readonly conns: Conn[] = [];
  /** Signing keys of the devices addDevices made, by user. */
  readonly #devices = new Map<string, CryptoKeyPair>();

  private constructor(
    readonly clock: ManualClock,
    readonly store: SqliteStore,
    readonly service: RegistryService,
    readonly config: ServiceConfig,
    /** The public half of the key that signs tickets. */
    readonly registryKey: CryptoKey,
    /** Every log line, in order. */
    readonly logs: string[],
    /** Addresses whose connect-back probe fails; every other one succeeds. */
    readonly unreachable: Set<string>,
    /** Relayed links per user as the fake relay desk reports them. */
    readonly relayLinks: Map<string, number>,
  ) {}

  /**
   * A service with the default settings but for `config`. It relays
   * (port RELAY_PORT, `relayPerUser` links a user) unless `relay` is false;
   * probes are answered from `unreachable`.
   */
  static async create(
    config: Partial<ServiceConfig> = {},
    opts: { relay?: boolean; relayPerUser?: number } = {},
  ): Promise<Fixture> {
    const clock = new ManualClock(START);
    const logs: string[] = [];
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const raw = new Uint8Array(
      await crypto.subtle.exportKey("raw", pair.publicKey),
    );
    const full: ServiceConfig = {
      ...DEFAULT_SERVICE_CONFIG,
      udpPort: 9,
      scrypt: FAST_SCRYPT,
      ...config,
    };
    const store = SqliteStore.open(":memory:");
    const unreachable = new Set<string>();
    const relayLinks = new Map<string, number>();
    const service = new RegistryService({
      probe: (host) => Promise.resolve(!unreachable.has(host)),
      relay: opts.relay === false ? null : {
        port: RELAY_PORT,
        endpoint: `127.0.0.1:${RELAY_PORT}`,
        perUser: opts.relayPerUser ?? 8,
        linksOf: (user) => relayLinks.get(user) ?? 0,
      },
      store,
      clock,
      logger: new Logger("debug", (line) => logs.push(line), () => clock.now()),
      signingKey: pair.privateKey,
      signingPublicKey: base64url(raw),
      fingerprint: FIXTURE_FINGERPRINT,
      config: full,
    });
    return new Fixture(
      clock,
      store,
      service,
      full,
      pair.publicKey,
      logs,
      unreachable,
      relayLinks,
    );
  }

  /** A new connection that has not said hello. */
  connect(address = ADDRESS): Conn {
    const c = new Conn(this.service, address);
    this.conns.push(c);
    return c;
  }

  /** A new connection past hello. */
  async greeted(address = ADDRESS): Promise<Conn> {
    const c = this.connect(address);
    await c.hello();
    return c;
  }

  /**
   * Signs users up, each with PASSWORD, from loopback (trusted, so the
   * per-address sign-up limit leaves test set-up alone).
   */
  async signup(...users: string[]): Promise<void> {
    const c = await this.greeted(TRUSTED_ADDRESS);
    for (const user of users) {
      await c.request("signup", { user, password: PASSWORD });
    }
    await c.disconnect();
  }

  /** Gives each user the device DEVICE (stand-in keys), as a first login would. */
  async addDevices(...users: string[]): Promise<void> {
    for (const user of users) {
      const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
        "sign",
        "verify",
      ]) as CryptoKeyPair;
      this.#devices.set(user.toLowerCase(), pair);
      const signKey = base64url(
        new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)),
      );
      await this.store.addDevice(
        { user, name: DEVICE, signKey, dhKey: STAND_IN_KEY },
        this.clock.now(),
        20,
      );
    }
  }

  /** A new connection logged in as `user` (a peer unless told otherwise). */
  async login(user: string, opts: LoginOptions = {}): Promise<Conn> {
    const c = await this.greeted(opts.address);
    const pair = this.#devices.get(user.toLowerCase());
    if (opts.device && pair) {
      const { nonce } = await c.request("challenge", {});
      const { password: _, ...base } = loginFields(user, opts);
      const payload = deviceLoginPayload({
        registry: FIXTURE_FINGERPRINT,
        nonce,
        user,
        device: DEVICE,
        kind: base.kind ?? "peer",
        cert: base.cert ? fingerprintPem(base.cert)! : "",
        key: base.key ?? "",
      });
      const sig = base64url(
        new Uint8Array(
          await crypto.subtle.sign("Ed25519", pair.privateKey, payload),
        ),
      );
      await c.request("login", { ...base, device: DEVICE, sig });
      return c;
    }
    await c.request("login", loginFields(user, opts));
    return c;
  }

  /** Makes the users of two logged-in connections friends. */
  async befriend(a: Conn, b: Conn): Promise<void> {
    await a.request("friend_request", { user: b.user });
    await b.request("friend_accept", { user: a.user });
  }

  /**
   * Sends `c`'s heartbeats on the manual clock at the configured interval,
   * as its peer would, until disposed.
   */
  heartbeats(c: Conn): Disposable {
    const session = c.state.session;
    assert.ok(session && c.token, "heartbeats need a session");
    const token = c.token;
    let seq = session.lastSeq;
    // A peer told its session ended stops beating; so does this.
    const id = this.clock.setInterval(() => {
      const hb = heartbeatOf(session, ++seq, token);
      if (!this.service.heartbeat(hb, this.clock.now())) {
        this.clock.clearInterval(id);
      }
    }, this.config.heartbeatIntervalMs);
    return { [Symbol.dispose]: () => this.clock.clearInterval(id) };
  }

  /** Log lines that contain `part`. */
  logsWith(part: string): string[] {
    return this.logs.filter((l) => l.includes(part));
  }

  /** Stops the service's timers and closes the store; every message was valid. */
  [Symbol.dispose](): void {
    this.service[Symbol.dispose]();
    this.store.close();
    for (const c of this.conns) assert.deepEqual(c.link.invalid, []);
  }
}

/** A valid request of every type but hello (the gate's own). */
export const SAMPLE_REQUESTS: {
  [K in Exclude<RequestType, "hello">]: Fields<K>;
} = {
  signup: { user: "sample", password: PASSWORD },
  login: { user: "nobody", password: PASSWORD, kind: "tool" },
  challenge: {},
  devices: {},
  device_revoke: { name: "sample" },
  device_logout: { name: "sample" },
  passwd: { old: PASSWORD, new: PASSWORD },
  device_keys: { user: "bob" },
  logout: {},
  active: {},
  search: { user: "sample" },
  who: {},
  status: {},
  profile: { user: "sample" },
  friend_request: { user: "sample" },
  friend_accept: { user: "sample" },
  friend_decline: { user: "sample" },
  friend_remove: { user: "sample" },
  friends: {},
  requests: {},
  block: { user: "sample" },
  unblock: { user: "sample" },
  blocks: {},
  introduce: { user: "sample", purpose: "chat" },
  reverse: { ticket: "body.signature" },
  relay: { ticket: "body.signature" },
  offline_send: sealedFields("sample", "hi"),
  offline_fetch: {},
  offline_ack: { ids: [1] },
  room_keys: { room: "sample", users: ["sample"] },
  room_store: {
    room: "sample",
    mid: base64url(crypto.getRandomValues(new Uint8Array(16))),
    from_device: DEVICE,
    members: [],
  },
  room_create: { room: "sample" },
  rooms: {},
  room_join: { room: "sample" },
  room_leave: { room: "sample" },
  room_members: { room: "sample" },
  room_invite: { room: "sample", user: "sample" },
  invites: {},
  invite_accept: { room: "sample" },
  invite_decline: { room: "sample" },
  room_kick: { room: "sample", user: "sample" },
  room_owner: { room: "sample", user: "sample" },
  invite_withdraw: { room: "sample", user: "sample" },
  room_unban: { room: "sample", user: "sample" },
  room_password: { room: "sample" },
  ping: {},
};
