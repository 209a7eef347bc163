/**
 * The registry's gate: every decoded request passes the rate bucket, the
 * hello handshake and the login check here, then goes to its handler through
 * the dispatch table (`handlers/mod.ts`); refusals become error replies.
 *
 * No sockets here. The server hands each decoded request to `handle` together
 * with the connection's state; replies and pushed events go out through the
 * connection's ClientLink. Time and timers come from an injected clock.
 */
import {
  errorReply,
  fromBase64url,
  type Heartbeat,
  heartbeatSeq,
  heartbeatSession,
  importEd25519Public,
  looksLikeHeartbeat,
  okReply,
  PROTOCOL_VERSION,
  type Request,
  type RequestOf,
  type RequestType,
} from "../wire/mod.ts";
import type { Level, LogFields, Logger } from "../common/log.ts";
import type { Clock } from "./clock.ts";
import { addressKey, inPrefixes } from "./address.ts";
import { LogLimiter } from "../common/log_limit.ts";
import { AbandonedError, BusyError, ScryptPool } from "./passwords.ts";
import { KeyedBuckets, TokenBucket } from "./rate_limit.ts";
import { type ClientLink, SessionTable } from "./sessions.ts";
import { type Store, StoreError } from "./store.ts";
import { FailureThrottle } from "./throttle.ts";
import { probePeer } from "./probe.ts";
import {
  acceptBeat,
  acceptHeartbeat,
  cameBack,
  type ClientState,
  endDeviceSessions,
  endReplaced,
  endSession,
  event,
  logFrom,
  type LoggedIn,
  Refused,
  type RelayDesk,
  type Route,
  ROUTES,
  type ServiceConfig,
  type ServiceContext,
  type ServiceStats,
  startSweeping,
  sweep,
  wentOffline,
} from "./handlers/mod.ts";
import { type Directory, LocalDirectory } from "./directory.ts";

export {
  type ClientState,
  DEFAULT_SERVICE_CONFIG,
  HEARTBEAT_FLOOD_DATAGRAMS_PER_S,
  type ServiceConfig,
  type ServiceStats,
  sweepIntervalFor,
} from "./handlers/mod.ts";

/** Dependencies injected into the service. */
export interface ServiceDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  signingKey: CryptoKey;
  signingPublicKey: string;
  /** SHA-256 hex of the registry's TLS certificate (device logins sign it). */
  fingerprint: string;
  config: ServiceConfig;
  /** The connect-back probe (default registry/probe.ts; tests inject one). */
  probe?: (host: string, port: number, cert: string) => Promise<boolean>;
  /** The relay listener as handlers see it; absent: this registry does not relay. */
  relay?: RelayDesk | null;
  /**
   * Who is online across the registry; default the session table alone
   * (one process). The directory's `local` table becomes `sessions`.
   */
  directory?: Directory;
}

/**
 * The registry service. See the module doc. Disposing it stops its timers;
 * `shutdown` also tells every client.
 */
export class RegistryService implements Disposable {
  readonly sessions: SessionTable;
  readonly directory: Directory;
  readonly #udpFlood = { lastAt: -Infinity };
  /** Counters for logs and benchmarks. */
  readonly stats: ServiceStats = {
    logins: 0,
    loginFailures: 0,
    requests: 0,
    refusedForRate: 0,
    abandoned: 0,
  };
  readonly #ctx: ServiceContext;
  readonly #clock: Clock;
  readonly #signingPublicKey: string;
  readonly #clients = new Set<ClientState>();
  /** Open connections per address key (trusted addresses are not counted). */
  readonly #perAddress = new Map<string, number>();
  readonly #sweeping: Disposable | null;

