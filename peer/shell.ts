/**
 * The interactive shell (SPEC §2.1): log in (asking for what is missing,
 * password masked), then a readline prompt with history and tab completion.
 * Incoming events are printed above the prompt and the half-typed line is
 * redrawn under them. Ctrl-C, Ctrl-D and /quit log out cleanly.
 */
import readline from "node:readline";
import process from "node:process";
import { join } from "node:path";
import type { CommandContext } from "../main.ts";
import { COMMAND_NAMES } from "./commands.ts";
import { type CommandReply, Peer } from "./core.ts";
import { UserError } from "./errors.ts";
import type { PeerEvent } from "./events.ts";
import { formatEvent, formatOwn, formatReply, Style } from "./format.ts";
import {
  askPassword,
  type CommonSettings,
  credentials,
  peerOptions,
} from "./options.ts";
import { ProgressLine } from "./progress.ts";
import { RegistryError } from "./registry_client.ts";
import { askYesNo, stdinIsTerminal } from "./terminal.ts";

const HISTORY_FILE = "history";
const HISTORY_LINES = 500;
/** Passwords tried on a terminal before the shell gives up, like ssh. */
const PASSWORD_ATTEMPTS = 3;

/** Whether to colour stdout: a terminal, and NO_COLOR unset. */
export function useColor(env: (k: string) => string | undefined): boolean {
  const noColor = env("NO_COLOR");
  if (noColor !== undefined && noColor !== "") return false;
  try {
    return Deno.stdout.isTerminal();
  } catch {
    return false;
  }
}

/** Runs the shell; returns the exit code. */
export async function runShell(
  ctx: CommandContext,
  s: CommonSettings,
): Promise<number> {
  const style = new Style(useColor(s.env));
  const tty = stdinIsTerminal() && Deno.stdout.isTerminal();
  const progress = new ProgressLine(Deno.stdout);
  let rl: readline.Interface | null = null;
  // The progress bar of a transfer has its own line just above the prompt,
  // so redrawing it never touches what is being typed.
  let bar: string | null = null;

  /** Prints `text` (if any) above the bar and the prompt, then redraws both. */
  const paint = (text: string | null, nextBar: string | null) => {
    const out = process.stdout;
    readline.cursorTo(out, 0);
    readline.clearLine(out, 0);
    if (bar !== null) {
      readline.moveCursor(out, 0, -1);
      readline.clearLine(out, 0);
    }
    if (text !== null) out.write(text + "\n");
    bar = nextBar;
    if (bar !== null) out.write(bar + "\n");
    rl!.prompt(true);
  };
  const print = (text: string) => {
    if (!rl || !tty) console.log(text);
    else paint(text, bar);
  };
  const onEvent = (ev: PeerEvent) => {
    if (ev.type === "file_progress") {
      const line = rl && tty ? progress.render(ev) : null;
      if (line !== null) paint(null, line);
      return;
    }
    if (
      bar !== null && (ev.type === "file_received" ||
        ev.type === "file_sent" || ev.type === "transfer_failed")
    ) paint(null, null);
    const line = formatEvent(ev, style);
    if (line !== null) print(line);
  };

  const peer = await login(ctx, s, style, onEvent);
  if (!peer) return 1;

  const history = await loadHistory(s.home);
  rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: tty,
    history,
    historySize: HISTORY_LINES,
    removeHistoryDuplicates: true,
    // Room names come from the registry, fetched when first completed.
    completer: (
      line: string,
      done: (err: null, result: [string[], string]) => void,
    ) => {
      const answer = () => done(null, complete(line, peer));
      if (completesRooms(line)) peer.refreshRooms().then(answer, answer);
      else answer();
    },
  });
  const promptFor = () => {
    const cur = peer.current;
    const where = cur === null
      ? ""
      : cur.kind === "room"
      ? `#${cur.name}`
      : `@${cur.name}`;
    return style.magenta(`${peer.user}${where}> `);
  };
  rl.setPrompt(promptFor());
  rl.prompt();

  const exit = new Promise<number>((resolve) => {
    let busy = Promise.resolve();
    let done = false;
    const finish = async (code: number, note?: string) => {
      if (done) return;
      done = true;
      if (note) print(note);
      await busy;
      rl?.close();
      await peer.stop();
      await saveHistory(s.home, rl);
      resolve(code);
    };
    rl!.on("line", (line: string) => {
      busy = busy.then(async () => {
        if (done) return;
        const text = line.trim();
        if (!text) {
          rl!.prompt();
          return;
        }
        const plain = !text.startsWith("/");
        if (tty) {
          // Replace the echoed input with a formatted line for messages.
          if (plain || /^\/(msg|m|say)\s/i.test(text)) {
            process.stdout.write("\x1b[1A\x1b[2K");
          }
        }
        const reply: CommandReply = await peer.run(line);
        if (tty && (plain || /^\/(msg|m|say)\s/i.test(text))) {
          echoOwn(reply, text, peer, style, print);
        }
        const out = formatReply(reply, style);
        if (out !== null) print(out);
        if (reply.ok && reply.command === "/quit") {
          await finish(0);
          return;
        }
        rl!.setPrompt(promptFor());
        rl!.prompt();
      });
    });
    rl!.on("SIGINT", () => void finish(0, style.dim("logging out…")));
    rl!.on("close", () => void finish(0));
    peer.ended.then((reason) => finish(reason === "logged out" ? 0 : 1));
    ctx.signal.addEventListener("abort", () => void finish(0), { once: true });
  });
  return await exit;
}

