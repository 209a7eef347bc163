/**
 * The shell's command language, parsed without side effects.
 * Both front ends (the shell and the JSON mode) feed lines through
 * `parseLine`; a bad line yields a usage error, never an exception.
 */
import {
  MAX_DESCRIPTION_CHARS,
  MAX_ROOM_CAPACITY,
  MAX_SEARCH_CHARS,
  MAX_STATUS_CHARS,
  MAX_TEXT_CHARS,
  NAME_PATTERN,
} from "../../wire/mod.ts";
import { closest } from "../../common/suggest.ts";
import { PREFERENCE_NAMES, type PreferenceName } from "./preferences.ts";

/**
 * A parsed command. A list command's `offset` asks for the page that starts
 * there (its reply's `more` names the next one).
 */
export type Command =
  | { name: "help"; topic?: string }
  | { name: "quit" }
  | { name: "who"; detailed: boolean; offset?: number }
  | { name: "search"; user: string }
  | { name: "profile"; user: string }
  | { name: "status"; text?: string }
  | { name: "friends"; offset?: number }
  | {
    name: "friend";
    action: "add" | "remove" | "accept" | "decline";
    user: string;
  }
  | { name: "requests"; offset?: number }
  | { name: "block"; user: string }
  | { name: "unblock"; user: string }
  | { name: "blocks"; offset?: number }
  | { name: "chat"; user: string }
  | { name: "accept"; user: string; save: boolean }
  | { name: "reject"; user: string }
  | { name: "msg"; user: string; text: string }
  | { name: "close"; user: string }
  | { name: "save"; user: string; on: boolean }
  | { name: "inbox" }
  | { name: "rooms"; detailed: boolean; search?: string; offset?: number }
  | {
    name: "room_create";
    room: string;
    password?: string;
    capacity?: number;
    description?: string;
  }
  | { name: "join"; room: string; password?: string }
  | { name: "leave"; room: string }
  | { name: "members"; room: string; offset?: number }
  | { name: "say"; room: string; text: string }
  | { name: "invite"; room: string; user: string }
  | { name: "invites"; offset?: number }
  | { name: "invite_answer"; room: string; accept: boolean }
  | { name: "invite_withdraw"; room: string; user: string }
  | { name: "kick"; room: string; user: string }
  | { name: "unban"; room: string; user: string }
  | { name: "owner"; room: string; user: string }
  /** Sets the room's password, or removes it when there is none. */
  | { name: "room_password"; room: string; password?: string }
  | { name: "send"; to: string; room: boolean; path: string }
  | { name: "files" }
  | { name: "file"; action: "accept" | "reject" | "cancel"; id: string }
  /** /set lists the settings; /set NAME on|off changes one. */
  | { name: "set"; setting?: PreferenceName; on?: boolean }
  /** Shows the safety number with `user`; `confirm` marks them verified. */
  | { name: "verify"; user: string; confirm: boolean }
  | { name: "text"; text: string };

/** A parse result. */
export type ParsedLine =
  | { ok: true; command: Command }
  | { ok: false; command: string; error: string };

/** One entry of /help. */
export interface CommandHelp {
  usage: string;
  help: string;
}

