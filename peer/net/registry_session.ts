/**
 * A logged-in session with the registry that survives registry outages (F18).
 *
 * It owns the RegistryClient and the heartbeat. When the connection drops it
 * reports "lost", retries with capped exponential backoff and jitter, logs in
 * again with the same credentials and endpoint, and reports "restored". A
 * heartbeat timeout (a laptop that slept, a lossy network, a flood at the
 * registry's heartbeat port) is reported as "timeout" with `again` and
 * followed by the same re-login; an idle timeout, a replacement by another
 * login or a revoked device ends it for good.
 */
import {
  base64url,
  deviceLoginPayload,
  fromBase64url,
  importEd25519Public,
  type RegistryEvent,
  type ReplyData,
  type RequestType,
} from "../../wire/mod.ts";
import { type Clock, SYSTEM_CLOCK } from "../../common/clock.ts";
import type { Logger } from "../../common/log.ts";
import { Backoff, type BackoffPolicy, DEFAULT_BACKOFF } from "./backoff.ts";
import { fingerprintPem } from "../../common/fingerprint.ts";
import type { Device } from "./device.ts";
import { HeartbeatSender } from "./heartbeat.ts";
import {
  addressKey,
  expandTargets,
  resolveAll,
  type Resolver,
  rotate,
} from "./registry_addresses.ts";
import {
  RegistryClient,
  RegistryError,
  type RegistryTarget,
  type RequestFields,
} from "./registry_client.ts";

/**
 * How long a sign-up or login may wait for its reply once the registry has
 * answered hello. A live registry always answers, but each check costs it a
 * scrypt derivation (about 50 ms, one at a time on two cores): after a
 * restart, thousands of peers logging in again queue for minutes. Giving up
 * after the usual few seconds would only send the request again at the end
 * of the queue and never get in.
 */
export const LOGIN_TIMEOUT_MS = 120_000;

/**
 * A reconnection's TCP connect: no answer this long and the attempt counts
 * as failed (the registry is down, or its accept queue is full).
 */
export const RECONNECT_TIMEOUT_MS = 5_000;

/**
 * A reconnection's TLS handshake and hello once the registry has accepted
 * the connection. After a restart under 10,000 peers they all arrive within
 * a couple of seconds, and the registry finishes their handshakes in about
 * the order they came: a peer that gave up after a few seconds would throw
 * away the work done for it so far, come back later behind everyone else,
 * and a storm where most attempts are abandoned halfway gets almost nobody
 * in (see docs/reliability.md).
 */
export const RECONNECT_HANDSHAKE_TIMEOUT_MS = 60_000;

/**
 * Who logs in, and with what: this machine's device key when the registry
 * knows it, else the password (which then adds `device` when there is one).
 * Once a device is known the session forgets the password: it is removed
 * from this object, and re-logins sign with the device key.
 */
export interface Credentials {
  user: string;
  password?: string;
  device?: Device;
}

/** Changes of the session's health, for the core to turn into events. */
export type SessionStatus =
  | { kind: "lost" }
  | { kind: "restored" }
  /** `again`: the session logs in again by itself (heartbeat timeouts). */
  | { kind: "timeout"; reason: string; again: boolean }
  | { kind: "ended"; reason: string };

/** How to open a session. */
export interface RegistrySessionOptions {
  target: RegistryTarget;
  credentials: Credentials;
  kind: "peer" | "tool" | "receive";
  p2pPort?: number;
  cert?: string;
  /** Ed25519 session public key, base64url. */
  key?: string;
  /** Our own addresses with the P2P port, reported at login (LAN candidates). */
  candidates?: { host: string; port: number }[];
  replace?: boolean;
  /** Create the account first when it does not exist. */
  signup?: boolean;
  /** CHAT_HOME, where a device renewed at login is kept. */
  home?: string;
  backoff?: BackoffPolicy;
  random?: () => number;
  /** Looks up a registry name's addresses (tests inject one). */
  resolve?: Resolver;
  /**
   * Log in again after the connection drops (default). Without, a drop is
   * reported as "lost" and ends the session.
   */
  reconnect?: boolean;
  /** Timers of the backoff, the heartbeat and the logout. */
  clock?: Clock;
  onEvent: (ev: RegistryEvent) => void;
  onStatus: (s: SessionStatus) => void;
  logger: Logger;
}

