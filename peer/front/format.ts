/**
 * How the shell shows things to people (F13): `*bold*`, `_italic_`, `` `code` ``
 * and URLs in messages; green for success, red for errors, yellow for
 * warnings, magenta for questions; a stable colour per user. Pure functions;
 * with colour off every function returns plain text.
 *
 * Text from other people is stripped of control characters and
 * bidirectional controls first, so nobody can move the cursor, retitle a
 * terminal or reorder a line by sending them, and its line breaks are shown
 * so that no line of it can pass for a line of its own: continuation lines
 * of a message are indented under the sender (`continued`), and a break in
 * a one-line field (a status, a description, a reason, a file name) is shown
 * as ⏎ (`oneLine`).
 */
import { stripControls } from "../../common/text.ts";
import type { CommandReply, PeerEvent } from "../core/mod.ts";
import type { ContactNotice, LinkPath, VerifyResult } from "../net/mod.ts";
import { showBytes } from "./progress.ts";

/** ANSI styling, or none. */
export class Style {
  constructor(readonly color: boolean) {}

  #wrap(open: string, close: string, s: string): string {
    return this.color ? `\x1b[${open}m${s}\x1b[${close}m` : s;
  }
  bold(s: string): string {
    return this.#wrap("1", "22", s);
  }
  italic(s: string): string {
    return this.#wrap("3", "23", s);
  }
  dim(s: string): string {
    return this.#wrap("2", "22", s);
  }
  code(s: string): string {
    return this.#wrap("36", "39", s);
  }
  url(s: string): string {
    return this.#wrap("4;34", "24;39", s);
  }
  green(s: string): string {
    return this.#wrap("32", "39", s);
  }
  red(s: string): string {
    return this.#wrap("31", "39", s);
  }
  yellow(s: string): string {
    return this.#wrap("33", "39", s);
  }
  magenta(s: string): string {
    return this.#wrap("35", "39", s);
  }
  /** A user's name in the colour that always belongs to them. */
  user(name: string): string {
    if (!this.color) return name;
    return `\x1b[1;38;5;${
      USER_COLOURS[hash(name) % USER_COLOURS.length]
    }m${name}\x1b[22;39m`;
  }
}

/** 256-colour palette entries that read well on dark and light backgrounds, none red or green. */
const USER_COLOURS = [
  33,
  39,
  45,
  69,
  75,
  99,
  105,
  135,
  141,
  166,
  172,
  178,
  208,
  214,
  38,
  63,
];

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** How a line break in a one-line field is shown. */
export const LINE_BREAK_MARK = " ⏎ ";

/** Untrusted text for a one-line field: cleaned, line breaks shown as ⏎. */
export function oneLine(raw: string): string {
  return stripControls(raw).replace(/\n/g, LINE_BREAK_MARK);
}

/**
 * Untrusted text of several lines, cleaned, each line after the first
 * starting with `indent`: every line the shell prints for someone else's
 * text begins either with a time stamp or `*` it chose, or with blanks.
 */
export function continued(raw: string, indent: string): string {
  return stripControls(raw).replace(/\n/g, `\n${indent}`);
}

/** Blanks as wide as the time stamp in front of a message line. */
const UNDER_SENDER = " ".repeat("[00:00] ".length);
/** The same under an offline message's stamp (`[2024-05-01 12:34] `). */
const UNDER_OFFLINE = " ".repeat("[0000-00-00 00:00] ".length);

