/**
 * The directory of a registry cluster: several registry processes on one
 * PostgreSQL database acting as one registry.
 *
 * Each process (an instance) holds the sessions connected to it. The table
 * `online_sessions` says which instance holds each online session; every
 * instance keeps a copy of the others' rows in memory, kept current by the
 * notifications the schema's functions send as they change the table
 * (registry/cluster_schema.ts), so presence questions never wait for the
 * database. An event for a user on another instance goes to that instance's
 * channel as a small notification; a replaced session is ended by a kick
 * sent the same way.
 *
 * Each instance renews a lease; one whose lease runs out (killed, cut off)
 * is swept by the next instance that renews its own: its sessions go, and
 * their users' audiences hear they went offline. Notifications are not
 * replayed, so after the database connection comes back an instance
 * registers again with the sessions it holds and reloads the others' rows.
 *
 * An instance that was swept while it still ran (it stalled longer than its
 * lease: SIGSTOP, a suspended machine, a lease connection cut off) registers
 * its sessions again as soon as it hears of it; their users' audiences on
 * other instances hear they are online again, and its own users hear of the
 * comings and goings elsewhere that were not pushed to them meanwhile (the
 * other instances had forgotten their sessions).
 */
import type { Logger } from "../common/log.ts";
import type { RegistryEvent } from "../wire/mod.ts";
import { fingerprintPem } from "../common/fingerprint.ts";
import {
  CLUSTER_CHANNEL,
  CLUSTER_SCHEMA,
  instanceChannel,
} from "./cluster_schema.ts";
import {
  type Claim,
  type DialTarget,
  dialTargetOf,
  type Directory,
  type Introduced,
  introducedOf,
  type Presence,
  type SharedFailures,
} from "./directory.ts";
import type { Listening, PostgresStore } from "./postgres_store.ts";
import type { Session, SessionKind, SessionTable } from "./sessions.ts";

/** Largest notification payload sent (PostgreSQL's limit is 8000 bytes). */
export const MAX_PAYLOAD_BYTES = 7000;

/** A lease never shorter than this, whatever the heartbeat TTL. */
export const MIN_LEASE_MS = 1000;

/** How often the lease is renewed, as a share of it. */
export function tickEveryFor(leaseMs: number): number {
  return Math.max(100, Math.min(1000, Math.floor(leaseMs / 3)));
}

/** What the cluster directory asks of the registry that holds it. */
export interface ClusterHooks {
  /** Ends a session of ours that another instance replaced. */
  replaced(sessionId: string): Promise<void>;
  /** Users gone offline because their instance died. */
  offline(users: string[]): Promise<void>;
  /**
   * After this instance was swept (a stall longer than its lease) and its
   * sessions registered again: `back`, the users of ours online again, and
   * `changed`, users elsewhere who came or went while our users were not
   * told (their audiences here must hear it now).
   */
  cameBack(back: string[], changed: string[]): Promise<void>;
  /** Ends our sessions of `user` on device `name` (revoked or logged out elsewhere). */
  endDevice(
    user: string,
    name: string,
    reason: "revoked" | "logout",
  ): Promise<void>;
}

/** How to join a cluster. */
export interface ClusterOptions {
  store: PostgresStore;
  local: SessionTable;
  /** What this instance serves, for operators reading the table. */
  address: string;
  /** How long the lease lasts; the heartbeat TTL (at least MIN_LEASE_MS). */
  leaseMs: number;
  /** The identity this instance presents. */
  identity: { certPem: string; signingPublicKey: string };
  logger: Logger;
}

/** A remote session as kept in memory. */
interface Remote extends Presence {
  instance: string;
}

/** A message on an instance's channel. */
type Direct =
  | { t: "ev"; l: [string[], RegistryEvent][] }
  | { t: "kick"; id: string }
  | { t: "to"; id: string; e: RegistryEvent };

