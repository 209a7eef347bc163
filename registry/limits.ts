/**
 * The quotas and limits that keep one client from hurting another, with
 * their defaults. Each is a field of the service's settings (and of
 * `RegistryOptions.limits`); docs/security.md ("Limits") lists the attack
 * each one stops.
 *
 * The ones an operator plausibly tunes have a `chat registry` flag (named
 * on each field). The rest are the named constants below: they guard the
 * registry's own memory and event loop, and their defaults sit far from
 * anything normal use meets.
 */

/** The window of the failure counts (logins per pair, room passwords). */
export const FAILURE_WINDOW_MS = 60_000;
/** Failed logins one address may make at once (a token bucket's burst). */
export const ADDRESS_FAILURE_BURST = 30;
/** Failed logins one address earns back per minute. */
export const ADDRESS_FAILURES_PER_MINUTE = 10;
/** Wrong room passwords per (room, user) within FAILURE_WINDOW_MS. */
export const ROOM_PASSWORD_FAILURES = 5;
/** Sign-ups one address may make at once, before --signups-per-hour paces it. */
export const SIGNUP_BURST = 10;
/** Password checks (logins, room passwords) that may wait for scrypt. */
export const MAX_QUEUED_CHECKS = 2000;
/** New hashes (sign-ups, room passwords set) that may wait for scrypt. */
export const MAX_QUEUED_HASHES = 50;
/** Friend requests and invitations each pushed at login; the rest are paged. */
export const LOGIN_PUSH_ITEMS = 20;
/** Largest frame before a session exists. */
export const PRE_AUTH_FRAME_BYTES = 16 * 1024;
/** Largest frame of a logged-in session (the largest request is about 50 KiB). */
export const MAX_REQUEST_BYTES = 256 * 1024;
/** Bytes all unauthenticated connections together may hold in partial frames. */
export const PRE_AUTH_MEMORY_BYTES = 16 * 1024 * 1024;
/** A connection past hello without a session and without a request this long is closed. */
export const UNAUTHENTICATED_IDLE_MS = 30_000;
/**
 * Connections without a session past which the registry counts itself in a
 * storm (a restart under thousands of peers): then a connection that has
 * not said hello by --handshake-timeout, or not asked for its login within
 * UNAUTHENTICATED_IDLE_MS, is given more time, up to LOGIN_STORM_WAIT_MS
 * after it connected, since the wait is the registry's own (it has not read
 * them yet). Dropping it would throw away the work done for it so far and
 * bring it back later, behind everyone else.
 */
export const LOGIN_STORM_CONNECTIONS = 512;
/** How long a connection may go without a session in a storm, in all. */
export const LOGIN_STORM_WAIT_MS = 60_000;
/** Log lines one source (an address) may cause per LOG_WINDOW_MS. */
export const LOG_LINES_PER_SOURCE = 20;
/** The window of LOG_LINES_PER_SOURCE. */
export const LOG_WINDOW_MS = 60_000;

