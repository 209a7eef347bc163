/**
 * The terminal as the shell uses it: lines printed above an input line
 * that stays whole, a status row (a transfer's progress) just above the
 * prompt, keys turned into edits or actions, and bracketed paste on while
 * it runs.
 *
 * `print` queues lines and `status` a row; keys edit at once. One flush
 * writes it all in one `write`: the input erased, the lines wrapped to the
 * width, the status row and the input drawn again. Edits flush at the next
 * microtask, so an echo never waits; lines and status changes flush at most
 * once a frame (`frameMs`), so a hundred events a second cost a few
 * redraws, not a hundred. Time and timers are injected; the only I/O is
 * the `write` it is given.
 */
import {
  KeyDecoder,
  type KeyEvent,
  type KeyTimers,
  SYSTEM_TIMERS,
} from "./keys.ts";
import { editKey, InputRenderer, LineEditor } from "./line_editor.ts";
import { warmUp } from "./text_width.ts";
import { entry, wrap } from "./wrap.ts";

/** Turns bracketed paste on (the terminal then marks pastes). */
export const PASTE_ON = "\x1b[?2004h";
/** Turns bracketed paste off again. */
export const PASTE_OFF = "\x1b[?2004l";

/** Fewest milliseconds between two flushes that only print (60 a second). */
export const FRAME_MS = 16;

/** What a key asks of the shell (editing keys are handled in the screen). */
export type ScreenAction =
  /** Enter: the line, taken out of the input (and into its history). */
  | { type: "submit"; text: string }
  /** Ctrl-C: the input was cleared; a transfer may want cancelling too. */
  | { type: "interrupt" }
  /** Ctrl-D on an empty line. */
  | { type: "eof" }
  /** Tab: complete `before` (the text before the cursor); see `complete`. */
  | { type: "complete"; before: string }
  /** Ctrl-Z. */
  | { type: "suspend" }
  /** Alt-1 to Alt-9 and Alt-0 (10): switch to that conversation. */
  | { type: "switch"; index: number }
  /** Any other key the editor does not use (Escape, F1, PageUp…). */
  | { type: "key"; key: KeyEvent };

/** What a Screen needs. */
export interface ScreenOptions {
  /** Writes to the terminal; called once per flush. */
  write(text: string): void;
  columns: number;
  rows: number;
  prompt?: string;
  /** Input history, oldest first. */
  history?: readonly string[];
  /** Timers for frames and for a lone ESC (default: the global ones). */
  timers?: KeyTimers;
  /** Milliseconds now (default performance.now). */
  now?: () => number;
  frameMs?: number;
  /** Whether the terminal reflows on resize (most do; xterm does not). */
  reflow?: boolean;
  /** Hears of actions a timeout completes (a lone ESC). */
  onLateAction?: (action: ScreenAction) => void;
}

/** Lines waiting for the next flush, wrapped then at the width of then. */
type Pending = (columns: number) => string[];

/** Lines above, status row, input: see the module comment. */
export class Screen {
  /** The input being typed. */
  readonly editor: LineEditor;
  readonly #renderer = new InputRenderer();
  readonly #decoder: KeyDecoder;
  readonly #write: (text: string) => void;
  readonly #timers: KeyTimers;
  readonly #now: () => number;
  readonly #frameMs: number;
  readonly #reflow: boolean;
  #columns: number;
  #rows: number;
  #prompt: string;
  #status: string | null = null;
  #pending: Pending[] = [];
  /** Output to write before anything else at the next flush (a resize's erase). */
  #prefix = "";
  #running = false;
  #microtask = false;
  #timer: number | undefined;
  #lastFlush = -Infinity;
  /** Flushes so far (for tests and benchmarks). */
  flushes = 0;

