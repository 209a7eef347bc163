/**
 * Output lines for a terminal and for transcripts.
 *
 * `sanitize` makes untrusted text (messages, statuses, names, reasons) safe
 * to show: escape sequences removed whole, bidirectional embeddings,
 * overrides, isolates and marks removed (they could reorder what follows on
 * the line), other control characters shown as control pictures (␇), tabs
 * as spaces, and every kind of line break turned into "\n" — which `wrap`
 * and `plainEntry` then show as an indented continuation line, so no text
 * from someone else can start a line at column 0 and pass for a line of
 * its own.
 *
 * `wrap` breaks styled text (our escape sequences, not counted) at spaces
 * to fit the terminal width, as irssi and weechat do: continuation rows are
 * indented under the start of the text, a word is broken only when it is
 * longer than a row, wide characters count two columns and may break
 * anywhere, and colours are closed at each row end and reopened after the
 * indent. Pure; linear in the length of the text.
 */
import {
  graphemes,
  graphemeWidth,
  isBidiControl,
  stripAnsi,
  styledWidth,
  visibleForm,
} from "./text_width.ts";

/** Text columns a continuation keeps at least; a wider prefix indents less. */
export const MIN_TEXT_COLUMNS = 16;

/** Indent of continuation rows when the prefix is too wide to indent under. */
export const FALLBACK_INDENT = 2;

/** Spaces a tab in untrusted text becomes. */
const TAB = "    ";

/** Escape sequences as a terminal would read them: CSI (7- and 8-bit), OSC/DCS/APC/PM strings, ESC x. */
const ESCAPES =
  // deno-lint-ignore no-control-regex
  /(?:\x1b\[|\u009b)[0-?]*[ -/]*[@-~]?|(?:\x1b[\]P_^]|[\u0090\u009d\u009e\u009f])[^\x07\x1b\u009c]*(?:\x07|\x1b\\|\u009c)?|\x1b[ -/]*[0-~]?/g;

const UNSAFE =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/**
 * Untrusted text made safe to show: see the module comment. Line breaks
 * (CR LF, CR, LF, U+2028, U+2029, VT, FF, NEL) become "\n"; nothing else
 * that moves the cursor or changes the terminal survives.
 */
export function sanitize(text: string): string {
  if (!UNSAFE.test(text)) return text;
  const unescaped = text
    // deno-lint-ignore no-control-regex
    .replace(/\r\n|[\r\u000b\u000c\u0085\u2028\u2029]/g, "\n")
    .replace(ESCAPES, "");
  let out = "";
  for (const ch of unescaped) {
    if (ch === "\n") out += ch;
    else if (ch === "\t") out += TAB;
    else if (isBidiControl(ch)) continue;
    else out += visibleForm(ch) ?? ch;
  }
  return out;
}

/** The continuation indent for a prefix `prefixWidth` columns wide. */
export function indentFor(prefixWidth: number, width: number): number {
  if (prefixWidth <= width - MIN_TEXT_COLUMNS) return prefixWidth;
  return Math.min(FALLBACK_INDENT, Math.max(0, width - 1));
}

/** Options of `wrap`. */
export interface WrapOptions {
  /** Columns of indent before each continuation row (default 0). */
  indent?: number;
}