function echoOwn(
  reply: CommandReply,
  text: string,
  peer: Peer,
  style: Style,
  print: (s: string) => void,
): void {
  const m = /^\/(?:msg|m|say)\s+\S+\s+([\s\S]*)$/i.exec(text);
  const body = m ? m[1]! : text;
  const room = reply.ok && typeof reply.data.room === "string"
    ? reply.data.room
    : undefined;
  const to = reply.ok && typeof reply.data.to === "string"
    ? reply.data.to
    : undefined;
  const line = formatOwn(peer.user, body, room, style);
  print(to && room === undefined ? `${line} ${style.dim(`→ ${to}`)}` : line);
}

/** Logs in, asking again on a wrong password and offering to sign up. */
async function login(
  ctx: CommandContext,
  s: CommonSettings,
  style: Style,
  onEvent: (ev: PeerEvent) => void,
): Promise<Peer | null> {
  let creds = await credentials(
    ctx.flags,
    s,
    ctx.flags.signup === true && !s.env("CHAT_PASSWORD"),
  );
  let signup = ctx.flags.signup === true;
  for (let attempt = 1;; attempt++) {
    try {
      return await Peer.start(
        { ...peerOptions(ctx, s, creds), signup },
        onEvent,
      );
    } catch (err) {
      if (!(err instanceof RegistryError || err instanceof UserError)) {
        throw err;
      }
      const code = err instanceof RegistryError ? err.code : "";
      if (code === "auth" && s.interactive && !s.env("CHAT_PASSWORD")) {
        console.error(style.red(err.message));
        if (attempt >= PASSWORD_ATTEMPTS) {
          console.error(style.red("chat: too many failed attempts"));
          return null;
        }
        creds = {
          user: creds.user,
          password: await askPassword(creds.user, false),
        };
        continue;
      }
      if (code === "not_found" && s.interactive && !signup) {
        console.error(style.yellow(`there is no account named ${creds.user}`));
        if (!(await askYesNo(style.magenta(`create ${creds.user} now?`)))) {
          return null;
        }
        creds = {
          user: creds.user,
          password: await askPassword(creds.user, true),
        };
        signup = true;
        continue;
      }
      console.error(style.red(`chat: ${err.message}`));
      return null;
    }
  }
}

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
      return answers.includes(args[0] ?? "")
        ? [answers, [ROOMS]]
        : [[ROOMS, ...answers], [USERS]];
    case "/file":
      return [["accept", "reject", "cancel"]];
    case "/room":
      return [["create"]];
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

async function loadHistory(home: string): Promise<string[]> {
  try {
    const text = await Deno.readTextFile(join(home, HISTORY_FILE));
    // readline wants the newest entry first.
    return text.split("\n").filter(Boolean).slice(-HISTORY_LINES).reverse();
  } catch {
    return [];
  }
}

/** Keeps commands (not messages, never passwords) for the next session. */
async function saveHistory(
  home: string,
  rl: readline.Interface | null,
): Promise<void> {
  const entries = (rl as unknown as { history?: string[] } | null)?.history ??
    [];
  const kept = entries.filter((l) =>
    l.startsWith("/") && !/--password|^\/(msg|m|say)\s/i.test(l)
  )
    .slice(0, HISTORY_LINES).reverse();
  try {
    await Deno.writeTextFile(join(home, HISTORY_FILE), kept.join("\n") + "\n", {
      mode: 0o600,
    });
  } catch {
    // History is a convenience; never fail the logout over it.
  }
}