const URL_RE = /\bhttps?:\/\/[^\s<>"')\]]+[^\s<>"')\].,;:!?]/g;

/**
 * Formats message text: *bold*, _italic_, `code`, URLs; lines after the
 * first start with `indent` (see `continued`).
 */
export function formatText(
  raw: string,
  style: Style,
  indent = UNDER_SENDER,
): string {
  const text = stripControls(raw);
  if (!style.color) return text.replace(/\n/g, `\n${indent}`);
  // Code spans first, so nothing inside them is interpreted.
  return text.split(/(`[^`\n]+`)/).map((part) => {
    if (/^`[^`\n]+`$/.test(part)) return style.code(part.slice(1, -1));
    const urls: string[] = [];
    let s = part.replace(URL_RE, (u) => {
      urls.push(u);
      return `\ue000${urls.length - 1}\ue000`;
    });
    s = s.replace(
      /(^|[\s(])\*([^*\s](?:[^*\n]*[^*\s])?)\*(?=$|[\s.,;:!?)])/g,
      (_m, pre, body) => pre + style.bold(body),
    );
    s = s.replace(
      /(^|[\s(])_([^_\s](?:[^_\n]*[^_\s])?)_(?=$|[\s.,;:!?)])/g,
      (_m, pre, body) => pre + style.italic(body),
    );
    return s.replace(
      /\ue000(\d+)\ue000/g,
      (_m, i) => style.url(urls[Number(i)]!),
    );
  }).join("").replace(/\n/g, `\n${indent}`);
}

