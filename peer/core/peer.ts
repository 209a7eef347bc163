/**
 * The peer core: commands in, typed events and replies out. Both front ends
 * (the shell and the JSON mode) drive one Peer; nothing here prints.
 *
 * It owns the endpoint (registry session with reconnection, and the links),
 * the conversations, the room book, the inbox, file transfers and
 * transcripts. A line goes parse → command table (handlers/) → one handler;
 * registry events come back as PeerEvents.
 */
import { join } from "node:path";
import { type Cancel, type Clock, SYSTEM_CLOCK } from "../../common/clock.ts";
import { closest } from "../../common/suggest.ts";
import type { Logger } from "../../common/log.ts";
import {
  MAX_BACKLOG_MEMBERS,
  type RegistryEvent,
  type ReplyData,
  type RequestType,
} from "../../wire/mod.ts";
import {
  type BackoffPolicy,
  ContactError,
  type Credentials,
  Endpoint,
  LinkError,
  newMessageId,
  open,
  type P2PLink,
  type Purpose,
  RegistryError,
  type RegistryTarget,
  type RequestFields,
  seal,
  SealError,
  type SessionStatus,
  type VouchedDevice,
} from "../net/mod.ts";
import { type Command, parseLine } from "./commands.ts";
import {
  type Conversation,
  leaveIfCurrent,
  type PeerContext,
} from "./context.ts";
import { Conversations } from "./conversations.ts";
import { type PeerErrorCode, UserError } from "./errors.ts";
import type { EventSink, PeerEvent } from "./events.ts";
import { answer } from "./handlers/mod.ts";
import { Inbox } from "./inbox.ts";
import { allPages, wholeRoom } from "./pages.ts";
import {
  type Answered,
  type CommandMap,
  commandName,
  type CommandReply,
  type Failure,
} from "./replies.ts";
import {
  DEFAULT_PREFERENCES,
  loadPreferences,
  type Preferences,
  savePreferences,
} from "./preferences.ts";
import { RoomBook } from "./room_book.ts";
import { Transcripts } from "./transcripts.ts";
import { Transfers } from "./transfers/mod.ts";

/** How to start a peer. */
export interface PeerOptions {
  target: RegistryTarget;
  credentials: Credentials;
  /** CHAT_HOME: transcripts, downloads, known registries. */
  home: string;
  /** P2P port; 0 picks a free one. */
  port: number;
  /** Address to listen on for P2P connections. */
  listenHost?: string;
  signup?: boolean;
  replace?: boolean;
  logger: Logger;
  backoff?: BackoffPolicy;
  /**
   * Time and timers of the core: chat requests and file offers expiring,
   * progress rates, activity reports. The network below keeps real time,
   * since the registry's tickets carry real time.
   */
  clock?: Clock;
  /** Largest incoming file accepted; 0 means no limit. */
  maxFileBytes?: number;
  /** Folder for received files; default $CHAT_HOME/downloads. */
  downloads?: string;
  /** Fault injection for tests: corrupt the byte at this offset of sent files. */
  corruptAt?: number;
}

/**
 * How a session ended: we logged out, the registry timed us out, or it
 * ended the session (a newer login, a refused reconnection).
 */
export interface SessionEnd {
  code: "logged_out" | "timeout" | "ended";
  reason: string;
}

/** How often unanswered chat requests are looked for. */
const SWEEP_EVERY_MS = 1000;
/** How often a file offer may make us re-read a room's members. */
const ROOM_RECHECK_MS = 5000;
/** How often user activity is reported to the registry at most. */
const ACTIVE_EVERY_MS = 10_000;

/** See the module doc. */
export class Peer implements AsyncDisposable {
  readonly #o: PeerOptions;
  readonly #emit: EventSink;
  readonly #clock: Clock;
  readonly rooms: RoomBook = new RoomBook();
  /** When each room was last re-read for a file offer (see #roomFileRefusal). */
  readonly #roomChecked = new Map<string, number>();
  readonly conversations: Conversations;
  readonly transfers: Transfers;
  readonly #transcripts: Transcripts;
  readonly #inbox: Inbox;
  #endpoint: Endpoint | null = null;
  #ready = false;
  #held: RegistryEvent[] = [];
  readonly #blocked = new Set<string>();
  readonly #knownUsers = new Set<string>();
  readonly #knownRooms = new Set<string>();
  #roomsFetchedAt = -Infinity;
  #stopSweep: Cancel = () => {};
  #lastActive = 0;
  #stopped = false;
  #preferences: Preferences = { ...DEFAULT_PREFERENCES };
  #ended!: (end: SessionEnd) => void;
  /** Resolves when the session ends: logged out, timed out or replaced. */
  readonly ended: Promise<SessionEnd>;
  /** What the command handlers see of this peer; it holds the current conversation. */
  readonly #context: PeerContext;