/** See the module doc. */
export class RegistrySession implements AsyncDisposable {
  readonly #o: RegistrySessionOptions;
  #client: RegistryClient;
  #heartbeat: HeartbeatSender | null = null;
  #login: ReplyData<"login">;
  #registryKey: CryptoKey;
  /** The address of the registry (of a cluster's instance) now in use. */
  #at: RegistryTarget;
  #closing = false;
  #ended = false;
  #reconnecting: Promise<void> | null = null;
  /** Timed out for lack of heartbeats: the drop that follows is not "lost". */
  #timedOut = false;
  #wake: (() => void) | null = null;
  readonly #clock: Clock;
  #over!: () => void;
  /**
   * Resolves once the session is over for good: closed, ended by the
   * registry (timeout, replacement, refused login) and its connection gone,
   * or lost without reconnecting.
   */
  readonly done: Promise<void>;

  private constructor(
    o: RegistrySessionOptions,
    client: RegistryClient,
    login: ReplyData<"login">,
    key: CryptoKey,
    at: RegistryTarget,
  ) {
    this.#o = o;
    this.#at = at;
    this.#client = client;
    this.#login = login;
    this.#registryKey = key;
    this.#clock = o.clock ?? SYSTEM_CLOCK;
    this.done = new Promise((resolve) => this.#over = resolve);
  }

  /**
   * Connects to one of the registry's addresses (picked at random; the next
   * when one cannot be reached), signs up if asked, logs in and starts
   * heartbeats.
   */
  static async open(o: RegistrySessionOptions): Promise<RegistrySession> {
    const all = await expandTargets(o.target, o.resolve ?? resolveAll);
    const random = o.random ?? Math.random;
    const order = rotate(all, Math.floor(random() * all.length));
    let client: RegistryClient | null = null;
    let at = order[0]!;
    for (let i = 0; i < order.length && !client; i++) {
      at = order[i]!;
      try {
        client = await RegistryClient.connect(at);
      } catch (err) {
        const last = i === order.length - 1;
        if (last || !(err instanceof RegistryError) || err.code !== "network") {
          throw err;
        }
        o.logger.info("registry address unreachable, trying the next", {
          address: addressKey(at),
        });
      }
    }
    if (!client) throw new RegistryError("network", "no registry address");
    let created = false;
    try {
      if (o.signup && o.credentials.password !== undefined) {
        try {
          await client.request("signup", {
            user: o.credentials.user,
            password: o.credentials.password,
          }, LOGIN_TIMEOUT_MS);
          created = true;
          o.logger.info("signed up", { user: o.credentials.user });
        } catch (err) {
          if (!(err instanceof RegistryError && err.code === "taken")) {
            throw err;
          }
        }
      }
      const login = await RegistrySession.#loginOn(
        client,
        o,
        o.replace ?? false,
      );
      const key = await importRegistryKey(client.hello.signing_key);
      const s = new RegistrySession(o, client, login, key, at);
      s.created = created;
      s.#attach(client);
      return s;
    } catch (err) {
      client.close();
      throw err;
    }
  }

