/**
 * The registry's behaviour: one handler per request type, presence, pushes.
 *
 * No sockets here. The server hands each decoded request to `handle` together
 * with the connection's state; replies and pushed events go out through the
 * connection's ClientLink. Time comes from an injected clock.
 */
import {
  base64url,
  bytesToHex,
  type ErrorCode,
  errorReply,
  type Heartbeat,
  HeartbeatKey,
  MAX_LIST_ITEMS,
  MIN_PASSWORD_CHARS,
  okReply,
  PROTOCOL_VERSION,
  type RegistryEvent,
  type ReplyData,
  type Request,
  type RequestOf,
  type RequestType,
  signTicket,
  TICKET_TTL_MS,
  verifyHeartbeat,
} from "../wire/mod.ts";
import { fingerprintPem } from "../common/fingerprint.ts";
import type { Logger } from "../common/log.ts";
import {
  AbandonedError,
  burnPasswordCheck,
  hashPassword,
  type ScryptParams,
  verifyPassword,
} from "./passwords.ts";
import { FailureThrottle } from "./throttle.ts";
import { TokenBucket } from "./rate_limit.ts";
import { type ClientLink, type Session, SessionTable } from "./sessions.ts";
import { expiredSessions } from "./presence.ts";
import { type Store, StoreError } from "./store.ts";
import {
  type AdminState,
  decideInvite,
  decideJoin,
  decideKick,
  decideOwner,
  DEFAULT_CAPACITY,
  type Refusal,
} from "./rooms.ts";

/** Settings of the service. */
export interface ServiceConfig {
  heartbeatIntervalMs: number;
  heartbeatTtlMs: number;
  /** 0 disables idle logout. */
  idleTimeoutMs: number;
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
  requestRate: 50,
  requestBurst: 200,
  maxOfflinePerRecipient: 1000,
  serverName: "chat-registry",
};

/** Per-connection state the service keeps. */
export interface ClientState {
  link: ClientLink;
  address: string;
  greeted: boolean;
  session: Session | null;
  bucket: TokenBucket;
  /** Requests refused for rate since the last accepted one. */
  refused: number;
}

/** Dependencies injected into the service. */
export interface ServiceDeps {
  store: Store;
  now: () => number;
  logger: Logger;
  signingKey: CryptoKey;
  signingPublicKey: string;
  config: ServiceConfig;
}

class Refused extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

const refuse = (code: ErrorCode, message: string): never => {
  throw new Refused(code, message);
};

type Handler<K extends RequestType> = (
  c: ClientState & { session: Session },
  req: RequestOf<K>,
) => Promise<ReplyData<K>>;

/** The registry service. See the module doc. */
export class RegistryService {
  readonly sessions: SessionTable = new SessionTable();
  readonly #d: ServiceDeps;
  readonly #throttle = new FailureThrottle(5, 60_000);
  readonly #roomThrottle = new FailureThrottle(5, 60_000);
  readonly #clients = new Set<ClientState>();
  /** Counters for logs and benchmarks. */
  readonly stats = {
    logins: 0,
    loginFailures: 0,
    requests: 0,
    refusedForRate: 0,
    /** Sign-ups and logins skipped because their client had gone. */
    abandoned: 0,
  };

  constructor(deps: ServiceDeps) {
    this.#d = deps;
  }

  /** Registers a new connection. */
  connect(link: ClientLink, address: string): ClientState {
    const c: ClientState = {
      link,
      address,
      greeted: false,
      session: null,
      bucket: new TokenBucket(
        this.#d.config.requestRate,
        this.#d.config.requestBurst,
        this.#d.now(),
      ),
      refused: 0,
    };
    this.#clients.add(c);
    return c;
  }

  /** Number of open connections. */
  get connections(): number {
    return this.#clients.size;
  }

  /** Ends a connection's session (if any): the user is offline at once. */
  async disconnect(c: ClientState): Promise<void> {
    this.#clients.delete(c);
    if (c.session) await this.#endSession(c.session, "closed");
  }

