/**
 * The client side of the registry protocol: a pinned TLS connection, the
 * hello exchange, request/reply by id, and pushed events.
 */
import { type Clock, SYSTEM_CLOCK } from "../../common/clock.ts";
import { type ByteConn, FramedConn } from "../../common/conn.ts";
import {
  decodeReplyData,
  decodeServerMessage,
  type ErrorCode,
  type Infer,
  PROTOCOL_VERSION,
  type RegistryEvent,
  type REPLIES,
  type ReplyData,
  type RequestOf,
  type RequestType,
} from "../../wire/mod.ts";
import { connectTlsUnverified } from "./tls_socket.ts";
import {
  decideTrust,
  KNOWN_REGISTRIES,
  knownFingerprint,
  rememberFingerprint,
} from "./trust.ts";
import { join } from "node:path";
import { showFingerprint } from "../../common/fingerprint.ts";

/** A failed request, with the registry's code and one-line reason. */
export class RegistryError extends Error {
  override name = "RegistryError";
  /**
   * True when the registry's machine answered that nothing listens (refused),
   * the network could not reach it, or the TCP connect got no answer in time
   * (a machine that is down, or an accept queue that is full): the attempt
   * cost the registry nothing.
   */
  readonly unreachable: boolean;
  constructor(
    readonly code: ErrorCode | "network" | "trust",
    message: string,
    opts: { unreachable?: boolean } = {},
  ) {
    super(message);
    this.unreachable = opts.unreachable ?? false;
  }
}

/** Asks the user whether to trust a new registry; null when nobody can be asked. */
export type TrustPrompt = (
  target: string,
  fingerprint: string,
) => Promise<boolean>;

/** How to reach and trust the registry. */
export interface RegistryTarget {
  host: string;
  port: number;
  /**
   * The other instances of a registry cluster, tried in turn when one
   * cannot be reached (RegistrySession). They present the same certificate,
   * so one of them trusted is trusted for all.
   */
  alternates?: { host: string; port: number }[];
  /**
   * The address to dial when it differs from `host` (one of the several
   * addresses `host` resolves to); trust stays keyed by `host`.
   */
  dialHost?: string;
  /** CHAT_HOME, where known_registries lives. */
  home: string;
  /** An explicit fingerprint pin (hex). */
  pin?: string;
  /** Asks on a terminal; absent when not on one. */
  ask?: TrustPrompt;
  /** TCP connect, and each request's reply (default 15 s). */
  timeoutMs?: number;
  /**
   * TLS and hello once the registry has accepted the connection (default
   * `timeoutMs`): a registry that accepted is up, if busy.
   */
  handshakeTimeoutMs?: number;
}

/** Whether another address of the target's cluster is on file with `fingerprint`. */
async function knownToSibling(
  target: RegistryTarget,
  fingerprint: string,
): Promise<boolean> {
  const all = [
    { host: target.host, port: target.port },
    ...(target.alternates ?? []),
  ];
  for (const a of all) {
    if (a.host === target.host && a.port === target.port) continue;
    if (
      await knownFingerprint(target.home, `${a.host}:${a.port}`) === fingerprint
    ) {
      return true;
    }
  }
  return false;
}

/** What the registry said in its hello reply. */
export type HelloInfo = Infer<typeof REPLIES.hello>;

/** Request fields without the envelope. */
export type RequestFields<K extends RequestType> = Omit<
  RequestOf<K>,
  "type" | "id"
>;

/** How a client over an already connected, already trusted stream behaves. */
export interface ClientOptions {
  /**
   * How long a request waits for its reply; 0 sets no timer per request
   * (a load generator holding thousands calls `expire` instead).
   */
  timeoutMs?: number;
  /** How long hello waits for its reply (default `timeoutMs`). */
  helloTimeoutMs?: number;
  /** Bytes each read takes; small for clients held by the thousand. */
  readBufferBytes?: number;
  /** What hello says the client is. */
  client?: string;
  /** Timers of the request timeouts. */
  clock?: Clock;
}

