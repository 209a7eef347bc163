/**
 * The peer core: commands in, typed events out. Both front ends (the shell
 * and the JSON mode) drive one Peer; nothing here prints.
 *
 * It owns the registry session (with reconnection), the P2P node, the
 * conversations, the room book, file transfers and transcripts.
 */
import { join } from "node:path";
import type { Logger } from "../../common/log.ts";
import type { RegistryEvent, ReplyData, RequestType } from "../../wire/mod.ts";
import { type Command, helpText, parseLine } from "./commands.ts";
import { Conversations } from "./conversations.ts";
import { UserError } from "./errors.ts";
import type { EventSink, PeerEvent } from "./events.ts";
import {
  type BackoffPolicy,
  createPeerIdentity,
  type Credentials,
  DialError,
  P2PNode,
  type PeerIdentity,
  type Purpose,
  RegistryError,
  RegistrySession,
  type RegistryTarget,
  type RequestFields,
  type SessionStatus,
} from "../net/mod.ts";
import { RoomBook } from "./room_book.ts";
import { Transcripts } from "./transcripts.ts";
import { Transfers } from "./transfers.ts";

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
  now?: () => number;
  /** Largest incoming file accepted; 0 means no limit. */
  maxFileBytes?: number;
  /** Folder for received files; default $CHAT_HOME/downloads. */
  downloads?: string;
  /** Fault injection for tests: corrupt the byte at this offset of sent files. */
  corruptAt?: number;
}

/** The reply to one command line. */
export type CommandReply =
  | { ok: true; command: string; data: Record<string, unknown> }
  | { ok: false; command: string; error: string };

/** Where plain lines go. */
export type Conversation = { kind: "user"; name: string } | {
  kind: "room";
  name: string;
};

/** One offline message as kept for /inbox. */
export interface InboxEntry {
  from: string;
  text: string;
  sent_at: string;
}

/** See the module doc. */
export class Peer {
  readonly #o: PeerOptions;
  readonly #emit: EventSink;
  readonly #identity: PeerIdentity;
  readonly #p2p: P2PNode;
  readonly rooms: RoomBook = new RoomBook();
  readonly conversations: Conversations;
  readonly transfers: Transfers;
  readonly #transcripts: Transcripts;
  #session: RegistrySession | null = null;
  #ready = false;
  #held: RegistryEvent[] = [];
  #blocked = new Set<string>();
  #inbox: InboxEntry[] = [];
  #seenOffline = new Set<number>();
  #fetching: Promise<void> | null = null;
  #fetchAgain = false;
  #current: Conversation | null = null;
  #knownUsers = new Set<string>();
  #knownRooms = new Set<string>();
  #roomsFetchedAt = -Infinity;
  #tick: ReturnType<typeof setInterval> | undefined;
  #lastActive = 0;
  #stopped = false;
  #ended!: (reason: string) => void;
  /** Resolves when the registry ends the session (timeout or replacement). */
  readonly ended: Promise<string>;
  readonly #now: () => number;

