/**
 * Terminal input bytes to key events, push-style: `push(chunk)` returns the
 * events the chunk completes, whatever the chunk boundaries (inside an
 * escape sequence, inside a UTF-8 character, inside a paste).
 *
 * It knows printable text, Enter, Tab, Backspace, Ctrl and Alt combinations,
 * arrows, Home/End/Delete/PageUp/PageDown in their xterm, VT220, rxvt and
 * Linux console encodings, function keys, CSI u, and bracketed paste
 * (ESC[200~ … ESC[201~ becomes one paste event, found in one linear pass).
 * A sequence it does not know is swallowed whole, never passed on as text.
 * An ESC with nothing after it is the Escape key once `flush()` is called,
 * which the injected timer does after `escapeTimeoutMs`. Does no I/O.
 */

/** What a key press or a paste turned into. */
export type KeyEvent =
  /** Printable text typed (no control characters in it). */
  | { type: "text"; text: string }
  /**
   * A bracketed paste, decoded as UTF-8, line breaks as "\n". `truncated`
   * when it was longer than the decoder keeps (`maxPasteBytes`).
   */
  | { type: "paste"; text: string; truncated: boolean }
  /** A named key with its modifiers: "enter", "left", "f5", or "a" with ctrl. */
  | { type: "key"; name: KeyName; ctrl: boolean; alt: boolean; shift: boolean };

/**
 * Key names: "enter", "tab", "backspace", "delete", "escape", "insert",
 * "up", "down", "left", "right", "home", "end", "pageup", "pagedown",
 * "f1" to "f12", "space" (Ctrl-Space), or the character itself for Ctrl
 * and Alt combinations ("a" with ctrl for Ctrl-A, "1" with alt for Alt-1).
 */
export type KeyName = string;

/** The most bytes of one paste kept; the rest is dropped and the event says so. */
export const MAX_PASTE_BYTES = 16 * 1024 * 1024;

/** How long a lone ESC waits for the rest of a sequence, by default. */
export const ESCAPE_TIMEOUT_MS = 100;

/** The longest escape sequence read; a longer one is swallowed whole. */
const MAX_SEQUENCE_BYTES = 64;

const ESC = 0x1b;
const PASTE_END = new Uint8Array([ESC, 0x5b, 0x32, 0x30, 0x31, 0x7e]);

/** Timer functions, injected so tests need no sleeps. */
export interface KeyTimers {
  setTimeout(fn: () => void, ms: number): number;
  clearTimeout(id: number | undefined): void;
}

/** The global timers, as KeyTimers. */
export const SYSTEM_TIMERS: KeyTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as number,
  clearTimeout: (id) => clearTimeout(id),
};

/** Options of a KeyDecoder. */
export interface KeyDecoderOptions {
  /** How long a lone ESC waits before it counts as the Escape key. */
  escapeTimeoutMs?: number;
  /** Timers for that wait (default: the global ones). */
  timers?: KeyTimers;
  /**
   * Receives the events a timeout completes. Without it nothing is armed
   * and the caller calls `flush()` itself.
   */
  onTimeout?: (events: KeyEvent[]) => void;
  /** The most bytes of one paste kept (default MAX_PASTE_BYTES). */
  maxPasteBytes?: number;
}

type State =
  | "ground"
  /** After ESC. */
  | "esc"
  /** After ESC [ (with parameter bytes in #seq). */
  | "csi"
  /** After ESC O. */
  | "ss3"
  /** After ESC [ [ (Linux console F1-F5): one more byte. */
  | "linux"
  /** After ESC ] or ESC P: a string up to BEL or ESC \ (a terminal's reply). */
  | "string"
  | "string-esc"
  /** Inside a bracketed paste. */
  | "paste";

function key(
  name: KeyName,
  mods: { ctrl?: boolean; alt?: boolean; shift?: boolean } = {},
): KeyEvent {
  return {
    type: "key",
    name,
    ctrl: mods.ctrl ?? false,
    alt: mods.alt ?? false,
    shift: mods.shift ?? false,
  };
}