/** A message on the cluster's channel. */
type Change =
  | {
    t: "up";
    id: string;
    u: string;
    k: SessionKind;
    i: string;
    h: string;
    p: number | null;
    f: string | null;
    at: number;
  }
  | { t: "down"; id: string; i: string }
  | { t: "gone"; i: string }
  | { t: "resync"; i: string }
  | { t: "end"; i: string; u: string; d: string; r: "revoked" | "logout" };

/** Refused to join: another identity already serves this database. */
export class IdentityMismatch extends Error {
  override name = "IdentityMismatch";
}

/** See the module doc. */
export class ClusterDirectory implements Directory {
  readonly local: SessionTable;
  readonly failures: SharedFailures;
  /** This instance's id (random per start). */
  readonly id: string;
  readonly #o: ClusterOptions;
  readonly #remote = new Map<string, Remote>();
  readonly #remoteByUser = new Map<string, Set<Remote>>();
  #hooks: ClusterHooks | null = null;
  #listening: Listening[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Changes heard while the table is being reloaded, applied after it. */
  #heldBack: Change[] | null = null;
  #resyncing: Promise<void> | null = null;
  #resyncAgain = false;
  #ticking = false;
  #tickFailing = false;
  /** Per destination instance, the events waiting to be sent, in order. */
  readonly #outbox = new Map<string, Direct[]>();
  #flushing: Promise<void> | null = null;
  #closed = false;
  /**
   * Since this instance heard it was swept, until a lease after its sessions
   * are registered again: users of other instances whose presence changed,
   * whose pushes may not have reached our users.
   */
  #missed: Set<string> | null = null;
  #missedTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(o: ClusterOptions) {
    this.#o = o;
    this.local = o.local;
    this.failures = new PostgresFailures(o.store);
    this.id = Array.from(
      crypto.getRandomValues(new Uint8Array(8)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
  }

  /**
   * Creates the cluster's tables if needed, checks the identity, registers
   * this instance and starts renewing its lease.
   */
  static async start(o: ClusterOptions): Promise<ClusterDirectory> {
    const sql = o.store.sql;
    await sql.unsafe(CLUSTER_SCHEMA);
    await checkIdentity(o.store, o.identity);
    const d = new ClusterDirectory(o);
    let first = true;
    const onListen = () => {
      // The first subscription is the start; any later one a reconnect.
      if (first) return;
      o.logger.info("cluster database reconnected");
      d.#resync();
    };
    d.#listening.push(
      await o.store.listen(CLUSTER_CHANNEL, (p) => d.#change(p), onListen),
      await o.store.listen(instanceChannel(d.id), (p) => d.#direct(p)),
    );
    first = false;
    await d.#register();
    d.#timer = setInterval(() => d.#tick(), tickEveryFor(o.leaseMs));
    return d;
  }

  /** Connects the directory to the registry it serves. */
  attach(hooks: ClusterHooks): void {
    this.#hooks = hooks;
  }

  get #leaseMs(): number {
    return Math.max(MIN_LEASE_MS, Math.round(this.#o.leaseMs));
  }

  peerOf(user: string): Presence | undefined {
    const mine = this.local.peerOf(user);
    if (mine) return mine;
    for (const r of this.#remoteByUser.get(user) ?? []) {
      if (r.kind === "peer") return r;
    }
    return undefined;
  }

  *peers(): Iterable<Presence> {
    yield* this.local.peers();
    for (const r of this.#remote.values()) if (r.kind === "peer") yield r;
  }

  /** Number of sessions of other instances known here. */
  get remoteSessions(): number {
    return this.#remote.size;
  }

  async dialTarget(
    user: string,
    purpose: "chat" | "file",
  ): Promise<DialTarget | null> {
    if (purpose === "chat") {
      const mine = dialTargetOf(this.local.peerOf(user));
      if (mine) return mine;
    }
    // Asked of the table, not the copy in memory: a session that logged in
    // on another instance a moment ago is in the table before its
    // notification has arrived here.
    // The newest `chat receive`, else the interactive session, wherever.
    const [r] = await this.#o.store.sql`
      SELECT id, host, p2p_port, cert, cert_fp, cands, reach
        FROM online_sessions
       WHERE member = ${user}
         AND (kind = 'peer' OR (${purpose === "file"} AND kind = 'receive'))
         AND cert IS NOT NULL AND cert_fp IS NOT NULL
       ORDER BY (kind = 'receive') DESC, login_at DESC
       LIMIT 1`;
    if (!r) return null;
    const mine = this.local.byId(String(r.id));
    if (mine) return dialTargetOf(mine);
    return {
      id: String(r.id),
      host: String(r.host),
      p2pPort: Number(r.p2p_port ?? 0),
      cert: String(r.cert),
      certFingerprint: String(r.cert_fp),
      candidates: candidatesOf(r.cands),
      reachable: r.reach === null ? null : Boolean(r.reach),
      session: null,
    };
  }

  async introduced(
    user: string,
    certFingerprint: string,
  ): Promise<Introduced | null> {
    const mine = introducedOf(this.local, user, certFingerprint);
    if (mine) return mine;
    const [r] = await this.#o.store.sql`
      SELECT id, lower(member::text) AS member, skey, host, instance
        FROM online_sessions
       WHERE member = ${user} AND cert_fp = ${certFingerprint}
         AND skey IS NOT NULL AND instance <> ${this.id}
       ORDER BY login_at DESC LIMIT 1`;
    if (!r) return null;
    return {
      id: String(r.id),
      user: String(r.member),
      key: String(r.skey),
      host: String(r.host),
      instance: String(r.instance),
    };
  }

  sendTo(target: Introduced, ev: RegistryEvent): void {
    if (target.instance === null) {
      this.local.byId(target.id)?.link.send(ev);
      return;
    }
    this.#send(target.instance, { t: "to", id: target.id, e: ev });
  }

  reached(s: Session): void {
    if (s.kind === "tool" || s.reachable === null) return;
    void this.#o.store.sql`
      UPDATE online_sessions SET reach = ${s.reachable} WHERE id = ${s.id}`
      .catch((err) =>
        this.#o.logger.warn("probe verdict not stored", {
          error: err instanceof Error ? err.message : String(err),
        })
      );
  }

  async endDevice(
    user: string,
    name: string,
    reason: "revoked" | "logout",
  ): Promise<number> {
    // Every instance hears it (one-shot commands hold no row, and end too).
    const change: Change = {
      t: "end",
      i: this.id,
      u: user,
      d: name,
      r: reason,
    };
    const [r] = await this.#o.store.sql`
      SELECT pg_notify(${CLUSTER_CHANNEL}, ${JSON.stringify(change)}),
             (SELECT count(*)::int FROM online_sessions
               WHERE member = ${user} AND device = ${name}
                 AND instance <> ${this.id}) AS n`;
    return Number(r!.n);
  }

  async claim(s: Session, replace: boolean): Promise<Claim> {
    if (s.kind === "tool") return { ok: true, replaced: null };
    const [r] = await this.#o.store.sql`
      SELECT status, old_id, old_instance FROM chat_claim_session(
        ${s.id}, ${s.user}, ${s.kind}, ${this.id}, ${s.host}, ${s.p2pPort},
        ${s.cert}, ${s.certFingerprint}, ${s.loginAt}, ${replace}, ${s.key},
        ${this.#o.store.sql.json(s.candidates)}, ${s.device})`;
    if (r!.status !== "ok") return { ok: false };
    const oldId = r!.old_id as string | null;
    const oldInstance = r!.old_instance as string | null;
    if (oldId === null || oldInstance === null) {
      return { ok: true, replaced: this.#localPeerOtherThan(s) };
    }
    if (oldInstance === this.id) {
      return { ok: true, replaced: this.local.byId(oldId) ?? null };
    }
    this.#forget(oldId);
    this.#send(oldInstance, { t: "kick", id: oldId });
    return { ok: true, replaced: null };
  }

  /** A local interactive session of the same user not in the table (a race). */
  #localPeerOtherThan(s: Session): Session | null {
    const older = s.kind === "peer" ? this.local.peerOf(s.user) : undefined;
    return older && older.id !== s.id ? older : null;
  }

  async release(s: Session): Promise<void> {
    if (s.kind === "tool") return;
    await this.#o.store.sql`SELECT chat_release_session(${s.id})`;
  }

  deliver(users: Iterable<string>, ev: RegistryEvent): void {
    const away = new Map<string, string[]>();
    for (const user of users) {
      const mine = this.local.peerOf(user);
      if (mine) {
        mine.link.send(ev);
        continue;
      }
      for (const r of this.#remoteByUser.get(user) ?? []) {
        if (r.kind !== "peer") continue;
        let list = away.get(r.instance);
        if (!list) away.set(r.instance, list = []);
        list.push(user);
      }
    }
    for (const [instance, list] of away) {
      this.#send(instance, { t: "ev", l: [[list, ev]] });
    }
  }

  /** Queues a message for another instance; one flusher sends in order. */
  #send(instance: string, msg: Direct): void {
    if (this.#closed) return;
    let q = this.#outbox.get(instance);
    if (!q) this.#outbox.set(instance, q = []);
    q.push(msg);
    this.#flushing ??= this.#flush().finally(() => this.#flushing = null);
  }

  async #flush(): Promise<void> {
    while (this.#outbox.size > 0) {
      const [instance, q] = this.#outbox.entries().next().value!;
      this.#outbox.delete(instance);
      for (const payload of pack(q)) {
        try {
          await this.#o.store.notify(instanceChannel(instance), payload);
        } catch (err) {
          // Events are best effort: what a user must not miss (requests,
          // invitations, offline messages) is stored and sent at login.
          this.#o.logger.warn("cluster event not sent", {
            instance,
            error: err instanceof Error ? err.message : String(err),
          });
        }
      }
    }
  }

  #direct(payload: string): void {
    let msg: Direct;
    try {
      msg = JSON.parse(payload);
    } catch {
      return; // Not ours: only instances write to this channel.
    }
    if (msg.t === "kick") {
      void this.#hooks?.replaced(msg.id).catch((err) =>
        this.#o.logger.error("kick failed", { error: String(err) })
      );
      return;
    }
    if (msg.t === "to") {
      this.local.byId(msg.id)?.link.send(msg.e);
      return;
    }
    if (msg.t === "ev") {
      for (const [users, ev] of msg.l) {
        for (const user of users) this.local.peerOf(user)?.link.send(ev);
      }
    }
  }

  #change(payload: string): void {
    let c: Change;
    try {
      c = JSON.parse(payload);
    } catch {
      return;
    }
    if (this.#heldBack) {
      this.#heldBack.push(c);
      return;
    }
    this.#apply(c);
  }

