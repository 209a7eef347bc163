// @ts-check
/**
 * What the page knows, built from the events and replies `chat web` sends
 * (JSON mode's objects, plus the web events web_hello, web_phase, web_sent
 * and web_offered). Pure: no DOM, no clock but the events' own times; the
 * page renders from it and the tests import it in Deno.
 */

/** Most entries kept per conversation; older ones are dropped. */
export const MAX_ENTRIES = 2000;

/**
 * @typedef {{ kind: "msg", n: number, v: number, from: string, text: string,
 *   at: string, own: boolean, id?: number, state?: string, notice?: string,
 *   recipients?: string[], later?: string[], delivered: string[],
 *   offline?: boolean, backlog?: boolean, pending?: boolean,
 *   error?: string }} MsgEntry
 * @typedef {{ kind: "note", n: number, v: number, text: string, at: string,
 *   tone?: "warn" | "info" }} NoteEntry
 * @typedef {{ kind: "file", n: number, v: number, id: string, at: string }} FileEntry
 * @typedef {MsgEntry | NoteEntry | FileEntry} Entry
 * @typedef {{ id: string, direction: "in" | "out", peer: string,
 *   name: string, size: number | null, room?: string, state: string,
 *   bytes: number, rate: number, reason?: string, url?: string,
 *   sha256?: string }} Transfer
 * @typedef {{ key: string, kind: "user" | "room", name: string,
 *   entries: Entry[], unread: number, lastN: number,
 *   chat: "none" | "requested" | "incoming" | "open" | "closed",
 *   request: { text?: string } | null, saving: boolean, left: boolean,
 *   path: "direct" | "reversed" | "relayed" | null }} Conv
 * @typedef {{ online: boolean, role: string }} Member
 * @typedef {{ owner: string, members: Map<string, Member> }} Room
 * @typedef {{ title: string, body: string, key: string }} Notice
 */

/** The page's state. */
export class ChatState {
  constructor() {
    /** @type {string | null} */
    this.me = null;
    /** @type {"connecting" | "login" | "starting" | "ready" | "ended"} */
    this.phase = "connecting";
    /** @type {string | null} */
    this.phaseError = null;
    /** @type {string | null} */
    this.endReason = null;
    this.registryUp = true;
    /** @type {Map<string, { online: boolean, status: string }>} */
    this.friends = new Map();
    /** @type {Map<string, boolean>} */
    this.presence = new Map();
    /** @type {Set<string>} */
    this.incoming = new Set();
    /** @type {Set<string>} */
    this.outgoing = new Set();
    /** @type {Set<string>} */
    this.blocks = new Set();
    /** @type {Map<string, string>} room → who invited */
    this.invites = new Map();
    /** @type {Map<string, Room>} rooms joined */
    this.rooms = new Map();
    /** @type {Map<string, Conv>} */
    this.convs = new Map();
    /** @type {Map<string, Transfer>} */
    this.transfers = new Map();
    /** @type {Map<string, string>} transfer id → conversation key */
    this.transferConv = new Map();
    /** @type {Map<string, string[]>} delivered before the message was known */
    this.early = new Map();
    /** @type {string | null} */
    this.active = null;
    /** @type {string[]} errors outside any command */
    this.errors = [];
    /** Bumped on every change, so the page knows when to draw. */
    this.version = 0;
  }

  #n = 0;

  /** Forgets everything but the phase (a reset replay follows). */
  reset() {
    const fresh = new ChatState();
    fresh.phase = this.phase;
    fresh.me = this.me;
    fresh.active = this.active;
    Object.assign(this, fresh);
    this.version++;
  }

  /**
   * The conversation with a user (@name) or of a room (#name), made when missing.
   * @param {"user" | "room"} kind
   * @param {string} name
   * @returns {Conv}
   */
  conv(kind, name) {
    const key = (kind === "room" ? "#" : "@") + name;
    let c = this.convs.get(key);
    if (!c) {
      c = {
        key,
        kind,
        name,
        entries: [],
        unread: 0,
        lastN: ++this.#n,
        chat: "none",
        request: null,
        saving: false,
        left: false,
        path: null,
      };
      this.convs.set(key, c);
    }
    return c;
  }