function clock(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, "0")}:${
    String(d.getMinutes()).padStart(2, "0")
  }`;
}

/** A link's path in words: direct, reversed, relayed through the registry. */
export function pathWords(path: LinkPath): string {
  return path === "relayed" ? "relayed through the registry" : path;
}

/**
 * What a line adds about a link's path: nothing for a direct one (the
 * usual case), else how it went.
 */
export function pathNote(path: LinkPath): string {
  switch (path) {
    case "direct":
      return "";
    case "reversed":
      return " — reversed (the other side dialled back)";
    case "relayed":
      return " — relayed through the registry";
  }
}

/** A line for an event, or null when the shell shows nothing for it. */
export function formatEvent(ev: PeerEvent, style: Style): string | null {
  const u = (n: string) => style.user(stripControls(n));
  switch (ev.type) {
    case "ready":
      return style.green(
        `${
          ev.created ? `account ${ev.user} created; ` : ""
        }logged in as ${ev.user} (direct connections on port ${ev.port}) — /help lists commands`,
      );
    case "presence":
      return ev.online
        ? style.green(`* ${ev.user} is online`)
        : style.yellow(`* ${ev.user} went offline`);
    case "friend_request":
      return style.magenta(
        `* ${ev.from} wants to be your friend — /friend accept ${ev.from}`,
      );
    case "friend_accepted":
      return style.green(`* you and ${ev.user} are friends now`);
    case "friend_removed":
      return style.yellow(`* ${ev.user} is no longer your friend`);
    case "chat_request":
      return style.magenta(
        `* ${ev.from} wants to chat${
          ev.text !== undefined ? `: "${continued(ev.text, "  ")}"` : ""
        } — ` +
          `/accept ${ev.from} [--save] or /reject ${ev.from}`,
      );
    case "chat_started":
      return style.green(
        `* chat with ${ev.with} started${
          ev.saving ? " (saving a transcript)" : ""
        }${ev.auto ? " (a friend: accepted at once)" : ""}${pathNote(ev.path)}`,
      );
    case "link":
      return ev.restored
        ? style.green(
          `* connection to ${ev.with} restored${pathNote(ev.path)}`,
        )
        : null;
    case "chat_request_expired":
      return style.dim(
        `* ${ev.from}'s chat request expired (not answered within 60 s)`,
      );
    case "chat_rejected":
      return style.yellow(
        `* ${ev.by} did not take the chat${
          ev.reason ? ` (${oneLine(ev.reason)})` : ""
        }`,
      );
    case "chat_closed":
      return style.yellow(
        `* chat with ${ev.with} closed: ${oneLine(ev.reason)}`,
      );
    case "message": {
      const where = ev.room !== undefined ? `${style.dim(`#${ev.room}`)} ` : "";
      if (ev.backlog) {
        // Said while we were away: the date too, and marked as such.
        return `${
          style.dim(`[${ev.at.slice(0, 16).replace("T", " ")}]`)
        } ${where}${u(ev.from)} ${style.dim("(while you were away)")}: ${
          formatText(ev.text, style, UNDER_OFFLINE)
        }`;
      }
      return `${style.dim(`[${clock(ev.at)}]`)} ${where}${u(ev.from)}: ${
        formatText(ev.text, style)
      }`;
    }
    case "backlog_dropped":
      return style.yellow(
        `* #${ev.room}: ${ev.count} older message${
          ev.count === 1 ? "" : "s"
        } said while you were away ${
          ev.count === 1 ? "was" : "were"
        } dropped (the registry keeps only the latest for each member)`,
      );
    case "stored":
      return style.yellow(`* ${oneLine(ev.notice)}`);
    case "offline_delivered":
      return style.dim(
        `  ✓ your offline message to ${ev.to} of ${
          ev.sent_at.slice(0, 16).replace("T", " ")
        } was delivered (${ev.delivered_at.slice(0, 16).replace("T", " ")})`,
      );
    case "delivered":
      return ev.room !== undefined
        ? null
        : style.dim(`  ✓ delivered to ${ev.to}`);
    case "offline_message":
      return `${style.dim(`[${ev.sent_at.slice(0, 16).replace("T", " ")}]`)} ${
        u(ev.from)
      } ${style.dim("(while you were away)")}: ${
        formatText(ev.text, style, UNDER_OFFLINE)
      }`;
    case "contact_keys":
      return ev.change === "pinned"
        ? style.dim(`* ${contactNoticeText(ev)}`)
        : style.red(style.bold(`!!! ${contactNoticeText(ev)}`));
    case "offline_refused":
      return style.red(
        `!!! a message said to be from ${ev.from} (${
          ev.sent_at.slice(0, 16).replace("T", " ")
        }) was refused and dropped: ${oneLine(ev.reason)}`,
      );
    case "offline_held":
      return style.red(
        `!!! a message from ${ev.from} (${
          ev.sent_at.slice(0, 16).replace("T", " ")
        }) is held back: ${oneLine(ev.reason)}`,
      );
    case "room_invite":
      return style.magenta(
        `* ${ev.from} invites you to #${ev.room} — /invite accept ${ev.room}`,
      );
    case "invite_withdrawn":
      return style.yellow(`* your invitation to #${ev.room} was withdrawn`);
    case "pending": {
      const waiting = [
        ev.friend_requests > 0
          ? `${ev.friend_requests} friend request${
            ev.friend_requests === 1 ? "" : "s"
          } (/requests)`
          : "",
        ev.invites > 0
          ? `${ev.invites} invitation${ev.invites === 1 ? "" : "s"} (/invites)`
          : "",
      ].filter(Boolean);
      return waiting.length === 0
        ? null
        : style.magenta(`* waiting for you: ${waiting.join(" and ")}`);
    }
    case "room_joined":
      return style.green(`* ${ev.user} joined #${ev.room}`);
    case "room_left":
      return style.yellow(
        ev.reason === "kicked"
          ? `* ${ev.user} was removed from #${ev.room}${
            ev.by !== undefined ? ` by ${ev.by}` : ""
          }`
          : `* ${ev.user} left #${ev.room}`,
      );
    case "room_owner":
      return style.green(`* ${ev.user} now owns #${ev.room}`);
    case "file_offer":
      return style.magenta(
        `* ${ev.from} offers ${oneLine(ev.name)} (${
          ev.size === null ? "size unknown" : showBytes(ev.size)
        })` +
          `${ev.room ? ` in #${ev.room}` : ""}${pathNote(ev.path)}` +
          ` — /file accept ${ev.id} or /file reject ${ev.id}`,
      );
    case "file_progress":
      return null;
    case "file_received":
      return style.green(
        `* received ${
          showBytes(ev.size)
        } from ${ev.from} → ${ev.path} (SHA-256 verified)${pathNote(ev.via)}`,
      );
    case "file_sent":
      return style.green(
        `* ${ev.to} received the file (${
          showBytes(ev.size)
        }, SHA-256 verified)${pathNote(ev.via)}`,
      );
    case "transfer_failed":
      return style.red(
        `* transfer ${ev.id} failed: ${oneLine(ev.reason)}`,
      );
    case "registry_lost":
      return style.yellow(
        "* lost the registry — retrying in the background; open chats continue",
      );
    case "registry_restored":
      return style.green("* registry connection restored");
    case "timeout":
      return style.red(
        `* logged out by the registry (${
          ev.reason === "idle" ? "idle too long" : "no heartbeat"
        })${ev.again ? " — logging in again" : ""}`,
      );
    case "session_ended":
      return style.red(`* session ended: ${oneLine(ev.reason)}`);
    case "error":
      return style.red(`* ${continued(ev.message, "  ")}`);
  }
}

