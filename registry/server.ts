/**
 * The registry's sockets: a TLS listener whose every connection is owned by
 * one async function, a UDP socket for heartbeats, and the presence sweep.
 */
import { dirname, resolve } from "node:path";
import { FramedConn } from "../common/conn.ts";
import { type Logger, silentLogger } from "../common/log.ts";
import {
  decodeRequest,
  errorReply,
  formatRelayEndpoint,
  FramingError,
  fromBase64url,
  HEARTBEAT_BYTES,
  importEd25519Public,
  MemoryBudget,
} from "../wire/mod.ts";
import { type Clock, clockWithNow, systemClock } from "./clock.ts";
import type { RegistryIdentity } from "./identity.ts";
import {
  DEFAULT_SERVICE_CONFIG,
  HEARTBEAT_FLOOD_DATAGRAMS_PER_S,
  RegistryService,
  type ServiceConfig,
  sweepIntervalFor,
} from "./service.ts";
import { SqliteStore } from "./sqlite_store.ts";
import { PostgresStore } from "./postgres_store.ts";
import { ClusterDirectory, IdentityMismatch } from "./cluster.ts";
import type { Directory } from "./directory.ts";
import { SessionTable } from "./sessions.ts";
import type { Store } from "./store.ts";
import type { ScryptParams } from "./passwords.ts";
import { LISTEN_BACKLOG, type RegistryLimits } from "./limits.ts";
import { RelayListener, type RelayVerifier, relayVerifier } from "./relay.ts";
import { kernelUdpDrops } from "./udp_drops.ts";
import { HeartbeatRing } from "./heartbeat_ring.ts";

/** Everything needed to start a registry. */
export interface RegistryOptions {
  host: string;
  port: number;
  udpPort: number;
  /**
   * SQLite file, or ":memory:" (then `stateDir` is required); with `store`
   * given, what to show for it (a postgres:// URL without its password).
   */
  dbPath: string;
  /**
   * The address peers send heartbeats to, named in the login reply (an
   * instance behind a load balancer); absent, they use the one they dialled.
   */
  advertise?: string;
  /** Where the certificate and signing key live; defaults to the db's folder. */
  stateDir?: string;
  identity: RegistryIdentity;
  heartbeatIntervalMs?: number;
  heartbeatTtlMs?: number;
  idleTimeoutMs?: number;
  logger?: Logger;
  /** Time and timers (the sweep, hello deadlines); tests inject a manual one. */
  clock?: Clock;
  /** Time only, with the real timers; ignored when `clock` is given. */
  now?: () => number;
  /** Aborting it closes the registry, as `close()` does. */
  signal?: AbortSignal;
  /** How often the presence sweep runs; 0 disables the timer (tests call sweep). */
  sweepEveryMs?: number;
  /** A connection that has not said hello by then is closed. */
  handshakeTimeoutMs?: number;
  /** Queued bytes after which a client that does not read is dropped. */
  maxQueuedBytes?: number;
  requestRate?: number;
  requestBurst?: number;
  scrypt?: ScryptParams;
  store?: Store;
  /** Quotas and limits; each missing one keeps its default (registry/limits.ts). */
  limits?: Partial<RegistryLimits>;
  /** The relay of last resort (on by default, on a free port); false turns it off. */
  relay?: RelaySettings | false;
  /** The connect-back probe (tests inject one). */
  probe?: (host: string, port: number, cert: string) => Promise<boolean>;
}

/** How the registry relays (F22). */
export interface RelaySettings {
  /** TCP port of the relay listener on the registry's host; 0 picks a free one. */
  port: number;
  /** Relayed links one user may hold at once (default 8). */
  perUser?: number;
  /** Bytes per second per link, both directions together; null: no cap. */
  linkRate?: number | null;
  /** Bytes per second over every relayed link; null: no cap. */
  totalRate?: number | null;
}

/** Relayed links one user may hold at once unless --relay-per-user says otherwise. */
export const DEFAULT_RELAY_PER_USER = 8;