  constructor(deps: ServiceDeps) {
    this.#clock = deps.clock;
    this.#signingPublicKey = deps.signingPublicKey;
    this.directory = deps.directory ?? new LocalDirectory(new SessionTable());
    this.sessions = this.directory.local;
    const cfg = deps.config;
    this.#ctx = {
      store: deps.store,
      now: () => deps.clock.now(),
      logger: deps.logger,
      config: cfg,
      sessions: this.sessions,
      directory: this.directory,
      loginThrottle: new FailureThrottle(
        cfg.loginFailuresPerPair,
        cfg.failureWindowMs,
      ),
      addressFailures: new KeyedBuckets(
        cfg.addressFailuresPerMinute,
        cfg.addressFailureBurst,
      ),
      signups: new KeyedBuckets(cfg.signupsPerHour / 60, cfg.signupBurst),
      roomThrottle: new FailureThrottle(
        cfg.roomPasswordFailures,
        cfg.failureWindowMs,
      ),
      pool: new ScryptPool({
        maxQueuedChecks: cfg.maxQueuedChecks,
        maxQueuedHashes: cfg.maxQueuedHashes,
      }),
      logLimiter: new LogLimiter(cfg.logLinesPerSource, cfg.logWindowMs),
      signingKey: deps.signingKey,
      verifyKey: importEd25519Public(fromBase64url(deps.signingPublicKey)!),
      probe: deps.probe ?? probePeer,
      relay: deps.relay ?? null,
      fingerprint: deps.fingerprint,
      deviceUses: new Map(),
      stats: this.stats,
      udpFlood: this.#udpFlood,
      loginStorm: () =>
        this.#clients.size - this.sessions.size > cfg.loginStormConnections,
    };
    const every = deps.config.sweepEveryMs;
    this.#sweeping = every > 0
      ? startSweeping(this.#ctx, deps.clock, every)
      : null;
  }

