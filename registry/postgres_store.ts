/**
 * The server store: PostgreSQL through npm:postgres, for several registries
 * sharing one database.
 *
 * Where the SQLite store relies on BEGIN IMMEDIATE (one writer at a time), this
 * one runs READ COMMITTED transactions that first take the lock guarding the
 * invariant they check, so two registries never both pass the same check:
 * the room's row (FOR NO KEY UPDATE) for capacity, join order and ownership
 * hand-over; a transaction-scoped advisory lock on the pair for friend
 * requests and blocks, and on the recipient for the offline-mail limit.
 * Every statement after the lock sees what the previous holder committed.
 * Deadlocks and serialization failures are retried a few times.
 */
import postgres from "postgres";
import { MIGRATIONS } from "./migrations.ts";
import type { PostgresTarget } from "./postgres_url.ts";
import { ownerAfterLeave } from "./rooms.ts";
import {
  DEFAULT_STATUS,
  type InviteRecord,
  type MemberRecord,
  type OfflineRecord,
  type Relation,
  type RoomRecord,
  type Store,
  StoreError,
  StoreOpenError,
  type UserRecord,
} from "./store.ts";

/** The driver's client, for queries of the cluster's own (LISTEN/NOTIFY). */
export type Sql = postgres.Sql;
type Tx = postgres.TransactionSql;
type Row = postgres.Row;

/** Connections per store; a registry's queries are short. */
export const POOL_SIZE = 10;

/** Attempts of a transaction that lost a deadlock or serialization race. */
const TX_ATTEMPTS = 5;

/** Environment names the driver reads whatever options it is given. */
export const DRIVER_ENV_NAMES = ["PGAPPNAME", "PGTARGETSESSIONATTRS"] as const;

/** Advisory-lock namespace so the store's locks never meet anyone else's. */
const LOCK_PREFIX = "chat:";

/** A subscription made with `PostgresStore.listen`. */
export interface Listening {
  /** Stops delivering; resolves once the server was told. */
  unlisten(): Promise<void>;
}

/** A Store on PostgreSQL. Open with `PostgresStore.open(target)`. */
export class PostgresStore implements Store {
  readonly #sql: Sql;
  #closed: Promise<void> | null = null;
  /** Where the store is connected, without the password (for logs). */
  readonly display: string;

  private constructor(sql: Sql, display: string) {
    this.#sql = sql;
    this.display = display;
  }