/** A running registry. Close it with `await registry.close()`. */
export class Registry implements AsyncDisposable {
  readonly service: RegistryService;
  readonly store: Store;
  readonly fingerprint: string;
  readonly dbPath: string;
  readonly #listener: Deno.TlsListener;
  /** The relay listener, or null when this registry does not relay. */
  readonly relay: RelayListener | null;
  readonly #udp: UdpWorker;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #opts: RegistryOptions;
  readonly #conns = new Set<Promise<void>>();
  readonly #framed = new Set<FramedConn>();
  readonly #config: ServiceConfig;
  /** Where #batch puts each heartbeat it checks. */
  readonly #beat = new Uint8Array(HEARTBEAT_BYTES);
  /** What all unauthenticated connections' partial frames may hold together. */
  readonly #preAuthBudget: MemoryBudget;
  #closing: Promise<void> | null = null;
  #accepting: Promise<void>;
  /** Datagrams that were not valid heartbeats. */
  badDatagrams = 0;
  /** Bad datagrams in the current second, and when that second began. */
  #badInSecond = 0;
  #secondAt = -Infinity;
  /** Bad datagrams not yet in a log line, and when the last line was. */
  #badUnlogged = 0;
  #badLoggedAt = -Infinity;
  /** Heartbeats dropped for want of room in the ring, not yet logged. */
  #droppedUnlogged = 0;
  #droppedLoggedAt = -Infinity;
  /** The kernel's drops at the heartbeat port at the last line (Linux). */
  #dropsLogged: number | null = null;
  /** A second of the window since the last line was a flood. */
  #floodedUnlogged = false;
  /** Writes the line for bad datagrams that came after the last one. */
  #badLogTimer: number | undefined = undefined;
  readonly #clock: Clock;

  private constructor(
    opts: RegistryOptions,
    listener: Deno.TlsListener,
    udp: UdpWorker,
    store: Store,
    relay: RelayListener | null,
    directory: Directory | undefined,
  ) {
    this.#opts = opts;
    this.#listener = listener;
    this.relay = relay;
    this.#udp = udp;
    this.store = store;
    this.#logger = opts.logger ?? silentLogger;
    const clock = opts.clock ??
      (opts.now ? clockWithNow(opts.now) : systemClock);
    this.#now = () => clock.now();
    this.#clock = clock;
    this.fingerprint = opts.identity.fingerprint;
    this.dbPath =
      opts.dbPath === ":memory:" || /^[a-z][a-z0-9+.-]*:\/\//i.test(opts.dbPath)
        ? opts.dbPath
        : resolve(opts.dbPath);
    const heartbeatTtlMs = opts.heartbeatTtlMs ??
      DEFAULT_SERVICE_CONFIG.heartbeatTtlMs;
    const config: ServiceConfig = {
      ...DEFAULT_SERVICE_CONFIG,
      ...opts.limits,
      udpPort: this.udpPort,
      ...(opts.advertise !== undefined ? { advertise: opts.advertise } : {}),
      heartbeatIntervalMs: opts.heartbeatIntervalMs ??
        DEFAULT_SERVICE_CONFIG.heartbeatIntervalMs,
      heartbeatTtlMs,
      idleTimeoutMs: opts.idleTimeoutMs ?? 0,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ??
        DEFAULT_SERVICE_CONFIG.handshakeTimeoutMs,
      sweepEveryMs: opts.sweepEveryMs ?? sweepIntervalFor(heartbeatTtlMs),
      requestRate: opts.requestRate ?? DEFAULT_SERVICE_CONFIG.requestRate,
      requestBurst: opts.requestBurst ?? DEFAULT_SERVICE_CONFIG.requestBurst,
      scrypt: opts.scrypt,
    };
    this.#config = config;
    this.#preAuthBudget = new MemoryBudget(config.preAuthMemoryBytes);
    this.service = new RegistryService({
      store,
      clock,
      logger: this.#logger,
      signingKey: opts.identity.signingKey,
      signingPublicKey: opts.identity.signingPublicKey,
      fingerprint: opts.identity.fingerprint,
      config,
      ...(opts.probe ? { probe: opts.probe } : {}),
      relay: relay
        ? {
          port: relay.port,
          endpoint: formatRelayEndpoint(
            opts.advertise ?? opts.host,
            relay.port,
          ),
          ...(opts.advertise !== undefined ? { host: opts.advertise } : {}),
          perUser: relay.perUser,
          linksOf: (user) => relay.linksOf(user),
        }
        : null,
      ...(directory ? { directory } : {}),
    });
    if (directory instanceof ClusterDirectory) {
      directory.attach({
        replaced: (id) => this.service.replaced(id),
        offline: (users) => this.service.wentOffline(users),
        cameBack: (back, changed) => this.service.cameBack(back, changed),
        endDevice: (user, name, reason) =>
          this.service.endDevice(user, name, reason),
      });
    }
    udp.onBatch = (data, rejected) => this.#batch(data, rejected);
    udp.onDropped = (n) => this.#droppedBeats(n);
    this.#accepting = this.#acceptLoop();
    if (opts.signal?.aborted) void this.close();
    opts.signal?.addEventListener("abort", () => void this.close(), {
      once: true,
    });
  }