  static async #loginOn(
    client: RegistryClient,
    o: RegistrySessionOptions,
    replace: boolean,
  ): Promise<ReplyData<"login">> {
    const fields = {
      user: o.credentials.user,
      kind: o.kind,
      ...(o.p2pPort !== undefined ? { p2p_port: o.p2pPort } : {}),
      ...(o.cert ? { cert: o.cert } : {}),
      ...(o.key ? { key: o.key } : {}),
      ...(o.candidates?.length ? { candidates: o.candidates } : {}),
      ...(replace ? { replace: true } : {}),
    };
    const creds = o.credentials;
    try {
      return await RegistrySession.#loginWith(client, o, fields);
    } catch (err) {
      // A device the registry no longer knows (revoked, or a registry with
      // a new database) is added again when the password is at hand.
      if (
        !(err instanceof RegistryError && err.code === "auth") ||
        !creds.device?.enrolled || creds.password === undefined ||
        o.home === undefined
      ) throw err;
      o.logger.warn("device not accepted; adding it again with the password", {
        device: creds.device.name,
      });
      creds.device = await creds.device.renew(o.home);
      return await RegistrySession.#loginWith(client, o, fields);
    }
  }

  /**
   * The one place that decides how a login proves who it is: a device the
   * registry knows signs a fresh challenge of this connection (no password,
   * no scrypt); otherwise the password, adding this machine's device when
   * there is one, whose file is saved once the registry has recorded it.
   * Reconnections and re-logins come through here too.
   */
  static async #loginWith(
    client: RegistryClient,
    o: RegistrySessionOptions,
    fields: Omit<RequestFields<"login">, "password">,
  ): Promise<ReplyData<"login">> {
    const creds = o.credentials;
    const device = creds.device;
    if (device?.enrolled) {
      const r = await client.request(
        "login",
        await deviceLoginFields(client, device, fields),
        LOGIN_TIMEOUT_MS,
      );
      // Held only until the device was known: never kept in memory after.
      delete creds.password;
      return r;
    }
    if (creds.password === undefined) {
      throw new RegistryError(
        "auth",
        `no password for ${fields.user} and this machine is not one of its devices — log in with the password (chat login)`,
      );
    }
    const r = await client.request("login", {
      ...fields,
      password: creds.password,
      ...(device
        ? {
          device: device.name,
          device_sign: device.signPublic,
          device_dh: device.dhPublic,
        }
        : {}),
    }, LOGIN_TIMEOUT_MS);
    if (device && r.device !== undefined) {
      await device.save(client.fingerprint, r.device);
      delete creds.password;
    }
    return r;
  }

  #attach(client: RegistryClient): void {
    this.#client = client;
    client.onEvent((ev) => this.#event(ev));
    this.#heartbeat?.stop();
    this.#heartbeat = new HeartbeatSender(
      this.#login.heartbeat_host ?? this.#at.dialHost ?? this.#at.host,
      this.#login.heartbeat_port ?? client.hello.udp_port,
      this.#login.session,
      this.#login.token,
      client.hello.heartbeat_interval_ms,
      this.#clock,
    );
    client.closed.then(() => this.#onClosed(client));
  }

  #event(ev: RegistryEvent): void {
    if (ev.type === "timeout") {
      this.#heartbeat?.stop();
      const again = ev.reason === "heartbeat" && this.#o.reconnect !== false &&
        !this.#closing;
      if (!again) this.#ended = true;
      this.#o.logger.warn(
        again
          ? "timed out by the registry; logging in again"
          : "timed out by the registry",
        { reason: ev.reason },
      );
      this.#o.onStatus({ kind: "timeout", reason: ev.reason, again });
      if (again) {
        this.#timedOut = true;
        // The registry closes the connection after the event; do not wait.
        this.#client.close();
      }
      return;
    }
    if (ev.type === "session_ended" && ev.reason === "revoked") {
      this.#ended = true;
      this.#heartbeat?.stop();
      this.#o.onStatus({
        kind: "ended",
        reason:
          "this device was revoked — log in with the password to add it again",
      });
      return;
    }
    if (ev.type === "session_ended" && ev.reason === "replaced") {
      this.#ended = true;
      this.#heartbeat?.stop();
      this.#o.onStatus({
        kind: "ended",
        reason: "replaced by a newer login of the same user",
      });
      return;
    }
    if (ev.type === "session_ended") {
      this.#o.logger.info("registry is shutting down");
      return;
    }
    this.#o.onEvent(ev);
  }

  #onClosed(client: RegistryClient): void {
    if (client !== this.#client) return;
    if (this.#closing || this.#ended) {
      this.#over();
      return;
    }
    this.#heartbeat?.stop();
    this.#heartbeat = null;
    if (this.#timedOut) {
      this.#timedOut = false;
    } else {
      this.#o.logger.warn("registry lost");
      this.#o.onStatus({ kind: "lost" });
    }
    if (this.#o.reconnect === false) {
      this.#ended = true;
      this.#over();
      return;
    }
    this.#reconnecting = this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    const policy = this.#o.backoff ?? DEFAULT_BACKOFF;
    const random = this.#o.random ?? Math.random;
    // Refused attempts retry every 2 s at most and do not grow the delay of
    // those that reach the registry (see backoff.ts).
    const backoff = new Backoff(policy);
    for (let attempt = 0; !this.#closing; attempt++) {
      const delay = backoff.next(random());
      await new Promise<void>((resolve) => {
        const cancel = this.#clock.after(delay, resolve);
        this.#wake = () => {
          cancel();
          resolve();
        };
      });
      this.#wake = null;
      if (this.#closing) return;
      let client: RegistryClient | null = null;
      try {
        client = await this.#connectAny();
        const login = await RegistrySession.#loginOn(client, this.#o, true);
        if (this.#closing) {
          client.close();
          return;
        }
        this.#login = login;
        this.#registryKey = await importRegistryKey(client.hello.signing_key);
        this.#reconnecting = null;
        this.#attach(client);
        this.#o.logger.info("registry restored", { attempt });
        this.#o.onStatus({ kind: "restored" });
        return;
      } catch (err) {
        client?.close();
        backoff.failed(err instanceof RegistryError && err.unreachable);
        if (
          err instanceof RegistryError &&
          (err.code === "auth" || err.code === "trust" ||
            err.code === "not_found")
        ) {
          this.#ended = true;
          this.#reconnecting = null;
          this.#o.onStatus({ kind: "ended", reason: err.message });
          this.#over();
          return;
        }
        this.#o.logger.debug("reconnect failed", {
          attempt,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }

  /**
   * Connects to the first of the registry's addresses that answers, the
   * ones after the address in use first (another instance of a cluster
   * when ours died), that one last.
   */
  async #connectAny(): Promise<RegistryClient> {
    const all = await expandTargets(
      this.#o.target,
      this.#o.resolve ?? resolveAll,
    );
    const now = all.findIndex((t) => addressKey(t) === addressKey(this.#at));
    const order = rotate(all, now + 1);
    let failure: unknown = null;
    for (const at of order) {
      if (this.#closing) break;
      try {
        const client = await RegistryClient.connect({
          ...at,
          timeoutMs: RECONNECT_TIMEOUT_MS,
          handshakeTimeoutMs: RECONNECT_HANDSHAKE_TIMEOUT_MS,
        });
        this.#at = at;
        return client;
      } catch (err) {
        if (!(err instanceof RegistryError) || err.code !== "network") {
          throw err;
        }
        failure ??= err;
        // Refused at every address is "unreachable"; any other, not.
        if (!err.unreachable) failure = err;
      }
    }
    throw failure ?? new RegistryError("network", "logged out");
  }

  /** The address of the registry instance in use, HOST:PORT. */
  get address(): string {
    return `${this.#at.host}:${this.#at.port}`;
  }

  /** The logged-in user. */
  get user(): string {
    return this.#login.user;
  }

  /** Whether opening the session created the account (signup asked and done). */
  created = false;

  /** The address the registry sees us at. */
  get observedHost(): string {
    return this.#login.host;
  }

  /** The registry's host as we reach it (its relay listens there too). */
  get registryHost(): string {
    return this.#o.target.host;
  }

  /** The registry's relay port, or null when it does not relay. */
  get relayPort(): number | null {
    return this.#client.hello.relay_port ?? null;
  }

  /** Our status text at login. */
  get status(): string {
    return this.#login.status;
  }

  /** True while logged in over a live connection. */
  get connected(): boolean {
    return !this.#client.isClosed && !this.#ended &&
      this.#reconnecting === null;
  }

  /** True once the session cannot come back (timeout, replaced, closed). */
  get ended(): boolean {
    return this.#ended || this.#closing;
  }

  /** The registry's ticket-signing public key. */
  get registryKey(): CryptoKey {
    return this.#registryKey;
  }

  /** Sends a request over the live connection. */
  async request<K extends RequestType>(
    type: K,
    fields: RequestFields<K>,
  ): Promise<ReplyData<K>> {
    if (this.#ended) {
      throw new RegistryError("network", "logged out by the registry");
    }
    if (this.#reconnecting) {
      throw new RegistryError(
        "network",
        "the registry is unreachable — reconnecting in the background",
      );
    }
    return await this.#client.request(type, fields);
  }

  /** Resolves once a reconnection in progress has finished (for tests). */
  async settled(): Promise<void> {
    await this.#reconnecting;
  }

  /** Logs out (best effort) and closes everything. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#wake?.();
    this.#heartbeat?.stop();
    if (!this.#client.isClosed && !this.#ended) {
      // Best effort: a registry that does not answer within a second is
      // not waited for.
      await this.#client.request("logout", {}, 1000).catch(() => {});
    }
    this.#client.close();
    await this.#client.closed;
    await this.#reconnecting;
    this.#over();
  }

  /** Logs out and closes, as `close`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * The fields of a device login on `client`: asks the registry for a fresh
 * challenge and signs it with the device key together with the registry's
 * certificate fingerprint and the login's own fields (wire/device_login.ts).
 */
export async function deviceLoginFields(
  client: RegistryClient,
  device: Device,
  fields: Omit<RequestFields<"login">, "password">,
): Promise<RequestFields<"login">> {
  // Part of the login: it may queue as long (LOGIN_TIMEOUT_MS).
  const { nonce } = await client.request("challenge", {}, LOGIN_TIMEOUT_MS);
  const sig = await device.sign(deviceLoginPayload({
    registry: client.fingerprint,
    nonce,
    user: fields.user,
    device: device.name,
    kind: fields.kind,
    cert: fields.cert ? fingerprintPem(fields.cert) ?? "" : "",
    key: fields.key ?? "",
  }));
  return { ...fields, device: device.name, sig: base64url(sig) };
}

async function importRegistryKey(b64: string): Promise<CryptoKey> {
  const raw = fromBase64url(b64);
  if (!raw || raw.length !== 32) {
    throw new RegistryError(
      "internal",
      "the registry sent a malformed signing key",
    );
  }
  return await importEd25519Public(raw);
}
