/**
 * The quotas and limits that keep one client from hurting another, with
 * their defaults. Each is a field of the service's settings (and of
 * `RegistryOptions.limits`); docs/security.md ("Limits") lists the attack
 * each one stops.
 */

/** Every per-user and per-address limit of the registry. */
export interface RegistryLimits {
  /**
   * Address prefixes exempt from the limits counted per address
   * (connections, sign-ups, the address's login failures). Loopback by
   * default: a client there runs on the registry's own machine.
   */
  trustedAddresses: string[];
  /** Failed logins per (user, address) within the window before that pair waits. */
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
  /** …and how many more it earns per hour. */
  signupsPerHour: number;
  /** Password checks (logins, room passwords) that may wait for scrypt. */
  maxQueuedChecks: number;
  /** New hashes (sign-ups, room passwords set) that may wait for scrypt. */
  maxQueuedHashes: number;
  /** Undelivered offline messages one recipient may have. */
  maxOfflinePerRecipient: number;
  /** Undelivered offline messages from one sender to one recipient. */
  maxOfflinePerPair: number;
  /** Rooms one user may own. */
  maxRoomsOwned: number;
  /** Pending invitations one user may have sent. */
  maxInvitesPerSender: number;
  /** Pending invitations one user may have received. */
  maxInvitesPerRecipient: number;
  /** Pending friend requests one user may have sent. */
  maxFriendRequestsPerSender: number;
  /** Pending friend requests one user may have received. */
  maxFriendRequestsPerRecipient: number;
  /** Friend requests and invitations each pushed at login; the rest are paged. */
  loginPushItems: number;
  /** Open connections from one address (an IPv6 /64). */
  maxConnectionsPerAddress: number;
  /** Largest frame before a session exists. */
  preAuthFrameBytes: number;
  /** Largest frame of a logged-in session (the largest request is about 50 KiB). */
  maxRequestBytes: number;
  /** Bytes all unauthenticated connections together may hold in partial frames. */
  preAuthMemoryBytes: number;
  /** A connection past hello without a session and without a request for this long is closed. */
  unauthenticatedIdleMs: number;
  /** Log lines one source (an address) may cause per window; the rest are counted. */
  logLinesPerSource: number;
  /** The window of logLinesPerSource. */
  logWindowMs: number;
}

/** The defaults, each chosen so normal use never meets it. */
export const DEFAULT_REGISTRY_LIMITS: RegistryLimits = {
  trustedAddresses: ["127.0.0.0/8", "::1/128"],
  loginFailuresPerPair: 5,
  failureWindowMs: 60_000,
  addressFailureBurst: 30,
  addressFailuresPerMinute: 10,
  roomPasswordFailures: 5,
  signupBurst: 10,
  signupsPerHour: 30,
  maxQueuedChecks: 2000,
  maxQueuedHashes: 50,
  maxOfflinePerRecipient: 1000,
  maxOfflinePerPair: 100,
  maxRoomsOwned: 20,
  maxInvitesPerSender: 200,
  maxInvitesPerRecipient: 100,
  maxFriendRequestsPerSender: 100,
  maxFriendRequestsPerRecipient: 100,
  loginPushItems: 20,
  maxConnectionsPerAddress: 128,
  preAuthFrameBytes: 16 * 1024,
  maxRequestBytes: 256 * 1024,
  preAuthMemoryBytes: 16 * 1024 * 1024,
  unauthenticatedIdleMs: 30_000,
  logLinesPerSource: 20,
  logWindowMs: 60_000,
};