  private constructor(o: PeerOptions, emit: EventSink) {
    this.#o = o;
    this.#emit = emit;
    this.#clock = o.clock ?? SYSTEM_CLOCK;
    const now = () => this.#clock.now();
    this.ended = new Promise((resolve) => this.#ended = resolve);
    this.#transcripts = new Transcripts(o.home, (user, err) => {
      o.logger.warn("transcript write failed", { user, error: String(err) });
      this.#event({
        type: "error",
        message: `could not write the transcript of the chat with ${user} (${
          err instanceof Error ? err.message : err
        }) — the chat goes on; check that ${
          this.#transcripts.pathFor(user)
        } can be written`,
      });
    });
    this.conversations = new Conversations({
      self: () => this.user,
      dial: (user) => this.#dial(user, "chat"),
      emit: (ev) => this.#event(ev),
      transcripts: this.#transcripts,
      rooms: this.rooms,
      refreshRoom: async (room) => {
        this.rooms.load(await this.#request("room_members", { room }));
      },
      now,
      after: (ms, fn) => this.#clock.after(ms, fn),
      logger: o.logger,
      acceptFriends: () => this.#preferences.acceptFriends,
      isFriend: async (user) =>
        (await this.#request("profile", { user })).friend === "friends",
      storeOffline: async (user, text) =>
        (await this.#storeOffline(user, text)).sent_at,
      storeBacklog: (room, text, users) =>
        this.#storeBacklog(room, text, users),
    });
    this.transfers = new Transfers({
      self: () => this.user,
      dial: (user) => this.#dial(user, "file"),
      emit: (ev) => this.#event(ev),
      downloads: o.downloads ?? join(o.home, "downloads"),
      maxBytes: o.maxFileBytes ?? 0,
      logger: o.logger,
      clock: this.#clock,
      checkRoom: (room, user) => this.#roomFileRefusal(room, user),
      ...(o.corruptAt !== undefined ? { corruptAt: o.corruptAt } : {}),
    });
    this.#inbox = new Inbox({
      fetch: () => this.#request("offline_fetch", {}),
      ack: (ids, receipts, drops) =>
        this.#request("offline_ack", {
          ids,
          ...(receipts.length > 0 ? { receipts } : {}),
          ...(drops.length > 0 ? { drops } : {}),
        }),
      open: (m) => this.#openSealed(m),
      checkSender: async (from) => {
        try {
          await this.#checkContact(from);
          return null;
        } catch (err) {
          if (err instanceof UserError && err.code === "refused") {
            return err.message;
          }
          throw err;
        }
      },
      emit: (ev) => this.#event(ev),
      logger: o.logger,
      stopped: () => this.#stopped,
    });
    this.#context = {
      self: () => this.user,
      request: (type, fields) => this.#request(type, fields),
      conversations: this.conversations,
      transfers: this.transfers,
      rooms: this.rooms,
      transcripts: this.#transcripts,
      inbox: this.#inbox,
      current: null,
      blocked: this.#blocked,
      knownUsers: this.#knownUsers,
      knownRooms: this.#knownRooms,
      stop: () => this.stop(),
      storeOffline: (user, text) => this.#storeOffline(user, text),
      preferences: () => this.#preferences,
      setPreferences: async (p) => {
        await savePreferences(o.home, p);
        this.#preferences = p;
      },
      checkContact: (user) => this.#checkContact(user),
      verify: async (user, confirm) => {
        const contacts = this.#endpoint?.contacts;
        if (!contacts) throw new UserError("not logged in", "logged_out");
        try {
          return await contacts.verify(user, confirm);
        } catch (err) {
          throw contactError(err);
        }
      },
    };
  }

  /**
   * Starts a peer: P2P listener, registry login (sign-up first if asked),
   * room state, then `ready`, then offline messages.
   */
  static async start(o: PeerOptions, emit: EventSink): Promise<Peer> {
    const peer = new Peer(o, emit);
    try {
      await peer.#start();
    } catch (err) {
      await peer.stop().catch(() => {});
      throw err;
    }
    return peer;
  }

  async #start(): Promise<void> {
    this.#preferences = await loadPreferences(this.#o.home);
    this.#endpoint = await Endpoint.open({
      target: this.#o.target,
      credentials: this.#o.credentials,
      kind: "peer",
      listen: {
        port: this.#o.port,
        ...(this.#o.listenHost !== undefined
          ? { host: this.#o.listenHost }
          : {}),
      },
      ...(this.#o.replace !== undefined ? { replace: this.#o.replace } : {}),
      ...(this.#o.signup !== undefined ? { signup: this.#o.signup } : {}),
      ...(this.#o.backoff ? { backoff: this.#o.backoff } : {}),
      home: this.#o.home,
      logger: this.#o.logger,
      isBlocked: (user) => this.#blocked.has(user),
      onInbound: (link) => this.#inbound(link),
      onEvent: (ev) => this.#registryEvent(ev),
      onStatus: (s) => this.#status(s),
      onContact: (n) => this.#event({ type: "contact_keys", ...n }),
    });
    await this.#loadState();
    this.#ready = true;
    this.#event({
      type: "ready",
      user: this.user,
      port: this.port,
      ...(this.#endpoint.session.created ? { created: true as const } : {}),
    });
    for (const ev of this.#held.splice(0)) this.#registryEvent(ev);
    await this.#inbox.fetch();
    this.#stopSweep = this.#clock.every(
      SWEEP_EVERY_MS,
      () => this.conversations.expire(this.#clock.now()),
    );
  }

  #inbound(link: P2PLink): void {
    if (link.purpose === "chat") this.conversations.adopt(link);
    else this.transfers.adoptInbound(link);
  }

  async #loadState(): Promise<void> {
    // Every page: a block left off would let that user's links in, a room
    // left off would drop its messages.
    const blocks = await allPages(
      (page) => this.#request("blocks", page),
      (r) => r.users,
    );
    this.#blocked.clear();
    for (const u of blocks) this.#blocked.add(u);
    const mine = await allPages(
      (page) => this.#request("rooms", { mine: true, ...page }),
      (r) => r.rooms,
    );
    // After a reconnection: rooms we were removed from meanwhile are gone.
    const still = new Set(mine.map((r) => r.room));
    for (const room of this.rooms.names()) {
      if (still.has(room)) continue;
      this.rooms.drop(room);
      leaveIfCurrent(this.#context, "room", room);
      if (this.#ready) {
        this.#event({
          type: "room_left",
          room,
          user: this.user,
          // Only the owner removes anyone; it happened while we were away.
          reason: "kicked",
        });
      }
    }
    for (const r of mine) {
      try {
        const request = this.#context.request;
        this.rooms.load(
          await wholeRoom(
            request,
            await request("room_members", { room: r.room }),
          ),
        );
      } catch (err) {
        this.#o.logger.warn("room load failed", {
          room: r.room,
          error: String(err),
        });
      }
    }
    try {
      const friends = await this.#request("friends", {});
      for (const f of friends.friends) this.#knownUsers.add(f.user);
    } catch {
      // Only used for tab completion.
    }
  }

  /** The logged-in user. */
  get user(): string {
    return this.#endpoint?.user ?? this.#o.credentials.user;
  }

  /** The P2P port. */
  get port(): number {
    return this.#endpoint?.links.port ?? 0;
  }

  /** Where plain lines go now. */
  get current(): Conversation | null {
    return this.#context.current;
  }

  /**
   * Makes `c` where plain lines go (the shell's /switch); the caller checks
   * it is an open chat or a joined room.
   */
  switchTo(c: Conversation | null): void {
    this.#context.current = c;
  }

  /** Names worth completing: friends, chat partners, room mates, users seen. */
  get knownUsers(): string[] {
    const names = new Set(this.#knownUsers);
    for (const c of this.conversations.list()) names.add(c.user);
    for (const room of this.rooms.names()) {
      for (const m of this.rooms.get(room)?.members.keys() ?? []) names.add(m);
    }
    names.delete(this.user);
    return [...names].sort();
  }

  /**
   * Why a file offered for `room` by `user` is refused, or null. The room
   * book may not know a member who joined a moment ago: it is read again
   * then, at most every ROOM_RECHECK_MS per room, so a stranger's claims
   * cannot make us ask the registry on every offer.
   */
  async #roomFileRefusal(room: string, user: string): Promise<string | null> {
    if (!this.rooms.get(room)) return `${this.user} is not in #${room}`;
    if (this.rooms.isMember(room, user)) return null;
    const now = this.#clock.now();
    if ((this.#roomChecked.get(room) ?? -Infinity) + ROOM_RECHECK_MS <= now) {
      this.#roomChecked.set(room, now);
      try {
        const request = this.#context.request;
        this.rooms.load(
          await wholeRoom(request, await request("room_members", { room })),
        );
      } catch {
        // Not re-read (the registry is away, or we left): the book decides.
      }
    }
    return this.rooms.isMember(room, user)
      ? null
      : `${user} is not a member of #${room}`;
  }

  /** Rooms worth completing: our own, listed by /rooms, or invited to. */
  get knownRooms(): string[] {
    return [...new Set([...this.#knownRooms, ...this.rooms.names()])].sort();
  }

  /**
   * Learns the registry's room names for completion, at most once per
   * `maxAgeMs`; a failure keeps what is known (completion never fails).
   */
  async refreshRooms(maxAgeMs = 10_000): Promise<void> {
    const now = this.#clock.now();
    if (this.#stopped || now - this.#roomsFetchedAt < maxAgeMs) return;
    this.#roomsFetchedAt = now;
    try {
      const r = await this.#request("rooms", {});
      for (const room of r.rooms) this.#knownRooms.add(room.room);
    } catch {
      // Only used for completion.
    }
  }

  #event(ev: PeerEvent): void {
    if (this.#stopped && ev.type !== "transfer_failed") return;
    try {
      this.#emit(ev);
    } catch (err) {
      this.#o.logger.error("event handler failed", {
        type: ev.type,
        error: String(err),
      });
    }
  }

  #status(s: SessionStatus): void {
    switch (s.kind) {
      case "lost":
        this.#event({ type: "registry_lost" });
        return;
      case "restored":
        this.#event({ type: "registry_restored" });
        void this.#afterRestore();
        return;
      case "timeout":
        this.#event({ type: "timeout", reason: s.reason, again: s.again });
        if (s.again) return;
        this.#ended({
          code: "timeout",
          reason: `logged out by the registry (${
            s.reason === "idle" ? "idle" : "no heartbeat"
          })`,
        });
        return;
      case "ended":
        this.#event({ type: "session_ended", reason: s.reason });
        this.#ended({ code: "ended", reason: s.reason });
        return;
    }
  }

  async #afterRestore(): Promise<void> {
    try {
      await this.#loadState();
      await this.#inbox.fetch();
    } catch (err) {
      this.#o.logger.warn("refresh after restore failed", {
        error: String(err),
      });
    }
  }

  #registryEvent(ev: RegistryEvent): void {
    if (!this.#ready) {
      this.#held.push(ev);
      return;
    }
    switch (ev.type) {
      case "presence":
        this.rooms.presence(ev.user, ev.online);
        this.#knownUsers.add(ev.user);
        this.#event({ type: "presence", user: ev.user, online: ev.online });
        return;
      case "friend_request":
        this.#knownUsers.add(ev.from);
        this.#event({ type: "friend_request", from: ev.from });
        return;
      case "friend_accepted":
        this.#knownUsers.add(ev.user);
        this.#event({ type: "friend_accepted", user: ev.user });
        return;
      case "friend_removed":
        this.#event({ type: "friend_removed", user: ev.user });
        return;
      case "room_invite":
        this.#knownRooms.add(ev.room);
        this.#event({ type: "room_invite", room: ev.room, from: ev.from });
        return;
      case "invite_withdrawn":
        this.#event({ type: "invite_withdrawn", room: ev.room });
        return;
      case "pending":
        this.#event({
          type: "pending",
          friend_requests: ev.friend_requests,
          invites: ev.invites,
        });
        return;
      case "room_joined":
        this.rooms.joined(ev.room, ev.user);
        this.#event({ type: "room_joined", room: ev.room, user: ev.user });
        return;
      case "room_left":
        if (ev.user === this.user) {
          this.rooms.drop(ev.room);
          leaveIfCurrent(this.#context, "room", ev.room);
        } else {
          this.rooms.left(ev.room, ev.user);
        }
        this.#event({
          type: "room_left",
          room: ev.room,
          user: ev.user,
          reason: ev.reason,
          ...(ev.by !== undefined ? { by: ev.by } : {}),
        });
        return;
      case "room_owner":
        this.rooms.owner(ev.room, ev.user);
        this.#event({ type: "room_owner", room: ev.room, user: ev.user });
        return;
      case "offline_waiting":
      case "delivered_waiting":
        void this.#inbox.fetch();
        return;
      case "error":
        this.#o.logger.warn("registry reported an error", {
          reason: ev.reason,
        });
        return;
    }
  }

  /**
   * The one path by which a message is left with the registry for later
   * (/msg to someone offline, a chat request nobody answered).
   */
  async #storeOffline(
    user: string,
    text: string,
  ): Promise<ReplyData<"offline_send">> {
    const device = this.#o.credentials.device;
    if (!device?.enrolled) {
      throw new UserError(
        "this machine is not one of your devices, so it cannot seal an offline message — log in with the password once (chat login)",
        "refused",
      );
    }
    // A message left for later is for the user's pinned devices only.
    await this.#checkContact(user);
    try {
      return await this.#sealAndStore(device, user, text, false);
    } catch (err) {
      // Keys remembered from a moment ago may be stale: ask once more.
      if (!(err instanceof UserError) || err.code !== "refused") throw err;
      if (!/devices changed/.test(err.message)) throw err;
      return await this.#sealAndStore(device, user, text, true);
    }
  }

  async #sealAndStore(
    device: NonNullable<PeerOptions["credentials"]["device"]>,
    user: string,
    text: string,
    fresh: boolean,
  ): Promise<ReplyData<"offline_send">> {
    const devices = await this.#keysOf(user, fresh);
    if (devices.length === 0) {
      throw new UserError(
        `${user} has not logged in from any device yet, so a message cannot be sealed for ${user} — try again once ${user} has`,
        "not_found",
      );
    }
    const mid = newMessageId();
    const from = this.user;
    const boxes = await Promise.all(devices.map(async (d) => ({
      device: d.name,
      box: await seal(device, d.dh, {
        kind: "msg",
        from,
        fromDevice: device.name,
        to: user,
        toDevice: d.name,
        mid,
      }, text),
    })));
    return await this.#request("offline_send", {
      to: user,
      mid,
      from_device: device.name,
      boxes,
    });
  }

  /** See ConversationDeps.storeBacklog. */
  async #storeBacklog(
    room: string,
    text: string,
    users: string[],
  ): Promise<string[]> {
    const device = this.#o.credentials.device;
    if (users.length === 0 || !device?.enrolled || !this.#endpoint) return [];
    const me = this.user;
    const mid = newMessageId();
    const kept: string[] = [];
    let pending = [...new Set(users)];
    try {
      // A second round for members whose devices changed meanwhile.
      for (let round = 0; round < 2 && pending.length > 0; round++) {
        const keys = await this.#roomKeys(room, pending, round > 0);
        const sealed: RequestFields<"room_store">["members"] = [];
        for (const user of pending) {
          const devices = keys.get(user) ?? [];
          if (devices.length === 0) continue; // No device: nothing to seal to.
          try {
            await this.#checkContact(user);
          } catch {
            continue; // A verified contact whose keys changed: not for them.
          }
          sealed.push({
            user,
            boxes: await Promise.all(devices.map(async (d) => ({
              device: d.name,
              box: await seal(device, d.dh, {
                kind: `room:${room}`,
                from: me,
                fromDevice: device.name,
                to: user,
                toDevice: d.name,
                mid,
              }, text),
            }))),
          });
        }
        const stale: string[] = [];
        for (const members of backlogBatches(sealed)) {
          const r = await this.#request("room_store", {
            room,
            mid,
            from_device: device.name,
            members,
          });
          kept.push(...r.stored);
          stale.push(...r.stale);
        }
        pending = stale;
      }
    } catch (err) {
      this.#o.logger.warn("room backlog not stored", {
        room,
        error: String(err),
      });
    }
    return kept;
  }

  /**
   * Device keys of room members, as this session remembered them a moment
   * ago unless `fresh`; the rest asked for in one request per hundred.
   */
  async #roomKeys(
    room: string,
    users: string[],
    fresh: boolean,
  ): Promise<Map<string, VouchedDevice[]>> {
    const cache = this.#endpoint?.deviceKeys;
    if (!cache) throw new UserError("not logged in", "logged_out");
    const out = new Map<string, VouchedDevice[]>();
    const ask: string[] = [];
    for (const u of users) {
      const known = fresh ? undefined : cache.peek(u);
      if (known) out.set(u, await known);
      else ask.push(u);
    }
    for (let i = 0; i < ask.length; i += MAX_BACKLOG_MEMBERS) {
      const r = await this.#request("room_keys", {
        room,
        users: ask.slice(i, i + MAX_BACKLOG_MEMBERS),
      });
      for (const m of r.members) {
        cache.prime(m.user, m.devices);
        out.set(m.user, await cache.peek(m.user)!);
      }
    }
    return out;
  }

  /** See InboxDeps.open: the sender's device keys as the registry vouches. */
  async #openSealed(
    m: ReplyData<"offline_fetch">["messages"][number],
  ): Promise<string> {
    const device = this.#o.credentials.device;
    if (!device?.enrolled || m.box === undefined) {
      throw new SealError(
        "it was sealed to other devices of yours, not this one",
      );
    }
    const name = m.from_device.toLowerCase();
    let theirs = await this.#keysOf(m.from, false);
    if (!theirs.some((x) => x.name === name)) {
      theirs = await this.#keysOf(m.from, true);
    }
    const d = theirs.find((x) => x.name === name);
    if (!d) {
      throw new SealError(
        `${m.from} has no device '${m.from_device}' that could have signed it`,
      );
    }
    return await open(device, d, {
      kind: m.room !== undefined ? `room:${m.room}` : "msg",
      from: m.from,
      fromDevice: m.from_device,
      to: this.user,
      toDevice: device.name,
      mid: m.mid,
    }, m.box);
  }

  /**
   * `user`'s device keys for sealing or opening offline messages, as this
   * session remembered them a moment ago unless `fresh`.
   */
  #keysOf(user: string, fresh: boolean): Promise<VouchedDevice[]> {
    const endpoint = this.#endpoint;
    if (!endpoint) throw new UserError("not logged in", "logged_out");
    return endpoint.deviceKeys.get(
      { request: (t, f) => this.#request(t, f) },
      user,
      { fresh },
    );
  }

  async #request<K extends RequestType>(
    type: K,
    fields: RequestFields<K>,
  ): Promise<ReplyData<K>> {
    const endpoint = this.#endpoint;
    if (!endpoint) throw new UserError("not logged in", "logged_out");
    try {
      return await endpoint.session.request(type, fields);
    } catch (err) {
      if (err instanceof RegistryError) {
        throw new UserError(err.message, registryErrorCode(err));
      }
      throw err;
    }
  }

  /** See PeerContext.checkContact. */
  async #checkContact(user: string): Promise<void> {
    const contacts = this.#endpoint?.contacts;
    if (!contacts) return;
    try {
      await contacts.check(user);
    } catch (err) {
      // The registry cannot be asked: the link or message is checked later.
      if (err instanceof ContactError && err.code === "unverifiable") return;
      throw contactError(err);
    }
  }

  async #dial(user: string, purpose: Purpose): Promise<P2PLink> {
    if (user === this.user && purpose === "chat") {
      throw new UserError("you cannot chat with yourself", "self");
    }
    // A link we open would carry the blocked user's replies past our block.
    if (this.#blocked.has(user)) {
      throw new UserError(
        `you have blocked ${user} — /unblock ${user} first`,
        "blocked",
      );
    }
    const endpoint = this.#endpoint;
    if (!endpoint) throw new UserError("not logged in", "logged_out");
    try {
      return (await endpoint.links.open(user, purpose)).link;
    } catch (err) {
      if (err instanceof LinkError) {
        throw new UserError(err.message, err.code);
      }
      throw err;
    }
  }

  /** Parses and runs one command line. Never throws for bad input. */
  async run(line: string): Promise<CommandReply> {
    const parsed = parseLine(line);
    if (!parsed.ok) {
      // A bad plain line reports what it would have become (/msg or /say).
      const inRoom = this.#context.current?.kind === "room";
      const command = parsed.command ||
        commandName({ name: "text", text: "" }, inRoom);
      return failure(command, parsed.error, "usage");
    }
    return await this.runCommand(parsed.command);
  }

  /**
   * Runs a command already parsed (as `run` does after parsing): for a
   * front end that filled in part of it itself, such as a password it asked
   * for rather than took from the typed line.
   */
  async runCommand(cmd: Command): Promise<CommandReply> {
    const inRoom = this.#context.current?.kind === "room";
    const command = commandName(cmd, inRoom);
    try {
      if (this.#stopped) throw new UserError("logged out", "logged_out");
      this.#touch(cmd.name);
      return await this.#answer(this.#resolve(cmd), command);
    } catch (err) {
      if (err instanceof UserError) {
        return failure(
          command,
          err.message + this.#didYouMean(cmd, err),
          err.code,
        );
      }
      this.#o.logger.error("command failed", { command, error: String(err) });
      return failure(
        command,
        `internal error: ${err instanceof Error ? err.message : err}`,
        "internal",
      );
    }
  }

  /**
   * For a user or room the registry does not know: " — did you mean X?"
   * when a name we know (friends, chat partners, room mates, rooms seen)
   * is close to the one typed; "" otherwise.
   */
  #didYouMean(cmd: Command, err: UserError): string {
    if (err.code !== "not_found") return "";
    const typed = "user" in cmd
      ? { name: cmd.user, known: this.knownUsers, prefix: "" }
      : cmd.name === "send"
      ? cmd.room
        ? { name: cmd.to, known: this.knownRooms, prefix: "#" }
        : { name: cmd.to, known: this.knownUsers, prefix: "" }
      : "room" in cmd
      ? { name: cmd.room, known: this.knownRooms, prefix: "" }
      : null;
    if (!typed) return "";
    const near = closest(
      typed.name,
      typed.known.filter((n) => n !== typed.name),
    );
    return near ? ` — did you mean ${typed.prefix}${near}?` : "";
  }

  /** The command a plain line stands for: /say in a room, /msg in a chat. */
  #resolve(cmd: Command): CommandMap[Answered] {
    if (cmd.name !== "text") return cmd;
    const cur = this.#context.current;
    if (!cur) {
      throw new UserError(
        "no current conversation — /chat NAME or /join ROOM first",
        "state",
      );
    }
    return cur.kind === "room"
      ? { name: "say", room: cur.name, text: cmd.text }
      : { name: "msg", user: cur.name, text: cmd.text };
  }

  #answer(cmd: CommandMap[Answered], command: string): Promise<CommandReply> {
    return answer(this.#context, cmd.name, cmd, command);
  }

  /** Tells the registry about user activity now and then (for --idle-timeout). */
  #touch(name: Command["name"]): void {
    if (name === "help") return;
    const now = this.#clock.now();
    const session = this.#endpoint?.session;
    if (now - this.#lastActive < ACTIVE_EVERY_MS || !session?.connected) {
      return;
    }
    this.#lastActive = now;
    session.request("active", {}).catch(() => {});
  }

  /** Logs out and releases everything; idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopSweep();
    await this.transfers.closeAll("the sender logged out");
    await this.conversations.closeAll(`${this.user} logged out`);
    await this.#endpoint?.close();
    this.#ended({ code: "logged_out", reason: "logged out" });
  }

  /** As `stop`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

function failure(
  command: string,
  error: string,
  code: PeerErrorCode,
): Failure {
  return { ok: false, command, error, code };
}

/** The peer's code for a registry refusal. */
function registryErrorCode(err: RegistryError): PeerErrorCode {
  switch (err.code) {
    case "offline":
      return "offline";
    case "not_found":
      return "not_found";
    case "network":
      return "registry";
    default:
      return "refused";
  }
}

/** A contact check's failure as the user sees it. */
function contactError(err: unknown): unknown {
  if (!(err instanceof ContactError)) return err;
  return new UserError(
    err.message,
    err.code === "changed" ? "refused" : "state",
  );
}

/** Characters of boxes one room_store request carries at most. */
const BACKLOG_REQUEST_CHARS = 512 * 1024;

/** Splits a room's sealed backlog into requests that fit their frame. */
function* backlogBatches<T extends { boxes: { box: string }[] }>(
  members: T[],
): Generator<T[]> {
  let batch: T[] = [];
  let chars = 0;
  for (const m of members) {
    const size = m.boxes.reduce((n, b) => n + b.box.length + 64, 64);
    if (
      batch.length > 0 &&
      (batch.length >= MAX_BACKLOG_MEMBERS ||
        chars + size > BACKLOG_REQUEST_CHARS)
    ) {
      yield batch;
      batch = [];
      chars = 0;
    }
    batch.push(m);
    chars += size;
  }
  if (batch.length > 0) yield batch;
}
