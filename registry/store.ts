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
  /** Set for a room's backlog: the room the message was said in. */
  room?: string;
}

/** A room's backlog of one member overflowed: how many were dropped. */
export interface BacklogDrop {
  room: string;
  dropped: number;
}

/** A recipient's device fetched and acknowledged a sender's offline message. */
export interface ReceiptRecord {
  id: number;
  /** The recipient. */
  to: string;
  /** When the message was stored (what the sender was answered). */
  sentAt: number;
  deliveredAt: number;
}

/** A device of a user (a machine that logs in with its own key pair). */
export interface DeviceRecord {
  user: string;
  /** Unique per user, any case. */
  name: string;
  /** Ed25519 public key that signs its logins, raw base64url. */
  signKey: string;
  /** X25519 public key that messages for it are encrypted to, raw base64url. */
  dhKey: string;
  createdAt: number;
  lastUsed: number | null;
}

/** A device's latest login, for `touchDevices`. */
export interface DeviceUse {
  user: string;
  name: string;
  at: number;
}

/** A page of a list: skip `offset` entries, return at most `limit`. */
export interface Page {
  offset: number;
  limit: number;
}

/** Caps on pending requests (friend requests or invitations). */
export interface PendingLimits {
  /** Pending ones a single user may have sent. */
  perSender: number;
  /** Pending ones a single user may have received. */
  perRecipient: number;
}

/** Caps on undelivered offline messages. */
export interface OfflineLimits {
  perRecipient: number;
  /** From one sender to one recipient. */
  perPair: number;
}

/** Which rooms a listing wants. */
export interface RoomQuery extends Page {
  /** Only rooms this user belongs to. */
  member?: string;
  /** Only rooms whose name contains this text (lower-case, literal). */
  search?: string;
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

  /**
   * Records a device, or replaces the keys of the user's device of that
   * name (a password login from a machine that lost its keys). StoreError
   * "limit" when the user has `maxDevices` other devices already.
   */
  addDevice(
    device: Omit<DeviceRecord, "createdAt" | "lastUsed">,
    now: number,
    maxDevices: number,
  ): Promise<"added" | "replaced">;
  getDevice(user: string, name: string): Promise<DeviceRecord | null>;
  /** The user's devices, oldest first. */
  devicesOf(user: string): Promise<DeviceRecord[]>;
  /**
   * Records when devices last logged in, all in one transaction (the
   * registry collects them and writes them with its presence sweep).
   */
  touchDevices(uses: DeviceUse[]): Promise<void>;
  /** Removes a device; true if there was one. */
  removeDevice(user: string, name: string): Promise<boolean>;

  relation(a: string, b: string): Promise<Relation>;
  /**
   * Records a request from a to b; accepts at once if b had asked a.
   * StoreError "limit" when a new pending request would pass `limits`.
   */
  requestFriend(
    a: string,
    b: string,
    now: number,
    limits: PendingLimits,
  ): Promise<"pending" | "friends">;
  /** b accepts a's pending request; StoreError "state" if there is none. */
  acceptFriend(a: string, b: string, now: number): Promise<void>;
  /** Removes any friendship or request between a and b; true if one existed. */
  removeFriend(a: string, b: string): Promise<boolean>;
  friendsOf(name: string): Promise<string[]>;
  /**
   * Pending requests, oldest first, each list paged with its total: to
   * `name` (incoming, leaving out senders `name` has blocked) and from
   * `name` (outgoing).
   */
  requestsOf(name: string, page: Page): Promise<{
    incoming: string[];
    outgoing: string[];
    incomingTotal: number;
    outgoingTotal: number;
  }>;

  /** a blocks b; also drops any friendship or request between them. */
  block(a: string, b: string, now: number): Promise<void>;
  unblock(a: string, b: string): Promise<boolean>;
  /** True if a has blocked b. */
  hasBlocked(a: string, b: string): Promise<boolean>;
  blockedBy(name: string): Promise<string[]>;
  /** Users who have blocked `name`. */
  blockersOf(name: string): Promise<string[]>;