/** Every command with its usage, in /help order. */
export const COMMAND_HELP: Record<string, CommandHelp> = {
  help: { usage: "/help [COMMAND]", help: "list commands, or explain one" },
  quit: { usage: "/quit", help: "log out and exit (also /logout, Ctrl-D)" },
  who: {
    usage: "/who [-l] [--offset N]",
    help: "online users; -l adds address and status",
  },
  search: {
    usage: "/search NAME",
    help: "is NAME online (with address), offline or unknown",
  },
  profile: {
    usage: "/profile NAME",
    help: "status, presence and friendship of NAME",
  },
  status: { usage: "/status [TEXT]", help: "show or set your status text" },
  friends: {
    usage: "/friends [--offset N]",
    help: "your friends and whether they are online",
  },
  friend: {
    usage: "/friend add|remove|accept|decline NAME",
    help: "send, withdraw, accept or decline a friend request",
  },
  requests: {
    usage: "/requests [--offset N]",
    help: "pending friend requests, both ways",
  },
  block: {
    usage: "/block NAME",
    help: "NAME can no longer reach you (they are not told)",
  },
  unblock: { usage: "/unblock NAME", help: "undo /block" },
  blocks: { usage: "/blocks [--offset N]", help: "users you have blocked" },
  chat: { usage: "/chat NAME", help: "ask NAME for a direct chat" },
  accept: {
    usage: "/accept NAME [--save]",
    help: "accept a chat request; --save keeps a transcript",
  },
  reject: { usage: "/reject NAME", help: "turn a chat request down" },
  msg: {
    usage: "/msg NAME TEXT",
    help:
      "send TEXT to NAME (asks for a chat first; stored if NAME is offline)",
  },
  close: { usage: "/close NAME", help: "end the chat with NAME" },
  save: {
    usage: "/save NAME on|off",
    help: "start or stop the transcript of a chat",
  },
  inbox: {
    usage: "/inbox",
    help: "offline messages delivered in this session",
  },
  rooms: {
    usage: "/rooms [-l] [WORD] [--offset N]",
    help:
      "all rooms, or those whose name contains WORD; -l adds description, members, lock",
  },
  room: {
    usage:
      "/room create NAME [--password P] [--capacity N] [--description TEXT] | /room password ROOM [P]",
    help:
      "create a room you own, or set or (without P) remove its password; the shell asks for P",
  },
  join: {
    usage: "/join ROOM [--password P]",
    help: "join a room; plain lines then go there",
  },
  leave: { usage: "/leave ROOM", help: "leave a room" },
  members: {
    usage: "/members ROOM [--offset N]",
    help: "members of a room and who is online",
  },
  say: { usage: "/say ROOM TEXT", help: "send TEXT to everyone in ROOM" },
  invite: {
    usage:
      "/invite ROOM NAME | /invite accept|decline ROOM | /invite withdraw ROOM NAME",
    help:
      "invite NAME to your room, answer an invitation, or withdraw one you sent",
  },
  invites: {
    usage: "/invites [--offset N]",
    help: "invitations waiting for you",
  },
  kick: {
    usage: "/kick ROOM NAME",
    help: "remove NAME from your room; they cannot rejoin until /unban",
  },
  unban: {
    usage: "/unban ROOM NAME",
    help: "let a user you removed join your room again",
  },
  owner: {
    usage: "/owner ROOM NAME",
    help: "hand your room to another member",
  },
  send: {
    usage: "/send NAME|#ROOM FILE",
    help: "offer a file to a user or a room",
  },
  files: { usage: "/files", help: "file offers and transfers in progress" },
  file: {
    usage: "/file accept|reject|cancel ID",
    help: "answer an offer or stop a transfer",
  },
  set: {
    usage: "/set [accept-friends on|off]",
    help:
      "show your settings, or change one: accept-friends opens a friend's chat request at once (on by default)",
  },
  verify: {
    usage: "/verify NAME [--confirm]",
    help:
      "show the safety number to compare with NAME out of band; --confirm marks NAME verified",
  },
};

/** Command names (without the slash), including aliases, for completion. */
export const COMMAND_NAMES: string[] = [...Object.keys(COMMAND_HELP), "logout"]
  .sort();

/** Splits a line into words; quotes group words, backslash escapes. */
export function tokenize(text: string): string[] | null {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === "\\" && quote === '"' && i + 1 < text.length) {
        cur += text[++i];
      } else cur += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === "\\" && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) return null;
  if (inWord) out.push(cur);
  return out;
}

class Usage extends Error {}

