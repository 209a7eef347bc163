/**
 * Tab completion for the shell: command names, then each command's own
 * words, user names and room names where the command takes them. Pure.
 */
import { COMMAND_NAMES } from "../core/mod.ts";

/** What tab completion draws on. */
export interface CompletionSource {
  knownUsers: string[];
  knownRooms: string[];
}

// Stand-ins in a slot for the names they expand to.
const USERS = "\0users";
const ROOMS = "\0rooms";
const HASH_ROOMS = "\0#rooms";

const USER_FIRST = [
  "/search",
  "/profile",
  "/block",
  "/unblock",
  "/chat",
  "/msg",
  "/m",
  "/reject",
  "/close",
];

/**
 * What each word of a command may be, by position (past the end: nothing):
 * fixed words (sub-commands, on|off, flags) and names.
 */
function slotsOf(command: string, args: string[]): (readonly string[])[] {
  if (USER_FIRST.includes(command)) return [[USERS]];
  const answers = ["accept", "decline"];
  switch (command) {
    case "/friend":
      return [["add", "remove", ...answers], [USERS]];
    case "/invite":
      return args[0] === "withdraw"
        ? [["withdraw"], [ROOMS], [USERS]]
        : answers.includes(args[0] ?? "")
        ? [answers, [ROOMS]]
        : [[ROOMS, ...answers, "withdraw"], [USERS]];
    case "/file":
      return [["accept", "reject", "cancel"]];
    case "/room":
      return args[0] === "password"
        ? [["password"], [ROOMS]]
        : [["create", "password"]];
    case "/save":
      return [[USERS], ["on", "off"]];
    case "/accept":
      return [[USERS], ["--save"]];
    case "/who":
    case "/rooms":
      return [["-l"]];
    case "/join":
    case "/leave":
    case "/members":
    case "/say":
      return [[ROOMS]];
    case "/kick":
    case "/unban":
    case "/owner":
      return [[ROOMS], [USERS]];
    case "/send":
      return [[USERS, HASH_ROOMS]];
    case "/help":
      return [COMMAND_NAMES];
    default:
      return [];
  }
}

/** The slot of the last word of `line` (a plain line: user names). */
function slotAt(line: string): { slot: readonly string[]; last: string } {
  const words = line.split(/\s+/);
  const last = words[words.length - 1] ?? "";
  if (words.length === 1 && line.startsWith("/")) {
    return { slot: COMMAND_NAMES.map((c) => `/${c}`), last };
  }
  if (last.startsWith("#")) return { slot: [HASH_ROOMS], last };
  if (!line.startsWith("/")) return { slot: [USERS], last };
  const args = words.slice(1, -1).map((w) => w.toLowerCase());
  const slot = slotsOf(words[0]!.toLowerCase(), args)[args.length] ?? [];
  return { slot, last };
}

/** Whether completing `line` offers room names (fetched first by the shell). */
export function completesRooms(line: string): boolean {
  const { slot } = slotAt(line);
  return slot.includes(ROOMS) || slot.includes(HASH_ROOMS);
}

/**
 * Tab completion: command names, then each command's own words, user names
 * and room names where the command takes them; a word starting with #
 * completes a room anywhere, and any word of a plain line a user name.
 */
export function complete(
  line: string,
  source: CompletionSource,
): [string[], string] {
  const { slot, last } = slotAt(line);
  const hash = last.startsWith("#");
  const names: string[] = [];
  for (const c of slot) {
    if (c === USERS) names.push(...source.knownUsers);
    else if (c === ROOMS || c === HASH_ROOMS) {
      const prefix = c === HASH_ROOMS || hash ? "#" : "";
      names.push(...source.knownRooms.map((r) => prefix + r));
    } else names.push(c);
  }
  const typed = last.replace(/^@/, "").toLowerCase();
  return [names.filter((n) => n.startsWith(typed)).map((n) => n + " "), last];
}