  /**
   * Creates a room with its owner as first member; StoreError "taken" if the
   * name exists, "limit" if the owner already owns `maxOwned` rooms.
   */
  createRoom(room: RoomRecord, maxOwned: number): Promise<void>;
  getRoom(name: string): Promise<RoomRecord | null>;
  /** Rooms by name, one page of those the query selects, and their total. */
  listRooms(query: RoomQuery): Promise<{
    rooms: (RoomRecord & { members: number })[];
    total: number;
  }>;
  /** How many rooms `user` owns. */
  countRoomsOwned(user: string): Promise<number>;
  /** Adds a member if the room has space; StoreError "full" otherwise. */
  addMember(room: string, user: string, now: number): Promise<void>;
  /**
   * Removes a member; hands ownership to the longest-standing member when the
   * owner leaves and deletes the room when it becomes empty. A hand-over
   * withdraws the pending invitations (`withdrawn`: their invitees).
   */
  removeMember(
    room: string,
    user: string,
  ): Promise<
    {
      removed: boolean;
      newOwner: string | null;
      deleted: boolean;
      withdrawn: string[];
    }
  >;
  members(room: string): Promise<MemberRecord[]>;
  roomsOf(user: string): Promise<string[]>;
  /**
   * Hands the room to `user` and withdraws its pending invitations (the new
   * owner invites again whom they want); returns those invitees.
   */
  setOwner(room: string, user: string): Promise<string[]>;
  /** Sets or (with null) removes the room's password hash. */
  setRoomPassword(room: string, passwordHash: string | null): Promise<void>;

  /** Bans `user` from `room` until unbanned (a kick does this). */
  ban(room: string, user: string, by: string, now: number): Promise<void>;
  /** Lifts a ban; true if there was one. */
  unban(room: string, user: string): Promise<boolean>;
  isBanned(room: string, user: string): Promise<boolean>;

  /**
   * Creates or renews a pending invitation. StoreError "limit" when a new
   * one would pass `limits` (a renewal does not count again).
   */
  invite(
    room: string,
    invitee: string,
    inviter: string,
    now: number,
    limits: PendingLimits,
  ): Promise<void>;
  /**
   * Pending invitations of `user`, oldest first, one page and the total;
   * those from inviters `user` has blocked are left out.
   */
  invitesFor(
    user: string,
    page: Page,
  ): Promise<{ invites: InviteRecord[]; total: number }>;
  getInvite(room: string, invitee: string): Promise<InviteRecord | null>;
  /** Deletes a pending invitation; true if there was one. */
  withdrawInvite(room: string, invitee: string): Promise<boolean>;
  setInviteState(
    room: string,
    invitee: string,
    state: "accepted" | "declined",
  ): Promise<void>;

  /**
   * Stores a message; StoreError "limit" (naming the cap) when the
   * recipient's box or the sender's share of it is full. With `discard` the
   * caps are checked the same way but nothing is stored (id 0): a blocked
   * sender is answered as if the message were kept.
   */
  storeOffline(
    from: string,
    to: string,
    text: string,
    now: number,
    limits: OfflineLimits,
    discard?: boolean,
  ): Promise<OfflineRecord>;
  /**
   * Stores one room message for each of `rows`' members (already checked:
   * members, sealed to their devices); past `perMember` rows of that room
   * for a member, the oldest go and are counted for backlogDrops.
   */
  storeBacklog(
    from: string,
    room: string,
    rows: { to: string; text: string }[],
    now: number,
    perMember: number,
  ): Promise<void>;
  /** `to`'s rooms whose backlog dropped messages, with how many. */
  backlogDrops(to: string): Promise<BacklogDrop[]>;
  /** Forgets the drop counts of `rooms` (their notice was shown). */
  clearBacklogDrops(to: string, rooms: string[]): Promise<void>;
  /**
   * Messages of `to` (offline messages and rooms' backlog) with an id above
   * `after` (default 0), oldest first.
   */
  offlineFor(
    to: string,
    limit: number,
    after?: number,
  ): Promise<OfflineRecord[]>;
  countOffline(to: string): Promise<number>;
  /**
   * Deletes the given messages of `to`; returns how many went. Where the
   * engine can, their text is gone from the storage too (SQLite overwrites
   * it); PostgreSQL cannot (docs/security.md, Limits).
   */
  deleteOffline(to: string, ids: number[]): Promise<number>;
  /**
   * Deletes `to`'s messages `ids` as deleteOffline does and, in the same
   * transaction, keeps a delivery notice for each one's sender; returns the
   * senders told (one entry per message deleted).
   */
  deliverOffline(to: string, ids: number[], now: number): Promise<string[]>;
  /** `sender`'s delivery notices, oldest first. */
  receiptsFor(sender: string, limit: number): Promise<ReceiptRecord[]>;
  countReceipts(sender: string): Promise<number>;
  /** Deletes `sender`'s notices `ids`; returns how many were deleted. */
  deleteReceipts(sender: string, ids: number[]): Promise<number>;

  /**
   * Releases the database. The SQLite store closes at once; the PostgreSQL
   * store ends its connection pool, so await the result before exiting.
   */
  close(): void | Promise<void>;
}