/** Modifiers of an xterm parameter (1 + shift 1 + alt 2 + ctrl 4 + meta 8). */
function modifiers(
  param: number | undefined,
): { ctrl: boolean; alt: boolean; shift: boolean } {
  const m = param === undefined || !(param >= 1) ? 0 : param - 1;
  return {
    shift: (m & 1) !== 0,
    alt: (m & 2) !== 0 || (m & 8) !== 0,
    ctrl: (m & 4) !== 0,
  };
}

/** The key a control byte (0x00-0x1f, 0x7f) stands for. */
function controlKey(b: number, alt: boolean): KeyEvent {
  switch (b) {
    case 0x0d:
    case 0x0a:
      return key("enter", { alt });
    case 0x09:
      return key("tab", { alt });
    case 0x08:
    case 0x7f:
      return key("backspace", { alt });
    case 0x00:
      return key("space", { ctrl: true, alt });
    case ESC:
      return key("escape", { alt });
    default:
      // 0x01-0x1a are Ctrl-A to Ctrl-Z; 0x1c-0x1f Ctrl-\ ] ^ _.
      return key(String.fromCharCode(b <= 0x1a ? b + 0x60 : b + 0x40), {
        ctrl: true,
        alt,
      });
  }
}

/** Final bytes shared by CSI and SS3 for cursor and keypad keys. */
const LETTER_KEYS: Record<string, KeyName> = {
  A: "up",
  B: "down",
  C: "right",
  D: "left",
  H: "home",
  F: "end",
  E: "clear",
  P: "f1",
  Q: "f2",
  R: "f3",
  S: "f4",
};

/** VT220 `CSI n ~` codes. */
const TILDE_KEYS: Record<number, KeyName> = {
  1: "home",
  2: "insert",
  3: "delete",
  4: "end",
  5: "pageup",
  6: "pagedown",
  7: "home",
  8: "end",
  11: "f1",
  12: "f2",
  13: "f3",
  14: "f4",
  15: "f5",
  17: "f6",
  18: "f7",
  19: "f8",
  20: "f9",
  21: "f10",
  23: "f11",
  24: "f12",
};

/** Application keypad (SS3) keys that type a character. */
const KEYPAD_TEXT: Record<string, string> = {
  j: "*",
  k: "+",
  l: ",",
  m: "-",
  n: ".",
  o: "/",
  p: "0",
  q: "1",
  r: "2",
  s: "3",
  t: "4",
  u: "5",
  v: "6",
  w: "7",
  x: "8",
  y: "9",
  X: "=",
};

/** A growable byte buffer with amortised O(1) appends (a paste's bytes). */
class Bytes {
  #buf = new Uint8Array(256);
  length = 0;

  append(part: Uint8Array): void {
    if (this.length + part.length > this.#buf.length) {
      let size = this.#buf.length * 2;
      while (size < this.length + part.length) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.#buf.subarray(0, this.length));
      this.#buf = next;
    }
    this.#buf.set(part, this.length);
    this.length += part.length;
  }

  view(): Uint8Array {
    return this.#buf.subarray(0, this.length);
  }
}

/** Decodes terminal input into key events; see the module comment. */
export class KeyDecoder {
  #state: State = "ground";
  /** Parameter and intermediate bytes of the sequence being read. */
  #seq = "";
  #seqBytes = 0;
  /** A CR was the last byte: an LF right after it is the same Enter. */
  #afterCR = false;
  readonly #text = new TextDecoder("utf-8", { fatal: false });
  /** Whether the UTF-8 decoder may hold the start of a character. */
  #textPending = false;
  #paste: Bytes | null = null;
  #pasteDropped = false;
  /** Bytes of PASTE_END matched at the end of what was read. */
  #pasteMatched = 0;
  readonly #timeoutMs: number;
  readonly #maxPaste: number;
  readonly #timers: KeyTimers;
  readonly #onTimeout: ((events: KeyEvent[]) => void) | null;
  #timer: number | undefined;