  /**
   * Handles one decoded request and sends its reply. Returns false when the
   * connection should be closed (a flood beyond the rate limit, or a failed
   * protocol handshake).
   */
  async handle(c: ClientState, req: Request): Promise<boolean> {
    this.stats.requests++;
    const now = this.#d.now();
    if (!c.bucket.take(now)) {
      this.stats.refusedForRate++;
      c.refused++;
      c.link.send(errorReply(req.id, "limit", "too many requests — slow down"));
      if (c.refused > this.#d.config.requestBurst) {
        this.#d.logger.warn("drop", {
          reason: "request flood",
          user: c.session?.user,
          addr: c.address,
        });
        return false;
      }
      return true;
    }
    c.refused = 0;
    if (!c.greeted && req.type !== "hello") {
      c.link.send(
        errorReply(
          req.id,
          "version",
          "the first message must be hello with a protocol version",
        ),
      );
      return false;
    }
    try {
      switch (req.type) {
        case "hello":
          return this.#hello(c, req);
        case "signup":
          c.link.send(okReply(req.id, await this.#signup(c, req)));
          return true;
        case "login":
          await this.#login(c, req);
          return true;
      }
      const session = c.session;
      if (!session) {
        c.link.send(errorReply(req.id, "auth", "log in first"));
        return true;
      }
      session.lastAction = now;
      const handler = this.#handlers[req.type] as Handler<RequestType>;
      const data = await handler(c as ClientState & { session: Session }, req);
      c.link.send(okReply(req.id, data));
    } catch (err) {
      if (err instanceof Refused || err instanceof StoreError) {
        c.link.send(errorReply(req.id, err.code, err.message));
      } else if (err instanceof AbandonedError) {
        // The client hung up while its password check waited: no reply.
        this.stats.abandoned++;
      } else {
        this.#d.logger.error("request failed", {
          type: req.type,
          user: c.session?.user,
          error: err instanceof Error ? err.message : String(err),
        });
        c.link.send(
          errorReply(req.id, "internal", "internal error — please retry"),
        );
      }
    }
    return true;
  }

  #hello(c: ClientState, req: RequestOf<"hello">): boolean {
    if (req.v !== PROTOCOL_VERSION) {
      c.link.send(
        errorReply(
          req.id,
          "version",
          `protocol version ${req.v} is not supported (this registry speaks ${PROTOCOL_VERSION}) — use a matching chat`,
        ),
      );
      return false;
    }
    c.greeted = true;
    const cfg = this.#d.config;
    c.link.send(okReply(req.id, {
      v: PROTOCOL_VERSION,
      server: cfg.serverName,
      signing_key: this.#d.signingPublicKey,
      udp_port: cfg.udpPort,
      heartbeat_interval_ms: cfg.heartbeatIntervalMs,
      heartbeat_ttl_ms: cfg.heartbeatTtlMs,
    }));
    return true;
  }

  async #signup(
    c: ClientState,
    req: RequestOf<"signup">,
  ): Promise<ReplyData<"signup">> {
    const user = req.user.toLowerCase();
    if ([...req.password].length < MIN_PASSWORD_CHARS) {
      refuse(
        "invalid",
        `password is too short: use at least ${MIN_PASSWORD_CHARS} characters`,
      );
    }
    if (await this.#d.store.getUser(user)) {
      refuse("taken", `username '${user}' is taken — choose another name`);
    }
    const hash = await hashPassword(req.password, this.#d.config.scrypt, {
      wanted: () => !c.link.closed,
    });
    await this.#d.store.createUser(user, hash, this.#d.now());
    this.#d.logger.info("signup", { user, addr: c.address });
    return { user };
  }

  async #login(c: ClientState, req: RequestOf<"login">): Promise<void> {
    const user = req.user.toLowerCase();
    const now = this.#d.now();
    const keys = [`user:${user}`, `addr:${c.address}`];
    const fail = (code: ErrorCode, message: string, reason: string) => {
      this.#throttle.fail(keys, this.#d.now());
      this.stats.loginFailures++;
      this.#d.logger.warn("login failed", { user, addr: c.address, reason });
      c.link.send(errorReply(req.id, code, message));
    };
    if (c.session) {
      c.link.send(
        errorReply(req.id, "state", `already logged in as ${c.session.user}`),
      );
      return;
    }
    const wait = this.#throttle.retryAfter(keys, now);
    if (wait > 0) {
      this.#d.logger.warn("login throttled", { user, addr: c.address });
      c.link.send(
        errorReply(
          req.id,
          "throttled",
          `too many attempts, retry in ${Math.ceil(wait / 1000)} s`,
        ),
      );
      return;
    }
    if (
      req.kind !== "tool" &&
      (req.p2p_port === undefined || !req.cert || !req.key)
    ) {
      c.link.send(
        errorReply(
          req.id,
          "invalid",
          `a ${req.kind} session needs p2p_port, cert and key`,
        ),
      );
      return;
    }
    const certFingerprint = req.cert ? fingerprintPem(req.cert) : null;
    if (req.cert && !certFingerprint) {
      c.link.send(
        errorReply(req.id, "invalid", "cert is not a PEM certificate"),
      );
      return;
    }
    // A client that hung up while this check waited for a slot is skipped.
    const wanted = () => !c.link.closed;
    const record = await this.#d.store.getUser(user);
    if (!record) {
      await burnPasswordCheck(req.password, { wanted });
      return fail(
        "not_found",
        `no account named '${user}' — sign up first (chat signup, or chat peer --signup)`,
        "unknown user",
      );
    }
    if (
      !(await verifyPassword(req.password, record.passwordHash, { wanted }))
    ) {
      return fail("auth", `wrong password for ${user}`, "wrong password");
    }
    this.#throttle.clear(`user:${user}`);
    if (req.kind === "peer") {
      const older = this.sessions.peerOf(user);
      if (older && !req.replace) {
        this.#d.logger.info("login refused", {
          user,
          addr: c.address,
          reason: "already online",
        });
        c.link.send(
          errorReply(
            req.id,
            "online",
            `${user} is already online — use --replace to end that session`,
          ),
        );
        return;
      }
      if (older) {
        older.link.send(event({ type: "session_ended", reason: "replaced" }));
        await this.#endSession(older, "replaced");
        void older.link.closeAfterFlush();
      }
    }
    const token = crypto.getRandomValues(new Uint8Array(32));
    const session: Session = {
      id: bytesToHex(crypto.getRandomValues(new Uint8Array(16))),
      token,
      macKey: new HeartbeatKey(token),
      user,
      kind: req.kind,
      link: c.link,
      host: c.address,
      p2pPort: req.p2p_port ?? null,
      cert: req.cert ?? null,
      certFingerprint,
      key: req.key ?? null,
      loginAt: this.#d.now(),
      lastBeat: this.#d.now(),
      lastSeq: 0,
      lastAction: this.#d.now(),
    };
    c.session = session;
    session.client = c;
    this.sessions.add(session);
    this.stats.logins++;
    this.#d.logger.info("login", { user, kind: req.kind, addr: c.address });
    c.link.send(okReply(req.id, {
      user,
      session: session.id,
      token: base64url(token),
      status: record.status,
      host: c.address,
    }));
    if (req.kind === "peer") await this.#announce(user, true);
    if (req.kind === "peer") await this.#pushPending(session);
  }

  /** Tells a newly online user what waited for them. */
  async #pushPending(s: Session): Promise<void> {
    const { incoming } = await this.#d.store.requestsOf(s.user);
    for (const from of incoming) {
      s.link.send(event({ type: "friend_request", from }));
    }
    for (const inv of await this.#d.store.invitesFor(s.user)) {
      s.link.send(
        event({ type: "room_invite", room: inv.room, from: inv.inviter }),
      );
    }
  }

  /** Who should hear about `user`'s presence: online friends and room mates. */
  async #audience(user: string): Promise<Session[]> {
    const names = new Set(await this.#d.store.friendsOf(user));
    for (const room of await this.#d.store.roomsOf(user)) {
      for (const m of await this.#d.store.members(room)) names.add(m.user);
    }
    names.delete(user);
    if (names.size === 0) return [];
    const hidden = new Set([
      ...await this.#d.store.blockersOf(user),
      ...await this.#d.store.blockedBy(user),
    ]);
    const out: Session[] = [];
    for (const name of names) {
      if (hidden.has(name)) continue;
      const s = this.sessions.peerOf(name);
      if (s) out.push(s);
    }
    return out;
  }

  async #announce(user: string, online: boolean): Promise<void> {
    for (const s of await this.#audience(user)) {
      s.link.send(event({ type: "presence", user, online }));
    }
  }

  /**
   * Ends a session. A peer going offline gets its last-seen time stored and
   * its audience told — unless `batch` collects the name, so a sweep that
   * ends many sessions writes all their last-seen times in one transaction.
   */
  async #endSession(s: Session, why: string, batch?: string[]): Promise<void> {
    if (!this.sessions.remove(s)) return;
    if (s.client?.session === s) s.client.session = null;
    this.#d.logger.info("logout", { user: s.user, kind: s.kind, reason: why });
    if (s.kind !== "peer") return;
    if (batch) {
      batch.push(s.user);
      return;
    }
    await this.#wentOffline([s.user]);
  }

  async #wentOffline(users: string[]): Promise<void> {
    try {
      await this.#d.store.setLastSeen(users, this.#d.now());
      for (const user of users) {
        if (!this.sessions.peerOf(user)) await this.#announce(user, false);
      }
    } catch (err) {
      this.#d.logger.error("logout bookkeeping failed", {
        users: users.length,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  /** Accepts a heartbeat datagram if its MAC and counter are right. */
  heartbeat(hb: Heartbeat, now: number): boolean {
    const s = this.sessions.byId(hb.session);
    if (!s || hb.seq <= s.lastSeq || !verifyHeartbeat(hb, s.macKey)) {
      return false;
    }
    s.lastSeq = hb.seq;
    s.lastBeat = now;
    return true;
  }

  /** Ends sessions whose heartbeats stopped or that sat idle too long. */
  async sweep(now: number): Promise<number> {
    const cfg = this.#d.config;
    const expired = expiredSessions(
      this.sessions.all(),
      now,
      cfg.heartbeatTtlMs,
      cfg.idleTimeoutMs,
    );
    const offline: string[] = [];
    for (const { session, reason } of expired) {
      this.#d.logger.info("timeout", {
        user: session.user,
        kind: session.kind,
        reason,
      });
      session.link.send(event({ type: "timeout", reason }));
      await this.#endSession(session, `timeout:${reason}`, offline);
      void session.link.closeAfterFlush();
    }
    if (offline.length > 0) await this.#wentOffline(offline);
    this.#throttle.prune(now);
    this.#roomThrottle.prune(now);
    return expired.length;
  }

  /** Tells every client the registry is going away. */
  shutdown(): void {
    for (const c of this.#clients) {
      c.link.send(event({ type: "session_ended", reason: "shutdown" }));
    }
  }

  async #mustExist(name: string): Promise<string> {
    const user = name.toLowerCase();
    if (!(await this.#d.store.getUser(user))) {
      refuse("not_found", `no such user '${user}'`);
    }
    return user;
  }

  async #blockedEitherWay(a: string, b: string): Promise<boolean> {
    return await this.#d.store.hasBlocked(a, b) ||
      await this.#d.store.hasBlocked(b, a);
  }

  #push(user: string, ev: RegistryEvent): void {
    const s = this.sessions.peerOf(user);
    if (s) s.link.send(ev);
  }

  async #roomState(room: string): Promise<ReplyData<"room_members">> {
    const r = await this.#d.store.getRoom(room);
    if (!r) return refuse("not_found", `there is no room '${room}'`);
    const members = await this.#d.store.members(room);
    return {
      room,
      owner: r.owner,
      members: members.map((m) => ({
        user: m.user,
        online: this.sessions.peerOf(m.user) !== undefined,
        role: m.user === r.owner ? "owner" : "member",
      })),
    };
  }

  async #pushRoom(
    room: string,
    ev: RegistryEvent,
    also: string[] = [],
  ): Promise<void> {
    const names = new Set([
      ...(await this.#d.store.members(room)).map((m) => m.user),
      ...also,
    ]);
    for (const name of names) this.#push(name, ev);
  }

  readonly #handlers: {
    [K in Exclude<RequestType, "hello" | "signup" | "login">]: Handler<K>;
  } = {
    logout: async (c) => {
      const s = c.session;
      await this.#endSession(s, "logout");
      (c as ClientState).session = null;
      return {};
    },
    active: () => Promise.resolve({}),
    search: async (c, req) => {
      const user = req.user.toLowerCase();
      const record = await this.#d.store.getUserSeenBy(user, c.session.user);
      if (!record) return refuse("not_found", `no such user '${user}'`);
      const s = this.sessions.peerOf(user);
      const hidden = record.blocksViewer;
      if (s && !hidden) {
        return {
          user,
          online: true,
          host: s.host,
          port: s.p2pPort ?? 0,
          last_seen: null,
          status: record.status,
        };
      }
      return {
        user,
        online: false,
        last_seen: hidden || record.lastSeen === null
          ? null
          : iso(record.lastSeen),
        status: record.status,
      };
    },
    who: async (c, req) => {
      const hidden = new Set(await this.#d.store.blockersOf(c.session.user));
      const users: ReplyData<"who">["users"] = [];
      let total = 0;
      for (const s of this.sessions.peers()) {
        if (hidden.has(s.user)) continue;
        total++;
        if (users.length >= MAX_LIST_ITEMS) continue;
        if (req.detailed) {
          const record = await this.#d.store.getUser(s.user);
          users.push({
            user: s.user,
            host: s.host,
            port: s.p2pPort ?? 0,
            status: record?.status ?? "",
          });
        } else {
          users.push({ user: s.user });
        }
      }
      users.sort((a, b) => a.user.localeCompare(b.user));
      return { users, total };
    },
    status: async (c, req) => {
      if (req.text !== undefined) {
        await this.#d.store.setStatus(c.session.user, req.text);
        return { status: req.text };
      }
      const record = await this.#d.store.getUser(c.session.user);
      return { status: record?.status ?? "" };
    },
    profile: async (c, req) => {
      const user = req.user.toLowerCase();
      const record = await this.#d.store.getUser(user);
      if (!record) return refuse("not_found", `no such user '${user}'`);
      const hidden = await this.#d.store.hasBlocked(user, c.session.user);
      const online = !hidden && this.sessions.peerOf(user) !== undefined;
      return {
        user,
        status: record.status,
        online,
        last_seen: online || hidden || record.lastSeen === null
          ? null
          : iso(record.lastSeen),
        since: iso(record.createdAt),
        friend: user === c.session.user
          ? "you"
          : await this.#d.store.relation(c.session.user, user),
      };
    },
    friend_request: async (c, req) => {
      const me = c.session.user;
      const user = await this.#mustExist(req.user);
      if (user === me) refuse("invalid", "you cannot befriend yourself");
      if (await this.#blockedEitherWay(me, user)) {
        if (await this.#d.store.hasBlocked(me, user)) {
          refuse("state", `you have blocked ${user} — /unblock ${user} first`);
        }
        refuse("unavailable", `${user} is not available`);
      }
      const state = await this.#d.store.requestFriend(me, user, this.#d.now());
      if (state === "pending") {
        this.#push(user, event({ type: "friend_request", from: me }));
      } else this.#befriended(me, user);
      return { user, state };
    },
    friend_accept: async (c, req) => {
      const me = c.session.user;
      const user = req.user.toLowerCase();
      await this.#d.store.acceptFriend(user, me, this.#d.now());
      this.#befriended(me, user);
      return { user };
    },
    friend_decline: async (c, req) => {
      const me = c.session.user;
      const user = req.user.toLowerCase();
      if (await this.#d.store.relation(me, user) !== "requested_you") {
        refuse("state", `${user} has not sent you a friend request`);
      }
      await this.#d.store.removeFriend(me, user);
      return { user };
    },
    friend_remove: async (c, req) => {
      const me = c.session.user;
      const user = req.user.toLowerCase();
      if (!(await this.#d.store.removeFriend(me, user))) {
        refuse("state", `${user} is not your friend`);
      }
      this.#push(user, event({ type: "friend_removed", user: me }));
      return { user };
    },
    friends: async (c) => {
      const names = await this.#d.store.friendsOf(c.session.user);
      const friends: ReplyData<"friends">["friends"] = [];
      for (const user of names.slice(0, MAX_LIST_ITEMS)) {
        const record = await this.#d.store.getUser(user);
        friends.push({
          user,
          online: this.sessions.peerOf(user) !== undefined,
          status: record?.status ?? "",
        });
      }
      return { friends };
    },
    requests: async (c) => {
      const r = await this.#d.store.requestsOf(c.session.user);
      return {
        incoming: r.incoming.slice(0, MAX_LIST_ITEMS),
        outgoing: r.outgoing.slice(0, MAX_LIST_ITEMS),
      };
    },
    block: async (c, req) => {
      const me = c.session.user;
      const user = await this.#mustExist(req.user);
      if (user === me) refuse("invalid", "you cannot block yourself");
      const wasFriend = await this.#d.store.relation(me, user) === "friends";
      await this.#d.store.block(me, user, this.#d.now());
      if (wasFriend && this.sessions.peerOf(me)) {
        // The blocked user silently stops seeing us: they see us go offline.
        this.#push(user, event({ type: "presence", user: me, online: false }));
      }
      this.#d.logger.info("block", { user: me });
      return { user };
    },
    unblock: async (c, req) => {
      const user = req.user.toLowerCase();
      if (!(await this.#d.store.unblock(c.session.user, user))) {
        refuse("state", `${user} is not blocked`);
      }
      return { user };
    },
    blocks: async (c) => ({
      users: (await this.#d.store.blockedBy(c.session.user)).slice(
        0,
        MAX_LIST_ITEMS,
      ),
    }),
    introduce: async (c, req) => {
      const me = c.session.user;
      const user = await this.#mustExist(req.user);
      if (user === me && req.purpose === "chat") {
        refuse("invalid", "you cannot chat with yourself");
      }
      if (!c.session.key) {
        refuse("invalid", "this session has no key to introduce itself with");
      }
      if (await this.#d.store.hasBlocked(user, me)) {
        refuse("unavailable", `${user} is not available`);
      }
      const target = req.purpose === "file"
        ? this.sessions.fileTargetOf(user)
        : this.sessions.peerOf(user);
      if (
        !target || target === c.session || !target.cert ||
        !target.certFingerprint
      ) {
        return refuse("offline", `${user} is offline`);
      }
      const now = this.#d.now();
      const ticket = await signTicket({
        v: 1,
        from: me,
        from_key: c.session.key!,
        to: user,
        to_cert: target.certFingerprint,
        purpose: req.purpose,
        iat: now,
        exp: now + TICKET_TTL_MS,
        nonce: base64url(crypto.getRandomValues(new Uint8Array(18))),
      }, this.#d.signingKey);
      return {
        user,
        host: target.host,
        port: target.p2pPort ?? 0,
        cert: target.cert,
        ticket,
      };
    },
    offline_send: async (c, req) => {
      const me = c.session.user;
      const to = await this.#mustExist(req.to);
      if (to === me) refuse("invalid", "you cannot message yourself");
      if (await this.#d.store.hasBlocked(to, me)) {
        refuse("unavailable", `${to} is not available`);
      }
      const rec = await this.#d.store.storeOffline(
        me,
        to,
        req.text,
        this.#d.now(),
        this.#d.config.maxOfflinePerRecipient,
      );
      const count = await this.#d.store.countOffline(to);
      this.#push(to, event({ type: "offline_waiting", count }));
      this.#d.logger.info("offline stored", { user: me, to });
      return { to, sent_at: iso(rec.sentAt) };
    },
    offline_fetch: async (c) => ({
      messages: (await this.#d.store.offlineFor(c.session.user, MAX_LIST_ITEMS))
        .map((m) => ({
          id: m.id,
          from: m.from,
          text: m.text,
          sent_at: iso(m.sentAt),
        })),
    }),
    offline_ack: async (c, req) => ({
      deleted: await this.#d.store.deleteOffline(c.session.user, req.ids),
    }),
    room_create: async (c, req) => {
      const room = req.room.toLowerCase();
      if (await this.#d.store.getRoom(room)) {
        refuse("taken", `room '${room}' already exists`);
      }
      await this.#d.store.createRoom({
        name: room,
        passwordHash: req.password
          ? await hashPassword(req.password, this.#d.config.scrypt)
          : null,
        capacity: req.capacity ?? DEFAULT_CAPACITY,
        description: req.description ?? "",
        owner: c.session.user,
        createdAt: this.#d.now(),
      });
      this.#d.logger.info("room created", { user: c.session.user, room });
      return { room };
    },
    rooms: async (c, req) => {
      const rooms = await this.#d.store.listRooms(
        MAX_LIST_ITEMS,
        req.mine ? c.session.user : undefined,
      );
      const mine = new Set(await this.#d.store.roomsOf(c.session.user));
      return {
        rooms: rooms.map((r) =>
          req.detailed
            ? {
              room: r.name,
              description: r.description,
              members: r.members,
              capacity: r.capacity,
              locked: r.passwordHash !== null,
              owner: r.owner,
              joined: mine.has(r.name),
            }
            : { room: r.name, joined: mine.has(r.name) }
        ),
      };
    },
    room_join: async (c, req) => {
      const me = c.session.user;
      const room = req.room.toLowerCase();
      await this.#join(me, room, req.password);
      return await this.#roomState(room);
    },
    room_leave: async (c, req) => {
      const me = c.session.user;
      const room = req.room.toLowerCase();
      const res = await this.#d.store.removeMember(room, me);
      if (!res.removed) refuse("state", `you are not in room '${room}'`);
      await this.#pushRoom(
        room,
        event({ type: "room_left", room, user: me, reason: "left" }),
      );
      if (res.newOwner) {
        await this.#pushRoom(
          room,
          event({ type: "room_owner", room, user: res.newOwner }),
        );
      }
      return { room };
    },
    room_members: async (_c, req) =>
      await this.#roomState(req.room.toLowerCase()),
    room_invite: async (c, req) => {
      const me = c.session.user;
      const room = req.room.toLowerCase();
      const user = await this.#mustExist(req.user);
      refuseIf(decideInvite(await this.#adminState(room, me, user)));
      if (await this.#d.store.hasBlocked(user, me)) {
        refuse("unavailable", `${user} is not available`);
      }
      await this.#d.store.invite(room, user, me, this.#d.now());
      this.#push(user, event({ type: "room_invite", room, from: me }));
      return { room, user };
    },
    invites: async (c) => ({
      invites: (await this.#d.store.invitesFor(c.session.user)).slice(
        0,
        MAX_LIST_ITEMS,
      ).map((
        i,
      ) => ({ room: i.room, from: i.inviter, sent_at: iso(i.createdAt) })),
    }),
    invite_accept: async (c, req) => {
      const me = c.session.user;
      const room = req.room.toLowerCase();
      await this.#pendingInvite(room, me);
      await this.#join(me, room, undefined);
      return await this.#roomState(room);
    },
    invite_decline: async (c, req) => {
      const me = c.session.user;
      const room = req.room.toLowerCase();
      await this.#pendingInvite(room, me);
      await this.#d.store.setInviteState(room, me, "declined");
      return { room };
    },
    room_kick: async (c, req) => {
      const me = c.session.user;
      const room = req.room.toLowerCase();
      const user = req.user.toLowerCase();
      refuseIf(decideKick(await this.#adminState(room, me, user)));
      await this.#d.store.removeMember(room, user);
      await this.#pushRoom(
        room,
        event({ type: "room_left", room, user, reason: "kicked" }),
        [user],
      );
      this.#d.logger.info("room kick", { user: me, room });
      return { room, user };
    },
    room_owner: async (c, req) => {
      const me = c.session.user;
      const room = req.room.toLowerCase();
      const user = req.user.toLowerCase();
      refuseIf(decideOwner(await this.#adminState(room, me, user)));
      await this.#d.store.setOwner(room, user);
      await this.#pushRoom(room, event({ type: "room_owner", room, user }));
      return { room, user };
    },
  };

  /** What an owner-only action on `target` in `room` needs to be decided. */
  async #adminState(
    room: string,
    actor: string,
    target: string,
  ): Promise<AdminState> {
    const r = await this.#d.store.getRoom(room);
    const members = r
      ? (await this.#d.store.members(room)).map((m) => m.user)
      : [];
    return {
      room,
      exists: r !== null,
      actor,
      owner: r?.owner ?? "",
      target,
      targetIsMember: members.includes(target),
    };
  }

  async #pendingInvite(room: string, user: string): Promise<void> {
    const inv = await this.#d.store.getInvite(room, user);
    if (!inv || inv.state !== "pending") {
      refuse("state", `you have no invitation to '${room}'`);
    }
  }

  #befriended(a: string, b: string): void {
    this.#push(b, event({ type: "friend_accepted", user: a }));
    this.#push(a, event({ type: "friend_accepted", user: b }));
    if (this.sessions.peerOf(a)) {
      this.#push(b, event({ type: "presence", user: a, online: true }));
    }
    if (this.sessions.peerOf(b)) {
      this.#push(a, event({ type: "presence", user: b, online: true }));
    }
  }

  async #join(
    me: string,
    room: string,
    password: string | undefined,
  ): Promise<void> {
    const r = await this.#d.store.getRoom(room);
    const members = r
      ? (await this.#d.store.members(room)).map((m) => m.user)
      : [];
    const invite = r ? await this.#d.store.getInvite(room, me) : null;
    const invited = invite?.state === "pending";
    const throttleKey = [`room:${room}:${me}`];
    const now = this.#d.now();
    let passwordOk = false;
    if (r?.passwordHash && password !== undefined && !invited) {
      const wait = this.#roomThrottle.retryAfter(throttleKey, now);
      if (wait > 0) {
        refuse(
          "throttled",
          `too many attempts, retry in ${Math.ceil(wait / 1000)} s`,
        );
      }
      passwordOk = await verifyPassword(password, r.passwordHash);
      if (!passwordOk) this.#roomThrottle.fail(throttleKey, now);
    }
    const verdict = decideJoin({
      room,
      exists: r !== null,
      locked: r?.passwordHash != null,
      capacity: r?.capacity ?? 0,
      members: members.length,
      isMember: members.includes(me),
      invited,
      passwordGiven: password !== undefined,
      passwordOk,
    });
    if (verdict === "already") return;
    refuseIf(verdict);
    await this.#d.store.addMember(room, me, this.#d.now());
    if (invited) await this.#d.store.setInviteState(room, me, "accepted");
    await this.#pushRoom(room, event({ type: "room_joined", room, user: me }));
    this.#d.logger.info("room join", { user: me, room });
  }
}

function refuseIf(r: Refusal | null): void {
  if (r) refuse(r.code, r.message);
}

function event(ev: RegistryEvent): RegistryEvent {
  return ev;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