/** Every per-user and per-address limit of the registry. */
export interface RegistryLimits {
  /**
   * Address prefixes exempt from the limits counted per address
   * (connections, sign-ups, the address's login failures). Loopback by
   * default: a client there runs on the registry's own machine.
   * Flag: --trusted-address.
   */
  trustedAddresses: string[];
  /**
   * Failed logins per (user, address) within the window before that pair
   * waits. Flag: --login-failures.
   */
  loginFailuresPerPair: number;
  /** The window of loginFailuresPerPair and roomPasswordFailures. */
  failureWindowMs: number;
  /** Failed logins an address may make at once (a token bucket's burst)… */
  addressFailureBurst: number;
  /** …and how many more it earns per minute. Successful logins cost nothing. */
  addressFailuresPerMinute: number;
  /** Wrong room passwords per (room, user) within the window. */
  roomPasswordFailures: number;
  /** Sign-ups an address may make at once (a token bucket's burst)… */
  signupBurst: number;
  /** …and how many more it earns per hour. Flag: --signups-per-hour. */
  signupsPerHour: number;
  /** Password checks (logins, room passwords) that may wait for scrypt. */
  maxQueuedChecks: number;
  /** New hashes (sign-ups, room passwords set) that may wait for scrypt. */
  maxQueuedHashes: number;
  /** Undelivered offline messages one recipient may have. Flag: --max-offline. */
  maxOfflinePerRecipient: number;
  /**
   * Undelivered offline messages from one sender to one recipient.
   * Flag: --max-offline-per-sender.
   */
  maxOfflinePerPair: number;
  /**
   * Room messages kept for one member who is away, per room; the oldest
   * go first. Flag: --room-backlog.
   */
  roomBacklog: number;
  /** Rooms one user may own. Flag: --max-rooms-owned. */
  maxRoomsOwned: number;
  /** Pending invitations one user may have sent. Flag: --max-invites-sent. */
  maxInvitesPerSender: number;
  /**
   * Pending invitations one user may have received.
   * Flag: --max-invites-received.
   */
  maxInvitesPerRecipient: number;
  /**
   * Pending friend requests one user may have sent.
   * Flag: --max-friend-requests-sent.
   */
  maxFriendRequestsPerSender: number;
  /**
   * Pending friend requests one user may have received.
   * Flag: --max-friend-requests-received.
   */
  maxFriendRequestsPerRecipient: number;
  /** Friend requests and invitations each pushed at login; the rest are paged. */
  loginPushItems: number;
  /** Devices one user may have (MAX_DEVICES_PER_USER). */
  maxDevicesPerUser: number;
  /**
   * Open connections from one address (an IPv6 /64).
   * Flag: --max-connections-per-address.
   */
  maxConnectionsPerAddress: number;
  /** Largest frame before a session exists. */
  preAuthFrameBytes: number;
  /** Largest frame of a logged-in session. */
  maxRequestBytes: number;
  /** Bytes all unauthenticated connections together may hold in partial frames. */
  preAuthMemoryBytes: number;
  /** A connection past hello without a session and without a request for this long is closed. */
  unauthenticatedIdleMs: number;
  /** Connections without a session past which their deadlines stretch… */
  loginStormConnections: number;
  /** …to at most this long after the connection came. */
  loginStormWaitMs: number;
  /** Log lines one source (an address) may cause per window; the rest are counted. */
  logLinesPerSource: number;
  /** The window of logLinesPerSource. */
  logWindowMs: number;
}

/**
 * Connections the kernel may queue for the registry's TLS listener before it
 * accepts them (Deno's default is 511; Linux caps it at net.core.somaxconn,
 * 4096 by default). After a restart every peer reconnects within a couple of
 * seconds: past the queue the kernel drops their connections, and each waits
 * for a TCP retransmission or its timeout before it tries again. Enough for
 * every peer of a big registry at once, so the kernel's limit decides
 * (README: raise net.core.somaxconn and net.ipv4.tcp_max_syn_backlog).
 */
export const LISTEN_BACKLOG = 16384;

/**
 * Devices one user may have: each machine they log in from is one, and a
 * password holder could otherwise fill the table.
 */
export const MAX_DEVICES_PER_USER = 20;

/**
 * Delivery notices kept for one sender who has not read them: past it the
 * oldest go (a sender who never logs in must not grow the table forever).
 */
export const MAX_RECEIPTS_PER_SENDER = 1000;

/**
 * The defaults, each chosen so normal use never meets it. The flags' defaults
 * in cli/commands.ts are these (a test keeps them equal).
 */
export const DEFAULT_REGISTRY_LIMITS: RegistryLimits = {
  trustedAddresses: ["127.0.0.0/8", "::1/128"],
  loginFailuresPerPair: 5,
  failureWindowMs: FAILURE_WINDOW_MS,
  addressFailureBurst: ADDRESS_FAILURE_BURST,
  addressFailuresPerMinute: ADDRESS_FAILURES_PER_MINUTE,
  roomPasswordFailures: ROOM_PASSWORD_FAILURES,
  signupBurst: SIGNUP_BURST,
  signupsPerHour: 30,
  maxQueuedChecks: MAX_QUEUED_CHECKS,
  maxQueuedHashes: MAX_QUEUED_HASHES,
  maxOfflinePerRecipient: 1000,
  maxOfflinePerPair: 100,
  roomBacklog: 200,
  maxRoomsOwned: 20,
  maxInvitesPerSender: 200,
  maxInvitesPerRecipient: 100,
  maxFriendRequestsPerSender: 100,
  maxFriendRequestsPerRecipient: 100,
  loginPushItems: LOGIN_PUSH_ITEMS,
  maxDevicesPerUser: MAX_DEVICES_PER_USER,
  maxConnectionsPerAddress: 128,
  preAuthFrameBytes: PRE_AUTH_FRAME_BYTES,
  maxRequestBytes: MAX_REQUEST_BYTES,
  preAuthMemoryBytes: PRE_AUTH_MEMORY_BYTES,
  unauthenticatedIdleMs: UNAUTHENTICATED_IDLE_MS,
  loginStormConnections: LOGIN_STORM_CONNECTIONS,
  loginStormWaitMs: LOGIN_STORM_WAIT_MS,
  logLinesPerSource: LOG_LINES_PER_SOURCE,
  logWindowMs: LOG_WINDOW_MS,
};