/** Text for a command's reply; null when the reply needs no words. */
export function formatReply(r: CommandReply, style: Style): string | null {
  const text = replyText(r, style);
  if (!r.ok || !("more" in r.data) || r.data.more === undefined) return text;
  return [text, moreLine(r.data, style)].filter((t) => t !== null).join("\n");
}

/** "… 300 more — /rooms --offset 200" under a page that is not the last. */
function moreLine(
  page: { more?: string; total?: number; next_offset?: number },
  style: Style,
): string {
  const left = page.total !== undefined && page.next_offset !== undefined
    ? `${page.total - page.next_offset} more`
    : "more";
  return style.dim(`… ${left} — ${page.more}`);
}

function replyText(r: CommandReply, style: Style): string | null {
  if (!r.ok) return style.red(r.error);
  switch (r.name) {
    case "help":
      return r.data.text;
    case "quit":
      return null;
    case "who": {
      const users = r.data.users;
      if (users.length === 0) return empty(r.data.total, "nobody is online");
      if (users[0]!.host === undefined) {
        return `${r.data.total} online: ${
          users.map((x) => style.user(x.user)).join(", ")
        }`;
      }
      // Columns: names and addresses padded to the longest of the page.
      const nameW = Math.max(...users.map((x) => x.user.length));
      const addrs = users.map((x) => `${x.host}:${x.port}`);
      const addrW = Math.max(...addrs.map((a) => a.length));
      return users.map((x, i) =>
        `${style.user(x.user)}${" ".repeat(nameW - x.user.length)}  ${
          addrs[i]!.padEnd(addrW)
        }  ${oneLine(x.status ?? "")}`.trimEnd()
      )
        .join("\n");
    }
    case "search": {
      const s = r.data;
      return s.online
        ? `${style.user(s.user)} is ${
          style.green("online")
        } at ${s.host}:${s.port} — ${oneLine(s.status)}`
        : `${style.user(s.user)} is offline (${
          s.last_seen ? `last seen ${s.last_seen}` : "never seen online"
        }) — ${oneLine(s.status)}`;
    }
    case "profile": {
      const p = r.data;
      const rel = {
        none: "not a friend",
        friends: "your friend",
        requested: "friend request sent",
        requested_you: "wants to be your friend",
        you: "that's you",
      }[p.friend];
      return [
        `${style.bold(p.user)} — ${oneLine(p.status)}`,
        `  ${
          p.online
            ? style.green("online")
            : `offline${p.last_seen ? `, last seen ${p.last_seen}` : ""}`
        }; ${rel}; member since ${p.since.slice(0, 10)}`,
      ].join("\n");
    }
    case "status":
      return `status: ${oneLine(r.data.status)}`;
    case "friends": {
      const fs = r.data.friends;
      if (fs.length === 0) {
        return empty(r.data.total, "no friends yet — /friend add NAME");
      }
      return fs.map((f) =>
        `${f.online ? style.green("●") : style.dim("○")} ${
          style.user(f.user)
        }  ${style.dim(oneLine(f.status))}`
      ).join("\n");
    }
    case "friend": {
      const d = r.data;
      switch (d.action) {
        case "add":
          return style.green(
            d.state === "friends"
              ? `you and ${d.user} are friends now`
              : `friend request sent to ${d.user}`,
          );
        case "accept":
          return style.green(`you and ${d.user} are friends now`);
        case "decline":
          return `declined ${d.user}'s friend request`;
        case "remove":
          return `${d.user} is no longer your friend`;
      }
      return null;
    }
    case "requests": {
      const { incoming, outgoing } = r.data;
      if (incoming.length + outgoing.length === 0) {
        return empty(
          (r.data.incoming_total ?? 0) + (r.data.outgoing_total ?? 0),
          "no pending friend requests",
        );
      }
      return [
        incoming.length ? `waiting for you: ${incoming.join(", ")}` : "",
        outgoing.length ? `you asked: ${outgoing.join(", ")}` : "",
      ].filter(Boolean).join("\n");
    }
    case "block":
      return style.green(`blocked ${r.data.user}`);
    case "unblock":
      return style.green(`unblocked ${r.data.user}`);
    case "blocks": {
      const us = r.data.users;
      return us.length
        ? `blocked: ${us.join(", ")}`
        : empty(r.data.total, "you have not blocked anyone");
    }
    case "chat":
      return r.data.state === "open"
        ? style.green(`chatting with ${r.data.with} — plain lines go there`)
        : `asked ${r.data.with} for a chat — waiting for an answer (60 s)`;
    case "accept":
      return null;
    case "reject":
      return `turned down ${r.data.with}`;
    case "msg": {
      const d = r.data;
      return d.state === "stored"
        ? style.yellow(d.notice)
        : d.state === "requested"
        ? `asked ${d.to} for a chat; your message goes with the request`
        : null;
    }
    case "close":
      return null;
    case "set":
      return Object.entries(r.data.settings).map(([k, v]) => `${k} ${v}`)
        .join("\n");
    case "save":
      return r.data.saving
        ? style.green(
          `saving the chat with ${r.data.with} to ${r.data.path}`,
        )
        : `stopped saving the chat with ${r.data.with}`;
    case "inbox": {
      const ms = r.data.messages;
      if (ms.length === 0) return "no offline messages in this session";
      return ms.map((m) =>
        `${style.dim(`[${m.sent_at.slice(0, 16).replace("T", " ")}]`)} ${
          style.user(m.from)
        }: ${formatText(m.text, style, UNDER_OFFLINE)}`
      ).join("\n");
    }
    case "rooms": {
      const rooms = r.data.rooms;
      if (rooms.length === 0) {
        return empty(r.data.total, "no rooms — /room create NAME");
      }
      return rooms.map((x) =>
        x.members === undefined
          ? `#${x.room}${x.joined ? style.dim(" (joined)") : ""}`
          : `#${x.room}  ${x.members}/${x.capacity}${x.locked ? " 🔒" : ""}${
            x.joined ? style.dim(" (joined)") : ""
          }  ${oneLine(x.description ?? "")}`
      ).join("\n");
    }
    case "room_create":
      return style.green(`created #${r.data.room} — you own it`);
    case "join":
      return `${style.green(`joined #${r.data.room}`)} — ${
        memberList(r.data.members, style)
      }`;
    case "members":
      return `#${r.data.room}: ${memberList(r.data.members, style)}`;
    case "leave":
      return `left #${r.data.room}`;
    case "say": {
      const { later, unreached } = r.data;
      const bits: string[] = [];
      if (later.length > 0) {
        bits.push(
          style.dim(
            `kept for ${
              later.join(", ")
            } (away) — delivered when they are back`,
          ),
        );
      }
      if (unreached.length > 0) {
        bits.push(
          style.yellow(
            `not delivered to ${unreached.join(", ")} (unreachable)`,
          ),
        );
      }
      return bits.length > 0 ? bits.join("; ") : null;
    }
    case "invite":
      return style.green(`invited ${r.data.user} to #${r.data.room}`);
    case "invite_answer":
      return r.data.action === "accept"
        ? style.green(`joined #${r.data.room} — plain lines go there now`)
        : `declined the invitation to #${r.data.room}`;
    case "invites": {
      const inv = r.data.invites;
      if (inv.length === 0) return empty(r.data.total, "no invitations");
      return inv.map((i) =>
        `#${i.room} from ${i.from} — /invite accept ${i.room}`
      ).join("\n");
    }
    case "invite_withdraw":
      return `withdrew the invitation of ${r.data.user} to #${r.data.room}`;
    case "kick":
      return `removed ${r.data.user} from #${r.data.room} — /unban ${r.data.room} ${r.data.user} lets them back`;
    case "unban":
      return style.green(
        `${r.data.user} may join #${r.data.room} again`,
      );
    case "room_password":
      return style.green(
        r.data.locked
          ? `#${r.data.room} now has a new password`
          : `#${r.data.room} has no password now`,
      );
    case "owner":
      return style.green(`${r.data.user} now owns #${r.data.room}`);
    case "send": {
      const d = r.data;
      return "offers" in d
        ? `offered ${d.name} to ${d.offers.length} member(s) of #${d.room}`
        : `offered ${d.name} (${showBytes(d.size)}) to ${d.to} — id ${d.id}`;
    }
    case "files": {
      const ts = r.data.transfers;
      if (ts.length === 0) return "no transfers";
      return ts.map((t) =>
        `${t.id}  ${
          t.direction === "in" ? `from ${t.peer}` : `to ${t.peer}`
        }  ${oneLine(t.name)}  ${
          t.size === null ? "?" : showBytes(t.size)
        }  ${t.state}${t.state === "active" ? ` ${showBytes(t.bytes)}` : ""}`
      ).join("\n");
    }
    case "file": {
      const d = r.data;
      return d.action === "accept"
        ? `receiving ${d.name}…`
        : d.action === "reject"
        ? `declined ${d.id}`
        : `cancelled ${d.id}`;
    }
    case "verify":
      return verifyText(r.data);
  }
}