  /** Opens the database, binds both ports and starts serving. */
  static async start(opts: RegistryOptions): Promise<Registry> {
    // Until the registry owns them, what is opened here closes on failure.
    using opened = new DisposableStack();
    const store = opts.store ?? SqliteStore.open(opts.dbPath);
    opened.defer(() => store.close());
    let listener: Deno.TlsListener;
    try {
      listener = Deno.listenTls({
        hostname: opts.host,
        port: opts.port,
        cert: opts.identity.certPem,
        key: opts.identity.keyPem,
        tcpBacklog: LISTEN_BACKLOG,
      });
    } catch (err) {
      throw new Error(
        `cannot listen on ${opts.host}:${opts.port}: ${describe(err)}`,
      );
    }
    opened.use(listener);
    let udp: UdpWorker;
    try {
      udp = await UdpWorker.start(opts.host, opts.udpPort);
    } catch (err) {
      throw new Error(
        `cannot listen on udp ${opts.host}:${opts.udpPort}: ${describe(err)}`,
      );
    }
    opened.defer(() => udp.close());
    let relay: RelayListener | null = null;
    if (opts.relay !== false) {
      const r = opts.relay ?? { port: 0 };
      const logger = opts.logger ?? silentLogger;
      const rate = (n: number | null | undefined) =>
        n ? { bytesPerSecond: n } : null;
      try {
        const registryKey = await importEd25519Public(
          fromBase64url(opts.identity.signingPublicKey)!,
        );
        // The endpoint tokens name is known once the port is bound.
        let verify: RelayVerifier = () =>
          Promise.resolve({
            ok: false,
            code: "shutdown",
            reason: "the relay is starting",
          });
        relay = RelayListener.listen({
          hostname: opts.host,
          port: r.port,
          verify: (hello, now) => verify(hello, now),
          logger,
          clock: opts.clock ??
            (opts.now ? clockWithNow(opts.now) : systemClock),
          perUser: r.perUser ?? DEFAULT_RELAY_PER_USER,
          linkRate: rate(r.linkRate),
          totalRate: rate(r.totalRate),
        });
        verify = relayVerifier({
          registryKey,
          endpoints: [
            formatRelayEndpoint(opts.advertise ?? opts.host, relay.port),
          ],
        });
      } catch (err) {
        throw new Error(
          `cannot listen for relayed links on ${opts.host}:${r.port}: ${
            describe(err)
          } — pick another --relay-port, or --relay off`,
        );
      }
    }
    let directory: Directory | undefined;
    if (store instanceof PostgresStore) {
      const addr = listener.addr as Deno.NetAddr;
      try {
        directory = await ClusterDirectory.start({
          store,
          local: new SessionTable(),
          address: `${opts.advertise ?? addr.hostname}:${addr.port}`,
          leaseMs: opts.heartbeatTtlMs ?? DEFAULT_SERVICE_CONFIG.heartbeatTtlMs,
          identity: opts.identity,
          logger: opts.logger ?? silentLogger,
        });
      } catch (err) {
        if (err instanceof IdentityMismatch) throw err;
        throw new Error(
          `cannot join the cluster on ${store.display}: ${describe(err)}`,
        );
      }
    }
    opened.move();
    return new Registry(opts, listener, udp, store, relay, directory);
  }

