/**
 * The interactive shell: one logged-in Peer behind a terminal in raw mode.
 *
 * On a terminal the Screen (screen.ts) owns the display: events and replies
 * are printed above an input line that stays whole however many rows it
 * takes, a transfer's progress has the row above the prompt, keys are
 * edited by grapheme and a bracketed paste arrives as one piece (a
 * multi-line paste is one multi-line message). Reading keys never waits
 * for a command, so heartbeats and echo never wait for each other.
 *
 * Ctrl-C clears the line; Ctrl-D on an empty line and /quit log out (asking
 * first while transfers run); Ctrl-Z suspends with the terminal given back
 * as it was, and `fg` draws everything again. The prompt names where a
 * plain line goes; /switch and Alt-1…9 change it. Without a terminal the
 * shell reads lines from stdin and prints plain lines.
 *
 * Logging in (asking for what is missing) is the `chat peer` command's job;
 * it hands the shell a way to start the Peer.
 */
import { join } from "node:path";
import { aborted } from "../../common/signals.ts";
import { closest as suggest } from "../../common/suggest.ts";
import {
  type CommandReply,
  type Conversation,
  type EventSink,
  parseLine,
  type Peer,
  type PeerEvent,
} from "../core/mod.ts";
import { KeyDecoder, type KeyEvent } from "./keys.ts";
import { Screen, type ScreenAction } from "./screen.ts";
import { formatEvent, formatReply, formatText, Style } from "./format.ts";
import { helpFor } from "./help.ts";
import { ProgressLine } from "./progress.ts";
import { stdinIsTerminal } from "./terminal.ts";
import { completeLine, expandHome } from "./shell_complete.ts";
import { clockOf, messageEntry, snippet } from "./shell_text.ts";

const HISTORY_FILE = "history";
const HISTORY_LINES = 500;
/** Lines that carry a password: never kept in the history, not even for now. */
const SECRET_LINE = /--password|^\/room\s+password\s+\S+\s+\S/i;
/** Lines that send a message (echoed as the message, not kept in history). */
const MESSAGE_LINE = /^\/(msg|m|say)\s/i;
/** How long after saying "friends now" the same news is not said again. */
const FRIENDS_SAID_MS = 30_000;
/** Sent messages whose delivery notice can still name them. */
const REMEMBERED_MESSAGES = 1000;

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
  const ui = new ShellUi(o, style, tty);
  const peer = await o.start((ev) => ui.event(ev), style);
  if (!peer) return 1;
  return await ui.run(peer);
}

const enc = new TextEncoder();

function writeOut(text: string): void {
  const bytes = enc.encode(text);
  let off = 0;
  try {
    while (off < bytes.length) {
      off += Deno.stdout.writeSync(bytes.subarray(off));
    }
  } catch {
    // The terminal went away; the session ends on its own.
  }
}

function consoleSize(): { columns: number; rows: number } {
  try {
    return Deno.consoleSize();
  } catch {
    return { columns: 80, rows: 24 };
  }
}

/** A question asked in place of the prompt (a password, a yes/no). */
interface Question {
  text: string;
  hidden: boolean;
  typed: string;
  resolve: (answer: string | null) => void;
}

/** The shell's state and its terminal. */
class ShellUi {
  readonly #o: ShellOptions;
  readonly #style: Style;
  readonly #tty: boolean;
  readonly #progress = new ProgressLine(Deno.stdout);
  #screen: Screen | null = null;
  #peer: Peer | null = null;
  /** Events before the screen is up, printed once it is. */
  #early: PeerEvent[] = [];
  /** Conversations in the order they became switchable (Alt-1 is the first). */
  #targets: Conversation[] = [];
  /** Sent direct messages by id: the start of their text, for delivery notices. */
  readonly #sent = new Map<number, string>();
  /**
   * When we last said "you and NAME are friends now": the registry's event
   * and the reply to our own accept say it both, and it is shown once.
   */
  readonly #friendsSaid = new Map<string, number>();
  /** The progress row of each running transfer, the latest last. */
  readonly #bars = new Map<string, string>();
  #question: Question | null = null;
  readonly #questionKeys = new KeyDecoder();
  #busy: Promise<void> = Promise.resolve();
  #done = false;
  #finish: (code: number) => void = () => {};
  #suspended = false;