  /**
   * @param {Conv} c
   * @param {Omit<MsgEntry, "n" | "v"> | Omit<NoteEntry, "n" | "v"> | Omit<FileEntry, "n" | "v">} e
   * @returns {Entry}
   */
  #push(c, e) {
    const entry = /** @type {Entry} */ ({ ...e, n: ++this.#n, v: 0 });
    c.entries.push(entry);
    if (c.entries.length > MAX_ENTRIES) {
      c.entries.splice(0, c.entries.length - MAX_ENTRIES);
    }
    c.lastN = entry.n;
    return entry;
  }

  /**
   * @param {Conv} c
   * @param {string} text
   * @param {string} at
   * @param {"warn" | "info"} [tone]
   */
  note(c, text, at, tone) {
    this.#push(
      c,
      tone ? { kind: "note", text, at, tone } : { kind: "note", text, at },
    );
  }

  /** Unread messages in all conversations. */
  get unread() {
    let n = 0;
    for (const c of this.convs.values()) n += c.unread;
    return n;
  }

  /**
   * Conversations, most recent first.
   * @param {"user" | "room"} kind
   * @returns {Conv[]}
   */
  list(kind) {
    return [...this.convs.values()].filter((c) => c.kind === kind && !c.left)
      .sort((a, b) => b.lastN - a.lastN);
  }

  /**
   * Makes a conversation the one shown; its unread count goes.
   * @param {string | null} key
   */
  open(key) {
    this.active = key;
    const c = key ? this.convs.get(key) : undefined;
    if (c) c.unread = 0;
    this.version++;
  }

  /**
   * Whether a user is online as far as the page knows.
   * @param {string} name
   */
  online(name) {
    return this.presence.get(name) ?? this.friends.get(name)?.online ?? false;
  }