  private constructor(o: PeerOptions, emit: EventSink, identity: PeerIdentity) {
    this.#o = o;
    this.#emit = emit;
    this.#identity = identity;
    this.#now = o.now ?? Date.now;
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
    this.#p2p = new P2PNode({
      identity,
      self: () => ({
        user: this.#session?.user ?? o.credentials.user,
        registryKey: this.#session?.registryKey ?? null,
      }),
      isBlocked: (user) => this.#blocked.has(user),
      onInbound: (link) => {
        if (link.purpose === "chat") this.conversations.adopt(link);
        else this.transfers.adoptInbound(link);
      },
      logger: o.logger,
      now: this.#now,
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
      now: this.#now,
      logger: o.logger,
    });
    this.transfers = new Transfers({
      self: () => this.user,
      dial: (user) => this.#dial(user, "file"),
      emit: (ev) => this.#event(ev),
      downloads: o.downloads ?? join(o.home, "downloads"),
      maxBytes: o.maxFileBytes ?? 0,
      logger: o.logger,
      now: this.#now,
      ...(o.corruptAt !== undefined ? { corruptAt: o.corruptAt } : {}),
    });
  }

  /**
   * Starts a peer: P2P listener, registry login (sign-up first if asked),
   * room state, then `ready`, then offline messages.
   */
  static async start(o: PeerOptions, emit: EventSink): Promise<Peer> {
    const identity = await createPeerIdentity();
    const peer = new Peer(o, emit, identity);
    try {
      await peer.#start();
    } catch (err) {
      await peer.stop().catch(() => {});
      throw err;
    }
    return peer;
  }

  async #start(): Promise<void> {
    const port = this.#p2p.listen(this.#o.port, this.#o.listenHost);
    this.#session = await RegistrySession.open({
      target: this.#o.target,
      credentials: this.#o.credentials,
      kind: "peer",
      p2pPort: port,
      cert: this.#identity.certPem,
      key: this.#identity.publicKey,
      replace: this.#o.replace,
      signup: this.#o.signup,
      backoff: this.#o.backoff,
      logger: this.#o.logger,
      onEvent: (ev) => this.#registryEvent(ev),
      onStatus: (s) => this.#status(s),
    });
    await this.#loadState();
    this.#ready = true;
    this.#event({ type: "ready", user: this.user, port });
    for (const ev of this.#held.splice(0)) this.#registryEvent(ev);
    await this.#fetchOffline();
    this.#tick = setInterval(
      () => this.conversations.expire(this.#now()),
      1000,
    );
  }

  async #loadState(): Promise<void> {
    const blocks = await this.#request("blocks", {});
    this.#blocked = new Set(blocks.users);
    const mine = await this.#request("rooms", { mine: true });
    // After a reconnection: rooms we were removed from meanwhile are gone.
    const still = new Set(mine.rooms.map((r) => r.room));
    for (const room of this.rooms.names()) {
      if (still.has(room)) continue;
      this.rooms.drop(room);
      if (this.#current?.kind === "room" && this.#current.name === room) {
        this.#current = null;
      }
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
    for (const r of mine.rooms) {
      try {
        this.rooms.load(await this.#request("room_members", { room: r.room }));
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
    return this.#session?.user ?? this.#o.credentials.user;
  }

  /** The P2P port. */
  get port(): number {
    return this.#p2p.port;
  }

  /** Where plain lines go now. */
  get current(): Conversation | null {
    return this.#current;
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

  /** Rooms worth completing: our own, listed by /rooms, or invited to. */
  get knownRooms(): string[] {
    return [...new Set([...this.#knownRooms, ...this.rooms.names()])].sort();
  }

  /**
   * Learns the registry's room names for completion, at most once per
   * `maxAgeMs`; a failure keeps what is known (completion never fails).
   */
  async refreshRooms(maxAgeMs = 10_000): Promise<void> {
    const now = this.#now();
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
        this.#event({ type: "timeout", reason: s.reason });
        this.#ended(
          `logged out by the registry (${
            s.reason === "idle" ? "idle" : "no heartbeat"
          })`,
        );
        return;
      case "ended":
        this.#event({ type: "session_ended", reason: s.reason });
        this.#ended(s.reason);
        return;
    }
  }

  async #afterRestore(): Promise<void> {
    try {
      await this.#loadState();
      await this.#fetchOffline();
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
      case "room_joined":
        this.rooms.joined(ev.room, ev.user);
        this.#event({ type: "room_joined", room: ev.room, user: ev.user });
        return;
      case "room_left":
        if (ev.user === this.user) {
          this.rooms.drop(ev.room);
          if (
            this.#current?.kind === "room" && this.#current.name === ev.room
          ) this.#current = null;
        } else {
          this.rooms.left(ev.room, ev.user);
        }
        this.#event({
          type: "room_left",
          room: ev.room,
          user: ev.user,
          reason: ev.reason,
        });
        return;
      case "room_owner":
        this.rooms.owner(ev.room, ev.user);
        this.#event({ type: "room_owner", room: ev.room, user: ev.user });
        return;
      case "offline_waiting":
        void this.#fetchOffline();
        return;
      case "error":
        this.#o.logger.warn("registry reported an error", {
          reason: ev.reason,
        });
        return;
    }
  }

  /**
   * Fetches, shows and acknowledges stored messages. A call while a fetch
   * runs makes it fetch once more when done, so a message stored after the
   * running fetch read the store is not left there.
   */
  #fetchOffline(): Promise<void> {
    if (this.#fetching) {
      this.#fetchAgain = true;
      return this.#fetching;
    }
    this.#fetching = (async () => {
      try {
        do {
          this.#fetchAgain = false;
          await this.#fetchOfflineOnce();
        } while (this.#fetchAgain && !this.#stopped);
      } finally {
        this.#fetching = null;
      }
    })();
    return this.#fetching;
  }

  async #fetchOfflineOnce(): Promise<void> {
    try {
      const { messages } = await this.#request("offline_fetch", {});
      const ids: number[] = [];
      for (const m of messages) {
        ids.push(m.id);
        if (this.#seenOffline.has(m.id)) continue;
        this.#seenOffline.add(m.id);
        const entry = { from: m.from, text: m.text, sent_at: m.sent_at };
        this.#inbox.push(entry);
        this.#event({ type: "offline_message", ...entry });
      }
      if (ids.length > 0) await this.#request("offline_ack", { ids });
    } catch (err) {
      this.#o.logger.warn("offline fetch failed", { error: String(err) });
    }
  }

  async #request<K extends RequestType>(
    type: K,
    fields: RequestFields<K>,
  ): Promise<ReplyData<K>> {
    if (!this.#session) throw new UserError("not logged in");
    try {
      return await this.#session.request(type, fields);
    } catch (err) {
      if (err instanceof RegistryError) throw new UserError(err.message);
      throw err;
    }
  }

  async #dial(user: string, purpose: Purpose) {
    if (user === this.user && purpose === "chat") {
      throw new UserError("you cannot chat with yourself");
    }
    // A link we open would carry the blocked user's replies past our block.
    if (this.#blocked.has(user)) {
      throw new UserError(`you have blocked ${user} — /unblock ${user} first`);
    }
    let intro: ReplyData<"introduce">;
    try {
      if (!this.#session) throw new UserError("not logged in");
      intro = await this.#session.request("introduce", { user, purpose });
    } catch (err) {
      if (err instanceof RegistryError && err.code === "offline") {
        throw new UserError(`${user} is offline`);
      }
      if (err instanceof RegistryError) throw new UserError(err.message);
      throw err;
    }
    try {
      return await this.#p2p.dial(intro, purpose);
    } catch (err) {
      if (err instanceof DialError) throw new UserError(err.message);
      throw err;
    }
  }

  /** Parses and runs one command line. Never throws for bad input. */
  async run(line: string): Promise<CommandReply> {
    const parsed = parseLine(line);
    if (!parsed.ok) {
      // A bad plain line reports what it would have become (/msg or /say).
      const command = parsed.command ||
        commandName({ name: "text", text: "" }, this.#current);
      return { ok: false, command, error: parsed.error };
    }
    const command = commandName(parsed.command, this.#current);
    try {
      const data = await this.execute(parsed.command);
      return { ok: true, command, data };
    } catch (err) {
      if (err instanceof UserError) {
        return { ok: false, command, error: err.message };
      }
      this.#o.logger.error("command failed", { command, error: String(err) });
      return {
        ok: false,
        command,
        error: `internal error: ${err instanceof Error ? err.message : err}`,
      };
    }
  }

  /** Runs a parsed command; throws UserError with a one-line reason. */
  async execute(cmd: Command): Promise<Record<string, unknown>> {
    if (this.#stopped) throw new UserError("logged out");
    this.#touch(cmd.name);
    switch (cmd.name) {
      case "help":
        return { text: helpText(cmd.topic) };
      case "quit":
        await this.stop();
        return {};
      case "who": {
        const r = await this.#request("who", { detailed: cmd.detailed });
        for (const u of r.users) this.#knownUsers.add(u.user);
        return r;
      }
      case "search":
        return await this.#request("search", { user: cmd.user });
      case "profile":
        return await this.#request("profile", { user: cmd.user });
      case "status":
        return await this.#request(
          "status",
          cmd.text !== undefined ? { text: cmd.text } : {},
        );
      case "friends":
        return await this.#request("friends", {});
      case "friend": {
        const type = ({
          add: "friend_request",
          remove: "friend_remove",
          accept: "friend_accept",
          decline: "friend_decline",
        } as const)[cmd.action];
        return {
          ...(await this.#request(type, { user: cmd.user })),
          action: cmd.action,
        };
      }
      case "requests":
        return await this.#request("requests", {});
      case "block": {
        const r = await this.#request("block", { user: cmd.user });
        this.#blocked.add(cmd.user);
        this.conversations.forget(cmd.user);
        this.transfers.forget(cmd.user);
        if (this.#current?.kind === "user" && this.#current.name === cmd.user) {
          this.#current = null;
        }
        return r;
      }
      case "unblock": {
        const r = await this.#request("unblock", { user: cmd.user });
        this.#blocked.delete(cmd.user);
        return r;
      }
      case "blocks":
        return await this.#request("blocks", {});
      case "chat": {
        const r = await this.#chatRequest(cmd.user);
        this.#current = { kind: "user", name: cmd.user };
        return { with: cmd.user, state: r.state };
      }
      case "accept":
        await this.conversations.accept(cmd.user, cmd.save);
        this.#current = { kind: "user", name: cmd.user };
        return { with: cmd.user, saving: cmd.save };
      case "reject":
        await this.conversations.reject(cmd.user);
        return { with: cmd.user };
      case "msg":
        return await this.#message(cmd.user, cmd.text);
      case "close":
        this.conversations.close(cmd.user);
        if (this.#current?.kind === "user" && this.#current.name === cmd.user) {
          this.#current = null;
        }
        return { with: cmd.user };
      case "save":
        await this.conversations.setSaving(cmd.user, cmd.on);
        return {
          with: cmd.user,
          saving: cmd.on,
          path: this.#transcripts.pathFor(cmd.user),
        };
      case "inbox":
        await this.#fetchOffline();
        return { messages: [...this.#inbox] };
      case "rooms": {
        const r = await this.#request("rooms", { detailed: cmd.detailed });
        for (const room of r.rooms) this.#knownRooms.add(room.room);
        return r;
      }
      case "room_create": {
        const r = await this.#request("room_create", {
          room: cmd.room,
          ...(cmd.password !== undefined ? { password: cmd.password } : {}),
          ...(cmd.capacity !== undefined ? { capacity: cmd.capacity } : {}),
          ...(cmd.description !== undefined
            ? { description: cmd.description }
            : {}),
        });
        this.rooms.load(await this.#request("room_members", { room: r.room }));
        return r;
      }
      case "join": {
        const state = await this.#request("room_join", {
          room: cmd.room,
          ...(cmd.password !== undefined ? { password: cmd.password } : {}),
        });
        this.rooms.load(state);
        this.#current = { kind: "room", name: cmd.room };
        return state;
      }
      case "leave": {
        const r = await this.#request("room_leave", { room: cmd.room });
        this.rooms.drop(cmd.room);
        if (this.#current?.kind === "room" && this.#current.name === cmd.room) {
          this.#current = null;
        }
        return r;
      }
      case "members": {
        const state = await this.#request("room_members", { room: cmd.room });
        if (state.members.some((m) => m.user === this.user)) {
          this.rooms.load(state);
        }
        return state;
      }
      case "say":
        return {
          room: cmd.room,
          ...(await this.conversations.say(cmd.room, cmd.text)),
        };
      case "invite":
        return await this.#request("room_invite", {
          room: cmd.room,
          user: cmd.user,
        });
      case "invites": {
        const r = await this.#request("invites", {});
        for (const i of r.invites) this.#knownRooms.add(i.room);
        return r;
      }
      case "invite_answer": {
        if (!cmd.accept) {
          return {
            ...(await this.#request("invite_decline", { room: cmd.room })),
            action: "decline",
          };
        }
        const state = await this.#request("invite_accept", { room: cmd.room });
        this.rooms.load(state);
        this.#current = { kind: "room", name: cmd.room };
        return { ...state, action: "accept" };
      }
      case "kick":
        return await this.#request("room_kick", {
          room: cmd.room,
          user: cmd.user,
        });
      case "owner":
        return await this.#request("room_owner", {
          room: cmd.room,
          user: cmd.user,
        });
      case "send":
        return cmd.room
          ? await this.transfers.sendFileToRoom(
            cmd.to,
            cmd.path,
            this.rooms.onlineOthers(cmd.to, this.user),
            this.rooms.isMember(cmd.to, this.user),
          )
          : await this.transfers.sendFile(cmd.to, cmd.path);
      case "files":
        return { transfers: this.transfers.list() };
      case "file":
        return await this.transfers.answer(cmd.id, cmd.action);
      case "text": {
        const cur = this.#current;
        if (!cur) {
          throw new UserError(
            "no current conversation — /chat NAME or /join ROOM first",
          );
        }
        if (cur.kind === "room") {
          return {
            room: cur.name,
            ...(await this.conversations.say(cur.name, cmd.text)),
          };
        }
        return await this.#message(cur.name, cmd.text);
      }
    }
  }

  async #chatRequest(user: string, text?: string) {
    if (user === this.user) {
      throw new UserError("you cannot chat with yourself");
    }
    try {
      return await this.conversations.request(user, text);
    } catch (err) {
      if (
        err instanceof UserError && err.message === `${user} is offline` &&
        text === undefined
      ) {
        throw new UserError(
          `${user} is offline — /msg ${user} TEXT leaves a message for later`,
        );
      }
      throw err;
    }
  }

  async #message(user: string, text: string): Promise<Record<string, unknown>> {
    if (user === this.user) throw new UserError("you cannot message yourself");
    const chat = this.conversations.get(user);
    if (chat?.state === "open") {
      const id = await this.conversations.send(user, text);
      return { to: user, id, state: "sent" };
    }
    try {
      const r = await this.conversations.request(user, text);
      if (r.state === "open") {
        const id = await this.conversations.send(user, text);
        return { to: user, id, state: "sent" };
      }
      return { to: user, id: r.id, state: "requested" };
    } catch (err) {
      if (!(err instanceof UserError && err.message === `${user} is offline`)) {
        throw err;
      }
    }
    const stored = await this.#request("offline_send", { to: user, text });
    return {
      to: user,
      state: "stored",
      sent_at: stored.sent_at,
      notice:
        `${user} is offline — your message was stored and will be delivered when ${user} logs in`,
    };
  }

  /** Tells the registry about user activity now and then (for --idle-timeout). */
  #touch(name: string): void {
    if (name === "help") return;
    const now = this.#now();
    if (now - this.#lastActive < 10_000 || !this.#session?.connected) return;
    this.#lastActive = now;
    this.#session.request("active", {}).catch(() => {});
  }

  /** Logs out and releases everything; idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#tick);
    await this.transfers.closeAll("the sender logged out");
    await this.conversations.closeAll(`${this.user} logged out`);
    await this.#session?.close();
    await this.#p2p.close();
    this.#ended("logged out");
  }
}

/** The command name a reply reports: plain text reports what it became. */
function commandName(cmd: Command, current: Conversation | null): string {
  switch (cmd.name) {
    case "text":
      return current?.kind === "room" ? "/say" : "/msg";
    case "room_create":
      return "/room";
    case "invite_answer":
      return "/invite";
    default:
      return `/${cmd.name}`;
  }
}
