/**
 * The embedded store: node:sqlite in one file, WAL journal, foreign keys,
 * BEGIN IMMEDIATE transactions and synchronous=FULL, so every acknowledged
 * write survives a kill -9 (and a power cut). Two kinds of write are only
 * presence, not data, and commit without waiting for the disk
 * (synchronous=NORMAL): last-seen times and devices' last use. They still
 * survive a kill -9 (in WAL mode a commit is in the file at once); only a
 * power cut or an OS crash may set them back by a moment. Each fsync on the
 * registry's one thread costs about a millisecond, so 10,000 peers dropping
 * at once (a network outage, a load balancer restarted) would otherwise
 * stall it for seconds, heartbeats and logins of everyone else included.
 */
import {
  DatabaseSync,
  type SQLInputValue,
  type StatementSync,
} from "node:sqlite";
import { MAX_RECEIPTS_PER_SENDER } from "./limits.ts";
import { MIGRATIONS } from "./migrations.ts";
import { ownerAfterLeave } from "./rooms.ts";
import {
  audienceMap,
  type BacklogDrop,
  DEFAULT_STATUS,
  type DeviceRecord,
  type DeviceUse,
  type InviteRecord,
  type MemberRecord,
  type OfflineLimits,
  type OfflineRecord,
  type Page,
  type PendingLimits,
  type ReceiptRecord,
  type Relation,
  type RoomQuery,
  type RoomRecord,
  type Store,
  StoreError,
  StoreOpenError,
  type UserRecord,
} from "./store.ts";

type Row = Record<string, unknown>;