  /**
   * A pending message of this page, shown until its reply comes.
   * @param {string} key
   * @param {string} text
   * @param {string} at
   * @returns {MsgEntry}
   */
  pending(key, text, at) {
    const c = this.convs.get(key);
    if (!c) throw new Error(`no conversation ${key}`);
    this.version++;
    return /** @type {MsgEntry} */ (this.#push(c, {
      kind: "msg",
      from: this.me ?? "",
      text,
      at,
      own: true,
      pending: true,
      delivered: [],
    }));
  }

  /**
   * The reply to a pending message came: drop it (web_sent shows the
   * message) or keep it with the error.
   * @param {string} key
   * @param {MsgEntry} entry
   * @param {string | null} error
   */
  settle(key, entry, error) {
    const c = this.convs.get(key);
    if (!c) return;
    if (error === null) c.entries = c.entries.filter((e) => e !== entry);
    else {
      entry.pending = false;
      entry.error = error;
      entry.v++;
    }
    this.version++;
  }

  /**
   * @param {Transfer} t
   * @param {string} key
   * @param {string} at
   */
  #transfer(t, key, at) {
    this.transfers.set(t.id, t);
    this.transferConv.set(t.id, key);
    const c = this.convs.get(key);
    if (c) this.#push(c, { kind: "file", id: t.id, at });
  }

  /** @param {string} id */
  #touchTransfer(id) {
    const key = this.transferConv.get(id);
    const c = key ? this.convs.get(key) : undefined;
    for (const e of c?.entries ?? []) {
      if (e.kind === "file" && e.id === id) e.v++;
    }
  }

  /**
   * An accepted request's first message is delivered by accepting it (it
   * never comes again as a message), so it joins the conversation here.
   * @param {Conv} c
   */
  #takeRequest(c) {
    const text = c.request?.text;
    c.request = null;
    if (text !== undefined) {
      this.#push(c, {
        kind: "msg",
        from: c.name,
        text,
        at: "",
        own: false,
        delivered: [],
      });
    }
  }

  /**
   * @param {Conv} c
   * @param {{ hidden: boolean }} ctx
   */
  #arrived(c, ctx) {
    if (c.key !== this.active || ctx.hidden) c.unread++;
  }

  /**
   * Applies one object from `chat web`. Returns what to notify the user of
   * (a message, a request) when `ctx.live` and the tab is hidden.
   * @param {any} ev
   * @param {{ live: boolean, hidden: boolean }} ctx
   * @returns {Notice | null}
   */
  apply(ev, ctx) {
    this.version++;
    const notify = (
      /** @type {string} */ title,
      /** @type {string} */ body,
      /** @type {string} */ key,
    ) => ctx.live && ctx.hidden ? { title, body, key } : null;
    const now = typeof ev.at === "string" ? ev.at : "";
    switch (ev.type) {
      case "web_phase":
        if (
          ev.phase === "ready" || ev.phase === "starting" ||
          ev.phase === "login" || ev.phase === "ended"
        ) {
          this.phase = ev.phase;
        }
        this.phaseError = ev.error ?? null;
        if (ev.user) this.me = ev.user;
        return null;
      case "ready":
        this.me = ev.user;
        this.phase = "ready";
        return null;
      case "presence": {
        this.presence.set(ev.user, ev.online);
        const f = this.friends.get(ev.user);
        if (f) f.online = ev.online;
        for (const r of this.rooms.values()) {
          const m = r.members.get(ev.user);
          if (m) m.online = ev.online;
        }
        return null;
      }
      case "friend_request":
        this.incoming.add(ev.from);
        return notify(
          "Friend request",
          `${ev.from} wants to be your friend`,
          `friend:${ev.from}`,
        );
      case "friend_accepted":
        this.incoming.delete(ev.user);
        this.outgoing.delete(ev.user);
        this.friends.set(ev.user, {
          online: this.presence.get(ev.user) ?? false,
          status: this.friends.get(ev.user)?.status ?? "",
        });
        return null;
      case "friend_removed":
        this.friends.delete(ev.user);
        return null;
      case "chat_request": {
        const c = this.conv("user", ev.from);
        c.chat = "incoming";
        c.request = ev.text !== undefined ? { text: ev.text } : {};
        c.lastN = ++this.#n;
        this.#arrived(c, ctx);
        return notify(
          "Chat request",
          ev.text !== undefined
            ? `${ev.from}: ${ev.text}`
            : `${ev.from} wants to chat`,
          c.key,
        );
      }
      case "link": {
        // The link a chat and room messages with this user use, and its path.
        const c = this.conv("user", ev.with);
        c.path = ev.path;
        return null;
      }
      case "chat_request_expired": {
        const c = this.conv("user", ev.from);
        if (c.chat === "incoming") c.chat = "none";
        c.request = null;
        this.note(c, `the chat request from ${ev.from} expired`, now);
        return null;
      }
      case "chat_started": {
        const c = this.conv("user", ev.with);
        c.chat = "open";
        this.#takeRequest(c);
        c.saving = ev.saving === true;
        if (ev.path) c.path = ev.path;
        this.note(
          c,
          `chat with ${ev.with} open${
            ev.auto ? " — a friend, accepted at once" : ""
          }${c.saving ? " — saving a transcript" : ""}${
            c.path === "relayed" ? " — relayed through the registry" : ""
          }`,
          now,
          "info",
        );
        return null;
      }
      case "stored": {
        // A request nobody answered: its message waits with the registry.
        const c = this.conv("user", ev.to);
        this.note(c, ev.notice, now, "warn");
        return null;
      }
      case "chat_rejected": {
        const c = this.conv("user", ev.by);
        c.chat = "none";
        this.note(
          c,
          ev.reason
            ? `no chat with ${ev.by}: ${ev.reason}`
            : `${ev.by} turned the chat down`,
          now,
          "warn",
        );
        return null;
      }
      case "chat_closed": {
        const c = this.conv("user", ev.with);
        c.chat = "closed";
        c.request = null;
        this.note(c, `chat ended: ${ev.reason}`, now, "warn");
        return null;
      }
      case "message": {
        const c = ev.room
          ? this.conv("room", ev.room)
          : this.conv("user", ev.from);
        if (!ev.room && c.chat !== "open") c.chat = "open";
        /** @type {Omit<MsgEntry, "n" | "v">} */
        const e = {
          kind: "msg",
          from: ev.from,
          text: ev.text,
          at: ev.at,
          own: false,
          delivered: [],
        };
        // A room's backlog: said while we were away, no live id to ack.
        if (ev.backlog === true) e.backlog = true;
        else e.id = ev.id;
        this.#push(c, e);
        this.#arrived(c, ctx);
        return notify(
          ev.room ? `${ev.from} in #${ev.room}` : ev.from,
          ev.text,
          c.key,
        );
      }
      case "backlog_dropped": {
        const c = this.conv("room", ev.room);
        this.note(
          c,
          `${ev.count} older message${
            ev.count === 1 ? "" : "s"
          } said while you were away ${
            ev.count === 1 ? "was" : "were"
          } dropped (the registry keeps only the latest)`,
          now,
          "warn",
        );
        return null;
      }
      case "offline_message": {
        const c = this.conv("user", ev.from);
        this.#push(c, {
          kind: "msg",
          from: ev.from,
          text: ev.text,
          at: ev.sent_at,
          own: false,
          offline: true,
          delivered: [],
        });
        this.#arrived(c, ctx);
        return notify(`${ev.from} (offline message)`, ev.text, c.key);
      }
      case "web_sent": {
        const room = typeof ev.room === "string";
        const c = room ? this.conv("room", ev.room) : this.conv("user", ev.to);
        const key = `${c.key}:${ev.id}`;
        /** @type {Omit<MsgEntry, "n" | "v">} */
        const e = {
          kind: "msg",
          from: this.me ?? "",
          text: ev.text,
          at: ev.at,
          own: true,
          state: room ? "sent" : ev.state,
          delivered: this.early.get(key) ?? [],
        };
        this.early.delete(key);
        if (typeof ev.id === "number") e.id = ev.id;
        if (ev.notice) e.notice = ev.notice;
        if (Array.isArray(ev.recipients)) e.recipients = ev.recipients;
        if (Array.isArray(ev.later) && ev.later.length > 0) e.later = ev.later;
        this.#push(c, e);
        if (!room && ev.state === "requested" && c.chat !== "open") {
          c.chat = "requested";
        }
        return null;
      }
      case "delivered": {
        const c = this.convs.get(ev.room ? `#${ev.room}` : `@${ev.to}`);
        const m = c?.entries.find((e) =>
          e.kind === "msg" && e.own && e.id === ev.id
        );
        if (m && m.kind === "msg") {
          if (!m.delivered.includes(ev.to)) m.delivered.push(ev.to);
          m.v++;
        } else {
          const key = `${ev.room ? `#${ev.room}` : `@${ev.to}`}:${ev.id}`;
          this.early.set(key, [...(this.early.get(key) ?? []), ev.to]);
        }
        return null;
      }
      case "room_invite":
        this.invites.set(ev.room, ev.from);
        return notify(
          "Room invitation",
          `${ev.from} invites you to #${ev.room}`,
          `invite:${ev.room}`,
        );
      case "invite_withdrawn":
        this.invites.delete(ev.room);
        return null;
      case "pending":
        // The page lists requests and invitations itself (/requests, /invites).
        return null;
      case "room_joined": {
        const c = this.conv("room", ev.room);
        if (ev.user === this.me) {
          c.left = false;
          if (!this.rooms.has(ev.room)) {
            this.rooms.set(ev.room, { owner: "", members: new Map() });
          }
          this.invites.delete(ev.room);
        }
        const r = this.rooms.get(ev.room);
        r?.members.set(ev.user, {
          online: true,
          role: r.owner === ev.user ? "owner" : "member",
        });
        this.note(c, `${ev.user} joined`, now);
        return null;
      }
      case "room_left": {
        const c = this.conv("room", ev.room);
        if (ev.user === this.me) {
          this.rooms.delete(ev.room);
          c.left = true;
          this.note(
            c,
            ev.reason === "kicked"
              ? "you were removed from the room"
              : "you left the room",
            now,
            "warn",
          );
        } else {
          this.rooms.get(ev.room)?.members.delete(ev.user);
          this.note(
            c,
            `${ev.user} ${ev.reason === "kicked" ? "was removed" : "left"}`,
            now,
          );
        }
        return null;
      }
      case "room_owner": {
        const r = this.rooms.get(ev.room);
        if (r) {
          for (const [name, m] of r.members) {
            m.role = name === ev.user ? "owner" : "member";
          }
          r.owner = ev.user;
        }
        this.note(
          this.conv("room", ev.room),
          `${ev.user} owns the room now`,
          now,
          "info",
        );
        return null;
      }
      case "file_offer": {
        const c = ev.room
          ? this.conv("room", ev.room)
          : this.conv("user", ev.from);
        this.#transfer(
          {
            id: ev.id,
            direction: "in",
            peer: ev.from,
            name: ev.name,
            size: ev.size,
            ...(ev.room ? { room: ev.room } : {}),
            state: "offered",
            bytes: 0,
            rate: 0,
          },
          c.key,
          now,
        );
        this.#arrived(c, ctx);
        return notify(`${ev.from} offers a file`, ev.name, c.key);
      }
      case "web_offered": {
        const room = typeof ev.room === "string";
        const offers = room ? ev.offers : [{ to: ev.to, id: ev.id }];
        const c = room ? this.conv("room", ev.room) : this.conv("user", ev.to);
        for (const o of offers ?? []) {
          this.#transfer(
            {
              id: o.id,
              direction: "out",
              peer: o.to,
              name: ev.name,
              size: ev.size,
              ...(room ? { room: ev.room } : {}),
              state: "offered",
              bytes: 0,
              rate: 0,
            },
            c.key,
            ev.at,
          );
        }
        if (room && ev.unreached?.length) {
          this.note(
            c,
            `not offered to ${ev.unreached.join(", ")}`,
            ev.at,
            "warn",
          );
        }
        return null;
      }
      case "file_progress": {
        const t = this.transfers.get(ev.id);
        if (t) {
          t.bytes = ev.bytes;
          t.rate = ev.rate;
          if (t.state === "offered") t.state = "active";
          this.#touchTransfer(ev.id);
        }
        return null;
      }
      case "file_received":
      case "file_sent": {
        const t = this.transfers.get(ev.id);
        if (t) {
          t.state = "done";
          t.bytes = ev.size;
          t.sha256 = ev.sha256;
          if (ev.type === "file_received") {
            t.url = `/files/${encodeURIComponent(ev.id)}`;
          }
          this.#touchTransfer(ev.id);
        }
        return null;
      }
      case "transfer_failed": {
        const t = this.transfers.get(ev.id);
        if (t) {
          t.state = "failed";
          t.reason = ev.reason;
          this.#touchTransfer(ev.id);
        }
        return null;
      }
      case "registry_lost":
        this.registryUp = false;
        return null;
      case "registry_restored":
        this.registryUp = true;
        return null;
      case "timeout":
        // A heartbeat timeout is followed by a login of its own.
        if (ev.again) {
          this.registryUp = false;
          return null;
        }
        this.phase = "ended";
        this.endReason = ev.reason === "idle"
          ? "logged out by the registry after being idle"
          : "logged out by the registry (no heartbeat)";
        return null;
      case "session_ended":
        this.phase = "ended";
        this.endReason = ev.reason;
        return null;
      case "error":
        this.errors.push(ev.message);
        if (this.errors.length > 20) this.errors.shift();
        return null;
      case "contact_keys": {
        // A first contact pins quietly; any change is shown as loudly as an error.
        if (ev.change === "pinned") break;
        const what = ev.change === "key_changed"
          ? `the keys of ${ev.user}'s device ${ev.devices.join(", ")} changed`
          : ev.change === "new_device"
          ? `${ev.user} has a new device: ${ev.devices.join(", ")}`
          : `${ev.user} no longer has device ${ev.devices.join(", ")}`;
        this.errors.push(
          ev.refused
            ? `${what} — refused until you verify ${ev.user} again (/verify ${ev.user})`
            : `${what} — compare the safety number (/verify ${ev.user})`,
        );
        if (this.errors.length > 20) this.errors.shift();
        return null;
      }
      case "offline_held":
        this.errors.push(
          `a message from ${ev.from} is held back: ${ev.reason}`,
        );
        if (this.errors.length > 20) this.errors.shift();
        return null;
    }
    this.version--;
    return null;
  }

  /**
   * Applies the data of a command's reply (lists, joins, chats), so the
   * page shows what the registry says now.
   * @param {any} r
   */
  reply(r) {
    if (!r.ok) return;
    this.version++;
    switch (r.command) {
      case "/friends":
        this.friends = new Map(
          r.friends.map((
            /** @type {any} */ f,
          ) => [f.user, { online: f.online, status: f.status ?? "" }]),
        );
        for (const f of r.friends) this.presence.set(f.user, f.online);
        return;
      case "/requests":
        this.incoming = new Set(r.incoming);
        this.outgoing = new Set(r.outgoing);
        return;
      case "/blocks":
        this.blocks = new Set(r.users);
        return;
      case "/block":
        this.blocks.add(r.user);
        return;
      case "/unblock":
        this.blocks.delete(r.user);
        return;
      case "/invites":
        this.invites = new Map(
          r.invites.map((/** @type {any} */ i) => [i.room, i.from]),
        );
        return;
      case "/friend":
        if (r.action === "add") {
          if (r.state === "friends") {
            this.friends.set(r.user, {
              online: this.online(r.user),
              status: "",
            });
          } else this.outgoing.add(r.user);
        } else if (r.action === "accept") {
          this.incoming.delete(r.user);
          this.friends.set(r.user, { online: this.online(r.user), status: "" });
        } else if (r.action === "decline") this.incoming.delete(r.user);
        else if (r.action === "remove") {
          this.friends.delete(r.user);
          this.outgoing.delete(r.user);
        }
        return;
      case "/members":
      case "/join":
      case "/invite":
        if (r.members) {
          this.rooms.set(r.room, {
            owner: r.owner,
            members: new Map(
              r.members.map((
                /** @type {any} */ m,
              ) => [m.user, { online: m.online, role: m.role }]),
            ),
          });
          for (const m of r.members) this.presence.set(m.user, m.online);
          this.conv("room", r.room).left = false;
          this.invites.delete(r.room);
        } else if (r.action === "decline") this.invites.delete(r.room);
        return;
      case "/room":
        this.conv("room", r.room).left = false;
        return;
      case "/leave":
        this.rooms.delete(r.room);
        this.conv("room", r.room).left = true;
        return;
      case "/chat": {
        const c = this.conv("user", r.with);
        c.chat = r.state === "open" ? "open" : "requested";
        if (r.state === "open") c.request = null;
        return;
      }
      case "/accept": {
        const c = this.conv("user", r.with);
        c.chat = "open";
        this.#takeRequest(c);
        c.saving = r.saving === true;
        return;
      }
      case "/reject": {
        const c = this.conv("user", r.with);
        c.chat = "none";
        c.request = null;
        return;
      }
      case "/close": {
        const c = this.convs.get(`@${r.with}`);
        if (c) c.chat = "closed";
        return;
      }
      case "/save": {
        const c = this.convs.get(`@${r.with}`);
        if (c) c.saving = r.saving === true;
        return;
      }
    }
    this.version--;
  }
}