  constructor(options: KeyDecoderOptions = {}) {
    this.#timeoutMs = options.escapeTimeoutMs ?? ESCAPE_TIMEOUT_MS;
    this.#timers = options.timers ?? SYSTEM_TIMERS;
    this.#onTimeout = options.onTimeout ?? null;
    this.#maxPaste = options.maxPasteBytes ?? MAX_PASTE_BYTES;
  }

  /** Whether an escape sequence is half read (the Escape key, or a split chunk). */
  get waiting(): boolean {
    return this.#state !== "ground" && this.#state !== "paste";
  }

  /** Whether a bracketed paste has started and not yet ended. */
  get pasting(): boolean {
    return this.#state === "paste";
  }

  /** Decodes one chunk; returns the events it completes, in order. */
  push(chunk: Uint8Array): KeyEvent[] {
    if (this.#timer !== undefined) {
      this.#timers.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const out: KeyEvent[] = [];
    let runStart = -1;
    const endRun = (end: number) => {
      if (runStart < 0) return;
      this.#emitText(out, chunk.subarray(runStart, end), true);
      runStart = -1;
    };
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.#state === "paste") {
        i = this.#pasteBytes(chunk, i, out) - 1;
        continue;
      }
      if (this.#state === "ground") {
        if (b >= 0x20 && b !== 0x7f) {
          if (runStart < 0) runStart = i;
          this.#afterCR = false;
          continue;
        }
        endRun(i);
        this.#flushText(out);
        if (b === 0x0a && this.#afterCR) {
          this.#afterCR = false;
          continue;
        }
        this.#afterCR = b === 0x0d;
        if (b === ESC) {
          this.#state = "esc";
          continue;
        }
        out.push(controlKey(b, false));
        continue;
      }
      this.#afterCR = false;
      // Reprocess a byte that ended a sequence it did not belong to.
      if (!this.#sequenceByte(b, out)) i--;
    }
    endRun(chunk.length);
    if (this.waiting && this.#onTimeout) {
      this.#timer = this.#timers.setTimeout(() => {
        this.#timer = undefined;
        const events = this.flush();
        if (events.length) this.#onTimeout!(events);
      }, this.#timeoutMs);
    }
    return out;
  }

  /**
   * Ends a half-read sequence now: a lone ESC is the Escape key, ESC [ and
   * ESC O are Alt-[ and Alt-O, anything longer is dropped. Text held for an
   * unfinished UTF-8 character becomes U+FFFD. A paste in progress goes on.
   */
  flush(): KeyEvent[] {
    const out: KeyEvent[] = [];
    if (this.#timer !== undefined) {
      this.#timers.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#state === "esc") out.push(key("escape"));
    else if (this.#state === "csi" && this.#seqBytes === 0) {
      out.push(key("[", { alt: true }));
    } else if (this.#state === "ss3" && this.#seqBytes === 0) {
      out.push(key("O", { alt: true, shift: true }));
    }
    if (this.#state !== "paste") this.#state = "ground";
    this.#seq = "";
    this.#seqBytes = 0;
    this.#flushText(out);
    return out;
  }

  /** Cancels the escape timer (the decoder can still be used). */
  close(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #emitText(out: KeyEvent[], bytes: Uint8Array, stream: boolean): void {
    let text = this.#text.decode(bytes, { stream });
    this.#textPending = stream && bytes.length > 0;
    // C1 controls arrive as UTF-8 too; they never reach the screen.
    if (/[\u0080-\u009f]/.test(text)) {
      text = text.replace(/[\u0080-\u009f]/g, "");
    }
    if (text.length === 0) return;
    const last = out[out.length - 1];
    if (last?.type === "text") last.text += text;
    else out.push({ type: "text", text });
  }

  /** Ends a UTF-8 character cut short by a control byte: U+FFFD. */
  #flushText(out: KeyEvent[]): void {
    if (!this.#textPending) return;
    this.#textPending = false;
    this.#emitText(out, new Uint8Array(0), false);
  }

  /**
   * One byte of an escape sequence. Returns false when the byte does not
   * belong to it (the sequence is then over and the byte read again).
   */
  #sequenceByte(b: number, out: KeyEvent[]): boolean {
    switch (this.#state) {
      case "esc":
        return this.#afterEsc(b, out);
      case "csi":
        return this.#csiByte(b, out);
      case "ss3":
        return this.#ss3Byte(b, out);
      case "linux":
        this.#state = "ground";
        if (b >= 0x41 && b <= 0x45) out.push(key(`f${b - 0x40}`));
        return b >= 0x20;
      case "string":
        if (b === 0x07) this.#state = "ground";
        else if (b === ESC) this.#state = "string-esc";
        else if (++this.#seqBytes > 4096) this.#state = "ground";
        return true;
      case "string-esc":
        // ESC \ ends the string; any other ESC x ends it too, read afresh.
        this.#state = "ground";
        if (b === 0x5c) return true;
        this.#state = "esc";
        return false;
      default:
        return false;
    }
  }

  #afterEsc(b: number, out: KeyEvent[]): boolean {
    this.#seq = "";
    this.#seqBytes = 0;
    if (b === 0x5b) {
      this.#state = "csi";
      return true;
    }
    if (b === 0x4f) {
      this.#state = "ss3";
      return true;
    }
    if (b === 0x5d || b === 0x50 || b === 0x5f || b === 0x5e) {
      // OSC, DCS, APC, PM: replies to queries, never keys.
      this.#state = "string";
      return true;
    }
    this.#state = "ground";
    if (b === ESC) {
      // ESC ESC: the first is the Escape key; the second starts afresh.
      out.push(key("escape"));
      return false;
    }
    if (b < 0x20 || b === 0x7f) {
      out.push(controlKey(b, true));
      return true;
    }
    if (b < 0x7f) {
      const ch = String.fromCharCode(b);
      out.push(key(ch, { alt: true, shift: ch !== ch.toLowerCase() }));
      return true;
    }
    // ESC before a non-ASCII character: the Escape key, then the text.
    out.push(key("escape"));
    return false;
  }

  #csiByte(b: number, out: KeyEvent[]): boolean {
    if (b === 0x5b && this.#seqBytes === 0) {
      this.#state = "linux";
      return true;
    }
    if (b >= 0x20 && b <= 0x3f && b !== 0x24) {
      // Parameter and intermediate bytes; a runaway sequence is dropped.
      if (++this.#seqBytes > MAX_SEQUENCE_BYTES) this.#state = "ground";
      else this.#seq += String.fromCharCode(b);
      return true;
    }
    this.#state = "ground";
    // rxvt ends modified keys with $ (shift) ^ (ctrl) @ (both).
    if ((b >= 0x40 && b <= 0x7e) || b === 0x24) {
      this.#csiFinal(String.fromCharCode(b), out);
      return true;
    }
    // Not part of a sequence (a control byte, say): drop what was read.
    return false;
  }

  #csiFinal(final: string, out: KeyEvent[]): void {
    const params = this.#seq.split(";").map((p) =>
      p === "" ? undefined : Number.parseInt(p, 10)
    );
    const private_ = /^[<=>?]/.test(this.#seq);
    if (private_) return; // Mouse and terminal reports: not keys.
    const letter = LETTER_KEYS[final];
    if (letter !== undefined) {
      out.push(key(letter, modifiers(params[1])));
      return;
    }
    if (final === "~" || final === "$" || final === "^" || final === "@") {
      const code = params[0] ?? 0;
      if (final === "~" && code === 200) {
        this.#state = "paste";
        this.#paste = new Bytes();
        this.#pasteDropped = false;
        this.#pasteMatched = 0;
        return;
      }
      const name = TILDE_KEYS[code];
      if (name === undefined) return;
      const mods = final === "~" ? modifiers(params[1]) : {
        shift: final !== "^",
        ctrl: final !== "$",
        alt: false,
      };
      out.push(key(name, mods));
      return;
    }
    if (final === "Z") {
      out.push(key("tab", { shift: true }));
      return;
    }
    if (final >= "a" && final <= "d" && params.length === 1) {
      // rxvt: shifted arrows.
      out.push(key(LETTER_KEYS[final.toUpperCase()]!, { shift: true }));
      return;
    }
    if (final === "u" && params[0] !== undefined) {
      this.#csiU(params[0], modifiers(params[1]), out);
    }
    // Anything else is a sequence this decoder does not know: swallowed.
  }

  /** CSI code ; mods u (the fixterms / kitty encoding). */
  #csiU(
    code: number,
    mods: { ctrl: boolean; alt: boolean; shift: boolean },
    out: KeyEvent[],
  ): void {
    const named: Record<number, KeyName> = {
      13: "enter",
      9: "tab",
      127: "backspace",
      8: "backspace",
      27: "escape",
    };
    const name = named[code];
    if (name !== undefined) {
      out.push(key(name, mods));
      return;
    }
    if (code < 0x20 || code > 0x10ffff || (code >= 0x7f && code < 0xa0)) {
      return;
    }
    const ch = String.fromCodePoint(code);
    if (!mods.ctrl && !mods.alt) out.push({ type: "text", text: ch });
    else out.push(key(ch.toLowerCase(), mods));
  }

  #ss3Byte(b: number, out: KeyEvent[]): boolean {
    if ((b >= 0x30 && b <= 0x39) || b === 0x3b) {
      if (++this.#seqBytes > MAX_SEQUENCE_BYTES) this.#state = "ground";
      else this.#seq += String.fromCharCode(b);
      return true;
    }
    this.#state = "ground";
    if (b < 0x40 || b > 0x7e) return false;
    const final = String.fromCharCode(b);
    const last = this.#seq.split(";").pop()!;
    const mods = modifiers(last === "" ? undefined : Number(last));
    const letter = LETTER_KEYS[final];
    if (letter !== undefined) out.push(key(letter, mods));
    else if (final === "M") out.push(key("enter"));
    else if (final >= "a" && final <= "d") {
      // rxvt: Ctrl-arrows.
      out.push(key(LETTER_KEYS[final.toUpperCase()]!, { ctrl: true }));
    } else if (KEYPAD_TEXT[final] !== undefined) {
      out.push({ type: "text", text: KEYPAD_TEXT[final]! });
    }
    return true;
  }

  /**
   * Paste bytes from `chunk[from]` on, up to and including ESC[201~ if it
   * is in this chunk. Returns the index after the last byte consumed.
   */
  #pasteBytes(chunk: Uint8Array, from: number, out: KeyEvent[]): number {
    let runStart = this.#pasteMatched > 0 ? -1 : from;
    for (let i = from; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === PASTE_END[this.#pasteMatched]) {
        if (this.#pasteMatched === 0) {
          if (runStart >= 0) this.#keep(chunk.subarray(runStart, i));
          runStart = -1;
        }
        if (++this.#pasteMatched === PASTE_END.length) {
          this.#endPaste(out);
          return i + 1;
        }
        continue;
      }
      if (this.#pasteMatched > 0) {
        // A partial match was paste data after all.
        this.#keep(PASTE_END.subarray(0, this.#pasteMatched));
        this.#pasteMatched = 0;
        if (b === ESC) {
          this.#pasteMatched = 1;
          continue;
        }
        runStart = i;
      }
    }
    if (runStart >= 0) this.#keep(chunk.subarray(runStart));
    return chunk.length;
  }

  #keep(bytes: Uint8Array): void {
    const paste = this.#paste!;
    const room = this.#maxPaste - paste.length;
    if (bytes.length > room) {
      this.#pasteDropped = true;
      if (room > 0) paste.append(bytes.subarray(0, room));
      return;
    }
    paste.append(bytes);
  }

  #endPaste(out: KeyEvent[]): void {
    const raw = new TextDecoder().decode(this.#paste!.view());
    out.push({
      type: "paste",
      text: raw.replace(/\r\n?/g, "\n"),
      truncated: this.#pasteDropped,
    });
    this.#paste = null;
    this.#pasteMatched = 0;
    this.#state = "ground";
  }
}
