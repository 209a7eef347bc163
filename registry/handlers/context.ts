/**
 * What every handler is given: the service's shared state in one small
 * object, and the state of the connection a request came on.
 */
import type { Logger } from "../../common/log.ts";
import type { ScryptParams } from "../passwords.ts";
import type { TokenBucket } from "../rate_limit.ts";
import type { ClientLink, Session, SessionTable } from "../sessions.ts";
import type { Store } from "../store.ts";
import type { FailureThrottle } from "../throttle.ts";

/** Settings of the service. */
export interface ServiceConfig {
  heartbeatIntervalMs: number;
  heartbeatTtlMs: number;
  /** 0 disables idle logout. */
  idleTimeoutMs: number;
  /** A connection that has not said hello by then is closed. */
  handshakeTimeoutMs: number;
  /** How often the presence sweep runs; 0 disables it (tests call sweep). */
  sweepEveryMs: number;
  udpPort: number;
  /** Requests per second a connection may make, and its burst. */
  requestRate: number;
  requestBurst: number;
  maxOfflinePerRecipient: number;
  scrypt?: ScryptParams;
  serverName: string;
}

/** Defaults for everything but the ports. */
export const DEFAULT_SERVICE_CONFIG: Omit<ServiceConfig, "udpPort"> = {
  heartbeatIntervalMs: 1000,
  heartbeatTtlMs: 3000,
  idleTimeoutMs: 0,
  handshakeTimeoutMs: 10_000,
  sweepEveryMs: sweepIntervalFor(3000),
  requestRate: 50,
  requestBurst: 200,
  maxOfflinePerRecipient: 1000,
  serverName: "chat-registry",
};

/** The sweep interval for a heartbeat TTL: a quarter of it, within 100–500 ms. */
export function sweepIntervalFor(heartbeatTtlMs: number): number {
  return Math.max(100, Math.min(500, Math.floor(heartbeatTtlMs / 4)));
}

/** Counters for logs and benchmarks. */
export interface ServiceStats {
  logins: number;
  loginFailures: number;
  requests: number;
  refusedForRate: number;
  /** Sign-ups and logins skipped because their client had gone. */
  abandoned: number;
}

/** The service's shared state, as handlers see it. */
export interface ServiceContext {
  readonly store: Store;
  /** The injected clock's time; handlers read time only through it. */
  readonly now: () => number;
  readonly logger: Logger;
  readonly config: ServiceConfig;
  readonly sessions: SessionTable;
  /** Failed logins, keyed per user and per address. */
  readonly loginThrottle: FailureThrottle;
  /** Wrong room passwords, keyed per room and user. */
  readonly roomThrottle: FailureThrottle;
  /** The registry's Ed25519 key that signs introduction tickets. */
  readonly signingKey: CryptoKey;
  readonly stats: ServiceStats;
}

/** Per-connection state the service keeps. */
export interface ClientState {
  link: ClientLink;
  address: string;
  greeted: boolean;
  session: Session | null;
  bucket: TokenBucket;
  /** Requests refused for rate since the last accepted one. */
  refused: number;
  /** The timer that closes the connection if hello does not come in time. */
  helloDeadline: number | undefined;
}

/** A connection with a logged-in session: what most handlers receive. */
export type LoggedIn = ClientState & { session: Session };
