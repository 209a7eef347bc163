/**
 * The registry's persistent state, behind one interface.
 *
 * The embedded node:sqlite store and the PostgreSQL store (shared by several
 * registries) implement it; callers never know which one they hold. Methods
 * are use-case sized so each one is a single atomic transaction.
 */

/** Default status text of a new account. */
export const DEFAULT_STATUS = "Hey there! I am using chat";

/** An account as stored. Names are lower-case. */
export interface UserRecord {
  name: string;
  passwordHash: string;
  status: string;
  createdAt: number;
  lastSeen: number | null;
}

/** How two users relate, seen from the first. */
export type Relation = "none" | "friends" | "requested" | "requested_you";

/** A room as stored. */
export interface RoomRecord {
  name: string;
  passwordHash: string | null;
  capacity: number;
  description: string;
  owner: string;
  createdAt: number;
}

/** A room member, in joining order. */
export interface MemberRecord {
  user: string;
  joinedAt: number;
}

/** An invitation to a room. */
export interface InviteRecord {
  room: string;
  invitee: string;
  inviter: string;
  state: "pending" | "accepted" | "declined";
  createdAt: number;
}

/** A stored offline message. */
export interface OfflineRecord {
  id: number;
  from: string;
  to: string;
  text: string;
  sentAt: number;
}

/** A rule the data refused, phrased for the user. */
export class StoreError extends Error {
  override name = "StoreError";
  constructor(
    readonly code: "taken" | "not_found" | "full" | "limit" | "state",
    message: string,
  ) {
    super(message);
  }
}

/** Why a database could not be opened: a bad --db value, an unreachable or
 * refusing server, a schema newer than this program, or a missing permission. */
export class StoreOpenError extends Error {
  override name = "StoreOpenError";
  constructor(
    readonly code: "url" | "connect" | "schema" | "permission",
    message: string,
  ) {
    super(message);
  }
}

/** Everything the registry keeps across restarts. */
export interface Store {
  /** Creates an account; StoreError "taken" if the name exists in any case. */
  createUser(name: string, passwordHash: string, now: number): Promise<void>;
  getUser(name: string): Promise<UserRecord | null>;
  /**
   * `name`'s record and whether it has blocked `viewer`, in one lookup (a
   * search does this for every query).
   */
  getUserSeenBy(
    name: string,
    viewer: string,
  ): Promise<(UserRecord & { blocksViewer: boolean }) | null>;
  setStatus(name: string, status: string): Promise<void>;
  /** Records when users were last online, all in one transaction. */
  setLastSeen(names: string[], at: number): Promise<void>;
  /** Replaces a password hash (used to upgrade hashing parameters). */
  setPasswordHash(name: string, passwordHash: string): Promise<void>;

  relation(a: string, b: string): Promise<Relation>;
  /** Records a request from a to b; accepts at once if b had asked a. */
  requestFriend(
    a: string,
    b: string,
    now: number,
  ): Promise<"pending" | "friends">;
  /** b accepts a's pending request; StoreError "state" if there is none. */
  acceptFriend(a: string, b: string, now: number): Promise<void>;
  /** Removes any friendship or request between a and b; true if one existed. */
  removeFriend(a: string, b: string): Promise<boolean>;
  friendsOf(name: string): Promise<string[]>;
  /** Pending requests: to `name` (incoming) and from `name` (outgoing). */
  requestsOf(name: string): Promise<{ incoming: string[]; outgoing: string[] }>;

  /** a blocks b; also drops any friendship or request between them. */
  block(a: string, b: string, now: number): Promise<void>;
  unblock(a: string, b: string): Promise<boolean>;
  /** True if a has blocked b. */
  hasBlocked(a: string, b: string): Promise<boolean>;
  blockedBy(name: string): Promise<string[]>;
  /** Users who have blocked `name`. */
  blockersOf(name: string): Promise<string[]>;

  createRoom(room: RoomRecord): Promise<void>;
  getRoom(name: string): Promise<RoomRecord | null>;
  /** Rooms by name; only those `member` belongs to when given. */
  listRooms(
    limit: number,
    member?: string,
  ): Promise<(RoomRecord & { members: number })[]>;
  /** Adds a member if the room has space; StoreError "full" otherwise. */
  addMember(room: string, user: string, now: number): Promise<void>;
  /**
   * Removes a member; hands ownership to the longest-standing member when the
   * owner leaves and deletes the room when it becomes empty.
   */
  removeMember(
    room: string,
    user: string,
  ): Promise<{ removed: boolean; newOwner: string | null; deleted: boolean }>;
  members(room: string): Promise<MemberRecord[]>;
  roomsOf(user: string): Promise<string[]>;
  setOwner(room: string, user: string): Promise<void>;

  /** Creates or renews a pending invitation. */
  invite(
    room: string,
    invitee: string,
    inviter: string,
    now: number,
  ): Promise<void>;
  invitesFor(user: string): Promise<InviteRecord[]>;
  getInvite(room: string, invitee: string): Promise<InviteRecord | null>;
  setInviteState(
    room: string,
    invitee: string,
    state: "accepted" | "declined",
  ): Promise<void>;

  /** Stores a message; StoreError "limit" when the recipient's box is full. */
  storeOffline(
    from: string,
    to: string,
    text: string,
    now: number,
    maxPerRecipient: number,
  ): Promise<OfflineRecord>;
  offlineFor(to: string, limit: number): Promise<OfflineRecord[]>;
  countOffline(to: string): Promise<number>;
  /** Deletes the given messages of `to`; returns how many went. */
  deleteOffline(to: string, ids: number[]): Promise<number>;

  /**
   * Releases the database. The SQLite store closes at once; the PostgreSQL
   * store ends its connection pool, so await the result before exiting.
   */
  close(): void | Promise<void>;
}