/** A Store on node:sqlite. Open with `SqliteStore.open(path)`. */
export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Opens (creating if needed) and migrates the database at `path`. */
  static open(path: string): SqliteStore {
    if (path !== ":memory:") {
      // Password hashes live here: create the file owner-only before SQLite does.
      try {
        Deno.openSync(path, { write: true, createNew: true, mode: 0o600 })
          .close();
      } catch (err) {
        if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      }
    }
    const db = new DatabaseSync(path, { enableForeignKeyConstraints: true });
    db.exec("PRAGMA busy_timeout = 5000");
    if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    // Deleted rows are overwritten with zeros, so a delivered offline
    // message does not linger in free pages of the file.
    db.exec("PRAGMA secure_delete = ON");
    db.exec("PRAGMA foreign_keys = ON");
    const store = new SqliteStore(db);
    store.#migrate();
    return store;
  }

  /** The schema version after migration. */
  get schemaVersion(): number {
    return Number(
      (this.#db.prepare("PRAGMA user_version").get() as Row).user_version,
    );
  }

  #migrate(): void {
    const current = this.schemaVersion;
    if (current > MIGRATIONS.length) {
      this.close();
      throw new StoreOpenError(
        "schema",
        `the database is at schema version ${current} but this chat knows only ${MIGRATIONS.length}; run a newer chat`,
      );
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.#tx(() => {
        this.#db.exec(MIGRATIONS[v]!.sqlite);
        this.#db.exec(`PRAGMA user_version = ${v + 1}`);
      });
    }
  }

  #stmt(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#stmt(sql).get(...params) as Row | undefined;
  }

  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#stmt(sql).all(...params) as Row[];
  }

  #run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#stmt(sql).run(...params).changes);
  }

  /**
   * A transaction of presence bookkeeping: committed without an fsync of
   * its own (see the module doc); the next durable commit syncs it too.
   */
  #presenceTx(fn: () => void): void {
    this.#db.exec("PRAGMA synchronous = NORMAL");
    try {
      this.#tx(fn);
    } finally {
      this.#db.exec("PRAGMA synchronous = FULL");
    }
  }

  #tx<T>(fn: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const out = fn();
      this.#db.exec("COMMIT");
      return out;
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
  }

  createUser(name: string, passwordHash: string, now: number): Promise<void> {
    return attempt(() => {
      try {
        this.#run(
          "INSERT INTO users (name, password_hash, status, created_at) VALUES (?, ?, ?, ?)",
          name,
          passwordHash,
          DEFAULT_STATUS,
          now,
        );
      } catch (err) {
        if (isUniqueViolation(err)) {
          throw new StoreError(
            "taken",
            `username '${name.toLowerCase()}' is taken`,
          );
        }
        throw err;
      }
    });
  }

  getUser(name: string): Promise<UserRecord | null> {
    return attempt(() => {
      const r = this.#get(
        "SELECT name, password_hash, status, created_at, last_seen FROM users WHERE name = ?",
        name,
      );
      return r ? toUser(r) : null;
    });
  }

  getUserSeenBy(
    name: string,
    viewer: string,
  ): Promise<(UserRecord & { blocksViewer: boolean }) | null> {
    return attempt(() => {
      const r = this.#get(
        `SELECT name, password_hash, status, created_at, last_seen,
           EXISTS (SELECT 1 FROM blocks
                   WHERE blocker = users.name AND blocked = ?) AS blocks_viewer
         FROM users WHERE name = ?`,
        viewer,
        name,
      );
      return r ? { ...toUser(r), blocksViewer: r.blocks_viewer === 1 } : null;
    });
  }

  setStatus(name: string, status: string): Promise<void> {
    return attempt(() => {
      this.#run("UPDATE users SET status = ? WHERE name = ?", status, name);
    });
  }

  setLastSeen(names: string[], at: number): Promise<void> {
    return attempt(() =>
      this.#presenceTx(() => {
        for (const name of names) {
          this.#run("UPDATE users SET last_seen = ? WHERE name = ?", at, name);
        }
      })
    );
  }

  setPasswordHash(name: string, passwordHash: string): Promise<void> {
    return attempt(() => {
      this.#run(
        "UPDATE users SET password_hash = ? WHERE name = ?",
        passwordHash,
        name,
      );
    });
  }

  addDevice(
    d: Omit<DeviceRecord, "createdAt" | "lastUsed">,
    now: number,
    maxDevices: number,
  ): Promise<"added" | "replaced"> {
    return attempt(() =>
      this.#tx(() => {
        const replaced = this.#run(
          `UPDATE devices SET sign_key = ?, dh_key = ?, created_at = ?, last_used = ?
           WHERE user = ? AND name = ?`,
          d.signKey,
          d.dhKey,
          now,
          now,
          d.user,
          d.name,
        );
        if (replaced > 0) return "replaced" as const;
        const n = this.#count(
          "SELECT COUNT(*) AS n FROM devices WHERE user = ?",
          d.user,
        );
        if (n >= maxDevices) {
          throw new StoreError(
            "limit",
            `${d.user} has ${n} devices (the limit is ${maxDevices}) — revoke one with chat devices revoke NAME`,
          );
        }
        this.#run(
          `INSERT INTO devices (user, name, sign_key, dh_key, created_at, last_used)
           VALUES (?, ?, ?, ?, ?, ?)`,
          d.user,
          d.name,
          d.signKey,
          d.dhKey,
          now,
          now,
        );
        return "added" as const;
      })
    );
  }

  getDevice(user: string, name: string): Promise<DeviceRecord | null> {
    return attempt(() => {
      const r = this.#get(
        "SELECT user, name, sign_key, dh_key, created_at, last_used FROM devices WHERE user = ? AND name = ?",
        user,
        name,
      );
      return r ? toDevice(r) : null;
    });
  }

  devicesOf(user: string): Promise<DeviceRecord[]> {
    return attempt(() =>
      this.#all(
        "SELECT user, name, sign_key, dh_key, created_at, last_used FROM devices WHERE user = ? ORDER BY created_at, name",
        user,
      ).map(toDevice)
    );
  }

  touchDevices(uses: DeviceUse[]): Promise<void> {
    if (uses.length === 0) return Promise.resolve();
    return attempt(() =>
      this.#presenceTx(() => {
        for (const u of uses) {
          this.#run(
            "UPDATE devices SET last_used = ? WHERE user = ? AND name = ?",
            u.at,
            u.user,
            u.name,
          );
        }
      })
    );
  }

  removeDevice(user: string, name: string): Promise<boolean> {
    return attempt(() =>
      this.#run(
        "DELETE FROM devices WHERE user = ? AND name = ?",
        user,
        name,
      ) > 0
    );
  }

  relation(a: string, b: string): Promise<Relation> {
    return attempt(() => this.#relation(a, b));
  }

  #relation(a: string, b: string): Relation {
    const r = this.#get(
      `SELECT requester, state FROM friendships
       WHERE (requester = ? AND addressee = ?) OR (requester = ? AND addressee = ?)`,
      a,
      b,
      b,
      a,
    );
    if (!r) return "none";
    if (r.state === "accepted") return "friends";
    return r.requester === a ? "requested" : "requested_you";
  }

  requestFriend(
    a: string,
    b: string,
    now: number,
    limits: PendingLimits,
  ): Promise<"pending" | "friends"> {
    return attempt(() =>
      this.#tx(() => {
        const rel = this.#relation(a, b);
        if (rel === "friends") return "friends";
        if (rel === "requested") return "pending";
        if (rel === "requested_you") {
          this.#run(
            "UPDATE friendships SET state = 'accepted', created_at = ? WHERE requester = ? AND addressee = ?",
            now,
            b,
            a,
          );
          return "friends";
        }
        const sent = this.#count(
          "SELECT COUNT(*) AS n FROM friendships WHERE requester = ? AND state = 'pending'",
          a,
        );
        if (sent >= limits.perSender) {
          throw new StoreError(
            "limit",
            `you have ${sent} friend requests waiting for an answer (the limit is ${limits.perSender}); withdraw some with /unfriend first`,
          );
        }
        const received = this.#count(
          "SELECT COUNT(*) AS n FROM friendships WHERE addressee = ? AND state = 'pending'",
          b,
        );
        if (received >= limits.perRecipient) {
          throw new StoreError(
            "limit",
            `${b} has ${received} friend requests waiting already (the limit is ${limits.perRecipient}); try again later`,
          );
        }
        this.#run(
          "INSERT INTO friendships (requester, addressee, state, created_at) VALUES (?, ?, 'pending', ?)",
          a,
          b,
          now,
        );
        return "pending";
      })
    );
  }

  acceptFriend(a: string, b: string, now: number): Promise<void> {
    return attempt(() => {
      const changed = this.#run(
        `UPDATE friendships SET state = 'accepted', created_at = ?
         WHERE requester = ? AND addressee = ? AND state = 'pending'`,
        now,
        a,
        b,
      );
      if (changed === 0) {
        throw new StoreError("state", `${a} has not sent you a friend request`);
      }
    });
  }

  removeFriend(a: string, b: string): Promise<boolean> {
    return attempt(() =>
      this.#run(
        `DELETE FROM friendships
         WHERE (requester = ? AND addressee = ?) OR (requester = ? AND addressee = ?)`,
        a,
        b,
        b,
        a,
      ) > 0
    );
  }

  friendsOf(name: string): Promise<string[]> {
    return attempt(() =>
      this.#all(
        `SELECT addressee AS friend FROM friendships WHERE requester = ? AND state = 'accepted'
         UNION SELECT requester FROM friendships WHERE addressee = ? AND state = 'accepted'
         ORDER BY 1`,
        name,
        name,
      ).map((r) => r.friend as string)
    );
  }

  audiencesOf(names: string[]): Promise<Map<string, string[]>> {
    return attempt(() =>
      audienceMap(this.#all(
        `WITH u(name) AS (SELECT DISTINCT value FROM json_each(?)),
         l(name, who) AS (
           SELECT u.name, f.addressee FROM u JOIN friendships f
             ON f.requester = u.name AND f.state = 'accepted'
           UNION SELECT u.name, f.requester FROM u JOIN friendships f
             ON f.addressee = u.name AND f.state = 'accepted'
           UNION SELECT u.name, m2.user FROM u
             JOIN room_members m1 ON m1.user = u.name
             JOIN room_members m2 ON m2.room = m1.room AND m2.user <> m1.user)
         SELECT name, who FROM l WHERE NOT EXISTS (SELECT 1 FROM blocks b
           WHERE (b.blocker = l.name AND b.blocked = l.who)
              OR (b.blocker = l.who AND b.blocked = l.name))
         ORDER BY name, who`,
        JSON.stringify(names),
      ))
    );
  }

  requestsOf(name: string, page: Page): Promise<{
    incoming: string[];
    outgoing: string[];
    incomingTotal: number;
    outgoingTotal: number;
  }> {
    // Requests from users `name` has blocked are kept (so the sender sees
    // nothing unusual) but never shown to `name`.
    const incomingWhere = `FROM friendships f
      WHERE f.addressee = ?1 AND f.state = 'pending' AND NOT EXISTS
        (SELECT 1 FROM blocks b WHERE b.blocker = ?1 AND b.blocked = f.requester)`;
    const outgoingWhere =
      "FROM friendships WHERE requester = ?1 AND state = 'pending'";
    // Counted first: every login asks, most have none, and a page query's
    // ORDER BY costs a sort even over no rows.
    return attempt(() => {
      const incomingTotal = this.#count(
        `SELECT COUNT(*) AS n ${incomingWhere}`,
        name,
      );
      const outgoingTotal = this.#count(
        `SELECT COUNT(*) AS n ${outgoingWhere}`,
        name,
      );
      return {
        incoming: incomingTotal === 0 ? [] : this.#all(
          `SELECT f.requester ${incomingWhere} ORDER BY f.created_at, f.requester LIMIT ?2 OFFSET ?3`,
          name,
          page.limit,
          page.offset,
        ).map((r) => r.requester as string),
        outgoing: outgoingTotal === 0 ? [] : this.#all(
          `SELECT addressee ${outgoingWhere} ORDER BY created_at, addressee LIMIT ?2 OFFSET ?3`,
          name,
          page.limit,
          page.offset,
        ).map((r) => r.addressee as string),
        incomingTotal,
        outgoingTotal,
      };
    });
  }

  block(a: string, b: string, now: number): Promise<void> {
    return attempt(() =>
      this.#tx(() => {
        this.#run(
          "INSERT OR IGNORE INTO blocks (blocker, blocked, created_at) VALUES (?, ?, ?)",
          a,
          b,
          now,
        );
        this.#run(
          `DELETE FROM friendships
           WHERE (requester = ? AND addressee = ?) OR (requester = ? AND addressee = ?)`,
          a,
          b,
          b,
          a,
        );
      })
    );
  }

  unblock(a: string, b: string): Promise<boolean> {
    return attempt(() =>
      this.#run("DELETE FROM blocks WHERE blocker = ? AND blocked = ?", a, b) >
        0
    );
  }

  hasBlocked(a: string, b: string): Promise<boolean> {
    return attempt(() =>
      this.#get(
        "SELECT 1 AS x FROM blocks WHERE blocker = ? AND blocked = ?",
        a,
        b,
      ) !==
        undefined
    );
  }

  blockedBy(name: string): Promise<string[]> {
    return attempt(() =>
      this.#all(
        "SELECT blocked FROM blocks WHERE blocker = ? ORDER BY blocked",
        name,
      )
        .map((r) => r.blocked as string)
    );
  }

  blockersOf(name: string): Promise<string[]> {
    return attempt(() =>
      this.#all("SELECT blocker FROM blocks WHERE blocked = ?", name).map((r) =>
        r.blocker as string
      )
    );
  }

  createRoom(room: RoomRecord, maxOwned: number): Promise<void> {
    return attempt(() =>
      this.#tx(() => {
        const owned = this.#count(
          "SELECT COUNT(*) AS n FROM rooms WHERE owner = ?",
          room.owner,
        );
        if (owned >= maxOwned) {
          throw new StoreError(
            "limit",
            `you own ${owned} rooms (the limit is ${maxOwned}); leave or hand over one first`,
          );
        }
        try {
          this.#run(
            `INSERT INTO rooms (name, password_hash, capacity, description, owner, created_at)
             VALUES (?, ?, ?, ?, ?, ?)`,
            room.name,
            room.passwordHash,
            room.capacity,
            room.description,
            room.owner,
            room.createdAt,
          );
        } catch (err) {
          if (isUniqueViolation(err)) {
            throw new StoreError(
              "taken",
              `room '${room.name.toLowerCase()}' already exists`,
            );
          }
          throw err;
        }
        this.#run(
          "INSERT INTO room_members (room, user, joined_at, seq) VALUES (?, ?, ?, 1)",
          room.name,
          room.owner,
          room.createdAt,
        );
      })
    );
  }

  getRoom(name: string): Promise<RoomRecord | null> {
    return attempt(() => {
      const r = this.#get("SELECT * FROM rooms WHERE name = ?", name);
      return r ? toRoom(r) : null;
    });
  }

  listRooms(query: RoomQuery): Promise<{
    rooms: (RoomRecord & { members: number })[];
    total: number;
  }> {
    const where = `FROM rooms r
      WHERE (?1 IS NULL OR EXISTS
        (SELECT 1 FROM room_members me WHERE me.room = r.name AND me.user = ?1))
        AND (?2 IS NULL OR instr(r.name, ?2) > 0)`;
    const member = query.member ?? null;
    const search = query.search?.toLowerCase() ?? null;
    return attempt(() => ({
      rooms: this.#all(
        `SELECT r.*, (SELECT COUNT(*) FROM room_members m WHERE m.room = r.name) AS members
         ${where} ORDER BY r.name LIMIT ?3 OFFSET ?4`,
        member,
        search,
        query.limit,
        query.offset,
      ).map((r) => ({ ...toRoom(r), members: Number(r.members) })),
      total: this.#count(`SELECT COUNT(*) AS n ${where}`, member, search),
    }));
  }

  countRoomsOwned(user: string): Promise<number> {
    return attempt(() =>
      this.#count("SELECT COUNT(*) AS n FROM rooms WHERE owner = ?", user)
    );
  }

  addMember(room: string, user: string, now: number): Promise<void> {
    return attempt(() =>
      this.#tx(() => {
        const r = this.#get("SELECT capacity FROM rooms WHERE name = ?", room);
        if (!r) throw new StoreError("not_found", `there is no room '${room}'`);
        if (
          this.#get(
            "SELECT 1 AS x FROM room_members WHERE room = ? AND user = ?",
            room,
            user,
          )
        ) {
          throw new StoreError("state", `you are already in ${room}`);
        }
        const count = Number(
          (this.#get(
            "SELECT COUNT(*) AS n FROM room_members WHERE room = ?",
            room,
          )!).n,
        );
        if (count >= Number(r.capacity)) {
          throw new StoreError(
            "full",
            `room '${room}' is full (${r.capacity} members)`,
          );
        }
        this.#run(
          `INSERT INTO room_members (room, user, joined_at, seq)
           VALUES (?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM room_members WHERE room = ?))`,
          room,
          user,
          now,
          room,
        );
      })
    );
  }

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
  > {
    const none = { removed: false, newOwner: null, deleted: false };
    return attempt(() =>
      this.#tx(() => {
        const r = this.#get("SELECT owner FROM rooms WHERE name = ?", room);
        if (!r) return { ...none, withdrawn: [] };
        const order = this.#all(
          "SELECT user FROM room_members WHERE room = ? ORDER BY seq",
          room,
        ).map((m) => m.user as string);
        if (!order.includes(user)) return { ...none, withdrawn: [] };
        this.#run(
          "DELETE FROM room_members WHERE room = ? AND user = ?",
          room,
          user,
        );
        const owner = r.owner as string;
        const next = ownerAfterLeave(owner, order, user);
        if (next === null) {
          this.#run("DELETE FROM rooms WHERE name = ?", room);
          return {
            removed: true,
            newOwner: null,
            deleted: true,
            withdrawn: [],
          };
        }
        if (next === owner) {
          return {
            removed: true,
            newOwner: null,
            deleted: false,
            withdrawn: [],
          };
        }
        const withdrawn = this.#handOver(room, next);
        return { removed: true, newOwner: next, deleted: false, withdrawn };
      })
    );
  }

  /** Sets the owner and withdraws pending invitations; inside a transaction. */
  #handOver(room: string, user: string): string[] {
    this.#run("UPDATE rooms SET owner = ? WHERE name = ?", user, room);
    const withdrawn = this.#all(
      "SELECT invitee FROM invitations WHERE room = ? AND state = 'pending' ORDER BY invitee",
      room,
    ).map((r) => r.invitee as string);
    this.#run(
      "DELETE FROM invitations WHERE room = ? AND state = 'pending'",
      room,
    );
    return withdrawn;
  }

  members(room: string): Promise<MemberRecord[]> {
    return attempt(() =>
      this.#all(
        "SELECT user, joined_at FROM room_members WHERE room = ? ORDER BY seq",
        room,
      ).map((r) => ({ user: r.user as string, joinedAt: Number(r.joined_at) }))
    );
  }

  roomsOf(user: string): Promise<string[]> {
    return attempt(() =>
      this.#all(
        "SELECT room FROM room_members WHERE user = ? ORDER BY room",
        user,
      )
        .map((r) => r.room as string)
    );
  }

  setOwner(room: string, user: string): Promise<string[]> {
    return attempt(() => this.#tx(() => this.#handOver(room, user)));
  }

  setRoomPassword(room: string, passwordHash: string | null): Promise<void> {
    return attempt(() => {
      this.#run(
        "UPDATE rooms SET password_hash = ? WHERE name = ?",
        passwordHash,
        room,
      );
    });
  }

  ban(room: string, user: string, by: string, now: number): Promise<void> {
    return attempt(() => {
      this.#run(
        `INSERT INTO room_bans (room, user, banned_by, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (room, user) DO NOTHING`,
        room,
        user,
        by,
        now,
      );
    });
  }

  unban(room: string, user: string): Promise<boolean> {
    return attempt(() =>
      this.#run(
        "DELETE FROM room_bans WHERE room = ? AND user = ?",
        room,
        user,
      ) > 0
    );
  }

  isBanned(room: string, user: string): Promise<boolean> {
    return attempt(() =>
      this.#get(
        "SELECT 1 AS x FROM room_bans WHERE room = ? AND user = ?",
        room,
        user,
      ) !== undefined
    );
  }

  invite(
    room: string,
    invitee: string,
    inviter: string,
    now: number,
    limits: PendingLimits,
  ): Promise<void> {
    return attempt(() =>
      this.#tx(() => {
        const renewal = this.#get(
          "SELECT 1 AS x FROM invitations WHERE room = ? AND invitee = ? AND state = 'pending'",
          room,
          invitee,
        );
        if (!renewal) {
          const sent = this.#count(
            "SELECT COUNT(*) AS n FROM invitations WHERE inviter = ? AND state = 'pending'",
            inviter,
          );
          if (sent >= limits.perSender) {
            throw new StoreError(
              "limit",
              `you have ${sent} invitations waiting for an answer (the limit is ${limits.perSender}); withdraw some first`,
            );
          }
          const received = this.#count(
            "SELECT COUNT(*) AS n FROM invitations WHERE invitee = ? AND state = 'pending'",
            invitee,
          );
          if (received >= limits.perRecipient) {
            throw new StoreError(
              "limit",
              `${invitee} has ${received} invitations waiting already (the limit is ${limits.perRecipient}); try again later`,
            );
          }
        }
        this.#run(
          `INSERT INTO invitations (room, invitee, inviter, state, created_at)
           VALUES (?, ?, ?, 'pending', ?)
           ON CONFLICT (room, invitee) DO UPDATE
           SET inviter = excluded.inviter, state = 'pending', created_at = excluded.created_at`,
          room,
          invitee,
          inviter,
          now,
        );
      })
    );
  }

  invitesFor(
    user: string,
    page: Page,
  ): Promise<{ invites: InviteRecord[]; total: number }> {
    const where = `FROM invitations i
      WHERE i.invitee = ?1 AND i.state = 'pending' AND NOT EXISTS
        (SELECT 1 FROM blocks b WHERE b.blocker = ?1 AND b.blocked = i.inviter)`;
    // Counted first, as requestsOf: most logins have none waiting.
    return attempt(() => {
      const total = this.#count(`SELECT COUNT(*) AS n ${where}`, user);
      return {
        invites: total === 0 ? [] : this.#all(
          `SELECT i.* ${where} ORDER BY i.created_at, i.room LIMIT ?2 OFFSET ?3`,
          user,
          page.limit,
          page.offset,
        ).map(toInvite),
        total,
      };
    });
  }

  withdrawInvite(room: string, invitee: string): Promise<boolean> {
    return attempt(() =>
      this.#run(
        "DELETE FROM invitations WHERE room = ? AND invitee = ? AND state = 'pending'",
        room,
        invitee,
      ) > 0
    );
  }

  getInvite(room: string, invitee: string): Promise<InviteRecord | null> {
    return attempt(() => {
      const r = this.#get(
        "SELECT * FROM invitations WHERE room = ? AND invitee = ?",
        room,
        invitee,
      );
      return r ? toInvite(r) : null;
    });
  }

  setInviteState(
    room: string,
    invitee: string,
    state: "accepted" | "declined",
  ): Promise<void> {
    return attempt(() => {
      this.#run(
        "UPDATE invitations SET state = ? WHERE room = ? AND invitee = ?",
        state,
        room,
        invitee,
      );
    });
  }

  storeOffline(
    from: string,
    to: string,
    text: string,
    now: number,
    limits: OfflineLimits,
    discard = false,
  ): Promise<OfflineRecord> {
    return attempt(() =>
      this.#tx(() => {
        const n = this.#count(
          "SELECT COUNT(*) AS n FROM offline_messages WHERE recipient = ? AND room IS NULL",
          to,
        );
        if (n >= limits.perRecipient) {
          throw new StoreError(
            "limit",
            `${to}'s offline inbox is full (${n} messages, the limit is ${limits.perRecipient}); try again after ${to} logs in`,
          );
        }
        const mine = this.#count(
          "SELECT COUNT(*) AS n FROM offline_messages WHERE recipient = ? AND sender = ? AND room IS NULL",
          to,
          from,
        );
        if (mine >= limits.perPair) {
          throw new StoreError(
            "limit",
            `${to} has ${mine} undelivered messages from you (the limit is ${limits.perPair} per sender); try again after ${to} reads them`,
          );
        }
        if (discard) return { id: 0, from, to, text, sentAt: now };
        const res = this.#stmt(
          "INSERT INTO offline_messages (sender, recipient, text, sent_at) VALUES (?, ?, ?, ?)",
        ).run(from, to, text, now);
        return { id: Number(res.lastInsertRowid), from, to, text, sentAt: now };
      })
    );
  }

  storeBacklog(
    from: string,
    room: string,
    rows: { to: string; text: string }[],
    now: number,
    perMember: number,
  ): Promise<void> {
    return attempt(() =>
      this.#tx(() => {
        room = room.toLowerCase();
        for (const row of rows) {
          const to = row.to.toLowerCase();
          const text = row.text;
          this.#run(
            "INSERT INTO offline_messages (sender, recipient, text, sent_at, room) VALUES (?, ?, ?, ?, ?)",
            from,
            to,
            text,
            now,
            room,
          );
          const gone = this.#run(
            "DELETE FROM offline_messages WHERE id IN (SELECT id FROM offline_messages WHERE recipient = ? AND room = ? ORDER BY id DESC LIMIT -1 OFFSET ?)",
            to,
            room,
            perMember,
          );
          if (gone > 0) {
            this.#run(
              "INSERT INTO backlog_drops (recipient, room, dropped) VALUES (?, ?, ?) ON CONFLICT (recipient, room) DO UPDATE SET dropped = dropped + excluded.dropped",
              to,
              room,
              gone,
            );
          }
        }
      })
    );
  }

  backlogDrops(to: string): Promise<BacklogDrop[]> {
    return attempt(() =>
      this.#all(
        "SELECT room, dropped FROM backlog_drops WHERE recipient = ? ORDER BY room",
        to,
      ).map((r) => ({ room: r.room as string, dropped: Number(r.dropped) }))
    );
  }

  clearBacklogDrops(to: string, rooms: string[]): Promise<void> {
    return attempt(() =>
      this.#tx(() => {
        for (const room of rooms) {
          this.#run(
            "DELETE FROM backlog_drops WHERE recipient = ? AND room = ?",
            to,
            room,
          );
        }
      })
    );
  }

  offlineFor(to: string, limit: number, after = 0): Promise<OfflineRecord[]> {
    return attempt(() =>
      this.#all(
        "SELECT id, sender, recipient, text, sent_at, room FROM offline_messages WHERE recipient = ? AND id > ? ORDER BY id LIMIT ?",
        to,
        after,
        limit,
      ).map((r) => ({
        id: Number(r.id),
        from: r.sender as string,
        to: r.recipient as string,
        text: r.text as string,
        sentAt: Number(r.sent_at),
        ...(r.room !== null ? { room: r.room as string } : {}),
      }))
    );
  }

  countOffline(to: string): Promise<number> {
    return attempt(() =>
      Number(
        (this.#get(
          "SELECT COUNT(*) AS n FROM offline_messages WHERE recipient = ?",
          to,
        )!).n,
      )
    );
  }

  deleteOffline(to: string, ids: number[]): Promise<number> {
    return attempt(() => {
      const n = this.#tx(() => {
        let n = 0;
        for (const id of ids) {
          n += this.#run(
            "DELETE FROM offline_messages WHERE id = ? AND recipient = ?",
            id,
            to,
          );
        }
        return n;
      });
      // secure_delete zeroed the rows in the pages; the WAL still holds the
      // frames that carried the text until a checkpoint copies the zeroed
      // pages back and truncates it.
      if (n > 0) this.#checkpoint();
      return n;
    });
  }

  deliverOffline(
    to: string,
    ids: number[],
    now: number,
    maxReceipts = MAX_RECEIPTS_PER_SENDER,
  ): Promise<string[]> {
    return attempt(() => {
      const senders = this.#tx(() => {
        const out: string[] = [];
        for (const id of ids) {
          const row = this.#get(
            "DELETE FROM offline_messages WHERE id = ? AND recipient = ? RETURNING sender, sent_at, room",
            id,
            to,
          );
          // A room's backlog keeps no delivery notice for its sender.
          if (!row || row.room !== null) continue;
          out.push(row.sender as string);
          this.#run(
            "INSERT INTO offline_receipts (sender, recipient, sent_at, delivered_at) VALUES (?, ?, ?, ?)",
            row.sender as string,
            to,
            Number(row.sent_at),
            now,
          );
        }
        for (const sender of new Set(out)) {
          this.#run(
            "DELETE FROM offline_receipts WHERE id IN (SELECT id FROM offline_receipts WHERE sender = ? ORDER BY id DESC LIMIT -1 OFFSET ?)",
            sender,
            maxReceipts,
          );
        }
        return out;
      });
      if (senders.length > 0) this.#checkpoint();
      return senders;
    });
  }

  receiptsFor(sender: string, limit: number): Promise<ReceiptRecord[]> {
    return attempt(() =>
      this.#all(
        "SELECT id, recipient, sent_at, delivered_at FROM offline_receipts WHERE sender = ? ORDER BY id LIMIT ?",
        sender,
        limit,
      ).map((r) => ({
        id: Number(r.id),
        to: r.recipient as string,
        sentAt: Number(r.sent_at),
        deliveredAt: Number(r.delivered_at),
      }))
    );
  }

  countReceipts(sender: string): Promise<number> {
    return attempt(() =>
      this.#count(
        "SELECT COUNT(*) AS n FROM offline_receipts WHERE sender = ?",
        sender,
      )
    );
  }

  deleteReceipts(sender: string, ids: number[]): Promise<number> {
    return attempt(() =>
      this.#tx(() => {
        let n = 0;
        for (const id of ids) {
          n += this.#run(
            "DELETE FROM offline_receipts WHERE id = ? AND sender = ?",
            id,
            sender,
          );
        }
        return n;
      })
    );
  }

  /** Copies the WAL into the file and truncates it; a no-op in memory. */
  #checkpoint(): void {
    this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  #count(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#get(sql, ...params)!.n);
  }

  close(): void {
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}