/** What changed about a contact's device keys, as one line (no style). */
export function contactNoticeText(n: ContactNotice): string {
  const names = n.devices.map((d) => `'${d}'`).join(", ");
  const s = n.devices.length === 1 ? "" : "s";
  const refused = n.refused
    ? ` — you verified ${n.user}, so chats, files and messages with ${n.user} are refused until you compare the safety number again: /verify ${n.user}`
    : ` — if you did not expect this, compare the safety number with ${n.user} (/verify ${n.user})`;
  switch (n.change) {
    case "pinned":
      return `first contact with ${n.user}: pinned the keys of device${s} ${names} (/verify ${n.user} shows the safety number)`;
    case "new_device":
      return `${n.user} has a new device${s}: ${names}${refused}`;
    case "key_changed":
      return `THE KEYS OF ${n.user.toUpperCase()}'S DEVICE${s.toUpperCase()} ${names} CHANGED${refused}`;
    case "device_removed":
      return `${n.user} no longer has device${s} ${names} (revoked)`;
  }
}

/** The safety number and what to do with it. */
export function verifyText(v: VerifyResult): string {
  const state = v.confirmed
    ? `${v.user} is verified now`
    : v.changed
    ? `${v.user}'s keys CHANGED since you verified them — compare this new number, then /verify ${v.user} --confirm`
    : v.verified
    ? `${v.user} is verified`
    : `compare it with ${v.user} (in person or by a call), then /verify ${v.user} --confirm`;
  return [
    `safety number with ${v.user}: ${v.safety_number}`,
    `  your devices: ${v.mine.join(", ")} (this one: ${v.device})`,
    `  ${v.user}'s devices: ${v.theirs.join(", ") || "none"}`,
    state,
  ].join("\n");
}

/** What an empty page says: nothing at all, or nothing past the end. */
function empty(total: number | undefined, none: string): string {
  return total ? `nothing past the end of the list (${total} in all)` : none;
}

function memberList(
  members: { user: string; online: boolean; role: string }[],
  style: Style,
): string {
  return members.map((m) =>
    `${m.online ? style.green("●") : style.dim("○")} ${style.user(m.user)}${
      m.role === "owner" ? style.dim(" (owner)") : ""
    }`
  ).join("  ");
}

/** Formats the shell's echo of your own message. */
export function formatOwn(
  self: string,
  text: string,
  room: string | undefined,
  style: Style,
): string {
  const now = new Date().toISOString();
  const where = room !== undefined ? `${style.dim(`#${room}`)} ` : "";
  return `${style.dim(`[${clock(now)}]`)} ${where}${style.user(self)}: ${
    formatText(text, style)
  }`;
}
