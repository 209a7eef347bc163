/**
 * The interactive shell: a readline prompt with history and tab
 * completion over one logged-in Peer. Incoming events are printed above the
 * prompt and the half-typed line is redrawn under them. Ctrl-C, Ctrl-D and
 * /quit log out cleanly. Logging in (asking for what is missing) is the
 * `chat peer` command's job; it hands the shell a way to start the Peer.
 */
import readline from "node:readline";
import process from "node:process";
import { join } from "node:path";
import { aborted } from "../../common/signals.ts";
import {
  type CommandReply,
  type EventSink,
  parseLine,
  type Peer,
  type PeerEvent,
} from "../core/mod.ts";
import { complete, completesRooms } from "./completion.ts";
import { formatEvent, formatOwn, formatReply, Style } from "./format.ts";
import { ProgressLine } from "./progress.ts";
import { stdinIsTerminal } from "./terminal.ts";

const HISTORY_FILE = "history";
const HISTORY_LINES = 500;
/** Lines that carry a password: never kept in the history, not even for now. */
const SECRET_LINE = /--password|^\/room\s+password\s+\S+\s+\S/i;

/** What the shell needs from the command that runs it. */
export interface ShellOptions {
  /** CHAT_HOME, where the command history is kept. */
  home: string;
  color: boolean;
  /** Aborted by SIGINT/SIGTERM: the shell logs out. */
  signal: AbortSignal;
  /**
   * Logs in with `onEvent` as the Peer's event sink, saying why not in
   * `style` on stderr; null when it gave up.
   */
  start: (onEvent: EventSink, style: Style) => Promise<Peer | null>;
}

/** Runs the shell; returns the exit code. */
export async function runShell(o: ShellOptions): Promise<number> {
  const style = new Style(o.color);
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

  const peer = await o.start(onEvent, style);
  if (!peer) return 1;

  const history = await loadHistory(o.home);
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
      await saveHistory(o.home, rl);
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
        if (SECRET_LINE.test(text)) forget(rl!, line);
        const plain = !text.startsWith("/");
        if (tty) {
          // Replace the echoed input with a formatted line for messages.
          if (plain || /^\/(msg|m|say)\s/i.test(text)) {
            process.stdout.write("\x1b[1A\x1b[2K");
          }
        }
        const reply: CommandReply | null = await runLine(line, text);
        if (reply === null) {
          rl!.setPrompt(promptFor());
          rl!.prompt();
          return;
        }
        if (tty && (plain || /^\/(msg|m|say)\s/i.test(text))) {
          echoOwn(reply, text, peer, style, print);
        }
        const out = formatReply(reply, style);
        if (out !== null) print(out);
        if (reply.ok && reply.name === "quit") {
          await finish(0);
          return;
        }
        rl!.setPrompt(promptFor());
        rl!.prompt();
      });
    });
    /**
     * Runs the line; on a terminal `/room password ROOM` asks for the password
     * (masked) rather than taking it from the line. Null when the question
     * was given up (Ctrl-C).
     */
    const runLine = async (
      line: string,
      text: string,
    ): Promise<CommandReply | null> => {
      const parsed = parseLine(text);
      if (
        !tty || !parsed.ok || parsed.command.name !== "room_password" ||
        parsed.command.password !== undefined
      ) return await peer.run(line);
      asking = new AbortController();
      const answer = await askHidden(
        rl!,
        `new password for #${parsed.command.room} (Enter alone removes it): `,
        asking.signal,
      );
      asking = null;
      if (answer === null) return null;
      return await peer.runCommand(
        answer === ""
          ? parsed.command
          : { ...parsed.command, password: answer },
      );
    };
    // Ctrl-C while a password is asked gives up the question only.
    let asking: AbortController | null = null;
    rl!.on("SIGINT", () => {
      if (asking !== null) asking.abort();
      else void finish(0, style.dim("logging out…"));
    });
    rl!.on("close", () => void finish(0));
    peer.ended.then((end) => finish(end.code === "logged_out" ? 0 : 1));
    void aborted(o.signal).then(() => finish(0));
  });
  return await exit;
}

/**
 * Asks `question` on the shell's own readline, echoing a `*` per character
 * typed, and keeps the answer out of the history. Null when `signal` gives
 * it up.
 */
function askHidden(
  rl: readline.Interface,
  question: string,
  signal: AbortSignal,
): Promise<string | null> {
  // readline writes the prompt and what is typed through _writeToOutput:
  // while the question is open, everything but line breaks becomes stars.
  const inner = rl as unknown as {
    _writeToOutput(s: string): void;
    history?: string[];
  };
  const write = inner._writeToOutput;
  let masking = false;
  inner._writeToOutput = function (this: unknown, s: string) {
    if (!masking || s === "\r\n" || s === "\n") return write.call(this, s);
    const typed = s.startsWith(question) ? s.slice(question.length) : s;
    const head = s.startsWith(question) ? question : "";
    write.call(this, head + "*".repeat([...typed].length));
  };
  return new Promise((resolve) => {
    const done = (answer: string | null) => {
      masking = false;
      inner._writeToOutput = write;
      if (answer !== null) forget(rl, answer);
      resolve(answer);
    };
    signal.addEventListener("abort", () => {
      // What was typed goes, and the question with it.
      rl.write(null, { ctrl: true, name: "u" });
      masking = false;
      process.stdout.write("\n");
      done(null);
    }, { once: true });
    rl.question(question, { signal }, (answer) => done(answer));
    masking = true;
  });
}

/** Drops `line` from readline's history (it is the newest entry). */
function forget(rl: readline.Interface, line: string): void {
  const h = (rl as unknown as { history?: string[] }).history;
  if (!h) return;
  const i = h.indexOf(line);
  if (i >= 0) h.splice(i, 1);
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
  const room = reply.ok && reply.name === "say" ? reply.data.room : undefined;
  const to = reply.ok && reply.name === "msg" ? reply.data.to : undefined;
  const line = formatOwn(peer.user, body, room, style);
  print(to !== undefined ? `${line} ${style.dim(`→ ${to}`)}` : line);
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
    l.startsWith("/") && !SECRET_LINE.test(l) && !/^\/(msg|m|say)\s/i.test(l)
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