  #apply(c: Change): void {
    if (c.t === "end") {
      // The instance that revoked the device ended its own sessions.
      if (c.i !== this.id) {
        void this.#hooks?.endDevice(c.u, c.d, c.r).catch((err) =>
          this.#o.logger.error("device end failed", { error: String(err) })
        );
      }
      return;
    }
    if (c.i === this.id) {
      // Our own sessions are in the session table; a sweep of this
      // instance (a stall longer than the lease) means: register again.
      if (c.t === "gone" && !this.#closed) this.#swept();
      return;
    }
    if (this.#missed) this.#noteMissed(c);
    switch (c.t) {
      case "up":
        this.#forget(c.id);
        this.#remember({
          id: c.id,
          user: c.u,
          kind: c.k,
          instance: c.i,
          host: c.h,
          p2pPort: c.p,
          certFingerprint: c.f,
          loginAt: c.at,
        });
        break;
      case "down":
        this.#forget(c.id);
        break;
      case "gone":
        this.#forgetInstance(c.i);
        break;
      case "resync":
        // Its sessions may have changed while it was away: reload them.
        this.#resync(false);
        break;
    }
  }

  /** Another instance swept ours: register again, noting what we miss. */
  #swept(): void {
    if (this.#closed) return;
    this.#missed ??= new Set();
    clearTimeout(this.#missedTimer);
    this.#missedTimer = undefined;
    this.#resync();
  }

  /** The users of another instance's change, while our users miss pushes. */
  #noteMissed(c: Change): void {
    const missed = this.#missed!;
    if (c.t === "up" && c.k === "peer") missed.add(c.u);
    else if (c.t === "down") {
      const r = this.#remote.get(c.id);
      if (r?.kind === "peer") missed.add(r.user);
    } else if (c.t === "gone") {
      for (const r of this.#remote.values()) {
        if (r.instance === c.i && r.kind === "peer") missed.add(r.user);
      }
    }
  }

  /** What the users of ours and theirs must hear after a sweep of ours. */
  #catchUp(back: string[]): void {
    const missed = this.#missed;
    if (!missed) return;
    this.#tellMissed(back, missed);
    // The other instances reload our rows when they hear we registered
    // again; what they pushed before that is caught up a lease later.
    clearTimeout(this.#missedTimer);
    this.#missedTimer = setTimeout(() => {
      this.#missedTimer = undefined;
      if (this.#missed !== missed || this.#closed) return;
      this.#missed = null;
      this.#tellMissed([], missed);
    }, this.#leaseMs);
  }

  #tellMissed(back: string[], missed: Set<string>): void {
    const changed = [...missed];
    missed.clear();
    if (back.length === 0 && changed.length === 0) return;
    this.#o.logger.info("cluster sessions registered again", {
      back: back.length,
      changed: changed.length,
    });
    const hooks = this.#hooks;
    this.#announcing = this.#announcing
      .then(() => hooks?.cameBack(back, changed))
      .catch((err) =>
        this.#o.logger.error("presence after a sweep failed", {
          error: String(err),
        })
      );
  }

  #remember(r: Remote): void {
    this.#remote.set(r.id, r);
    let set = this.#remoteByUser.get(r.user);
    if (!set) this.#remoteByUser.set(r.user, set = new Set());
    set.add(r);
  }

  #forget(id: string): void {
    const r = this.#remote.get(id);
    if (!r) return;
    this.#remote.delete(id);
    const set = this.#remoteByUser.get(r.user);
    set?.delete(r);
    if (set?.size === 0) this.#remoteByUser.delete(r.user);
  }

  #forgetInstance(instance: string): void {
    for (const r of [...this.#remote.values()]) {
      if (r.instance === instance) this.#forget(r.id);
    }
  }

  /** Registers with the sessions held here and reloads the others'. */
  async #register(withOurs = true): Promise<void> {
    const { store, address } = this.#o;
    let withOursDone: string[] | null = null;
    if (withOurs) {
      const ours = [...this.local.all()]
        .filter((s) => s.kind !== "tool")
        .map((s) => ({
          id: s.id,
          member: s.user,
          kind: s.kind,
          host: s.host,
          p2p_port: s.p2pPort,
          cert: s.cert,
          cert_fp: s.certFingerprint,
          login_at: s.loginAt,
          skey: s.key,
          cands: s.candidates,
          reach: s.reachable,
          device: s.device,
        }));
      const rows = await store.sql`
        SELECT r_what, r_id FROM chat_register_instance(
          ${this.id}, ${address}, ${this.#leaseMs},
          ${store.sql.json(ours)})`;
      const back: string[] = [];
      for (const r of rows) {
        const id = String(r.r_id);
        if (r.r_what === "lost") {
          // Someone took the user's slot on another instance meanwhile.
          await this.#hooks?.replaced(id);
        } else {
          // Swept meanwhile: written again.
          const s = this.local.byId(id);
          if (s?.kind === "peer") back.push(s.user);
        }
      }
      if (back.length > 0) this.#missed ??= new Set();
      withOursDone = back;
    }
    this.#heldBack = [];
    try {
      const rows = await store.sql`
        SELECT id, lower(member::text) AS member, kind, instance, host,
               p2p_port, cert_fp, login_at
          FROM online_sessions WHERE instance <> ${this.id}`;
      this.#remote.clear();
      this.#remoteByUser.clear();
      for (const r of rows) {
        this.#remember({
          id: String(r.id),
          user: String(r.member),
          kind: r.kind as SessionKind,
          instance: String(r.instance),
          host: String(r.host),
          p2pPort: r.p2p_port === null ? null : Number(r.p2p_port),
          certFingerprint: r.cert_fp === null ? null : String(r.cert_fp),
          loginAt: Number(r.login_at),
        });
      }
    } finally {
      const held = this.#heldBack;
      this.#heldBack = null;
      for (const c of held) this.#apply(c);
    }
    if (withOursDone) this.#catchUp(withOursDone);
  }

  /** Registers again (or only reloads) once; retried on the next tick if it fails. */
  #resync(withOurs = true): void {
    if (this.#closed) return;
    if (this.#resyncing) {
      this.#resyncAgain ||= withOurs;
      return;
    }
    this.#resyncing = this.#register(withOurs)
      .then(() => this.#o.logger.info("cluster directory synchronised"))
      .catch((err) => {
        this.#resyncAgain = true;
        this.#o.logger.warn("cluster resync failed", {
          error: err instanceof Error ? err.message : String(err),
        });
      })
      .finally(() => {
        this.#resyncing = null;
        if (this.#resyncAgain && !this.#closed) {
          this.#resyncAgain = false;
          this.#resyncPending = true;
        }
      });
  }

  /** A resync that failed or was asked for while one ran: done on the next tick. */
  #resyncPending = false;

  /** The offline announcements of swept instances, one sweep after another. */
  #announcing: Promise<void> = Promise.resolve();

  /** Renews the lease and sweeps instances that stopped renewing theirs. */
  async #tick(): Promise<void> {
    if (this.#ticking || this.#closed) return;
    this.#ticking = true;
    try {
      if (this.#resyncPending && !this.#resyncing) {
        this.#resyncPending = false;
        this.#resync();
      }
      const rows = await this.#o.store.leaseSql`
        SELECT what, name FROM chat_instance_tick(${this.id}, ${this.#leaseMs})`;
      if (this.#tickFailing) {
        this.#tickFailing = false;
        this.#o.logger.info("cluster lease renewed again");
      }
      const gone: string[] = [];
      for (const r of rows) {
        if (r.what === "lost") this.#swept();
        else if (r.what === "dead") {
          this.#o.logger.warn("cluster instance swept", { instance: r.name });
          this.#forgetInstance(String(r.name));
        } else if (r.what === "gone") gone.push(String(r.name));
      }
      // Told after the tick, one sweep after another: announcing thousands
      // of users takes longer than a lease, which must go on being renewed.
      if (gone.length > 0) {
        const hooks = this.#hooks;
        this.#announcing = this.#announcing
          .then(() => hooks?.offline(gone))
          .catch((err) =>
            this.#o.logger.error("offline announcements failed", {
              error: String(err),
            })
          );
      }
    } catch (err) {
      if (!this.#tickFailing) {
        this.#tickFailing = true;
        this.#o.logger.warn("cluster lease not renewed", {
          error: err instanceof Error ? err.message : String(err),
        });
      }
    } finally {
      this.#ticking = false;
    }
  }

  /** Leaves the cluster: stops the lease, unsubscribes, removes our rows. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#missedTimer);
    await this.#flushing;
    await this.#resyncing;
    await this.#announcing;
    for (const l of this.#listening) await l.unlisten().catch(() => {});
    await this.#o.store.sql`SELECT chat_leave_cluster(${this.id})`
      .catch((err) =>
        this.#o.logger.warn("cluster leave failed", { error: String(err) })
      );
  }
}

/** Failures in the cluster_failures table, timed by the database's clock. */
class PostgresFailures implements SharedFailures {
  readonly #store: PostgresStore;