  constructor(o: ShellOptions, style: Style, tty: boolean) {
    this.#o = o;
    this.#style = style;
    this.#tty = tty;
  }

  // ---- output -------------------------------------------------------------

  /** Prints a styled line (or several, "\n" between them) above the input. */
  print(text: string, indent = 2): void {
    if (!this.#screen) {
      console.log(text);
      return;
    }
    for (const line of text.split("\n")) this.#screen.print(line, indent);
  }

  #entry(prefix: string, body: string): void {
    if (!this.#screen) console.log(prefix + body.replaceAll("\n", "\n    "));
    else this.#screen.printEntry(prefix, body);
  }

  event(ev: PeerEvent): void {
    const peer = this.#peer;
    if (!peer || (this.#tty && !this.#screen)) {
      if (ev.type !== "file_progress") this.#early.push(ev);
      return;
    }
    this.#show(ev, peer);
    this.#updatePrompt();
  }

  #show(ev: PeerEvent, peer: Peer): void {
    const s = this.#style;
    switch (ev.type) {
      case "file_progress": {
        const row = this.#screen ? this.#progress.render(ev) : null;
        if (row !== null) {
          this.#bars.delete(ev.id);
          this.#bars.set(ev.id, row);
          this.#screen!.status(row);
        }
        return;
      }
      case "file_received":
      case "file_sent":
      case "transfer_failed": {
        // The finished transfer's row goes; another's, if any, stays.
        this.#bars.delete(ev.id);
        this.#screen?.status([...this.#bars.values()].at(-1) ?? null);
        break;
      }
      case "message":
      case "offline_message": {
        const { prefix, body } = messageEntry(ev, s);
        this.#entry(prefix, body);
        return;
      }
      case "delivered": {
        if (ev.room !== undefined) return;
        const what = this.#sent.get(ev.id);
        this.#sent.delete(ev.id);
        this.print(
          s.dim(
            `  ✓ delivered to ${ev.to}${what !== undefined ? `: ${what}` : ""}`,
          ),
          4,
        );
        return;
      }
      case "friend_accepted":
        if (this.#saidFriends(ev.user)) return;
        break;
      case "chat_started":
        this.#addTarget({ kind: "user", name: ev.with });
        break;
      case "room_left":
        if (ev.user === peer.user) {
          this.#dropTarget({ kind: "room", name: ev.room });
          this.print(
            ev.reason === "kicked"
              ? s.yellow(
                `* you were removed from #${ev.room}${
                  ev.by !== undefined ? ` by ${ev.by}` : ""
                }`,
              )
              : s.yellow(`* you left #${ev.room}`),
          );
          return;
        }
        break;
    }
    const line = formatEvent(ev, s);
    if (line !== null) this.print(line);
  }

  // ---- conversations ------------------------------------------------------

  #promptText(): string {
    const peer = this.#peer!;
    const q = this.#question;
    if (q) {
      return q.text + (q.hidden ? "*".repeat([...q.typed].length) : q.typed);
    }
    const cur = peer.current;
    const where = cur === null
      ? ""
      : cur.kind === "room"
      ? `#${cur.name}`
      : `@${cur.name}`;
    return this.#style.magenta(`${peer.user}${where}> `);
  }