  /**
   * Whether a new connection from `address` may be served: null if so, else
   * the refusal (its address has maxConnectionsPerAddress open already).
   */
  admit(address: string): string | null {
    const { config } = this.#ctx;
    if (inPrefixes(address, config.trustedAddresses)) return null;
    const key = addressKey(address);
    const open = this.#perAddress.get(key) ?? 0;
    if (open < config.maxConnectionsPerAddress) return null;
    logFrom(this.#ctx, address, "warn", "connection refused", {
      addr: address,
      reason: "connections per address",
      limit: config.maxConnectionsPerAddress,
    });
    return `too many connections from ${key} (${config.maxConnectionsPerAddress}, the limit per address) — close some and retry`;
  }

  /**
   * Registers a new connection; it is closed if hello does not come in time,
   * and when it sits without a session and without requests too long.
   */
  connect(link: ClientLink, address: string): ClientState {
    const { config } = this.#ctx;
    const trusted = inPrefixes(address, config.trustedAddresses);
    const c: ClientState = {
      link,
      address,
      addressKey: addressKey(address),
      trusted,
      busy: 0,
      greeted: false,
      session: null,
      challenge: null,
      bucket: new TokenBucket(
        config.requestRate,
        config.requestBurst,
        this.#clock.now(),
      ),
      refused: 0,
      helloDeadline: undefined,
      deadlineAt: 0,
      timerAt: 0,
      connectedAt: this.#clock.now(),
    };
    if (!trusted) {
      this.#perAddress.set(
        c.addressKey,
        (this.#perAddress.get(c.addressKey) ?? 0) + 1,
      );
    }
    this.#arm(c, config.handshakeTimeoutMs);
    this.#clients.add(c);
    return c;
  }

  /**
   * (Re)arms the deadline of a connection without a session: before hello
   * it waits for hello; after it, for a request. A request still being
   * handled (a login queued for scrypt) holds it open.
   */
  #arm(c: ClientState, ms: number): void {
    const now = this.#clock.now();
    c.deadlineAt = now + ms;
    // A timer due no later than the new deadline stays: when it fires it
    // waits for the rest (#due).
    if (c.helloDeadline !== undefined && c.timerAt <= c.deadlineAt) return;
    this.#clock.clearTimeout(c.helloDeadline);
    this.#startTimer(c, ms, now);
  }

  #startTimer(c: ClientState, ms: number, now: number): void {
    c.timerAt = now + ms;
    c.helloDeadline = this.#clock.setTimeout(() => {
      c.helloDeadline = undefined;
      this.#due(c);
    }, ms);
  }

  /** The deadline timer fired: close the connection if its time has come. */
  #due(c: ClientState): void {
    if (c.session || c.link.closed) return;
    const now = this.#clock.now();
    if (now < c.deadlineAt) {
      this.#startTimer(c, c.deadlineAt - now, now);
      return;
    }
    if (c.busy > 0) {
      this.#arm(c, this.#ctx.config.unauthenticatedIdleMs);
      return;
    }
    // In a storm the wait is the registry's own (see
    // LOGIN_STORM_CONNECTIONS): more time, up to loginStormWaitMs in all.
    const cfg = this.#ctx.config;
    const waited = now - c.connectedAt;
    if (this.#ctx.loginStorm() && waited < cfg.loginStormWaitMs) {
      this.#arm(
        c,
        Math.min(cfg.handshakeTimeoutMs, cfg.loginStormWaitMs - waited),
      );
      return;
    }
    const reason = c.greeted ? "idle before login" : "no hello in time";
    logFrom(this.#ctx, c.address, "warn", "drop", {
      reason,
      addr: c.address,
    });
    c.link.close();
  }

  /** After a request: a connection without a session waits for the next. */
  #rearm(c: ClientState): void {
    if (c.session) {
      this.#clock.clearTimeout(c.helloDeadline);
      c.helloDeadline = undefined;
    } else if (c.greeted) {
      this.#arm(c, this.#ctx.config.unauthenticatedIdleMs);
    }
  }

  /**
   * Logs a line a client at `address` caused, rate-limited per source
   * (logLinesPerSource a window; trusted addresses are not limited).
   */
  logFrom(address: string, level: Level, ev: string, fields: LogFields): void {
    logFrom(this.#ctx, address, level, ev, fields);
  }

  /** Number of open connections. */
  get connections(): number {
    return this.#clients.size;
  }

  /** Ends a connection's session (if any): the user is offline at once. */
  async disconnect(c: ClientState): Promise<void> {
    if (!this.#clients.delete(c)) return;
    if (!c.trusted) {
      const left = (this.#perAddress.get(c.addressKey) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(c.addressKey, left);
      else this.#perAddress.delete(c.addressKey);
    }
    this.#clock.clearTimeout(c.helloDeadline);
    c.helloDeadline = undefined;
    if (c.session) await endSession(this.#ctx, c.session, "closed");
  }

  /**
   * Handles one decoded request and sends its reply. Returns false when the
   * connection should be closed (a flood beyond the rate limit, or a failed
   * protocol handshake).
   */
  async handle(c: ClientState, req: Request): Promise<boolean> {
    const { config, logger } = this.#ctx;
    this.stats.requests++;
    const now = this.#clock.now();
    if (!c.bucket.take(now)) {
      this.stats.refusedForRate++;
      c.refused++;
      c.link.send(errorReply(req.id, "limit", "too many requests — slow down"));
      if (c.refused > config.requestBurst) {
        logFrom(this.#ctx, c.address, "warn", "drop", {
          reason: "request flood",
          user: c.session?.user,
          addr: c.address,
        });
        return false;
      }
      return true;
    }
    c.refused = 0;
    if (req.type === "hello") {
      const ok = this.#hello(c, req);
      this.#rearm(c);
      return ok;
    }
    if (!c.greeted) {
      c.link.send(
        errorReply(
          req.id,
          "version",
          "the first message must be hello with a protocol version",
        ),
      );
      return false;
    }
    // The table is keyed by type, so this route takes this request.
    const route = ROUTES[req.type] as Route<RequestType>;
    c.busy++;
    try {
      if (typeof route === "function") {
        if (!c.session) {
          c.link.send(errorReply(req.id, "auth", "log in first"));
          return true;
        }
        if (req.type !== "ping") c.session.lastAction = now;
        c.link.send(
          okReply(req.id, await route(this.#ctx, c as LoggedIn, req)),
        );
      } else {
        c.link.send(okReply(req.id, await route.handle(this.#ctx, c, req)));
        await route.afterReply?.(this.#ctx, c);
      }
    } catch (err) {
      if (err instanceof Refused || err instanceof StoreError) {
        c.link.send(errorReply(req.id, err.code, err.message));
      } else if (err instanceof BusyError) {
        logFrom(this.#ctx, "scrypt-queue", "warn", "busy", {
          type: req.type,
          addr: c.address,
          queued: err.queued,
        });
        c.link.send(errorReply(req.id, "throttled", err.message));
      } else if (err instanceof AbandonedError) {
        // The client hung up while its password check waited: no reply.
        this.stats.abandoned++;
      } else {
        logger.error("request failed", {
          type: req.type,
          user: c.session?.user,
          error: err instanceof Error ? err.message : String(err),
        });
        c.link.send(
          errorReply(req.id, "internal", "internal error — please retry"),
        );
      }
    } finally {
      c.busy--;
      this.#rearm(c);
    }
    return true;
  }

  #hello(c: ClientState, req: RequestOf<"hello">): boolean {
    if (req.v !== PROTOCOL_VERSION) {
      c.link.send(
        errorReply(
          req.id,
          "version",
          `protocol version ${req.v} is not supported (this registry speaks ${PROTOCOL_VERSION}) — use a matching chat`,
        ),
      );
      return false;
    }
    c.greeted = true;
    const cfg = this.#ctx.config;
    c.link.send(okReply(req.id, {
      v: PROTOCOL_VERSION,
      server: cfg.serverName,
      signing_key: this.#signingPublicKey,
      udp_port: cfg.udpPort,
      heartbeat_interval_ms: cfg.heartbeatIntervalMs,
      heartbeat_ttl_ms: cfg.heartbeatTtlMs,
      ...(this.#ctx.relay ? { relay_port: this.#ctx.relay.port } : {}),
    }));
    return true;
  }

  /**
   * Ends a session of this process that another process of the cluster
   * replaced (the other already holds the user's slot).
   */
  async replaced(sessionId: string): Promise<void> {
    const s = this.sessions.byId(sessionId);
    if (s) await endReplaced(this.#ctx, s);
  }

  /**
   * Users whose sessions ended elsewhere without a word (their registry
   * process died): their last-seen time is stored and their audiences told.
   */
  async wentOffline(users: string[]): Promise<void> {
    await wentOffline(this.#ctx, users);
  }

  /**
   * Sessions of ours registered again after another instance swept them
   * (users `back`), and users elsewhere whose comings and goings our users
   * missed meanwhile (`changed`): see cameBack in handlers/presence.ts.
   */
  async cameBack(back: string[], changed: string[]): Promise<void> {
    await cameBack(this.#ctx, back, changed);
  }

  /**
   * Ends the sessions `user` has here on device `name`, revoked or logged
   * out through another registry process of the cluster.
   */
  async endDevice(
    user: string,
    name: string,
    reason: "revoked" | "logout",
  ): Promise<void> {
    await endDeviceSessions(this.#ctx, user, name, reason);
  }

  /** Accepts a heartbeat datagram if its MAC and counter are right. */
  heartbeat(hb: Heartbeat, now: number): boolean {
    return acceptHeartbeat(this.#ctx, hb, now);
  }

  /**
   * heartbeat for the raw datagram, as the UDP path has it: false unless
   * it is a heartbeat with a right layout, counter and MAC. Allocates only
   * the session id.
   */
  heartbeatBytes(bytes: Uint8Array, now: number): boolean {
    if (!looksLikeHeartbeat(bytes)) return false;
    const seq = heartbeatSeq(bytes);
    return seq >= 0 &&
      acceptBeat(this.#ctx, heartbeatSession(bytes), seq, bytes, now);
  }

  /**
   * Notes that the heartbeat port is flooded at `now`: until a heartbeat TTL
   * passes without a flood, sessions time out only after
   * `heartbeatFloodTtlMs` without a heartbeat.
   */
  heartbeatFlood(now: number): void {
    this.#udpFlood.lastAt = now;
  }

  /** Ends sessions whose heartbeats stopped or that sat idle too long. */
  sweep(now: number): Promise<number> {
    return sweep(this.#ctx, now);
  }

  /** Stops the timers and tells every client the registry is going away. */
  shutdown(): void {
    this[Symbol.dispose]();
    for (const c of this.#clients) {
      c.link.send(event({ type: "session_ended", reason: "shutdown" }));
    }
  }

  /** Stops the sweep and every hello deadline. */
  [Symbol.dispose](): void {
    this.#sweeping?.[Symbol.dispose]();
    for (const c of this.#clients) {
      this.#clock.clearTimeout(c.helloDeadline);
      c.helloDeadline = undefined;
    }
  }
}
