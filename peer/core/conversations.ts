/**
 * Direct chats (F10, F11) and room messages (F14) over authenticated P2P links.
 *
 * One link per remote user carries both; each link is read by one loop that
 * owns it until it closes. A chat goes outgoing/incoming → open → gone; a
 * request unanswered for 60 s expires. Every message is acknowledged by the
 * receiver, and the sender reports that as `delivered`.
 */
import type { Logger } from "../../common/log.ts";
import { decodeP2P, type P2PMessage } from "../../wire/mod.ts";
import type { PeerEvent } from "./events.ts";
import type { P2PLink } from "../net/mod.ts";
import type { RoomBook } from "./room_book.ts";
import type { Transcripts } from "./transcripts.ts";
import { UserError } from "./errors.ts";

/** How long a chat request waits for an answer. */
export const CHAT_REQUEST_TTL_MS = 60_000;

/**
 * How often a room's members may be re-read from the registry when someone
 * not (yet) known as a member writes to it.
 */
export const ROOM_REFRESH_MS = 1000;

/**
 * How long an open chat whose link dropped waits for a new one before it is
 * reported closed. The side whose name sorts first dials again at once
 * (through whichever path works now), the other after RELINK_WAIT_MS if no
 * link arrived; a user the registry knows to be offline ends it at once.
 */
export const RELINK_MS = 8_000;
/** How long the second side waits for the first to dial again. */
export const RELINK_WAIT_MS = 2_000;

/**
 * Bytes queued on a link after which sending waits for the socket to take
 * them, so a fast sender is paced by TCP instead of overflowing its own queue.
 */
export const SEND_HIGH_WATER_BYTES = 1024 * 1024;

/** One conversation's state. */
export interface Chat {
  user: string;
  state: "outgoing" | "incoming" | "open";
  since: number;
  saving: boolean;
  /** Outgoing messages waiting for the other side to accept. */
  queued: { id: number; text: string }[];
  /** For an incoming request: the message it carried. */
  requestText?: string;
  requestId?: number;
}

/** What conversations need from the rest of the peer. */
export interface ConversationDeps {
  self: () => string;
  /** Opens a chat-purpose link to `user` via a registry introduction. */
  dial: (user: string) => Promise<P2PLink>;
  emit: (ev: PeerEvent) => void;
  transcripts: Transcripts;
  rooms: RoomBook;
  /** Re-reads a room's members from the registry (when a stranger writes). */
  refreshRoom: (room: string) => Promise<void>;
  now: () => number;
  /** A timer (the peer's clock): calls `fn` after `ms`; returns its cancel. */
  after: (ms: number, fn: () => void) => () => void;
  logger: Logger;
  /** Whether a friend's chat request is accepted at once (/set accept-friends). */
  acceptFriends: () => boolean;
  /** The registry's word on whether `user` is our friend. */
  isFriend: (user: string) => Promise<boolean>;
  /**
   * Leaves `text` for `user` with the registry (the offline-message path of
   * /msg); resolves with the time it was stored (ISO 8601).
   */
  storeOffline: (user: string, text: string) => Promise<string>;
  /**
   * Leaves a room message with the registry for `users`, members who are
   * away or could not be reached: sealed to their devices, for when they
   * are back. Resolves with those it was kept for; never throws.
   */
  storeBacklog: (
    room: string,
    text: string,
    users: string[],
  ) => Promise<string[]>;
}

/** See the module doc. */
export class Conversations {
  readonly #d: ConversationDeps;
  readonly #links = new Map<string, P2PLink[]>();
  readonly #dialing = new Map<string, Promise<P2PLink>>();
  /** Open chats whose link dropped, waiting for a new one: their give-up timers. */
  readonly #relinking = new Map<string, () => void>();
  readonly #chats = new Map<string, Chat>();
  readonly #readers = new Set<Promise<void>>();
  /** When each room was last re-read because a non-member wrote to it. */
  readonly #refreshed = new Map<string, number>();
  #nextId = 1;
  #closed = false;

  constructor(deps: ConversationDeps) {
    this.#d = deps;
  }

