/**
 * The server store: PostgreSQL through npm:postgres, for several registries
 * sharing one database.
 *
 * Every call is one statement, so it is its own transaction. Where the SQLite
 * store relies on BEGIN IMMEDIATE (one writer at a time) to read and then
 * write, the statement calls a function of the schema (registry/migrations.ts)
 * that first takes the lock guarding the rule it checks — the room's row
 * (FOR NO KEY UPDATE) for capacity, join order and ownership hand-over, an
 * advisory lock on the pair for friend requests and on the recipient for the
 * offline-mail limit — so two registries never both pass the same check.
 * Deadlocks and serialization failures are retried a few times.
 *
 * Why no client-side transactions (sql.begin, sql.reserve): npm:postgres
 * 3.4.9 throws an uncatchable TypeError, ending the process, when the server
 * drops a connection in the middle of one (a restart, a failover, an
 * administrator's pg_terminate_backend), because it then writes ROLLBACK to a
 * socket it has already released. A single statement on a dropped connection
 * just fails with CONNECTION_CLOSED, and the pool reconnects.
 */
import { isIP } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import postgres from "postgres";
import { MIGRATIONS } from "./migrations.ts";
import type { PostgresTarget } from "./postgres_url.ts";
import {
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

/** The driver's client, for queries of the cluster's own (LISTEN/NOTIFY). */
export type Sql = postgres.Sql;
type Row = postgres.Row;

/** Connections per store; a registry's queries are short. */
export const POOL_SIZE = 10;

/** Seconds close() gives queries in flight before it drops connections. */
export const CLOSE_GRACE_S = 2;

/** Attempts of a statement that lost a deadlock or serialization race. */
const ATTEMPTS = 5;

/** Environment names the driver reads whatever options it is given. */
export const DRIVER_ENV_NAMES = ["PGAPPNAME", "PGTARGETSESSIONATTRS"] as const;

/** Advisory-lock key of schema migrations (namespaced like the schema's). */
const MIGRATE_LOCK = "chat:migrate";

/** A subscription made with `PostgresStore.listen`. */
export interface Listening {
  /** Stops delivering; resolves once the server was told. */
  unlisten(): Promise<void>;
}

interface Subscriber {
  onPayload: (payload: string) => void;
  onListen?: () => void;
}

/** One LISTEN of the driver and the subscribers it serves. */
interface Channel {
  subs: Set<Subscriber>;
  ready: Promise<postgres.ListenMeta>;
}

/** A Store on PostgreSQL. Open with `PostgresStore.open(target)`. */
export class PostgresStore implements Store {
  readonly #sql: Sql;
  /** One connection of its own, for the cluster's lease (never queued behind requests). */
  readonly #lease: Sql;
  readonly #channels = new Map<string, Channel>();
  #closed: Promise<void> | null = null;
  /** Where the store is connected, without the password (for logs). */
  readonly display: string;

  private constructor(sql: Sql, lease: Sql, display: string) {
    this.#sql = sql;
    this.#lease = lease;
    this.display = display;
  }

  /**
   * Connects and migrates; throws StoreOpenError with one line naming the
   * host and port when the server cannot be reached or refuses.
   */
  static async open(target: PostgresTarget): Promise<PostgresStore> {
    const ssl = await sslOption(target);
    let sql: Sql;
    let lease: Sql;
    try {
      const options = {
        host: target.host,
        port: target.port,
        user: target.user,
        database: target.database,
        // A function, so the driver never falls back to PGPASSWORD.
        pass: () => target.password ?? "",
        ssl,
        max: POOL_SIZE,
        connect_timeout: target.connectTimeoutS,
        idle_timeout: 0,
        max_lifetime: 30 * 60 + Math.floor(Math.random() * 30 * 60),
        backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 2),
        keep_alive: 60,
        prepare: true,
        debug: false,
        fetch_types: true,
        connection: { application_name: "chat registry" },
        // Notices ("relation already exists, skipping") are informational.
        onnotice: () => {},
        // Every default key is given, because the driver reads PG<KEY> from
        // the environment for any that is missing.
        ...({
          sslnegotiation: null,
          max_pipeline: 100,
          publications: "alltables",
        } as Record<string, unknown>),
      } as postgres.Options<Record<string, postgres.PostgresType>>;
      sql = postgres(options);
      lease = postgres({
        ...options,
        max: 1,
        connection: { application_name: "chat registry lease" },
      });
    } catch (err) {
      if (err instanceof Deno.errors.NotCapable) {
        throw new StoreOpenError(
          "permission",
          `the PostgreSQL driver reads ${
            DRIVER_ENV_NAMES.join(" and ")
          }; allow them with --allow-env`,
        );
      }
      throw err;
    }
    const store = new PostgresStore(sql, lease, target.display);
    try {
      await store.#migrate();
    } catch (err) {
      await sql.end({ timeout: 1 });
      await lease.end({ timeout: 1 });
      if (err instanceof StoreOpenError) throw err;
      throw new StoreOpenError("connect", openFailure(target, err));
    }
    return store;
  }

  /**
   * The driver's client, for the cluster's own queries. Keep to single
   * statements: see the top of this file for why not sql.begin/sql.reserve.
   */
  get sql(): Sql {
    return this.#sql;
  }

  /**
   * A client of one connection of its own, for the cluster's lease: its
   * renewal must not wait behind a queue of requests on a busy instance, or
   * the instance would be swept as dead while it serves. Connects on first use.
   */
  get leaseSql(): Sql {
    return this.#lease;
  }

  /** The schema version after migration. */
  async schemaVersion(): Promise<number> {
    const [r] = await this.#sql`
      SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_version`;
    return Number(r!.v);
  }

  /**
   * Calls `onPayload` for every notification on `channel`. `onListen` runs
   * each time the subscription is (re)made, also after the driver reconnects:
   * notifications sent while it was away are lost, so re-read the tables there.
   */
  async listen(
    channel: string,
    onPayload: (payload: string) => void,
    onListen?: () => void,
  ): Promise<Listening> {
    // One driver subscription per channel, fanned out here: after a
    // reconnect the driver's own unlisten() no longer finds its listener, so
    // unsubscribing is done on this side and the channel merely goes quiet.
    const sub: Subscriber = { onPayload, onListen };
    let ch = this.#channels.get(channel);
    if (ch === undefined) {
      const subs = new Set<Subscriber>([sub]);
      const entry: Channel = {
        subs,
        ready: this.#sql.listen(
          channel,
          (payload) => {
            for (const s of [...subs]) s.onPayload(payload);
          },
          () => {
            for (const s of [...subs]) s.onListen?.();
          },
        ),
      };
      this.#channels.set(channel, entry);
      try {
        await entry.ready;
      } catch (err) {
        this.#channels.delete(channel);
        throw err;
      }
      ch = entry;
    } else {
      ch.subs.add(sub);
      await ch.ready;
      onListen?.();
    }
    const joined = ch;
    return {
      unlisten: async () => {
        if (!joined.subs.delete(sub) || joined.subs.size > 0) return;
        if (this.#channels.get(channel) === joined) {
          this.#channels.delete(channel);
        }
        await (await joined.ready).unlisten();
      },
    };
  }

  /** Sends `payload` to every listener of `channel` (at most 8000 bytes). */
  async notify(channel: string, payload: string): Promise<void> {
    await this.#sql.notify(channel, payload);
  }

  async #migrate(): Promise<void> {
    // Each step is one multi-statement query, so one transaction: the
    // advisory lock makes registries starting together on an empty database
    // take turns, and the DO block runs the step only at the version before it.
    const bootstrap = `
      SELECT pg_advisory_xact_lock(hashtextextended('${MIGRATE_LOCK}', 0));
      CREATE TABLE IF NOT EXISTS schema_version (
        version    integer PRIMARY KEY,
        what       text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      );`;
    await this.#sql.unsafe(bootstrap);
    const current = await this.schemaVersion();
    if (current > MIGRATIONS.length) {
      throw new StoreOpenError(
        "schema",
        `the database ${this.display} is at schema version ${current} but this chat knows only ${MIGRATIONS.length}; run a newer chat`,
      );
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      const m = MIGRATIONS[v]!;
      await this.#sql.unsafe(`${bootstrap}
        DO $chat_step$ BEGIN
          IF (SELECT COALESCE(MAX(version), 0) FROM schema_version) = ${v} THEN
            EXECUTE ${literal(m.postgres)};
            INSERT INTO schema_version (version, what)
            VALUES (${v + 1}, ${literal(m.what)});
          END IF;
        END $chat_step$;`);
    }
  }

  /** Runs one statement, again when it lost a deadlock or race. */
  async #retry<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1;; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (attempt >= ATTEMPTS || !isRetryable(err)) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
      }
    }
  }

  async createUser(
    name: string,
    passwordHash: string,
    now: number,
  ): Promise<void> {
    try {
      await this.#sql`
        INSERT INTO users (name, password_hash, status, created_at)
        VALUES (${name}, ${passwordHash}, ${DEFAULT_STATUS}, ${now})`;
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new StoreError(
          "taken",
          `username '${name.toLowerCase()}' is taken`,
        );
      }
      throw err;
    }
  }

  async getUser(name: string): Promise<UserRecord | null> {
    const [r] = await this.#sql`
      SELECT name, password_hash, status, created_at, last_seen
      FROM users WHERE name = ${name}`;
    return r ? toUser(r) : null;
  }

  async getUserSeenBy(
    name: string,
    viewer: string,
  ): Promise<(UserRecord & { blocksViewer: boolean }) | null> {
    const [r] = await this.#sql`
      SELECT name, password_hash, status, created_at, last_seen,
        EXISTS (SELECT 1 FROM blocks
                WHERE blocker = users.name AND blocked = ${viewer}) AS blocks_viewer
      FROM users WHERE name = ${name}`;
    return r ? { ...toUser(r), blocksViewer: r.blocks_viewer === true } : null;
  }

  async setStatus(name: string, status: string): Promise<void> {
    await this.#sql`UPDATE users SET status = ${status} WHERE name = ${name}`;
  }

  async setLastSeen(names: string[], at: number): Promise<void> {
    if (names.length === 0) return;
    const unique = [...new Set(names.map((n) => n.toLowerCase()))];
    // The primary-key scan of ANY() locks rows in index order, so two
    // registries updating overlapping sets wait rather than deadlock.
    await this.#retry(() =>
      this.#sql`UPDATE users SET last_seen = ${at}
                WHERE name = ANY(${this.#sql.array(unique)}::citext[])`
    );
  }

  async setPasswordHash(name: string, passwordHash: string): Promise<void> {
    await this.#sql`
      UPDATE users SET password_hash = ${passwordHash} WHERE name = ${name}`;
  }

  async addDevice(
    d: Omit<DeviceRecord, "createdAt" | "lastUsed">,
    now: number,
    maxDevices: number,
  ): Promise<"added" | "replaced"> {
    const [r] = await this.#retry(() =>
      this.#sql`SELECT * FROM chat_add_device(${d.user}, ${d.name},
        ${d.signKey}, ${d.dhKey}, ${now}, ${maxDevices})`
    );
    if (r!.status === "added" || r!.status === "replaced") return r!.status;
    if (r!.status === "limit") {
      throw new StoreError(
        "limit",
        `${d.user} has ${
          r!.n
        } devices (the limit is ${maxDevices}) — revoke one with chat devices revoke NAME`,
      );
    }
    throw new Error(`chat_add_device answered '${r!.status}'`);
  }

  async getDevice(user: string, name: string): Promise<DeviceRecord | null> {
    const [r] = await this.#sql`
      SELECT member, name, sign_key, dh_key, created_at, last_used
      FROM devices WHERE member = ${user} AND name = ${name}`;
    return r ? toDevice(r) : null;
  }

  async devicesOf(user: string): Promise<DeviceRecord[]> {
    const rows = await this.#sql`
      SELECT member, name, sign_key, dh_key, created_at, last_used
      FROM devices WHERE member = ${user} ORDER BY created_at, name`;
    return rows.map(toDevice);
  }

  async touchDevices(uses: DeviceUse[]): Promise<void> {
    if (uses.length === 0) return;
    // One statement; rows sorted by key, so overlapping batches of two
    // registries wait for each other instead of deadlocking.
    const sorted = [...uses].sort((a, b) =>
      a.user === b.user
        ? (a.name < b.name ? -1 : 1)
        : (a.user < b.user ? -1 : 1)
    );
    await this.#retry(() =>
      this.#sql`
        UPDATE devices d SET last_used = GREATEST(COALESCE(d.last_used, 0), u.at)
        FROM (SELECT * FROM unnest(
          ${this.#sql.array(sorted.map((u) => u.user.toLowerCase()))}::text[],
          ${this.#sql.array(sorted.map((u) => u.name.toLowerCase()))}::text[],
          ${this.#sql.array(sorted.map((u) => u.at))}::bigint[]
        ) AS t(member, name, at)) u
        WHERE d.member = u.member::citext AND d.name = u.name::citext`
    );
  }

  async removeDevice(user: string, name: string): Promise<boolean> {
    const r = await this.#sql`
      DELETE FROM devices WHERE member = ${user} AND name = ${name}`;
    return r.count > 0;
  }

  async relation(a: string, b: string): Promise<Relation> {
    const [r] = await this.#sql`
      SELECT requester, state FROM friendships
      WHERE (requester = ${a} AND addressee = ${b})
         OR (requester = ${b} AND addressee = ${a})`;
    if (!r) return "none";
    if (r.state === "accepted") return "friends";
    return r.requester === a ? "requested" : "requested_you";
  }

  async requestFriend(
    a: string,
    b: string,
    now: number,
    limits: PendingLimits,
  ): Promise<"pending" | "friends"> {
    const [r] = await this.#retry(() =>
      this.#sql`SELECT * FROM chat_request_friend(${a}, ${b}, ${now},
        ${limits.perSender}, ${limits.perRecipient})`
    );
    const n = Number(r!.n);
    switch (r!.status) {
      case "pending":
      case "friends":
        return r!.status;
      case "sender_limit":
        throw new StoreError(
          "limit",
          `you have ${n} friend requests waiting for an answer (the limit is ${limits.perSender}); withdraw some with /unfriend first`,
        );
      case "recipient_limit":
        throw new StoreError(
          "limit",
          `${b} has ${n} friend requests waiting already (the limit is ${limits.perRecipient}); try again later`,
        );
    }
    throw new Error(`chat_request_friend answered '${r!.status}'`);
  }

  async acceptFriend(a: string, b: string, now: number): Promise<void> {
    const res = await this.#sql`
      UPDATE friendships SET state = 'accepted', created_at = ${now}
      WHERE requester = ${a} AND addressee = ${b} AND state = 'pending'`;
    if (res.count === 0) {
      throw new StoreError("state", `${a} has not sent you a friend request`);
    }
  }

  async removeFriend(a: string, b: string): Promise<boolean> {
    const res = await this.#sql`
      DELETE FROM friendships
      WHERE (requester = ${a} AND addressee = ${b})
         OR (requester = ${b} AND addressee = ${a})`;
    return res.count > 0;
  }

  async friendsOf(name: string): Promise<string[]> {
    const rows = await this.#sql`
      SELECT addressee AS friend FROM friendships
      WHERE requester = ${name} AND state = 'accepted'
      UNION SELECT requester FROM friendships
      WHERE addressee = ${name} AND state = 'accepted'
      ORDER BY 1`;
    return rows.map((r) => r.friend as string);
  }

  async requestsOf(name: string, page: Page): Promise<{
    incoming: string[];
    outgoing: string[];
    incomingTotal: number;
    outgoingTotal: number;
  }> {
    // One statement, so the pages and totals come from one snapshot. Requests
    // from users `name` has blocked are kept (the sender sees nothing
    // unusual) but never shown to `name`.
    const [r] = await this.#sql`
      SELECT
        ARRAY(SELECT f.requester::text FROM friendships f
              WHERE f.addressee = ${name} AND f.state = 'pending'
                AND NOT EXISTS (SELECT 1 FROM blocks b
                  WHERE b.blocker = ${name} AND b.blocked = f.requester)
              ORDER BY f.created_at, f.requester
              LIMIT ${page.limit} OFFSET ${page.offset}) AS incoming,
        (SELECT count(*) FROM friendships f
         WHERE f.addressee = ${name} AND f.state = 'pending'
           AND NOT EXISTS (SELECT 1 FROM blocks b
             WHERE b.blocker = ${name} AND b.blocked = f.requester))::int
          AS incoming_total,
        ARRAY(SELECT addressee::text FROM friendships
              WHERE requester = ${name} AND state = 'pending'
              ORDER BY created_at, addressee
              LIMIT ${page.limit} OFFSET ${page.offset}) AS outgoing,
        (SELECT count(*) FROM friendships
         WHERE requester = ${name} AND state = 'pending')::int
          AS outgoing_total`;
    return {
      incoming: r!.incoming as string[],
      outgoing: r!.outgoing as string[],
      incomingTotal: Number(r!.incoming_total),
      outgoingTotal: Number(r!.outgoing_total),
    };
  }

  async block(a: string, b: string, now: number): Promise<void> {
    await this.#retry(() =>
      this.#sql`
        WITH blocked AS (
          INSERT INTO blocks (blocker, blocked, created_at)
          VALUES (${a}, ${b}, ${now}) ON CONFLICT DO NOTHING)
        DELETE FROM friendships
        WHERE (requester = ${a} AND addressee = ${b})
           OR (requester = ${b} AND addressee = ${a})`
    );
  }

  async unblock(a: string, b: string): Promise<boolean> {
    const res = await this.#sql`
      DELETE FROM blocks WHERE blocker = ${a} AND blocked = ${b}`;
    return res.count > 0;
  }

  async hasBlocked(a: string, b: string): Promise<boolean> {
    const rows = await this.#sql`
      SELECT 1 FROM blocks WHERE blocker = ${a} AND blocked = ${b}`;
    return rows.length > 0;
  }

  async blockedBy(name: string): Promise<string[]> {
    const rows = await this.#sql`
      SELECT blocked FROM blocks WHERE blocker = ${name} ORDER BY blocked`;
    return rows.map((r) => r.blocked as string);
  }

  async blockersOf(name: string): Promise<string[]> {
    const rows = await this.#sql`
      SELECT blocker FROM blocks WHERE blocked = ${name}`;
    return rows.map((r) => r.blocker as string);
  }

  async createRoom(room: RoomRecord, maxOwned: number): Promise<void> {
    const [r] = await this.#retry(() =>
      this.#sql`SELECT * FROM chat_create_room(${room.name},
        ${room.passwordHash}, ${room.capacity}, ${room.description},
        ${room.owner}, ${room.createdAt}, ${maxOwned})`
    );
    switch (r!.status) {
      case "ok":
        return;
      case "limit":
        throw new StoreError(
          "limit",
          `you own ${
            Number(r!.owned)
          } rooms (the limit is ${maxOwned}); leave or hand over one first`,
        );
      case "taken":
        throw new StoreError(
          "taken",
          `room '${room.name.toLowerCase()}' already exists`,
        );
    }
    throw new Error(`chat_create_room answered '${r!.status}'`);
  }

  async getRoom(name: string): Promise<RoomRecord | null> {
    const [r] = await this.#sql`SELECT * FROM rooms WHERE name = ${name}`;
    return r ? toRoom(r) : null;
  }

  async listRooms(query: RoomQuery): Promise<{
    rooms: (RoomRecord & { members: number })[];
    total: number;
  }> {
    const who = query.member ?? null;
    const search = query.search?.toLowerCase() ?? null;
    const selected = this.#sql`
      FROM rooms r
      WHERE (${who}::citext IS NULL OR EXISTS
        (SELECT 1 FROM room_members me WHERE me.room = r.name AND me.member = ${who}))
        AND (${search}::text IS NULL OR strpos(lower(r.name::text), ${search}::text) > 0)`;
    // One statement: the total comes on every row, and on a row of nulls
    // when the page is past the end.
    const rows = await this.#sql`
      SELECT t.total, p.* FROM (SELECT count(*)::int AS total ${selected}) t
      LEFT JOIN LATERAL (
        SELECT r.*,
          (SELECT count(*) FROM room_members m WHERE m.room = r.name)::int AS members
        ${selected}
        ORDER BY r.name LIMIT ${query.limit} OFFSET ${query.offset}) p ON true`;
    return {
      rooms: rows.filter((r) => r.name !== null).map((r) => ({
        ...toRoom(r),
        members: Number(r.members),
      })),
      total: Number(rows[0]?.total ?? 0),
    };
  }

  async countRoomsOwned(user: string): Promise<number> {
    const [r] = await this.#sql`
      SELECT count(*)::int AS n FROM rooms WHERE owner = ${user}`;
    return Number(r!.n);
  }

  async addMember(room: string, user: string, now: number): Promise<void> {
    const [r] = await this.#retry(() =>
      this.#sql`SELECT * FROM chat_add_member(${room}, ${user}, ${now})`
    );
    switch (r!.status) {
      case "ok":
        return;
      case "not_found":
        throw new StoreError("not_found", `there is no room '${room}'`);
      case "state":
        throw new StoreError("state", `you are already in ${room}`);
      case "full":
        throw new StoreError(
          "full",
          `room '${room}' is full (${r!.capacity} members)`,
        );
    }
    throw new Error(`chat_add_member answered '${r!.status}'`);
  }

  async removeMember(
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
    const [r] = await this.#retry(() =>
      this.#sql`SELECT * FROM chat_remove_member(${room}, ${user})`
    );
    return {
      removed: r!.removed === true,
      newOwner: (r!.new_owner as string | null) ?? null,
      deleted: r!.deleted === true,
      withdrawn: r!.withdrawn as string[],
    };
  }

  async members(room: string): Promise<MemberRecord[]> {
    const rows = await this.#sql`
      SELECT member, joined_at FROM room_members
      WHERE room = ${room} ORDER BY seq`;
    return rows.map((r) => ({
      user: r.member as string,
      joinedAt: Number(r.joined_at),
    }));
  }

  async roomsOf(user: string): Promise<string[]> {
    const rows = await this.#sql`
      SELECT room FROM room_members WHERE member = ${user} ORDER BY room`;
    return rows.map((r) => r.room as string);
  }

  async setOwner(room: string, user: string): Promise<string[]> {
    const rows = await this.#retry(() =>
      this.#sql`
        WITH moved AS (
          UPDATE rooms SET owner = ${user} WHERE name = ${room} RETURNING name),
        gone AS (
          DELETE FROM invitations
          WHERE room = (SELECT name FROM moved) AND state = 'pending'
          RETURNING invitee)
        SELECT invitee::text AS invitee FROM gone ORDER BY invitee`
    );
    return rows.map((r) => r.invitee as string);
  }

  async setRoomPassword(
    room: string,
    passwordHash: string | null,
  ): Promise<void> {
    await this.#sql`
      UPDATE rooms SET password_hash = ${passwordHash} WHERE name = ${room}`;
  }

  async ban(
    room: string,
    user: string,
    by: string,
    now: number,
  ): Promise<void> {
    await this.#sql`
      INSERT INTO room_bans (room, member, banned_by, created_at)
      VALUES (${room}, ${user}, ${by}, ${now}) ON CONFLICT DO NOTHING`;
  }

  async unban(room: string, user: string): Promise<boolean> {
    const res = await this.#sql`
      DELETE FROM room_bans WHERE room = ${room} AND member = ${user}`;
    return res.count > 0;
  }

  async isBanned(room: string, user: string): Promise<boolean> {
    const rows = await this.#sql`
      SELECT 1 FROM room_bans WHERE room = ${room} AND member = ${user}`;
    return rows.length > 0;
  }

  async invite(
    room: string,
    invitee: string,
    inviter: string,
    now: number,
    limits: PendingLimits,
  ): Promise<void> {
    const [r] = await this.#retry(() =>
      this.#sql`SELECT * FROM chat_invite(${room}, ${invitee}, ${inviter},
        ${now}, ${limits.perSender}, ${limits.perRecipient})`
    );
    const n = Number(r!.n);
    switch (r!.status) {
      case "ok":
        return;
      case "sender_limit":
        throw new StoreError(
          "limit",
          `you have ${n} invitations waiting for an answer (the limit is ${limits.perSender}); withdraw some first`,
        );
      case "recipient_limit":
        throw new StoreError(
          "limit",
          `${invitee} has ${n} invitations waiting already (the limit is ${limits.perRecipient}); try again later`,
        );
    }
    throw new Error(`chat_invite answered '${r!.status}'`);
  }

  async invitesFor(
    user: string,
    page: Page,
  ): Promise<{ invites: InviteRecord[]; total: number }> {
    // Invitations from inviters `user` has blocked are left out.
    const selected = this.#sql`
      FROM invitations i
      WHERE i.invitee = ${user} AND i.state = 'pending' AND NOT EXISTS
        (SELECT 1 FROM blocks b WHERE b.blocker = ${user} AND b.blocked = i.inviter)`;
    const rows = await this.#sql`
      SELECT t.total, p.* FROM (SELECT count(*)::int AS total ${selected}) t
      LEFT JOIN LATERAL (
        SELECT i.* ${selected}
        ORDER BY i.created_at, i.room
        LIMIT ${page.limit} OFFSET ${page.offset}) p ON true`;
    return {
      invites: rows.filter((r) => r.room !== null).map(toInvite),
      total: Number(rows[0]?.total ?? 0),
    };
  }

  async withdrawInvite(room: string, invitee: string): Promise<boolean> {
    const res = await this.#sql`
      DELETE FROM invitations
      WHERE room = ${room} AND invitee = ${invitee} AND state = 'pending'`;
    return res.count > 0;
  }

  async getInvite(room: string, invitee: string): Promise<InviteRecord | null> {
    const [r] = await this.#sql`
      SELECT * FROM invitations WHERE room = ${room} AND invitee = ${invitee}`;
    return r ? toInvite(r) : null;
  }

  async setInviteState(
    room: string,
    invitee: string,
    state: "accepted" | "declined",
  ): Promise<void> {
    await this.#sql`
      UPDATE invitations SET state = ${state}
      WHERE room = ${room} AND invitee = ${invitee}`;
  }

  async storeOffline(
    from: string,
    to: string,
    text: string,
    now: number,
    limits: OfflineLimits,
    discard = false,
  ): Promise<OfflineRecord> {
    const [r] = await this.#retry(() =>
      this.#sql`SELECT * FROM chat_store_offline(
        ${from}, ${to}, ${text}, ${now}, ${limits.perRecipient},
        ${limits.perPair}, ${discard})`
    );
    const n = Number(r!.waiting);
    switch (r!.status) {
      case "ok":
        return { id: Number(r!.new_id), from, to, text, sentAt: now };
      case "recipient":
        throw new StoreError(
          "limit",
          `${to}'s offline inbox is full (${n} messages, the limit is ${limits.perRecipient}); try again after ${to} logs in`,
        );
      case "pair":
        throw new StoreError(
          "limit",
          `${to} has ${n} undelivered messages from you (the limit is ${limits.perPair} per sender); try again after ${to} reads them`,
        );
    }
    throw new Error(`chat_store_offline answered '${r!.status}'`);
  }

  async storeBacklog(
    from: string,
    room: string,
    rows: { to: string; text: string }[],
    now: number,
    perMember: number,
  ): Promise<void> {
    for (const { to, text } of rows) {
      await this.#retry(() =>
        this.#sql`SELECT * FROM chat_store_backlog(
          ${from}, ${to}, ${room}, ${text}, ${now}, ${perMember})`
      );
    }
  }

  async backlogDrops(to: string): Promise<BacklogDrop[]> {
    const rows = await this.#sql`
      SELECT room, dropped FROM backlog_drops
      WHERE recipient = ${to} ORDER BY room`;
    return rows.map((r) => ({
      room: r.room as string,
      dropped: Number(r.dropped),
    }));
  }

  async clearBacklogDrops(to: string, rooms: string[]): Promise<void> {
    if (rooms.length === 0) return;
    await this.#sql`
      DELETE FROM backlog_drops
      WHERE recipient = ${to} AND room = ANY(${
      this.#sql.array(rooms)
    }::citext[])`;
  }

  async offlineFor(
    to: string,
    limit: number,
    after = 0,
  ): Promise<OfflineRecord[]> {
    const rows = await this.#sql`
      SELECT id, sender, recipient, text, sent_at, room FROM offline_messages
      WHERE recipient = ${to} AND id > ${after} ORDER BY id LIMIT ${limit}`;
    return rows.map((r) => ({
      id: Number(r.id),
      from: r.sender as string,
      to: r.recipient as string,
      text: r.text as string,
      sentAt: Number(r.sent_at),
      ...(r.room !== null ? { room: r.room as string } : {}),
    }));
  }

  async countOffline(to: string): Promise<number> {
    const [r] = await this.#sql`
      SELECT COUNT(*)::int AS n FROM offline_messages WHERE recipient = ${to}`;
    return Number(r!.n);
  }

  /**
   * Deletes the rows. PostgreSQL has no secure delete: a deleted row's text
   * stays in the table's dead row versions and free space until overwritten,
   * and in the WAL until it is recycled (docs/security.md says so). Writing
   * the text over first would not help: an UPDATE writes a new row version
   * and leaves the old one in place.
   */
  async deleteOffline(to: string, ids: number[]): Promise<number> {
    if (ids.length === 0) return 0;
    const res = await this.#sql`
      DELETE FROM offline_messages
      WHERE recipient = ${to} AND id = ANY(${this.#sql.array(ids)}::bigint[])`;
    return res.count;
  }

  async deliverOffline(
    to: string,
    ids: number[],
    now: number,
  ): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.#sql`
      WITH gone AS (
        DELETE FROM offline_messages
        WHERE recipient = ${to} AND id = ANY(${this.#sql.array(ids)}::bigint[])
        RETURNING sender, recipient, sent_at, room)
      INSERT INTO offline_receipts (sender, recipient, sent_at, delivered_at)
      SELECT sender, recipient, sent_at, ${now} FROM gone WHERE room IS NULL
      RETURNING sender`;
    return rows.map((r) => r.sender as string);
  }

  async receiptsFor(sender: string, limit: number): Promise<ReceiptRecord[]> {
    const rows = await this.#sql`
      SELECT id, recipient, sent_at, delivered_at FROM offline_receipts
      WHERE sender = ${sender} ORDER BY id LIMIT ${limit}`;
    return rows.map((r) => ({
      id: Number(r.id),
      to: r.recipient as string,
      sentAt: Number(r.sent_at),
      deliveredAt: Number(r.delivered_at),
    }));
  }

  async countReceipts(sender: string): Promise<number> {
    const [r] = await this.#sql`
      SELECT COUNT(*)::int AS n FROM offline_receipts WHERE sender = ${sender}`;
    return Number(r!.n);
  }

  async deleteReceipts(sender: string, ids: number[]): Promise<number> {
    if (ids.length === 0) return 0;
    const res = await this.#sql`
      DELETE FROM offline_receipts
      WHERE sender = ${sender} AND id = ANY(${this.#sql.array(ids)}::bigint[])`;
    return res.count;
  }

  /**
   * Ends the pool (and any LISTEN connection), giving queries in flight up
   * to CLOSE_GRACE_S. A connection the server cut earlier always takes that
   * long: the driver keeps waiting for the answer to its failed query.
   */
  close(): Promise<void> {
    this.#closed ??= Promise.all([
      this.#sql.end({ timeout: CLOSE_GRACE_S }),
      this.#lease.end({ timeout: CLOSE_GRACE_S }),
    ]).then(() => {});
    return this.#closed;
  }

  /** `await using` support: the same as close(). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The TLS setting for the driver, from libpq's sslmode and sslrootcert. */
async function sslOption(
  target: PostgresTarget,
): Promise<boolean | "prefer" | "require" | Record<string, unknown>> {
  let ca: string | undefined;
  if (target.sslrootcert !== null) {
    try {
      ca = await Deno.readTextFile(target.sslrootcert);
    } catch (err) {
      throw new StoreOpenError(
        "url",
        `cannot read sslrootcert ${target.sslrootcert} of --db ${target.display}: ${
          oneLine(err)
        }`,
      );
    }
  }
  switch (target.sslmode) {
    case "disable":
      return false;
    case "prefer":
      return "prefer";
    case "require":
      // As libpq: with a root certificate given, require checks the chain.
      if (ca === undefined) return "require";
      return {
        ca,
        rejectUnauthorized: true,
        checkServerIdentity: () => undefined,
      };
    case "verify-ca":
      return {
        ...(ca === undefined ? {} : { ca }),
        rejectUnauthorized: true,
        checkServerIdentity: () => undefined,
      };
    case "verify-full":
      return {
        ...(ca === undefined ? {} : { ca }),
        rejectUnauthorized: true,
        ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
        // Checked against the host of the URL explicitly: over an existing
        // socket Deno's node:tls passes "localhost" here, not the host.
        checkServerIdentity: (_host: string, cert: PeerCertificate) =>
          checkServerIdentity(target.host, cert),
      };
  }
}

/** `text` as an SQL string literal (standard_conforming_strings is on). */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
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
    user: String(r.member),
    name: String(r.name),
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

/** The SQLSTATE of a server error, or the driver's code of a network one. */
function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function isUniqueViolation(err: unknown): boolean {
  return err instanceof postgres.PostgresError && err.code === "23505";
}

/** Deadlock detected, or a serialization failure: safe to run again. */
function isRetryable(err: unknown): boolean {
  return err instanceof postgres.PostgresError &&
    (err.code === "40P01" || err.code === "40001");
}

/** One line saying why opening failed, naming the host and port. */
function openFailure(target: PostgresTarget, err: unknown): string {
  const where =
    `the PostgreSQL database '${target.database}' at ${target.host}:${target.port} as ${target.user}`;
  const code = errorCode(err);
  switch (code) {
    case "ECONNREFUSED":
      return `cannot open ${where}: connection refused; check that PostgreSQL runs there and --db names the right host and port`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot open ${where}: host ${target.host} not found; check the host name in --db`;
    case "CONNECT_TIMEOUT":
      return `cannot open ${where}: no answer within ${target.connectTimeoutS} s; check the host, port and firewall, or raise ?connect_timeout=`;
    case "28P01":
    case "28000":
      return `cannot open ${where}: ${
        oneLine(err)
      }; check the user and password in --db`;
    case "3D000":
      return `cannot open ${where}: ${
        oneLine(err)
      }; create it first (createdb ${target.database})`;
    case "ECONNRESET":
      if (target.sslmode !== "disable" && target.sslmode !== "prefer") {
        return `cannot open ${where}: the server hung up on the TLS handshake; turn on ssl in its postgresql.conf or lower sslmode in --db`;
      }
      break;
  }
  if (code !== undefined && CERTIFICATE_ERRORS.has(code)) {
    return `cannot open ${where}: its TLS certificate was refused (${
      oneLine(err)
    }); name the CA that signed it with ?sslrootcert=FILE, or connect by a name the certificate lists`;
  }
  return `cannot open ${where}: ${oneLine(err)}`;
}

/** node:tls codes of a certificate that failed verification. */
const CERTIFICATE_ERRORS = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, " ").trim();
}