  /**
   * Connects and migrates; throws StoreOpenError with one line naming the
   * host and port when the server cannot be reached or refuses.
   */
  static async open(target: PostgresTarget): Promise<PostgresStore> {
    const ssl = await sslOption(target);
    let sql: Sql;
    try {
      sql = postgres({
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
      } as postgres.Options<Record<string, postgres.PostgresType>>);
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
    const store = new PostgresStore(sql, target.display);
    try {
      await store.#migrate();
    } catch (err) {
      await sql.end({ timeout: 1 });
      if (err instanceof StoreOpenError) throw err;
      throw new StoreOpenError("connect", openFailure(target, err));
    }
    return store;
  }

  /** The driver's client, for the cluster's own queries. */
  get sql(): Sql {
    return this.#sql;
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
    const meta = await this.#sql.listen(channel, onPayload, onListen);
    return { unlisten: () => meta.unlisten() };
  }

  /** Sends `payload` to every listener of `channel` (at most 8000 bytes). */
  async notify(channel: string, payload: string): Promise<void> {
    await this.#sql.notify(channel, payload);
  }

  async #migrate(): Promise<void> {
    // Two registries starting on an empty database at once take turns: the
    // advisory lock is held until each migration's transaction ends.
    await this.#sql.begin(async (tx) => {
      await lock(tx, "migrate");
      await tx`CREATE TABLE IF NOT EXISTS schema_version (
        version    integer PRIMARY KEY,
        what       text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`;
    });
    for (let v = 0; v < MIGRATIONS.length; v++) {
      const m = MIGRATIONS[v]!;
      await this.#sql.begin(async (tx) => {
        await lock(tx, "migrate");
        const current = await versionIn(tx);
        if (current > MIGRATIONS.length) {
          throw new StoreOpenError(
            "schema",
            `the database ${this.display} is at schema version ${current} but this chat knows only ${MIGRATIONS.length}; run a newer chat`,
          );
        }
        if (current > v) return;
        await tx.unsafe(m.postgres);
        await tx`INSERT INTO schema_version (version, what)
                 VALUES (${v + 1}, ${m.what})`;
      });
    }
  }

  /** Runs `fn` in a transaction, again when it lost a deadlock or race. */
  async #tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#sql.begin(fn) as T;
      } catch (err) {
        if (attempt >= TX_ATTEMPTS || !isRetryable(err)) throw err;
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
    // One statement in one order, so two registries never deadlock on it.
    const sorted = [...new Set(names.map((n) => n.toLowerCase()))].sort();
    await this.#tx((tx) =>
      tx`UPDATE users SET last_seen = ${at}
         WHERE name = ANY(${tx.array(sorted)}::citext[])`
    );
  }

  async setPasswordHash(name: string, passwordHash: string): Promise<void> {
    await this.#sql`
      UPDATE users SET password_hash = ${passwordHash} WHERE name = ${name}`;
  }

  relation(a: string, b: string): Promise<Relation> {
    return relationIn(this.#sql, a, b);
  }

  requestFriend(
    a: string,
    b: string,
    now: number,
  ): Promise<"pending" | "friends"> {
    return this.#tx(async (tx) => {
      await lock(tx, pairKey("friends", a, b));
      const rel = await relationIn(tx, a, b);
      if (rel === "friends") return "friends";
      if (rel === "requested") return "pending";
      if (rel === "requested_you") {
        await tx`
          UPDATE friendships SET state = 'accepted', created_at = ${now}
          WHERE requester = ${b} AND addressee = ${a}`;
        return "friends";
      }
      await tx`
        INSERT INTO friendships (requester, addressee, state, created_at)
        VALUES (${a}, ${b}, 'pending', ${now})`;
      return "pending";
    });
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

  async requestsOf(
    name: string,
  ): Promise<{ incoming: string[]; outgoing: string[] }> {
    const [incoming, outgoing] = await Promise.all([
      this.#sql`
        SELECT requester FROM friendships
        WHERE addressee = ${name} AND state = 'pending' ORDER BY created_at`,
      this.#sql`
        SELECT addressee FROM friendships
        WHERE requester = ${name} AND state = 'pending' ORDER BY created_at`,
    ]);
    return {
      incoming: incoming.map((r) => r.requester as string),
      outgoing: outgoing.map((r) => r.addressee as string),
    };
  }

  async block(a: string, b: string, now: number): Promise<void> {
    await this.#tx(async (tx) => {
      // The same lock as requestFriend: a request racing the block cannot
      // slip in between the insert and the delete.
      await lock(tx, pairKey("friends", a, b));
      await tx`
        INSERT INTO blocks (blocker, blocked, created_at)
        VALUES (${a}, ${b}, ${now}) ON CONFLICT DO NOTHING`;
      await tx`
        DELETE FROM friendships
        WHERE (requester = ${a} AND addressee = ${b})
           OR (requester = ${b} AND addressee = ${a})`;
    });
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

  async createRoom(room: RoomRecord): Promise<void> {
    await this.#tx(async (tx) => {
      try {
        await tx`
          INSERT INTO rooms (name, password_hash, capacity, description, owner, created_at)
          VALUES (${room.name}, ${room.passwordHash}, ${room.capacity},
                  ${room.description}, ${room.owner}, ${room.createdAt})`;
      } catch (err) {
        if (isUniqueViolation(err)) {
          throw new StoreError(
            "taken",
            `room '${room.name.toLowerCase()}' already exists`,
          );
        }
        throw err;
      }
      await tx`
        INSERT INTO room_members (room, member, joined_at, seq)
        VALUES (${room.name}, ${room.owner}, ${room.createdAt}, 1)`;
    });
  }

  async getRoom(name: string): Promise<RoomRecord | null> {
    const [r] = await this.#sql`SELECT * FROM rooms WHERE name = ${name}`;
    return r ? toRoom(r) : null;
  }

  async listRooms(
    limit: number,
    member?: string,
  ): Promise<(RoomRecord & { members: number })[]> {
    const who = member ?? null;
    const rows = await this.#sql`
      SELECT r.*,
        (SELECT COUNT(*) FROM room_members m WHERE m.room = r.name)::int AS members
      FROM rooms r
      WHERE ${who}::citext IS NULL OR EXISTS
        (SELECT 1 FROM room_members me WHERE me.room = r.name AND me.member = ${who})
      ORDER BY r.name LIMIT ${limit}`;
    return rows.map((r) => ({ ...toRoom(r), members: Number(r.members) }));
  }

  addMember(room: string, user: string, now: number): Promise<void> {
    return this.#tx(async (tx) => {
      // The room's row is the lock for its capacity and join order.
      const [r] = await tx`
        SELECT capacity FROM rooms WHERE name = ${room} FOR NO KEY UPDATE`;
      if (!r) throw new StoreError("not_found", `there is no room '${room}'`);
      const [me] = await tx`
        SELECT 1 FROM room_members WHERE room = ${room} AND member = ${user}`;
      if (me) throw new StoreError("state", `you are already in ${room}`);
      const [c] = await tx`
        SELECT COUNT(*)::int AS n FROM room_members WHERE room = ${room}`;
      if (Number(c!.n) >= Number(r.capacity)) {
        throw new StoreError(
          "full",
          `room '${room}' is full (${r.capacity} members)`,
        );
      }
      await tx`
        INSERT INTO room_members (room, member, joined_at, seq)
        VALUES (${room}, ${user}, ${now},
          (SELECT COALESCE(MAX(seq), 0) + 1 FROM room_members WHERE room = ${room}))`;
    });
  }

  removeMember(
    room: string,
    user: string,
  ): Promise<{ removed: boolean; newOwner: string | null; deleted: boolean }> {
    const none = { removed: false, newOwner: null, deleted: false };
    return this.#tx(async (tx) => {
      const [r] = await tx`
        SELECT owner FROM rooms WHERE name = ${room} FOR NO KEY UPDATE`;
      if (!r) return none;
      const order = (await tx`
        SELECT member FROM room_members WHERE room = ${room} ORDER BY seq`)
        .map((m) => m.member as string);
      if (!order.includes(user)) return none;
      await tx`
        DELETE FROM room_members WHERE room = ${room} AND member = ${user}`;
      const owner = r.owner as string;
      const next = ownerAfterLeave(owner, order, user);
      if (next === null) {
        await tx`DELETE FROM rooms WHERE name = ${room}`;
        return { removed: true, newOwner: null, deleted: true };
      }
      if (next === owner) {
        return { removed: true, newOwner: null, deleted: false };
      }
      await tx`UPDATE rooms SET owner = ${next} WHERE name = ${room}`;
      return { removed: true, newOwner: next, deleted: false };
    });
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

  async setOwner(room: string, user: string): Promise<void> {
    await this.#sql`UPDATE rooms SET owner = ${user} WHERE name = ${room}`;
  }

  async invite(
    room: string,
    invitee: string,
    inviter: string,
    now: number,
  ): Promise<void> {
    await this.#sql`
      INSERT INTO invitations (room, invitee, inviter, state, created_at)
      VALUES (${room}, ${invitee}, ${inviter}, 'pending', ${now})
      ON CONFLICT (room, invitee) DO UPDATE
      SET inviter = excluded.inviter, state = 'pending',
          created_at = excluded.created_at`;
  }

  async invitesFor(user: string): Promise<InviteRecord[]> {
    const rows = await this.#sql`
      SELECT * FROM invitations
      WHERE invitee = ${user} AND state = 'pending' ORDER BY created_at`;
    return rows.map(toInvite);
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

  storeOffline(
    from: string,
    to: string,
    text: string,
    now: number,
    maxPerRecipient: number,
  ): Promise<OfflineRecord> {
    return this.#tx(async (tx) => {
      // The recipient's mailbox limit holds across registries.
      await lock(tx, `offline:${to.toLowerCase()}`);
      const [c] = await tx`
        SELECT COUNT(*)::int AS n FROM offline_messages WHERE recipient = ${to}`;
      const n = Number(c!.n);
      if (n >= maxPerRecipient) {
        throw new StoreError(
          "limit",
          `${to} has ${n} undelivered messages already; try again after ${to} logs in`,
        );
      }
      const [r] = await tx`
        INSERT INTO offline_messages (sender, recipient, text, sent_at)
        VALUES (${from}, ${to}, ${text}, ${now}) RETURNING id`;
      return { id: Number(r!.id), from, to, text, sentAt: now };
    });
  }

  async offlineFor(to: string, limit: number): Promise<OfflineRecord[]> {
    const rows = await this.#sql`
      SELECT id, sender, recipient, text, sent_at FROM offline_messages
      WHERE recipient = ${to} ORDER BY id LIMIT ${limit}`;
    return rows.map((r) => ({
      id: Number(r.id),
      from: r.sender as string,
      to: r.recipient as string,
      text: r.text as string,
      sentAt: Number(r.sent_at),
    }));
  }

  async countOffline(to: string): Promise<number> {
    const [r] = await this.#sql`
      SELECT COUNT(*)::int AS n FROM offline_messages WHERE recipient = ${to}`;
    return Number(r!.n);
  }

  async deleteOffline(to: string, ids: number[]): Promise<number> {
    if (ids.length === 0) return 0;
    const res = await this.#sql`
      DELETE FROM offline_messages
      WHERE recipient = ${to} AND id = ANY(${this.#sql.array(ids)}::bigint[])`;
    return res.count;
  }

  /** Ends the pool (and any LISTEN connection); waits up to 5 s for queries. */
  close(): Promise<void> {
    this.#closed ??= this.#sql.end({ timeout: 5 });
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
        ...(isIpAddress(target.host) ? {} : { servername: target.host }),
      };
  }
}

function isIpAddress(host: string): boolean {
  return /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(":");
}

/** Takes a transaction-scoped advisory lock named `key`. */
async function lock(tx: Tx, key: string): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(hashtextextended(${
    LOCK_PREFIX + key
  }, 0))`;
}

/** One key for the unordered pair {a, b}. */
function pairKey(kind: string, a: string, b: string): string {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()].sort();
  return `${kind}:${x} ${y}`;
}

async function versionIn(tx: Tx): Promise<number> {
  const [r] = await tx`
    SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_version`;
  return Number(r!.v);
}

async function relationIn(
  sql: Sql | Tx,
  a: string,
  b: string,
): Promise<Relation> {
  const [r] = await sql`
    SELECT requester, state FROM friendships
    WHERE (requester = ${a} AND addressee = ${b})
       OR (requester = ${b} AND addressee = ${a})`;
  if (!r) return "none";
  if (r.state === "accepted") return "friends";
  return r.requester === a ? "requested" : "requested_you";
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
  }
  return `cannot open ${where}: ${oneLine(err)}`;
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, " ").trim();
}