  constructor(store: PostgresStore) {
    this.#store = store;
  }

  async wait(key: string, limit: number, windowMs: number): Promise<number> {
    const [r] = await this.#store.sql`
      SELECT count(*)::int AS n,
        COALESCE(CEIL(EXTRACT(EPOCH FROM (min(at)
          + make_interval(secs => ${windowMs / 1000}) - clock_timestamp()))
          * 1000), 0)::int AS wait
      FROM (SELECT at FROM cluster_failures
             WHERE key = ${key}
               AND at > clock_timestamp() - make_interval(secs => ${
      windowMs / 1000
    })
             ORDER BY at DESC LIMIT ${limit}) recent`;
    return Number(r!.n) >= limit ? Math.max(1, Number(r!.wait)) : 0;
  }

  async record(key: string): Promise<void> {
    await this.#store.sql`INSERT INTO cluster_failures (key) VALUES (${key})`;
  }

  async clear(key: string): Promise<void> {
    await this.#store.sql`DELETE FROM cluster_failures WHERE key = ${key}`;
  }
}

/** Candidates as stored (a JSON array), checked. */
function candidatesOf(v: unknown): { host: string; port: number }[] {
  if (!Array.isArray(v)) return [];
  return v.filter((e) =>
    typeof e?.host === "string" && Number.isInteger(e?.port)
  ).map((e) => ({ host: e.host, port: e.port }));
}

/** Packs queued messages into payloads of at most MAX_PAYLOAD_BYTES. */
export function pack(q: Direct[]): string[] {
  const out: string[] = [];
  let events: [string[], RegistryEvent][] = [];
  let size = 20;
  const flushEvents = () => {
    if (events.length > 0) out.push(JSON.stringify({ t: "ev", l: events }));
    events = [];
    size = 20;
  };
  for (const m of q) {
    if (m.t !== "ev") {
      flushEvents();
      out.push(JSON.stringify(m));
      continue;
    }
    for (const [users, ev] of m.l) {
      const evBytes = JSON.stringify(ev).length + 8;
      let batch: string[] = [];
      let batchBytes = 0;
      for (const u of users) {
        if (size + evBytes + batchBytes + u.length + 3 > MAX_PAYLOAD_BYTES) {
          if (batch.length > 0) events.push([batch, ev]);
          flushEvents();
          batch = [];
          batchBytes = 0;
        }
        batch.push(u);
        batchBytes += u.length + 3;
      }
      if (batch.length > 0) {
        events.push([batch, ev]);
        size += evBytes + batchBytes;
      }
    }
  }
  flushEvents();
  return out;
}

/**
 * The first instance records its certificate fingerprint and ticket key in
 * the database; every later one must present the same (users pin one
 * fingerprint, and tickets signed by one instance are checked by peers that
 * learnt the key from another).
 */
async function checkIdentity(
  store: PostgresStore,
  identity: { certPem: string; signingPublicKey: string },
): Promise<void> {
  const fingerprint = fingerprintPem(identity.certPem) ?? "";
  const [r] = await store.sql`
    WITH ins AS (
      INSERT INTO cluster_identity (fingerprint, signing_key)
      VALUES (${fingerprint}, ${identity.signingPublicKey})
      ON CONFLICT (one) DO NOTHING RETURNING fingerprint, signing_key)
    SELECT fingerprint, signing_key FROM ins
    UNION ALL
    SELECT fingerprint, signing_key FROM cluster_identity
    LIMIT 1`;
  if (!r) return;
  if (r.fingerprint !== fingerprint) {
    throw new IdentityMismatch(
      `this database's registry presents certificate sha256:${r.fingerprint}, not this instance's sha256:${fingerprint} — copy registry-cert.pem, registry-key.pem and registry-signing-key.json from the first instance's --state-dir (or give the same --tls-cert/--tls-key)`,
    );
  }
  if (r.signing_key !== identity.signingPublicKey) {
    throw new IdentityMismatch(
      "this database's registry signs tickets with another key than this instance's — copy registry-signing-key.json from the first instance's --state-dir",
    );
  }
}