  /** The TCP address being served. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr as Deno.NetAddr;
  }

  /** The TCP port being served. */
  get port(): number {
    return this.addr.port;
  }

  /** The UDP heartbeat port. */
  get udpPort(): number {
    return this.#udp.port;
  }

  /** Folder of the database (where identity files live by default). */
  static stateDirFor(dbPath: string): string {
    return dirname(resolve(dbPath));
  }

  async #acceptLoop(): Promise<void> {
    while (true) {
      let conn: Deno.TlsConn;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#closing) return;
        // Out of file descriptors and the like: log, breathe, go on.
        this.#logger.error("accept failed", { error: describe(err) });
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const p = this.#serve(conn);
      this.#conns.add(p);
      p.finally(() => this.#conns.delete(p));
    }
  }

  async #serve(conn: Deno.TlsConn): Promise<void> {
    const address = (conn.remoteAddr as Deno.NetAddr).hostname;
    const cfg = this.#config;
    const fc = new FramedConn(conn, {
      // Requests are small and a pending read holds its buffer: at 10,000
      // connections every KiB here is 10 MB. Larger frames (a login, about
      // 1 KiB with its certificate) take more reads.
      readBufferBytes: 512,
      maxQueuedBytes: this.#opts.maxQueuedBytes ?? 2 * 1024 * 1024,
      // Until a session exists nothing needs more than a login's few KiB,
      // and what all such connections hold is bounded together.
      maxFrameBytes: cfg.preAuthFrameBytes,
      budget: this.#preAuthBudget,
    });
    const refusal = this.service.admit(address);
    if (refusal) {
      fc.send({ type: "error", reason: refusal });
      await fc.closeAfterFlush(1000);
      return;
    }
    this.#framed.add(fc);
    // The service closes the connection if hello does not come in time.
    const state = this.service.connect(fc, address);
    this.service.logFrom(address, "info", "connect", { addr: address });
    // One frame is read ahead of the request being handled, so a client
    // that hangs up while its request waits (a login queued behind a
    // thousand others after a restart) is seen at once and skipped. The
    // payload is decoded before the next frame is asked for: the decoder
    // reuses its buffer.
    const frames = fc.frames();
    let next = frames.next();
    let limitsAuthed = false;
    try {
      while (true) {
        const step = await next;
        if (step.done) break;
        const frame = step.value;
        if (frame.kind !== "control") {
          next = frames.next();
          fc.send({
            type: "error",
            reason: "data frames are not accepted by the registry",
          });
          continue;
        }
        const decoded = decodeRequest(frame.payload);
        next = frames.next();
        if (!decoded.ok) {
          fc.send(
            decoded.id !== undefined
              ? errorReply(decoded.id, "invalid", decoded.reason)
              : { type: "error", reason: decoded.reason },
          );
          continue;
        }
        if (!(await this.service.handle(state, decoded.msg))) {
          await fc.closeAfterFlush(1000);
          break;
        }
        const authed = state.session !== null;
        if (authed !== limitsAuthed) {
          limitsAuthed = authed;
          fc.setFrameLimits(
            authed ? cfg.maxRequestBytes : cfg.preAuthFrameBytes,
            authed ? null : this.#preAuthBudget,
          );
        }
      }
    } catch (err) {
      if (err instanceof FramingError) {
        this.service.logFrom(address, "warn", "drop", {
          reason: err.message,
          addr: address,
          user: state.session?.user,
        });
      } else {
        this.#logger.error("connection failed", {
          error: describe(err),
          addr: address,
        });
      }
    } finally {
      // The read ahead ends with the connection; its outcome is not needed.
      next.catch(() => {});
      if (fc.closeReason === "overflow") {
        this.service.logFrom(address, "warn", "drop", {
          reason: "send queue full",
          addr: address,
          user: state.session?.user,
        });
      }
      fc.close();
      this.#framed.delete(fc);
      const user = state.session?.user;
      await this.service.disconnect(state).catch((err) =>
        this.#logger.error("disconnect failed", { error: describe(err) })
      );
      this.service.logFrom(address, "info", "disconnect", {
        addr: address,
        user,
      });
    }
  }

  /**
   * One batch from the heartbeat worker: `data` holds the datagrams that
   * look like heartbeats as [u16 length][bytes]…, `rejected` counts those
   * the worker refused by size or magic. One clock reading and one count of
   * the bad ones per batch, not per datagram: a flood of forgeries that pass
   * the worker costs the event loop only the layout check and session lookup.
   */
  #batch(data: Uint8Array, rejected: number): void {
    const now = this.#now();
    const beat = this.#beat;
    let bad = rejected;
    for (let at = 0; at + 2 <= data.length;) {
      const len = (data[at]! << 8) | data[at + 1]!;
      // Copied into one buffer rather than viewed: a view per datagram was
      // most of what the registry allocated under P1's load.
      if (len !== HEARTBEAT_BYTES || at + 2 + len > data.length) bad++;
      else {
        for (let i = 0; i < len; i++) beat[i] = data[at + 2 + i]!;
        if (!this.service.heartbeatBytes(beat, now)) bad++;
      }
      at += 2 + len;
    }
    if (bad > 0) this.#bad(bad);
  }

  /**
   * Counts `n` bad datagrams: a flood (HEARTBEAT_FLOOD_DATAGRAMS_PER_S) is
   * told to the service, and the log gets one summary line per
   * BAD_DATAGRAM_LOG_MS at most, never a line per datagram: the first bad
   * datagram's at once, the rest of the window's when it ends, each with
   * what the kernel dropped unread at the port meanwhile (Linux).
   */
  #bad(n: number): void {
    this.badDatagrams += n;
    const now = this.#now();
    if (now - this.#secondAt >= 1000) {
      this.#secondAt = now;
      this.#badInSecond = 0;
    }
    this.#badInSecond += n;
    if (this.#badInSecond >= HEARTBEAT_FLOOD_DATAGRAMS_PER_S) {
      this.service.heartbeatFlood(now);
      this.#floodedUnlogged = true;
    }
    this.#badUnlogged += n;
    if (now - this.#badLoggedAt >= BAD_DATAGRAM_LOG_MS) {
      this.#logBad(now);
    } else if (this.#badLogTimer === undefined && !this.#closing) {
      // The rest of a flood gets its line when the window ends, even if
      // nothing more arrives.
      this.#badLogTimer = this.#clock.setTimeout(() => {
        this.#badLogTimer = undefined;
        if (this.#badUnlogged > 0) this.#logBad(this.#now());
      }, this.#badLoggedAt + BAD_DATAGRAM_LOG_MS - now);
    }
  }

  /**
   * Heartbeats the worker could not hand over (the main thread fell seconds
   * behind): like a flood, silence then means little, so the flood TTL
   * applies; one log line per BAD_DATAGRAM_LOG_MS at most.
   */
  #droppedBeats(n: number): void {
    const now = this.#now();
    this.service.heartbeatFlood(now);
    this.#droppedUnlogged += n;
    if (now - this.#droppedLoggedAt >= BAD_DATAGRAM_LOG_MS) {
      this.#logger.warn("heartbeats dropped: the registry fell behind", {
        count: this.#droppedUnlogged,
      });
      this.#droppedUnlogged = 0;
      this.#droppedLoggedAt = now;
    }
  }

  #logBad(now: number): void {
    // What the kernel dropped unread (heartbeats among them) since the last
    // line; the first line only takes the starting count.
    const drops = kernelUdpDrops(this.udpPort);
    const dropped = drops !== null && this.#dropsLogged !== null
      ? Math.max(0, drops - this.#dropsLogged)
      : undefined;
    this.#dropsLogged = drops;
    this.#logger.warn("bad datagrams at the heartbeat port", {
      count: this.#badUnlogged,
      ...(dropped !== undefined ? { dropped_unread: dropped } : {}),
      flooded: this.#floodedUnlogged,
    });
    this.#badUnlogged = 0;
    this.#floodedUnlogged = false;
    this.#badLoggedAt = now;
  }

  /** Tells peers, stops serving, waits for connections to end, closes the store. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.service[Symbol.dispose]();
    this.#clock.clearTimeout(this.#badLogTimer);
    this.#badLogTimer = undefined;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    await this.#accepting;
    this.service.shutdown();
    await Promise.all([...this.#framed].map((fc) => fc.closeAfterFlush(1000)));
    await Promise.all([...this.#conns]);
    await this.relay?.close();
    await this.#udp.close();
    await this.service.directory.close();
    await this.store.close();
    this.#logger.info("stopped");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** How often the main thread reads the heartbeat ring. */