  #updatePrompt(): void {
    const peer = this.#peer;
    if (!peer) return;
    const cur = peer.current;
    if (cur) this.#addTarget(cur);
    this.#screen?.setPrompt(this.#promptText());
  }

  #addTarget(c: Conversation): void {
    if (!this.#targets.some((t) => same(t, c))) this.#targets.push(c);
  }

  #dropTarget(c: Conversation): void {
    this.#targets = this.#targets.filter((t) => !same(t, c));
  }

  /** Conversations one can switch to now: open chats and joined rooms. */
  #switchable(): Conversation[] {
    const peer = this.#peer!;
    const rooms = new Set(peer.rooms.names());
    const chats = new Set(
      peer.conversations.list().filter((c) => c.state === "open").map((c) =>
        c.user
      ),
    );
    for (const r of [...rooms].sort()) {
      this.#addTarget({ kind: "room", name: r });
    }
    for (const u of [...chats].sort()) {
      this.#addTarget({ kind: "user", name: u });
    }
    this.#targets = this.#targets.filter((t) =>
      t.kind === "room" ? rooms.has(t.name) : chats.has(t.name) ||
        same(t, peer.current)
    );
    return this.#targets;
  }

  #switchTo(arg: string): void {
    const peer = this.#peer!;
    const s = this.#style;
    const list = this.#switchable();
    if (arg === "") {
      if (list.length === 0) {
        this.print("nothing to switch to — /chat NAME or /join ROOM first");
        return;
      }
      this.print(
        list.map((t, i) =>
          `${i + 1 <= 10 ? `Alt-${(i + 1) % 10}` : "     "}  ${label(t)}${
            same(t, peer.current) ? s.dim(" (now)") : ""
          }`
        ).join("\n"),
      );
      return;
    }
    let target: Conversation | undefined;
    if (/^\d+$/.test(arg)) target = list[Number(arg) - 1];
    else if (arg.startsWith("#")) {
      target = list.find((t) => t.kind === "room" && t.name === arg.slice(1));
    } else {
      const name = arg.replace(/^@/, "");
      target = list.find((t) => t.kind === "user" && t.name === name) ??
        list.find((t) => t.kind === "room" && t.name === name);
    }
    if (!target) {
      const names = list.map(label);
      const guess = suggest(arg, names);
      this.print(
        s.red(
          `nothing open called ${arg}${
            guess ? ` — did you mean ${guess}?` : ""
          } (/switch lists what is open)`,
        ),
      );
      return;
    }
    peer.switchTo(target);
    this.print(s.green(`plain lines go to ${label(target)} now`));
    this.#updatePrompt();
  }

  // ---- running --------------------------------------------------------------

  async run(peer: Peer): Promise<number> {
    this.#peer = peer;
    const history = await loadHistory(this.#o.home);
    const exit = new Promise<number>((resolve) => this.#finish = resolve);
    peer.ended.then((end) =>
      this.#leave(end.code === "logged_out" ? 0 : 1, false)
    );
    void aborted(this.#o.signal).then(() => this.#leave(0, false));
    if (this.#tty) this.#runTerminal(peer, history);
    else this.#runPlain();
    const code = await exit;
    return code;
  }

  #flushEarly(peer: Peer): void {
    const early = this.#early;
    this.#early = [];
    for (const ev of early) this.#show(ev, peer);
  }

  #runPlain(): void {
    this.#flushEarly(this.#peer!);
    void (async () => {
      const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
      let rest = "";
      for await (const chunk of lines) {
        rest += chunk;
        let nl: number;
        while ((nl = rest.indexOf("\n")) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          this.#submit(line);
        }
        if (this.#done) return;
      }
      if (rest.trim()) this.#submit(rest);
      await this.#busy;
      this.#leave(0, false);
    })();
  }

  #runTerminal(peer: Peer, history: string[]): void {
    const size = consoleSize();
    const screen = new Screen({
      write: writeOut,
      columns: size.columns,
      rows: size.rows,
      prompt: "",
      history,
      onLateAction: (a) => this.#action(a),
    });
    this.#screen = screen;
    this.#updatePrompt();
    Deno.stdin.setRaw(true);
    // What came before the screen is printed in its first flush, above
    // the first prompt.
    this.#flushEarly(peer);
    this.#updatePrompt();
    screen.start();
    const onResize = () => {
      const now = consoleSize();
      screen.resize(now.columns, now.rows);
    };
    const onContinue = () => this.#resume();
    Deno.addSignalListener("SIGWINCH", onResize);
    Deno.addSignalListener("SIGCONT", onContinue);
    this.#cleanup = () => {
      Deno.removeSignalListener("SIGWINCH", onResize);
      Deno.removeSignalListener("SIGCONT", onContinue);
    };
    void (async () => {
      const buf = new Uint8Array(64 * 1024);
      while (!this.#done) {
        let n: number | null;
        try {
          n = await Deno.stdin.read(buf);
        } catch {
          n = null;
        }
        if (n === null) {
          this.#leave(0, true);
          return;
        }
        const bytes = buf.slice(0, n);
        if (this.#question) {
          this.#answerKeys(this.#questionKeys.push(bytes));
          continue;
        }
        for (const a of screen.input(bytes)) this.#action(a);
      }
    })();
  }

  #cleanup = () => {};

  #action(a: ScreenAction): void {
    const screen = this.#screen!;
    switch (a.type) {
      case "submit":
        this.#submit(a.text);
        return;
      case "interrupt":
        // The screen cleared the line, as bash and irssi do.
        return;
      case "eof":
        this.#busy = this.#busy.then(() => this.#quit());
        return;
      case "complete":
        void completeLine(
          a.before,
          this.#peer!,
          this.#switchable().map(label),
        ).then((c) => {
          if (c.replace !== null) {
            screen.complete(c.replaceLength, c.replace);
          }
          if (c.list.length > 0) this.print(c.list.join("  "), 0);
        });
        return;
      case "suspend":
        this.#suspend();
        return;
      case "switch": {
        const t = this.#switchable()[a.index - 1];
        if (t) this.#switchTo(String(a.index));
        return;
      }
      case "key":
        return;
    }
  }

  #suspend(): void {
    if (this.#suspended) return;
    this.#suspended = true;
    this.#screen!.suspend();
    try {
      Deno.stdin.setRaw(false);
    } catch {
      // Not a terminal any more.
    }
    // As the terminal does for Ctrl-Z in cooked mode: the whole job (our
    // process group) stops; SIGCONT (fg, bg) brings us back in #resume.
    Deno.kill(0, "SIGTSTP");
  }

  #resume(): void {
    if (!this.#suspended) return;
    this.#suspended = false;
    try {
      Deno.stdin.setRaw(true);
    } catch {
      // Not a terminal any more.
    }
    const size = consoleSize();
    this.#screen!.resize(size.columns, size.rows);
    this.#screen!.resume();
  }

  #ask(text: string, hidden: boolean): Promise<string | null> {
    return new Promise((resolve) => {
      this.#question = { text, hidden, typed: "", resolve };
      this.#updatePrompt();
    });
  }

  #answerKeys(keys: KeyEvent[]): void {
    for (const k of keys) {
      const q = this.#question;
      if (!q) return;
      if (k.type === "text" || k.type === "paste") {
        q.typed += k.text.replace(/\n/g, "");
      } else if (k.name === "backspace" && !k.ctrl && !k.alt) {
        q.typed = [...q.typed].slice(0, -1).join("");
      } else if (k.name === "u" && k.ctrl) q.typed = "";
      else if (
        k.name === "enter" || (k.name === "c" && k.ctrl) ||
        (k.name === "d" && k.ctrl && q.typed === "")
      ) {
        const answer = k.name === "enter" ? q.typed : null;
        this.#question = null;
        this.#screen!.print(
          (q.hidden ? q.text : q.text + q.typed) +
            (answer === null ? " (given up)" : ""),
          0,
        );
        q.resolve(answer);
      }
      // Other keys (arrows, function keys) are ignored, never echoed.
      this.#updatePrompt();
    }
  }

  /** Logs out, asking first while transfers are running. */
  async #quit(): Promise<void> {
    if (this.#done) return;
    const running = this.#peer!.transfers.list().filter((t) =>
      t.state !== "offered"
    );
    if (running.length > 0 && this.#screen) {
      const answer = await this.#ask(
        `${running.length} transfer${
          running.length === 1 ? " is" : "s are"
        } still running — log out and stop ${
          running.length === 1 ? "it" : "them"
        }? [y/N] `,
        false,
      );
      if (answer === null || !/^y(es)?$/i.test(answer.trim())) return;
    }
    this.#leave(0, true);
  }

  #leave(code: number, say: boolean): void {
    if (this.#done) return;
    this.#done = true;
    if (say) this.print(this.#style.dim("logging out…"), 0);
    void (async () => {
      this.#question?.resolve(null);
      await this.#peer?.stop();
      this.#screen?.stop();
      this.#cleanup();
      if (this.#screen) {
        try {
          Deno.stdin.setRaw(false);
        } catch {
          // Not a terminal any more.
        }
      }
      await saveHistory(this.#o.home, this.#screen?.editor.history ?? []);
      this.#finish(code);
    })();
  }

  // ---- lines ----------------------------------------------------------------

  #submit(line: string): void {
    this.#busy = this.#busy.then(() => this.#runLine(line)).catch((err) => {
      this.print(this.#style.red(`internal error: ${err}`));
    });
  }

  async #runLine(line: string): Promise<void> {
    if (this.#done) return;
    const peer = this.#peer!;
    const s = this.#style;
    const text = line.trim();
    if (!text) return;
    if (SECRET_LINE.test(text)) this.#forget(line);
    const word = /^\/(\S+)/.exec(text)?.[1]?.toLowerCase();
    if (word === "switch") {
      this.#switchTo(text.slice("/switch".length).trim());
      return;
    }
    if (
      (word === "quit" || word === "logout" || word === "exit") &&
      text.split(/\s+/).length === 1
    ) {
      // Not the core's /quit, which would log out before asking.
      await this.#quit();
      return;
    }
    if (word === "help") {
      const topic = text.split(/\s+/)[1];
      this.print(helpFor(topic, this.#screen?.columns ?? 80, s), 0);
      return;
    }
    const reply = await this.#run(text);
    if (reply === null) return;
    const message = word === undefined || MESSAGE_LINE.test(text);
    if (message && reply.ok) this.#echoOwn(reply, text);
    if (reply.ok && reply.name === "quit") {
      this.#leave(0, true);
      return;
    }
    if (reply.ok && reply.name === "room_create") {
      const room = reply.data.room;
      if (peer.rooms.get(room)) {
        peer.switchTo({ kind: "room", name: room });
      }
    }
    this.#showReply(reply);
    this.#updatePrompt();
  }

  /**
   * Runs the line: `~` in a /send path is the home directory, and on a
   * terminal `/room password ROOM` asks for the password (masked) rather
   * than taking it from the line. Null when the question was given up.
   */
  async #run(text: string): Promise<CommandReply | null> {
    const peer = this.#peer!;
    const parsed = parseLine(text);
    if (parsed.ok && parsed.command.name === "send") {
      return await peer.runCommand({
        ...parsed.command,
        path: expandHome(parsed.command.path),
      });
    }
    if (
      !this.#screen || !parsed.ok || parsed.command.name !== "room_password" ||
      parsed.command.password !== undefined
    ) return await peer.run(text);
    const answer = await this.#ask(
      `new password for #${parsed.command.room} (Enter alone removes it): `,
      true,
    );
    if (answer === null) return null;
    return await peer.runCommand(
      answer === "" ? parsed.command : { ...parsed.command, password: answer },
    );
  }

  #showReply(reply: CommandReply): void {
    const s = this.#style;
    const peer = this.#peer!;
    if (reply.ok && reply.name === "say") {
      const { room, recipients, later, unreached } = reply.data;
      const members = peer.rooms.get(room)?.members.size ?? 0;
      const others = Math.max(0, members - 1);
      const missed = Math.max(
        unreached.length,
        others - recipients.length - later.length,
      );
      if (missed > 0 || later.length > 0) {
        let line = `  ${recipients.length} of ${others} member${
          others === 1 ? "" : "s"
        } of #${room} have it now`;
        if (later.length > 0) {
          line += `; ${later.length} will get it when they are back`;
        }
        if (missed > 0) {
          line += `; ${missed} will not (${
            unreached.length > 0
              ? `unreachable: ${unreached.join(", ")}${
                missed > unreached.length
                  ? ", the rest away with no device to seal it to"
                  : ""
              }`
              : "away with no device to seal it to"
          })`;
        }
        this.print(missed > 0 ? s.yellow(line) : s.dim(line), 4);
      }
      return;
    }
    if (
      reply.ok && reply.name === "friend" &&
      /friends now/.test(formatReply(reply, new Style(false)) ?? "") &&
      this.#saidFriends(reply.data.user)
    ) return;
    if (!reply.ok) {
      this.print(s.red(reply.error), 2);
      return;
    }
    const out = formatReply(reply, s);
    if (out !== null) this.print(out);
  }

  /** True when "friends now" with `user` was said a moment ago; notes it now. */
  #saidFriends(user: string): boolean {
    const now = Date.now();
    const last = this.#friendsSaid.get(user);
    this.#friendsSaid.set(user, now);
    return last !== undefined && now - last < FRIENDS_SAID_MS;
  }

  #echoOwn(reply: CommandReply, text: string): void {
    if (!reply.ok) return;
    const m = /^\/(?:msg|m|say)\s+\S+\s+([\s\S]*)$/i.exec(text);
    const body = m ? m[1]! : text;
    const room = reply.name === "say" ? reply.data.room : undefined;
    const to = reply.name === "msg" ? reply.data.to : undefined;
    if (reply.name === "msg" && reply.data.state === "sent") {
      this.#sent.set(reply.data.id, snippet(body));
      if (this.#sent.size > REMEMBERED_MESSAGES) {
        this.#sent.delete(this.#sent.keys().next().value!);
      }
    }
    const s = this.#style;
    const where = room !== undefined ? `${s.dim(`#${room}`)} ` : "";
    const prefix = `${
      s.dim(`[${clockOf(new Date().toISOString())}]`)
    } ${where}${s.user(this.#peer!.user)}: `;
    const tail = to !== undefined && to !== this.#peer!.current?.name
      ? ` ${s.dim(`→ ${to}`)}`
      : "";
    this.#entry(prefix, formatText(body, s, "") + tail);
  }

  #forget(line: string): void {
    this.#screen?.editor.forget(line);
  }
}

function same(a: Conversation, b: Conversation | null): boolean {
  return b !== null && a.kind === b.kind && a.name === b.name;
}

function label(c: Conversation): string {
  return c.kind === "room" ? `#${c.name}` : c.name;
}

async function loadHistory(home: string): Promise<string[]> {
  try {
    const text = await Deno.readTextFile(join(home, HISTORY_FILE));
    return text.split("\n").filter(Boolean).slice(-HISTORY_LINES);
  } catch {
    return [];
  }
}

/** Keeps commands (not messages, never passwords) for the next session. */
async function saveHistory(
  home: string,
  entries: readonly string[],
): Promise<void> {
  const kept = entries.filter((l) =>
    l.startsWith("/") && !SECRET_LINE.test(l) && !MESSAGE_LINE.test(l)
  ).slice(-HISTORY_LINES);
  try {
    await Deno.writeTextFile(join(home, HISTORY_FILE), kept.join("\n") + "\n", {
      mode: 0o600,
    });
  } catch {
    // History is a convenience; never fail the logout over it.
  }
}