  /** Takes ownership of a chat link (inbound or dialed) and reads it. */
  adopt(link: P2PLink): void {
    if (this.#closed) {
      link.conn.close();
      return;
    }
    const list = this.#links.get(link.user) ?? [];
    list.push(link);
    this.#links.set(link.user, list);
    const relinked = this.#relinking.get(link.user);
    if (relinked) {
      relinked();
      this.#relinking.delete(link.user);
    }
    this.#d.emit({
      type: "link",
      with: link.user,
      purpose: "chat",
      path: link.path,
      inbound: link.inbound,
      ...(relinked ? { restored: true } : {}),
    });
    const reader = this.#read(link);
    this.#readers.add(reader);
    reader.finally(() => this.#readers.delete(reader));
  }

  /** An open link to `user`, dialing one if needed (concurrent callers share it). */
  linkTo(user: string): Promise<P2PLink> {
    const open = this.#links.get(user)?.findLast((l) => !l.conn.closed);
    if (open) return Promise.resolve(open);
    let pending = this.#dialing.get(user);
    if (!pending) {
      const mine: Promise<P2PLink> = this.#d.dial(user).then((link) => {
        this.adopt(link);
        return link;
      }).finally(() => {
        if (this.#dialing.get(user) === mine) this.#dialing.delete(user);
      });
      pending = mine;
      this.#dialing.set(user, pending);
    }
    return pending;
  }

  #send(link: P2PLink, msg: P2PMessage): void {
    if (!link.conn.send(msg)) {
      throw new UserError(`lost the connection to ${link.user}`);
    }
  }

  /** Current chats, for /files-like listings and completion. */
  list(): Chat[] {
    return [...this.#chats.values()];
  }

  /** The chat with `user`, if any. */
  get(user: string): Chat | undefined {
    return this.#chats.get(user);
  }

  /** /chat NAME: asks for a chat (or notes that one is open). */
  async request(
    user: string,
    text?: string,
  ): Promise<{ state: "requested" | "open"; id?: number }> {
    const existing = this.#chats.get(user);
    if (existing?.state === "open") return { state: "open" };
    if (existing?.state === "incoming") {
      await this.accept(user, false);
      return { state: "open" };
    }
    if (existing?.state === "outgoing") {
      if (text === undefined) return { state: "requested" };
      const id = this.#nextId++;
      existing.queued.push({ id, text });
      return { state: "requested", id };
    }
    const link = await this.linkTo(user);
    const id = text !== undefined ? this.#nextId++ : undefined;
    this.#chats.set(user, {
      user,
      state: "outgoing",
      since: this.#d.now(),
      saving: false,
      queued: [],
    });
    this.#send(link, {
      type: "chat_request",
      ...(text !== undefined ? { text, id } : {}),
    });
    if (text !== undefined) {
      const chat = this.#chats.get(user)!;
      chat.requestText = text;
      chat.requestId = id;
    }
    return { state: "requested", id };
  }

  /** /accept NAME [--save]. */
  async accept(user: string, save: boolean): Promise<void> {
    const chat = this.#chats.get(user);
    if (!chat || chat.state !== "incoming") {
      throw new UserError(`no chat request from ${user} (it may have expired)`);
    }
    const link = await this.linkTo(user);
    chat.state = "open";
    chat.saving = save;
    chat.since = this.#d.now();
    this.#send(link, { type: "chat_accept" });
    this.#d.emit({
      type: "chat_started",
      with: user,
      saving: save,
      path: link.path,
    });
    if (save) {
      await this.#d.transcripts.note(
        user,
        this.#d.now(),
        `chat with ${user} started`,
      );
    }
    if (chat.requestText !== undefined && chat.requestId !== undefined) {
      if (save) {
        await this.#d.transcripts.append(
          user,
          chat.since,
          user,
          chat.requestText,
        );
      }
      this.#send(link, { type: "ack", id: chat.requestId });
    }
    chat.requestText = undefined;
    chat.requestId = undefined;
  }

  /** /reject NAME. */
  reject(user: string): void {
    const chat = this.#chats.get(user);
    if (!chat || chat.state !== "incoming") {
      throw new UserError(`no chat request from ${user} (it may have expired)`);
    }
    this.#chats.delete(user);
    const link = this.#links.get(user)?.findLast((l) => !l.conn.closed);
    if (link) link.conn.send({ type: "chat_reject" });
  }

  /** Sends a message in an open chat; returns its id. */
  async send(user: string, text: string): Promise<number> {
    const chat = this.#chats.get(user);
    if (!chat || chat.state !== "open") {
      throw new UserError(`no open chat with ${user} — /chat ${user} first`);
    }
    const link = await this.linkTo(user);
    const id = this.#nextId++;
    if (chat.queued.length > 0) {
      // Messages from before the accept are still going out: keep the order.
      chat.queued.push({ id, text });
    } else {
      this.#send(link, { type: "msg", id, text });
      await this.#paced(link);
    }
    if (chat.saving) {
      await this.#d.transcripts.append(
        user,
        this.#d.now(),
        this.#d.self(),
        text,
      );
    }
    return id;
  }

  /** /close NAME. */
  close(user: string, reason = `closed by ${this.#d.self()}`): void {
    const chat = this.#chats.get(user);
    if (!chat) throw new UserError(`no chat with ${user}`);
    this.#chats.delete(user);
    const link = this.#links.get(user)?.findLast((l) => !l.conn.closed);
    if (link) link.conn.send({ type: "chat_close", reason });
    if (chat.saving) {
      void this.#d.transcripts.note(
        user,
        this.#d.now(),
        `chat closed: ${reason}`,
      );
    }
    this.#d.emit({ type: "chat_closed", with: user, reason });
  }

  /** /save NAME on|off. */
  async setSaving(user: string, on: boolean): Promise<void> {
    const chat = this.#chats.get(user);
    if (!chat || chat.state !== "open") {
      throw new UserError(`no open chat with ${user}`);
    }
    if (chat.saving === on) return;
    chat.saving = on;
    await this.#d.transcripts.note(
      user,
      this.#d.now(),
      on ? `transcript started` : `transcript stopped`,
    );
  }

  /** Sends a room message to every online member; returns who it went to. */
  async say(
    room: string,
    text: string,
  ): Promise<
    { id: number; recipients: string[]; later: string[]; unreached: string[] }
  > {
    const me = this.#d.self();
    if (!this.#d.rooms.isMember(room, me)) {
      throw new UserError(
        `you are not in room '${room}' — /join ${room} first`,
      );
    }
    const id = this.#nextId++;
    const targets = this.#d.rooms.onlineOthers(room, me);
    const recipients: string[] = [];
    const unreached: string[] = [];
    await Promise.all(targets.map(async (user) => {
      try {
        const link = await this.linkTo(user);
        this.#send(link, { type: "msg", id, text, room });
        recipients.push(user);
        // A burst into a room is paced per member like direct messages.
        await this.#paced(link);
      } catch (err) {
        this.#d.logger.warn("room send failed", {
          room,
          user,
          error: String(err),
        });
        unreached.push(user);
      }
    }));
    // Members away, and those whose link failed, get it from the backlog.
    const away = [...(this.#d.rooms.get(room)?.members ?? [])]
      .filter(([u, m]) => u !== me && !m.online).map(([u]) => u);
    const later = await this.#d.storeBacklog(room, text, [
      ...away,
      ...unreached,
    ]);
    const kept = new Set(later);
    return {
      id,
      recipients: recipients.sort(),
      later: [...kept].sort(),
      unreached: unreached.filter((u) => !kept.has(u)).sort(),
    };
  }

  /** Ends requests nobody answered in time. */
  expire(now: number): void {
    for (const chat of [...this.#chats.values()]) {
      if (chat.state === "open" || now - chat.since < CHAT_REQUEST_TTL_MS) {
        continue;
      }
      this.#chats.delete(chat.user);
      if (chat.state === "outgoing") {
        this.#d.emit({
          type: "chat_rejected",
          by: chat.user,
          reason: "no answer within 60 s",
        });
        void this.#storeUnanswered(chat, "did not answer within 60 s");
      } else {
        this.#d.emit({ type: "chat_request_expired", from: chat.user });
      }
    }
  }

  /** Drops everything with `user` at once (after /block). */
  forget(user: string): void {
    const chat = this.#chats.get(user);
    this.#chats.delete(user);
    for (const link of this.#links.get(user) ?? []) link.conn.close();
    if (chat?.state === "open") {
      this.#d.emit({ type: "chat_closed", with: user, reason: "blocked" });
    }
  }

  /** Closes every chat and link. */
  async closeAll(reason: string): Promise<void> {
    this.#closed = true;
    for (const stop of this.#relinking.values()) stop();
    this.#relinking.clear();
    for (const chat of this.#chats.values()) {
      const link = this.#links.get(chat.user)?.findLast((l) => !l.conn.closed);
      if (chat.state === "open") {
        link?.conn.send({ type: "chat_close", reason });
      }
    }
    this.#chats.clear();
    const links = [...this.#links.values()].flat();
    await Promise.all(links.map((l) => l.conn.closeAfterFlush(500)));
    await Promise.all([...this.#readers]);
    await this.#d.transcripts.flush();
  }

  async #read(link: P2PLink): Promise<void> {
    try {
      for await (const frame of link.frames) {
        if (frame.kind !== "control") {
          link.conn.send({
            type: "error",
            reason: "data frames are not expected on a chat link",
          });
          continue;
        }
        const d = decodeP2P(frame.payload);
        if (!d.ok) {
          link.conn.send({ type: "error", reason: d.reason });
          continue;
        }
        await this.#handle(link, d.msg);
      }
    } catch (err) {
      this.#d.logger.from(link.user, "warn", "p2p link dropped", {
        user: link.user,
        error: String(err),
      });
    } finally {
      link.conn.close();
      this.#unlink(link);
    }
  }

  #unlink(link: P2PLink): void {
    const list = (this.#links.get(link.user) ?? []).filter((l) =>
      l !== link && !l.conn.closed
    );
    if (list.length > 0) {
      this.#links.set(link.user, list);
      return;
    }
    this.#links.delete(link.user);
    const chat = this.#chats.get(link.user);
    if (!chat || this.#closed) return;
    if (chat.state === "open" && !this.#relinking.has(link.user)) {
      this.#relink(link.user, chat);
      return;
    }
    this.#lost(link.user, chat);
  }

  /** Tries to get an open chat a new link (see RELINK_MS). */
  #relink(user: string, chat: Chat): void {
    const hasLink = () =>
      this.#links.get(user)?.some((l) => !l.conn.closed) ?? false;
    const giveUp = () => {
      if (!this.#relinking.has(user)) return;
      this.#relinking.get(user)?.();
      this.#relinking.delete(user);
      // A dial still under way belongs to the lost chat; the next starts fresh.
      this.#dialing.delete(user);
      if (this.#chats.get(user) === chat && !hasLink()) this.#lost(user, chat);
    };
    const stopTimer = this.#d.after(RELINK_MS, giveUp);
    let stopWait = () => {};
    this.#relinking.set(user, () => {
      stopTimer();
      stopWait();
    });
    this.#d.logger.info("chat link lost, dialling again", { user });
    const dial = () => {
      if (!this.#relinking.has(user) || hasLink()) return;
      this.linkTo(user).catch((err) => {
        this.#d.logger.info("chat link not restored", {
          user,
          error: err instanceof Error ? err.message : String(err),
        });
        giveUp();
      });
    };
    if (this.#d.self() < user) dial();
    else stopWait = this.#d.after(RELINK_WAIT_MS, dial);
  }

  /** An open or requested chat whose link is gone for good. */
  #lost(user: string, chat: Chat): void {
    const link = { user };
    this.#chats.delete(link.user);
    if (chat.state === "open") {
      if (chat.saving) {
        void this.#d.transcripts.note(
          link.user,
          this.#d.now(),
          "connection lost",
        );
      }
      this.#d.emit({
        type: "chat_closed",
        with: link.user,
        reason: `lost the connection to ${link.user}`,
      });
    } else if (chat.state === "outgoing") {
      this.#d.emit({
        type: "chat_rejected",
        by: link.user,
        reason: "connection lost",
      });
      void this.#storeUnanswered(chat, "could not be reached");
    }
  }

  /**
   * The messages of a request nobody answered (its first one and those
   * queued behind it), left with the registry in order; each stored one is
   * reported as `stored`, a failure as an `error`.
   */
  async #storeUnanswered(chat: Chat, why: string): Promise<void> {
    const messages = [
      ...(chat.requestText !== undefined && chat.requestId !== undefined
        ? [{ id: chat.requestId, text: chat.requestText }]
        : []),
      ...chat.queued,
    ];
    chat.requestText = undefined;
    chat.queued = [];
    for (const m of messages) {
      try {
        const sentAt = await this.#d.storeOffline(chat.user, m.text);
        this.#d.emit({
          type: "stored",
          to: chat.user,
          id: m.id,
          sent_at: sentAt,
          notice:
            `${chat.user} ${why} — your message was stored as an offline message for ${chat.user}`,
        });
      } catch (err) {
        this.#d.logger.warn("storing an unanswered message failed", {
          user: chat.user,
          error: String(err),
        });
        this.#d.emit({
          type: "error",
          message:
            `${chat.user} ${why}, and your message could not be stored (${
              err instanceof Error ? err.message : err
            }) — send it again later`,
        });
      }
    }
  }

  async #handle(link: P2PLink, msg: P2PMessage): Promise<void> {
    const user = link.user;
    const chat = this.#chats.get(user);
    const now = this.#d.now();
    switch (msg.type) {
      case "chat_request": {
        if (chat?.state === "outgoing" || chat?.state === "open") {
          // Both asked at once, or the other side restarted: the chat is open.
          const wasOpen = chat.state === "open";
          chat.state = "open";
          chat.since = now;
          link.conn.send({ type: "chat_accept" });
          if (!wasOpen) {
            this.#d.emit({
              type: "chat_started",
              with: user,
              saving: chat.saving,
              path: link.path,
            });
          }
          if (msg.text !== undefined && msg.id !== undefined) {
            await this.#incoming(link, chat, msg.id, msg.text);
          }
          if (!wasOpen) await this.#flush(link, chat);
          return;
        }
        if (this.#d.acceptFriends() && await this.#friend(user)) {
          return await this.#acceptFriend(link, msg.id, msg.text);
        }
        this.#chats.set(user, {
          user,
          state: "incoming",
          since: now,
          saving: false,
          queued: [],
          requestText: msg.text,
          requestId: msg.id,
        });
        this.#d.emit({
          type: "chat_request",
          from: user,
          ...(msg.text !== undefined ? { text: msg.text } : {}),
        });
        return;
      }
      case "chat_accept": {
        if (!chat) {
          // Our request expired here a moment before they accepted it.
          link.conn.send({ type: "chat_close", reason: "the request expired" });
          return;
        }
        if (chat.state !== "outgoing") return;
        chat.state = "open";
        chat.since = now;
        this.#d.emit({
          type: "chat_started",
          with: user,
          saving: chat.saving,
          path: link.path,
        });
        await this.#flush(link, chat);
        return;
      }
      case "chat_reject":
        if (chat?.state === "outgoing") {
          this.#chats.delete(user);
          this.#d.emit({ type: "chat_rejected", by: user });
        }
        return;
      case "chat_close":
        if (chat) {
          this.#chats.delete(user);
          if (chat.saving) {
            void this.#d.transcripts.note(
              user,
              now,
              `chat closed: ${msg.reason}`,
            );
          }
          this.#d.emit({ type: "chat_closed", with: user, reason: msg.reason });
        }
        return;
      case "msg": {
        if (msg.room !== undefined) {
          return await this.#roomMessage(link, msg.room, msg.id, msg.text);
        }
        if (chat?.state !== "open") {
          link.conn.send({
            type: "error",
            reason: `no open chat with ${this.#d.self()}`,
          });
          return;
        }
        await this.#incoming(link, chat, msg.id, msg.text);
        return;
      }
      case "ack":
        this.#d.emit({
          type: "delivered",
          to: user,
          id: msg.id,
          ...(msg.room !== undefined ? { room: msg.room } : {}),
        });
        return;
      case "error":
        this.#d.logger.from(user, "warn", "peer reported an error", {
          user,
          reason: msg.reason,
        });
        return;
      default:
        link.conn.send({
          type: "error",
          reason: `${msg.type} is not expected on a chat link`,
        });
    }
  }

  /** Whether `user` is a friend; a registry that cannot say means no. */
  async #friend(user: string): Promise<boolean> {
    try {
      return await this.#d.isFriend(user);
    } catch (err) {
      this.#d.logger.info("friendship not known, asking to accept", {
        user,
        error: String(err),
      });
      return false;
    }
  }

  /** Opens a friend's requested chat at once, with its first message. */
  async #acceptFriend(
    link: P2PLink,
    id: number | undefined,
    text: string | undefined,
  ): Promise<void> {
    const user = link.user;
    const chat: Chat = {
      user,
      state: "open",
      since: this.#d.now(),
      saving: false,
      queued: [],
    };
    this.#chats.set(user, chat);
    link.conn.send({ type: "chat_accept" });
    this.#d.emit({
      type: "chat_started",
      with: user,
      saving: false,
      path: link.path,
      auto: true,
    });
    if (text !== undefined && id !== undefined) {
      await this.#incoming(link, chat, id, text);
    }
  }

  /** Sends what was queued before the accept, paced like `send`. */
  async #flush(link: P2PLink, chat: Chat): Promise<void> {
    chat.requestText = undefined;
    while (
      chat.queued.length > 0 && !link.conn.closed &&
      this.#chats.get(chat.user) === chat
    ) {
      const q = chat.queued.shift()!;
      link.conn.send({ type: "msg", id: q.id, text: q.text });
      await this.#paced(link);
    }
  }

  /** Waits for the socket when the link's queue is past the high water mark. */
  async #paced(link: P2PLink): Promise<void> {
    if (link.conn.queuedBytes < SEND_HIGH_WATER_BYTES) return;
    await link.conn.flush().catch(() => {
      // Closed meanwhile: the reader reports the lost chat.
    });
  }

  async #incoming(
    link: P2PLink,
    chat: Chat,
    id: number,
    text: string,
  ): Promise<void> {
    const now = this.#d.now();
    this.#d.emit({
      type: "message",
      from: link.user,
      text,
      id,
      at: new Date(now).toISOString(),
    });
    if (chat.saving) {
      await this.#d.transcripts.append(link.user, now, link.user, text);
    }
    link.conn.send({ type: "ack", id });
  }

  /**
   * Whether a room may be re-read now: at most once per ROOM_REFRESH_MS, so
   * a flood of messages from a non-member cannot spend our registry requests.
   */
  #mayRefresh(room: string): boolean {
    const now = this.#d.now();
    const last = this.#refreshed.get(room);
    if (last !== undefined && now - last < ROOM_REFRESH_MS) return false;
    this.#refreshed.set(room, now);
    return true;
  }

  async #roomMessage(
    link: P2PLink,
    room: string,
    id: number,
    text: string,
  ): Promise<void> {
    const me = this.#d.self();
    if (
      !this.#d.rooms.isMember(room, link.user) &&
      this.#d.rooms.isMember(room, me) && this.#mayRefresh(room)
    ) {
      await this.#d.refreshRoom(room).catch(() => {});
    }
    if (
      !this.#d.rooms.isMember(room, me) ||
      !this.#d.rooms.isMember(room, link.user)
    ) {
      this.#d.logger.from(
        link.user,
        "warn",
        "room message from a non-member dropped",
        { room, user: link.user },
      );
      return;
    }
    this.#d.emit({
      type: "message",
      from: link.user,
      text,
      id,
      room,
      at: new Date(this.#d.now()).toISOString(),
    });
    link.conn.send({ type: "ack", id, room });
  }
}