  constructor(options: ScreenOptions) {
    this.#write = options.write;
    this.#columns = options.columns;
    this.#rows = options.rows;
    this.#prompt = options.prompt ?? "> ";
    this.#timers = options.timers ?? SYSTEM_TIMERS;
    this.#now = options.now ?? (() => performance.now());
    this.#frameMs = options.frameMs ?? FRAME_MS;
    this.#reflow = options.reflow ?? true;
    this.editor = new LineEditor(options.history ?? []);
    warmUp();
    const late = options.onLateAction;
    this.#decoder = new KeyDecoder({
      timers: this.#timers,
      onTimeout: (events) => {
        for (const ev of events) {
          const action = this.key(ev);
          if (action && late) late(action);
        }
      },
    });
  }

  /** Terminal columns now. */
  get columns(): number {
    return this.#columns;
  }

  /** Turns bracketed paste on and draws the input. */
  start(): void {
    this.#running = true;
    this.#prefix += PASTE_ON;
    this.flush();
  }

  /**
   * Writes what is pending, takes the input and status row away and turns
   * bracketed paste off: the cursor is left at column 0 of an empty row.
   */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#decoder.close();
    this.flush();
    this.#write(this.#renderer.erase() + PASTE_OFF);
  }

  /** Before the process stops (Ctrl-Z): like stop, and `resume` undoes it. */
  suspend(): void {
    this.stop();
  }

  /** After the process continues: the terminal was someone else's meanwhile. */
  resume(): void {
    this.#renderer.forget();
    this.start();
  }

  /** Decodes input bytes; edits are applied, the rest returned as actions. */
  input(bytes: Uint8Array): ScreenAction[] {
    const actions: ScreenAction[] = [];
    for (const ev of this.#decoder.push(bytes)) {
      const action = this.key(ev);
      if (action) actions.push(action);
    }
    return actions;
  }

  /** Handles one key: an edit (null is returned) or an action for the caller. */
  key(ev: KeyEvent): ScreenAction | null {
    if (editKey(this.editor, ev)) {
      this.changed();
      return null;
    }
    if (ev.type !== "key") return null;
    const plain = !ev.ctrl && !ev.alt;
    if (plain && ev.name === "enter") {
      const text = this.editor.submit();
      this.changed();
      return { type: "submit", text };
    }
    if (plain && ev.name === "tab") {
      return { type: "complete", before: this.editor.beforeCursor };
    }
    if (ev.ctrl && !ev.alt) {
      switch (ev.name) {
        case "c":
          this.editor.clear();
          this.changed();
          return { type: "interrupt" };
        case "d":
          return { type: "eof" };
        case "z":
          return { type: "suspend" };
        case "l":
          this.clearScreen();
          return null;
      }
    }
    if (ev.alt && !ev.ctrl && /^[0-9]$/.test(ev.name)) {
      const n = Number(ev.name);
      return { type: "switch", index: n === 0 ? 10 : n };
    }
    return { type: "key", key: ev };
  }

  /** Replaces the word being completed (`length` UTF-16 units before the cursor). */
  complete(length: number, text: string): void {
    this.editor.replaceBeforeCursor(length, text);
    this.changed();
  }

  /** Says the editor changed (the shell edited it itself): drawn at once. */
  changed(): void {
    if (this.#microtask) return;
    this.#microtask = true;
    queueMicrotask(() => {
      this.#microtask = false;
      this.flush();
    });
  }

  /**
   * Prints a styled line above the input, wrapped to the width with
   * continuation rows `indent` columns in ("\n" starts a continuation).
   * The text must be safe: untrusted parts go through `sanitize` first.
   */
  print(text: string, indent = 0): void {
    this.#pending.push((columns) => wrap(text, columns, { indent }));
    this.#soon();
  }

  /** Prints an entry: a styled prefix and a safe body, continuations under the body. */
  printEntry(prefix: string, body: string): void {
    this.#pending.push((columns) => entry(prefix, body, columns));
    this.#soon();
  }

  /** Sets the row above the prompt (null: none). */
  status(row: string | null): void {
    if (row === this.#status) return;
    this.#status = row;
    this.#soon();
  }

  /** Sets the prompt. */
  setPrompt(prompt: string): void {
    if (prompt === this.#prompt) return;
    this.#prompt = prompt;
    this.changed();
  }

  /** The terminal changed size: the input is erased as it now shows and drawn again. */
  resize(columns: number, rows: number): void {
    if (columns === this.#columns && rows === this.#rows) return;
    this.#prefix += this.#renderer.resize(columns, this.#reflow);
    this.#columns = columns;
    this.#rows = rows;
    this.changed();
  }

  /** Clears the terminal (Ctrl-L) and draws the input at the top. */
  clearScreen(): void {
    this.#renderer.forget();
    this.#prefix += "\x1b[H\x1b[2J";
    this.changed();
  }

  /** Flushes within a frame of the last flush. */
  #soon(): void {
    if (this.#timer !== undefined || this.#microtask) return;
    const wait = this.#lastFlush + this.#frameMs - this.#now();
    if (wait <= 0) {
      this.changed();
      return;
    }
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, wait);
  }

  /** Writes everything pending now, in one write. */
  flush(): void {
    if (this.#timer !== undefined) {
      this.#timers.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const out: string[] = [this.#prefix];
    this.#prefix = "";
    if (this.#pending.length > 0) {
      out.push(this.#renderer.erase());
      for (const rows of this.#pending) {
        for (const row of rows(this.#columns)) out.push(row, "\r\n");
      }
      this.#pending = [];
    }
    if (this.#running) {
      out.push(this.#renderer.render(this.editor, {
        prompt: this.#prompt,
        status: this.#status,
        columns: this.#columns,
        rows: this.#rows,
      }));
    }
    const text = out.join("");
    this.#lastFlush = this.#now();
    this.flushes++;
    if (text !== "") this.#write(text);
  }
}