interface Pending {
  type: RequestType;
  at: number;
  resolve: (d: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

/**
 * A connection to the registry: the one client of the registry protocol,
 * used by the peer, the one-shot commands, the benchmarks' load generators
 * and the tests.
 */
export class RegistryClient implements AsyncDisposable {
  /** SHA-256 hex of the registry's certificate. */
  readonly fingerprint: string;
  #hello: HelloInfo | null = null;
  readonly #conn: FramedConn;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #onEvent: ((ev: RegistryEvent) => void) | null = null;
  #early: RegistryEvent[] = [];
  /**
   * The reason of an `error` the registry sent since the last reply: when it
   * then hangs up (too many connections from this address, …), pending
   * requests fail with it rather than with a bare "lost the connection".
   */
  #lastError: string | null = null;
  readonly #closed: Promise<void>;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  #closing = false;

  private constructor(
    conn: FramedConn,
    fingerprint: string,
    timeoutMs: number,
    clock: Clock,
  ) {
    this.#conn = conn;
    this.fingerprint = fingerprint;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
    this.#closed = this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    try {
      for await (const frame of this.#conn.frames()) {
        if (frame.kind !== "control") continue;
        const d = decodeServerMessage(frame.payload);
        if (!d.ok) continue;
        if (d.msg.type === "reply") {
          this.#lastError = null;
          this.#settle(d.msg);
        } else {
          if (d.msg.type === "error") this.#lastError = d.msg.reason;
          this.#deliver(d.msg);
        }
      }
    } catch {
      // A framing error from the registry: treated as a lost connection.
    } finally {
      this.#conn.close();
      this.#failAll();
    }
  }

  #deliver(ev: RegistryEvent): void {
    if (this.#onEvent) this.#onEvent(ev);
    else this.#early.push(ev);
  }

  /** Connects, checks the certificate against the pin, and says hello. */
  static async connect(target: RegistryTarget): Promise<RegistryClient> {
    const timeoutMs = target.timeoutMs ?? 15_000;
    const handshakeMs = target.handshakeTimeoutMs ?? timeoutMs;
    const name = `${target.host}:${target.port}`;
    let checked;
    try {
      checked = await connectTlsUnverified(
        target.dialHost ?? target.host,
        target.port,
        timeoutMs,
        handshakeMs,
      );
    } catch (err) {
      throw new RegistryError(
        "network",
        `cannot reach the registry at ${name}: ${describeNetError(err)}`,
        { unreachable: isUnreachable(err) },
      );
    }
    const { conn: raw, cert } = checked;
    const knownFile = join(target.home, KNOWN_REGISTRIES);
    const verdict = decideTrust(
      name,
      cert,
      target.pin,
      target.pin ? undefined : await knownFingerprint(target.home, name),
      knownFile,
    );
    if (verdict.kind === "refuse") {
      raw.close();
      throw new RegistryError("trust", verdict.message);
    }
    if (
      verdict.kind === "ask" &&
      await knownToSibling(target, cert.fingerprint)
    ) {
      // Another instance of the same cluster was trusted with this very
      // certificate: the user pinned it once for all of them.
      await rememberFingerprint(target.home, name, cert.fingerprint);
    } else if (verdict.kind === "ask") {
      const ok = target.ask ? await target.ask(name, cert.fingerprint) : false;
      if (!ok) {
        raw.close();
        throw new RegistryError(
          "trust",
          target.ask
            ? `registry ${name} was not trusted; nothing was sent`
            : `registry ${name} is not known yet and there is no terminal to ask — check its ` +
              `fingerprint ${
                showFingerprint(cert.fingerprint)
              } against the one the registry ` +
              `printed, then pass --registry-fingerprint or set CHAT_REGISTRY_FINGERPRINT`,
        );
      }
      await rememberFingerprint(target.home, name, cert.fingerprint);
    }
    return await RegistryClient.over(raw, {
      fingerprint: cert.fingerprint,
      timeoutMs,
      helloTimeoutMs: handshakeMs,
      readBufferBytes: 64 * 1024,
    });
  }

  /**
   * Speaks the protocol over a stream that is connected and trusted
   * already (its certificate checked by the caller): says hello and
   * resolves once the registry answered. Closes `raw` on failure.
   */
  static async over(
    raw: ByteConn,
    o: ClientOptions & { fingerprint: string },
  ): Promise<RegistryClient> {
    const conn = new FramedConn(raw, {
      readBufferBytes: o.readBufferBytes ?? 16 * 1024,
    });
    const client = new RegistryClient(
      conn,
      o.fingerprint,
      o.timeoutMs ?? 15_000,
      o.clock ?? SYSTEM_CLOCK,
    );
    try {
      client.#hello = await client.request("hello", {
        v: PROTOCOL_VERSION,
        client: o.client ?? "chat",
      }, o.helloTimeoutMs ?? o.timeoutMs ?? 15_000);
    } catch (err) {
      conn.close();
      throw err;
    }
    return client;
  }

  /** What the registry said in reply to hello. */
  get hello(): HelloInfo {
    return this.#hello!;
  }

  /** Sets the handler of pushed events. */
  onEvent(fn: (ev: RegistryEvent) => void): void {
    this.#onEvent = fn;
    for (const ev of this.#early.splice(0)) fn(ev);
  }

  /** Resolves when the connection is gone, whoever closed it. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** True once the connection is gone. */
  get isClosed(): boolean {
    return this.#conn.closed;
  }

  /** True when the connection is gone and we did not close it. */
  get lost(): boolean {
    return this.#conn.closed && !this.#closing;
  }

  /** Requests waiting for their reply. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Sends a request and waits for its reply data, checked against its shape,
   * for the connection's timeout or `timeoutMs` (0: no timer).
   */
  request<K extends RequestType>(
    type: K,
    fields: RequestFields<K>,
    timeoutMs = this.#timeoutMs,
  ): Promise<ReplyData<K>> {
    if (this.#conn.closed) {
      return Promise.reject(
        new RegistryError("network", "not connected to the registry"),
      );
    }
    const id = this.#nextId++;
    return new Promise<ReplyData<K>>((resolve, reject) => {
      const cancel = timeoutMs > 0
        ? this.#clock.after(timeoutMs, () => {
          this.#pending.delete(id);
          reject(
            new RegistryError("network", "the registry did not answer in time"),
          );
        })
        : () => {};
      this.#pending.set(id, {
        type,
        at: this.#clock.now(),
        resolve: (data) => {
          cancel();
          const checked = decodeReplyData(type, data);
          if (checked.ok) resolve(checked.msg);
          else {
            reject(
              new RegistryError(
                "internal",
                `unexpected reply: ${checked.reason}`,
              ),
            );
          }
        },
        reject: (err) => {
          cancel();
          reject(err);
        },
      });
      if (!this.#conn.send({ type, id, ...fields })) {
        this.#pending.get(id)?.reject(
          new RegistryError("network", "not connected to the registry"),
        );
        this.#pending.delete(id);
      }
    });
  }

  /**
   * Fails the requests sent more than `ms` ago: one sweep for a client
   * whose requests run without a timer each (`timeoutMs: 0`).
   */
  expire(ms: number): void {
    const now = this.#clock.now();
    for (const [id, p] of this.#pending) {
      if (now - p.at <= ms) continue;
      this.#pending.delete(id);
      p.reject(
        new RegistryError("network", "the registry did not answer in time"),
      );
    }
  }

  #settle(
    msg: {
      id: number;
      ok: boolean;
      data?: Record<string, unknown>;
      error?: string;
      code?: ErrorCode;
    },
  ): void {
    const p = this.#pending.get(msg.id);
    if (!p) return;
    this.#pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.data ?? {});
    else {
      p.reject(
        new RegistryError(
          msg.code ?? "internal",
          msg.error ?? "request failed",
        ),
      );
    }
  }

  #failAll(): void {
    const why = this.#lastError === null
      ? "lost the connection to the registry"
      : `the registry closed the connection: ${this.#lastError}`;
    for (const p of this.#pending.values()) {
      p.reject(new RegistryError("network", why));
    }
    this.#pending.clear();
  }

  /** Closes the connection (pending requests fail). */
  close(): void {
    this.#closing = true;
    this.#conn.close();
  }

  /** Closes the connection and waits until it is gone. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#closed;
  }

  /** Sends what is queued and closes. */
  async closeGracefully(): Promise<void> {
    this.#closing = true;
    await this.#conn.closeAfterFlush(1000);
    await this.#closed;
  }
}

/**
 * Connection refused, no route, or a TCP connect without an answer: nothing
 * at the registry's end saw it.
 */
function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (
    code === "ECONNREFUSED" || code === "ENETUNREACH" ||
    code === "EHOSTUNREACH" || code === "ETIMEDOUT"
  ) {
    return true;
  }
  return err instanceof Deno.errors.ConnectionRefused;
}

function describeNetError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/refused/i.test(msg)) {
    return "connection refused (is `chat registry` running there?)";
  }
  if (/ENOTFOUND|not known|resolve/i.test(msg)) return "host not found";
  return msg;
}