const HEARTBEAT_DRAIN_MS = 20;

/** At most one log line about bad datagrams in this long. */
export const BAD_DATAGRAM_LOG_MS = 10_000;

/** The heartbeat socket as seen from the main thread: a worker that owns it. */
class UdpWorker {
  readonly #worker: Worker;
  readonly #ring = HeartbeatRing.create();
  #draining: ReturnType<typeof setInterval> | undefined;
  port = 0;
  /** A batch: heartbeat-like datagrams as [u16 length][bytes]…, and a count of the rest. */
  onBatch: (data: Uint8Array, rejected: number) => void = () => {};
  /** Heartbeats the worker had no room for: the main thread fell behind. */
  onDropped: (n: number) => void = () => {};
  #closed: (() => void) | null = null;

  private constructor(worker: Worker) {
    this.#worker = worker;
  }

  /** Starts the worker and binds; rejects with the bind error. */
  static start(host: string, port: number): Promise<UdpWorker> {
    const worker = new Worker(
      new URL("./udp_worker.ts", import.meta.url).href,
      {
        type: "module",
      },
    );
    const w = new UdpWorker(worker);
    return new Promise((resolve, reject) => {
      worker.onerror = (e) => {
        e.preventDefault();
        worker.terminate();
        reject(new Error(e.message));
      };
      worker.onmessage = (e: MessageEvent) => {
        const m = e.data;
        if (m.type === "bound") {
          w.port = m.port;
          w.#draining = setInterval(() => w.#drain(), HEARTBEAT_DRAIN_MS);
          resolve(w);
        } else if (m.type === "error") {
          worker.terminate();
          reject(new Error(m.message));
        } else if (m.type === "closed") {
          w.#closed?.();
        }
      };
      worker.postMessage({ type: "bind", host, port, ring: w.#ring.buffer });
    });
  }

  /** Hands what the ring holds to onBatch (records are read in place). */
  #drain(): void {
    const { rejected, dropped } = this.#ring.drain((records) =>
      this.onBatch(records, 0)
    );
    if (rejected > 0) this.onBatch(new Uint8Array(0), rejected);
    if (dropped > 0) this.onDropped(dropped);
  }

  /** Closes the socket (delivering what it holds) and ends the worker. */
  async close(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      new Promise<void>((resolve) => {
        this.#closed = resolve;
        this.#worker.postMessage({ type: "close" });
      }),
      new Promise((resolve) => timer = setTimeout(resolve, 1000)),
    ]);
    clearTimeout(timer);
    clearInterval(this.#draining);
    this.#drain();
    this.#worker.terminate();
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
