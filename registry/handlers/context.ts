/**
 * What every handler is given: the service's shared state in one small
 * object, and the state of the connection a request came on.
 */
import type { Level, LogFields, Logger } from "../../common/log.ts";
import { addressKey, inPrefixes } from "../address.ts";
import type { RegistryLimits } from "../limits.ts";
import { DEFAULT_REGISTRY_LIMITS } from "../limits.ts";
import type { LogLimiter } from "../../common/log_limit.ts";
import type { ScryptParams, ScryptPool } from "../passwords.ts";
import type { KeyedBuckets, TokenBucket } from "../rate_limit.ts";
import type { Directory } from "../directory.ts";
import type { ClientLink, Session, SessionTable } from "../sessions.ts";
import type { DeviceUse, Store } from "../store.ts";
import type { FailureThrottle } from "../throttle.ts";

/** Settings of the service: its timing and its limits. */
export interface ServiceConfig extends RegistryLimits {
  heartbeatIntervalMs: number;
  heartbeatTtlMs: number;
  /** 0 disables idle logout. */
  idleTimeoutMs: number;
  /** A connection that has not said hello by then is closed. */
  handshakeTimeoutMs: number;
  /** How often the presence sweep runs; 0 disables it (tests call sweep). */
  sweepEveryMs: number;
  udpPort: number;
  /**
   * How long a session may go without a heartbeat while the heartbeat port
   * is flooded (see HEARTBEAT_FLOOD_DATAGRAMS_PER_S): the kernel then drops
   * real heartbeats with the garbage, so silence means little.
   */
  heartbeatFloodTtlMs: number;
  /**
   * How long after its login a session that logged in during a login storm
   * (more than loginStormConnections connections without a session) may
   * take to send its first heartbeat, when that is longer than the TTL:
   * after a restart thousands of logins queue, their replies leave late and
   * reach their peers late, and a session ended for that logs in again —
   * more work for a registry already behind. Its open connection stands for
   * it meanwhile (closing it ends the session at once).
   */
  firstHeartbeatMs: number;
  /** The host the login reply names for heartbeats (--advertise). */
  advertise?: string;
  /** Requests per second a connection may make, and its burst. */
  requestRate: number;
  requestBurst: number;
  scrypt?: ScryptParams;
  serverName: string;
}

/** Defaults for everything but the ports. */
export const DEFAULT_SERVICE_CONFIG: Omit<ServiceConfig, "udpPort"> = {
  ...DEFAULT_REGISTRY_LIMITS,
  heartbeatIntervalMs: 1000,
  heartbeatTtlMs: 3000,
  heartbeatFloodTtlMs: 30_000,
  firstHeartbeatMs: 10_000,
  idleTimeoutMs: 0,
  handshakeTimeoutMs: 10_000,
  sweepEveryMs: sweepIntervalFor(3000),
  requestRate: 50,
  requestBurst: 200,
  serverName: "chat-registry",
};

/**
 * Rejected datagrams in one second from which the heartbeat port counts as
 * flooded; it stays so until a heartbeat TTL passes below that rate.
 */
export const HEARTBEAT_FLOOD_DATAGRAMS_PER_S = 1_000;

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
  /** The sessions connected to this process. */
  readonly sessions: SessionTable;
  /** Who is online anywhere, and how events reach them (registry/directory.ts). */
  readonly directory: Directory;
  /** Failed logins, keyed per (user, address). */
  readonly loginThrottle: FailureThrottle;
  /** Failed logins per address, by rate. */
  readonly addressFailures: KeyedBuckets;
  /** Sign-ups per address, by rate. */
  readonly signups: KeyedBuckets;
  /** Wrong room passwords, keyed per room and user. */
  readonly roomThrottle: FailureThrottle;
  /** The bounded scrypt queue every password derivation waits in. */
  readonly pool: ScryptPool;
  /** Lines per source of the log. */
  readonly logLimiter: LogLimiter;
  /** The registry's Ed25519 key that signs introduction tickets. */
  readonly signingKey: CryptoKey;
  /** Its public half, to open the tickets peers hand back (reverse, relay). */
  readonly verifyKey: Promise<CryptoKey>;
  /** Connect-back probe of a peer's P2P port (registry/probe.ts; injected in tests). */
  readonly probe: (
    host: string,
    port: number,
    cert: string,
  ) => Promise<boolean>;
  /** The relay of last resort, or null when this registry does not relay. */
  readonly relay: RelayDesk | null;
  /** SHA-256 hex of the registry's TLS certificate, which device logins sign. */
  readonly fingerprint: string;
  /** Device logins since the last sweep, by "user device", to record in one batch. */
  readonly deviceUses: Map<string, DeviceUse>;
  readonly stats: ServiceStats;
  /** When the heartbeat port was last seen flooded (-Infinity: never). */
  readonly udpFlood: { lastAt: number };
  /** More connections without a session than loginStormConnections. */
  readonly loginStorm: () => boolean;
}

/** What the handlers need of the relay listener. */
export interface RelayDesk {
  /** The listener's TCP port, on the registry's host. */
  readonly port: number;
  /** The `host:port` relay tokens name (the listener's own). */
  readonly endpoint: string;
  /**
   * The host peers reach this listener at (--advertise), sent with each
   * token; absent: the host they reach the registry at.
   */
  readonly host?: string;
  /** Most relayed links a user may hold at once (--relay-per-user). */
  readonly perUser: number;
  /** Relayed links `user` holds now, waiting or spliced. */
  linksOf(user: string): number;
}

/** Per-connection state the service keeps. */
export interface ClientState {
  link: ClientLink;
  address: string;
  /** The address as limits count it (an IPv6 /64 is one). */
  addressKey: string;
  /** Whether the address is exempt from the per-address limits. */
  trusted: boolean;
  /** Requests being handled now (a login waiting for scrypt, say). */
  busy: number;
  greeted: boolean;
  session: Session | null;
  /** The nonce a device login on this connection must sign, and when it was made. */
  challenge: { nonce: string; at: number } | null;
  bucket: TokenBucket;
  /** Requests refused for rate since the last accepted one. */
  refused: number;
  /**
   * The timer that closes the connection if hello does not come in time, or
   * if it sits without a session and without requests for too long.
   */
  helloDeadline: number | undefined;
  /**
   * When that deadline falls (the service's clock), and when its timer
   * fires: a request moves only the deadline, and a timer that fires early
   * waits for the rest, so a login does not cost a timer per request.
   */
  deadlineAt: number;
  timerAt: number;
  /** When the connection was registered (the service's clock). */
  connectedAt: number;
}

/** A connection with a logged-in session: what most handlers receive. */
export type LoggedIn = ClientState & { session: Session };

/**
 * Logs a line caused by a client at `address` (or another source, such as
 * the scrypt queue), unless that source — an address counts as its key, so
 * an IPv6 /64 is one — has used up its lines for the window; then the line
 * is counted, and the sweep logs how many were suppressed. Trusted
 * addresses are not limited.
 */
export function logFrom(
  ctx: ServiceContext,
  address: string,
  level: Level,
  ev: string,
  fields: LogFields,
): void {
  const trusted = inPrefixes(address, ctx.config.trustedAddresses);
  if (trusted || ctx.logLimiter.admit(addressKey(address), ctx.now())) {
    ctx.logger[level](ev, fields);
  }
}