/** A CSI or OSC sequence in trusted styled text. */
// deno-lint-ignore no-control-regex
const STYLE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/y;
// deno-lint-ignore no-control-regex
const SGR_RESET = /^\x1b\[0*m$/;

interface Piece {
  /** A grapheme to draw, or an escape sequence. */
  text: string;
  /** Columns; 0 for an escape sequence. */
  width: number;
  style: boolean;
}

/**
 * Styled text as rows of at most `width` columns (Infinity: rows break only
 * at "\n"). Every row after the first starts with `indent` spaces.
 */
export function wrap(
  styled: string,
  width: number,
  options: WrapOptions = {},
): string[] {
  const indent = Math.max(0, options.indent ?? 0);
  const rows: string[] = [];
  const w = new RowWriter(width, indent, rows);
  const lines = styled.split("\n");
  lines.forEach((line, i) => {
    if (i > 0) w.newRow();
    w.line(line);
  });
  w.end();
  return rows;
}

/** Builds rows: words placed greedily, styles carried across row ends. */
class RowWriter {
  readonly #width: number;
  readonly #indent: string;
  readonly #rows: string[];
  #row = "";
  #col = 0;
  /** Whether the row holds text yet (indent and styles aside). */
  #empty = true;
  /** SGR sequences in force (since the last reset). */
  #active: string[] = [];

  constructor(width: number, indent: number, rows: string[]) {
    this.#width = Math.max(1, width);
    // An indent that leaves no room for text would loop: cap it.
    this.#indent = " ".repeat(
      Number.isFinite(width)
        ? Math.min(indent, Math.max(0, width - 1))
        : indent,
    );
    this.#rows = rows;
  }

  /** Ends the row and starts a continuation row. */
  newRow(): void {
    this.#rows.push(
      this.#active.length > 0 ? this.#row + "\x1b[0m" : this.#row,
    );
    this.#row = this.#indent + this.#active.join("");
    this.#col = this.#indent.length;
    this.#empty = true;
  }

  end(): void {
    this.#rows.push(this.#row);
  }

  #style(seq: string): void {
    this.#row += seq;
    if (!seq.endsWith("m")) return;
    if (SGR_RESET.test(seq)) this.#active = [];
    else this.#active.push(seq);
  }

  #put(p: Piece): void {
    if (p.style) this.#style(p.text);
    else {
      this.#row += p.text;
      this.#col += p.width;
      this.#empty = false;
    }
  }

  /** Places one logical line (no "\n" in it), breaking it into rows. */
  line(line: string): void {
    const pieces = split(line);
    let i = 0;
    const n = pieces.length;
    while (i < n) {
      // A run of spaces, then a word: non-spaces up to the next space, or
      // a single wide character (text in CJK may break between any two).
      const spaceStart = i;
      let spaceWidth = 0;
      while (i < n && (pieces[i]!.style || pieces[i]!.text === " ")) {
        spaceWidth += pieces[i]!.width;
        i++;
      }
      const wordStart = i;
      let wordWidth = 0;
      while (i < n && pieces[i]!.text !== " ") {
        const p = pieces[i]!;
        if (p.width === 2 && wordWidth > 0) break;
        wordWidth += p.width;
        i++;
        if (p.width === 2) break;
      }
      // Styles at the end of a word stay with it.
      while (i < n && pieces[i]!.style) i++;
      this.#place(pieces, spaceStart, wordStart, i, spaceWidth, wordWidth);
    }
  }

  #place(
    pieces: Piece[],
    spaceStart: number,
    wordStart: number,
    end: number,
    spaceWidth: number,
    wordWidth: number,
  ): void {
    const room = this.#width - this.#col;
    if (spaceWidth + wordWidth <= room) {
      for (let k = spaceStart; k < end; k++) this.#put(pieces[k]!);
      return;
    }
    const fresh = this.#width - this.#indent.length;
    // Spaces where the row breaks are dropped (their styles kept).
    const keepSpaces = () => {
      for (let k = spaceStart; k < wordStart; k++) {
        if (pieces[k]!.style) this.#put(pieces[k]!);
      }
    };
    if (wordWidth <= fresh) {
      keepSpaces();
      if (!this.#empty) this.newRow();
      for (let k = wordStart; k < end; k++) this.#put(pieces[k]!);
      return;
    }
    // Longer than a row: the spaces that fit, then the word broken by
    // grapheme, starting on this row.
    if (spaceWidth <= room) {
      for (let k = spaceStart; k < wordStart; k++) this.#put(pieces[k]!);
    } else keepSpaces();
    for (let k = wordStart; k < end; k++) {
      const p = pieces[k]!;
      if (!p.style && this.#col + p.width > this.#width && !this.#empty) {
        this.newRow();
      }
      this.#put(p);
    }
  }
}

/** Styled text as graphemes and escape sequences. */
function split(line: string): Piece[] {
  const pieces: Piece[] = [];
  let at = 0;
  let text = "";
  const flush = () => {
    if (!text) return;
    for (const g of graphemes(text)) {
      const shown = visibleForm(g);
      pieces.push({
        text: shown ?? g,
        width: shown !== null ? shown.length : graphemeWidth(g),
        style: false,
      });
    }
    text = "";
  };
  while (at < line.length) {
    const esc = line.indexOf("\x1b", at);
    if (esc < 0) {
      text += line.slice(at);
      break;
    }
    text += line.slice(at, esc);
    STYLE.lastIndex = esc;
    const m = STYLE.exec(line);
    if (m === null) {
      // A lone ESC in trusted text is shown, never sent raw.
      text += "\x1b";
      at = esc + 1;
      continue;
    }
    flush();
    pieces.push({ text: m[0], width: 0, style: true });
    at = esc + m[0].length;
  }
  flush();
  return pieces;
}

/**
 * One entry for the terminal: a trusted styled `prefix` ("[20:14] alice: ")
 * and a `body` already made safe (by `sanitize`, then styled), wrapped to
 * `width` with continuation rows under the body's start (indented less when
 * the prefix is too wide to leave room, and never at column 0).
 */
export function entry(prefix: string, body: string, width: number): string[] {
  const indent = Math.max(
    1,
    indentFor(styledWidth(prefix), width),
  );
  return wrap(prefix + body, width, { indent });
}

/**
 * One entry for a transcript: plain text without escape sequences, the
 * untrusted `body` sanitised, its lines after the first indented by
 * `indent` spaces (never at column 0). Not wrapped: readers wrap files.
 */
export function plainEntry(
  prefix: string,
  body: string,
  indent = 4,
): string[] {
  const pad = " ".repeat(Math.max(1, indent));
  const lines = sanitize(body).split("\n");
  return lines.map((l, i) => i === 0 ? stripAnsi(prefix) + l : pad + l);
}