function toRoom(r: Row): RoomRecord {
  return {
    name: r.name as string,
    passwordHash: (r.password_hash as string | null) ?? null,
    capacity: Number(r.capacity),
    description: r.description as string,
    owner: r.owner as string,
    createdAt: Number(r.created_at),
  };
}

function toInvite(r: Row): InviteRecord {
  return {
    room: r.room as string,
    invitee: r.invitee as string,
    inviter: r.inviter as string,
    state: r.state as InviteRecord["state"],
    createdAt: Number(r.created_at),
  };
}

function toDevice(r: Row): DeviceRecord {
  return {
    user: r.user as string,
    name: r.name as string,
    signKey: r.sign_key as string,
    dhKey: r.dh_key as string,
    createdAt: Number(r.created_at),
    lastUsed: r.last_used === null ? null : Number(r.last_used),
  };
}

function toUser(r: Row): UserRecord {
  return {
    name: r.name as string,
    passwordHash: r.password_hash as string,
    status: r.status as string,
    createdAt: Number(r.created_at),
    lastSeen: r.last_seen === null ? null : Number(r.last_seen),
  };
}

/** Runs synchronous store work as a promise, so errors arrive as rejections. */
function attempt<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err);
  }
}

function isUniqueViolation(err: unknown): boolean {
  return err instanceof Error &&
    /UNIQUE constraint failed|PRIMARY KEY/i.test(
      `${err.message} ${(err as { errstr?: string }).errstr ?? ""}`,
    );
}