/** Parses one input line. */
export function parseLine(raw: string): ParsedLine {
  const line = raw.replace(/[\r\n]+$/, "");
  if (!line.startsWith("/")) {
    const text = line.trim();
    if (!text) return { ok: false, command: "", error: "empty line" };
    if (text.length > MAX_TEXT_CHARS) {
      return {
        ok: false,
        command: "",
        error: `message is longer than ${MAX_TEXT_CHARS} characters`,
      };
    }
    return { ok: true, command: { name: "text", text: line } };
  }
  const space = line.search(/\s/);
  const word = (space < 0 ? line.slice(1) : line.slice(1, space)).toLowerCase();
  const rest = space < 0 ? "" : line.slice(space + 1);
  const command = `/${word}`;
  try {
    return { ok: true, command: parseCommand(word, rest) };
  } catch (err) {
    if (err instanceof Usage) return { ok: false, command, error: err.message };
    throw err;
  }
}

function parseCommand(word: string, rest: string): Command {
  const usage = (key: string, why?: string): never => {
    const u = COMMAND_HELP[key]?.usage ?? `/${key}`;
    throw new Usage(why ? `${why} — usage: ${u}` : `usage: ${u}`);
  };
  // Free text (messages, status) is taken verbatim, so an apostrophe in
  // "/msg bob I'm here" is text, not an unclosed quote.
  const freeText = ["msg", "m", "say", "status"].includes(word);
  const words = freeText
    ? rest.trim().split(/\s+/).filter(Boolean)
    : tokenize(rest);
  if (words === null) {
    usage(word in COMMAND_HELP ? word : "help", "unclosed quote");
  }
  // Half a character (a lone surrogate) in a password would be changed on
  // the way and match other passwords: refused here, as the registry does.
  const pw = (key: string, p: string | undefined): string | undefined => {
    if (p !== undefined && !p.isWellFormed()) {
      usage(key, "the password has half a character (a lone surrogate)");
    }
    return p;
  };
  // A list command's page: --offset N anywhere after the command word.
  let offset: number | undefined;
  const args: string[] = [];
  const paged = [
    "who",
    "friends",
    "requests",
    "blocks",
    "rooms",
    "members",
    "names",
    "invites",
  ].includes(word);
  for (let i = 0; i < words!.length; i++) {
    const w = words![i]!;
    const m = paged ? /^--offset(?:=(.*))?$/.exec(w) : null;
    if (!m) {
      args.push(w);
      continue;
    }
    const v = m[1] ?? words![++i];
    const key = word === "names" ? "members" : word;
    if (v === undefined) usage(key, "--offset needs a value");
    if (!/^\d{1,9}$/.test(v!)) {
      usage(key, `--offset '${v}' is not a whole number`);
    }
    offset = Number(v);
  }
  const withOffset = <C extends Command>(c: C): C =>
    offset === undefined ? c : { ...c, offset };
  const exactly = (key: string, n: number) => {
    if (args.length !== n) usage(key);
  };
  const name = (key: string, v: string | undefined, what = "user name") => {
    if (v === undefined) return usage(key);
    const n = v.replace(/^[@#]/, "").toLowerCase();
    if (!NAME_PATTERN.test(n)) usage(key, `'${v}' is not a valid ${what}`);
    return n;
  };
  const room = (key: string, v: string | undefined) =>
    name(key, v, "room name");
  const restAfter = (n: number): string => {
    // The text after the first n words, verbatim (spacing and quotes kept).
    let s = rest.trimStart();
    for (let i = 0; i < n; i++) s = s.replace(/^\S+\s*/, "");
    return s;
  };
  const text = (key: string, t: string): string => {
    if (!t.trim()) usage(key, "missing text");
    if (t.length > MAX_TEXT_CHARS) {
      usage(key, `text is longer than ${MAX_TEXT_CHARS} characters`);
    }
    return t;
  };
  switch (word) {
    case "help":
    case "?":
      if (args.length > 1) usage("help");
      return { name: "help", topic: args[0]?.replace(/^\//, "") };
    case "quit":
    case "logout":
    case "exit":
      exactly("quit", 0);
      return { name: "quit" };
    case "who":
      if (args.length > 1 || (args[0] !== undefined && args[0] !== "-l")) {
        usage("who");
      }
      return withOffset({ name: "who", detailed: args[0] === "-l" });
    case "search":
    case "profile":
    case "block":
    case "unblock":
    case "chat":
    case "reject":
    case "close":
      exactly(word, 1);
      return { name: word, user: name(word, args[0]) };
    case "status": {
      const t = rest.trim();
      if (t.length > MAX_STATUS_CHARS) {
        usage("status", `status is longer than ${MAX_STATUS_CHARS} characters`);
      }
      return t ? { name: "status", text: t } : { name: "status" };
    }
    case "friends":
    case "requests":
    case "invites":
    case "blocks":
      exactly(word, 0);
      return withOffset({ name: word });
    case "inbox":
    case "files":
      exactly(word, 0);
      return { name: word };
    case "friend": {
      exactly("friend", 2);
      const action = args[0]!.toLowerCase();
      if (!["add", "remove", "accept", "decline"].includes(action)) {
        usage("friend");
      }
      return {
        name: "friend",
        action: action as "add" | "remove" | "accept" | "decline",
        user: name("friend", args[1]),
      };
    }
    case "verify": {
      const confirm = args.includes("--confirm");
      const others = args.filter((a) => a !== "--confirm");
      if (others.length !== 1 || args.length - others.length > 1) {
        usage("verify");
      }
      return { name: "verify", user: name("verify", others[0]), confirm };
    }
    case "accept": {
      const save = args.includes("--save");
      const others = args.filter((a) => a !== "--save");
      if (others.length !== 1) usage("accept");
      return { name: "accept", user: name("accept", others[0]), save };
    }
    case "msg":
    case "m":
      if (args.length < 2) usage("msg");
      return {
        name: "msg",
        user: name("msg", args[0]),
        text: text("msg", restAfter(1)),
      };
    case "save": {
      exactly("save", 2);
      const v = args[1]!.toLowerCase();
      if (v !== "on" && v !== "off") usage("save", "say on or off");
      return { name: "save", user: name("save", args[0]), on: v === "on" };
    }
    case "rooms": {
      const detailed = args.includes("-l");
      const words = args.filter((a) => a !== "-l");
      if (
        words.length > 1 || args.length - words.length > 1 ||
        words.some((w) => w.startsWith("-"))
      ) usage("rooms");
      const search = words[0]?.toLowerCase();
      if (search !== undefined && search.length > MAX_SEARCH_CHARS) {
        usage("rooms", `WORD is longer than ${MAX_SEARCH_CHARS} characters`);
      }
      return withOffset(
        search === undefined
          ? { name: "rooms", detailed }
          : { name: "rooms", detailed, search },
      );
    }
    case "room": {
      if (args[0]?.toLowerCase() === "password") {
        if (args.length < 2 || args.length > 3) usage("room");
        const r = room("room", args[1]);
        return args[2] === undefined
          ? { name: "room_password", room: r }
          : { name: "room_password", room: r, password: pw("room", args[2])! };
      }
      if (args[0]?.toLowerCase() !== "create" || args.length < 2) usage("room");
      const flags = options("room", args.slice(2), [
        "password",
        "capacity",
        "description",
      ], usage);
      const out: Command = { name: "room_create", room: room("room", args[1]) };
      if (flags.password !== undefined) {
        out.password = pw("room", flags.password)!;
      }
      if (flags.description !== undefined) {
        if (flags.description.length > MAX_DESCRIPTION_CHARS) {
          usage(
            "room",
            `description is longer than ${MAX_DESCRIPTION_CHARS} characters`,
          );
        }
        out.description = flags.description;
      }
      if (flags.capacity !== undefined) {
        const n = Number(flags.capacity);
        if (!/^\d+$/.test(flags.capacity) || n < 1 || n > MAX_ROOM_CAPACITY) {
          usage(
            "room",
            `capacity must be a whole number from 1 to ${MAX_ROOM_CAPACITY}`,
          );
        }
        out.capacity = n;
      }
      return out;
    }
    case "join": {
      if (args.length < 1) usage("join");
      const flags = options("join", args.slice(1), ["password"], usage);
      return flags.password !== undefined
        ? {
          name: "join",
          room: room("join", args[0]),
          password: pw("join", flags.password)!,
        }
        : { name: "join", room: room("join", args[0]) };
    }
    case "leave":
    case "part":
      exactly("leave", 1);
      return { name: "leave", room: room("leave", args[0]) };
    case "members":
    case "names":
      exactly("members", 1);
      return withOffset({ name: "members", room: room("members", args[0]) });
    case "say":
      if (args.length < 2) usage("say");
      return {
        name: "say",
        room: room("say", args[0]),
        text: text("say", restAfter(1)),
      };
    case "invite": {
      if (args[0]?.toLowerCase() === "withdraw") {
        exactly("invite", 3);
        return {
          name: "invite_withdraw",
          room: room("invite", args[1]),
          user: name("invite", args[2]),
        };
      }
      exactly("invite", 2);
      const first = args[0]!.toLowerCase();
      if (first === "accept" || first === "decline") {
        return {
          name: "invite_answer",
          room: room("invite", args[1]),
          accept: first === "accept",
        };
      }
      return {
        name: "invite",
        room: room("invite", args[0]),
        user: name("invite", args[1]),
      };
    }
    case "kick":
    case "unban":
    case "owner":
      exactly(word, 2);
      return {
        name: word,
        room: room(word, args[0]),
        user: name(word, args[1]),
      };
    case "send": {
      if (args.length < 2) usage("send");
      const target = args[0]!;
      const isRoom = target.startsWith("#");
      const path = args.length === 2 ? args[1]! : restAfter(1).trim();
      return {
        name: "send",
        to: isRoom ? room("send", target) : name("send", target),
        room: isRoom,
        path,
      };
    }
    case "set": {
      if (args.length === 0) return { name: "set" };
      exactly("set", 2);
      const setting = PREFERENCE_NAMES.find((n) =>
        n === args[0]!.toLowerCase()
      );
      if (!setting) {
        usage(
          "set",
          `no setting '${args[0]}' (there is ${PREFERENCE_NAMES.join(", ")})`,
        );
      }
      const v = args[1]!.toLowerCase();
      if (v !== "on" && v !== "off") usage("set", "say on or off");
      return { name: "set", setting: setting!, on: v === "on" };
    }
    case "file": {
      exactly("file", 2);
      const action = args[0]!.toLowerCase();
      if (!["accept", "reject", "cancel"].includes(action)) usage("file");
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(args[1]!)) {
        usage("file", `'${args[1]}' is not a transfer id`);
      }
      return {
        name: "file",
        action: action as "accept" | "reject" | "cancel",
        id: args[1]!,
      };
    }
  }
  const near = word ? closest(word, COMMAND_NAMES) : null;
  throw new Usage(
    `unknown command '/${word}' — ${
      near ? `did you mean /${near}? (` : ""
    }type /help for the list${near ? ")" : ""}`,
  );
}

function options(
  key: string,
  args: string[],
  allowed: string[],
  usage: (key: string, why?: string) => never,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(a);
    if (!m || !allowed.includes(m[1]!)) usage(key, `unexpected '${a}'`);
    const value = m![2] ?? args[++i];
    if (value === undefined) usage(key, `--${m![1]} needs a value`);
    out[m![1]!] = value!;
  }
  return out;
}

/** Aliases the parser accepts, for /help TOPIC. */
export const HELP_ALIASES: Record<string, string> = {
  logout: "quit",
  exit: "quit",
  m: "msg",
  part: "leave",
  names: "members",
  "?": "help",
};

/** /help text: every command, or one in detail. */
export function helpText(topic?: string): string {
  if (topic) {
    const key = HELP_ALIASES[topic.toLowerCase()] ?? topic.toLowerCase();
    const h = COMMAND_HELP[key];
    if (!h) return `no such command '/${topic}' — type /help for the list`;
    return `${h.usage}\n  ${h.help}`;
  }
  const width = Math.max(
    ...Object.values(COMMAND_HELP).map((h) => h.usage.length),
  );
  const lines = Object.values(COMMAND_HELP).map((h) =>
    `${h.usage.padEnd(width)}  ${h.help}`
  );
  lines.push(
    "",
    "A line without / goes to the current chat or room (the last /chat, /accept or /join).",
  );
  return lines.join("\n");
}
