/**
 * The line being typed and how it is drawn.
 *
 * `LineEditor` is the editing buffer, by grapheme: what a person sees as one
 * character (👍🏽, 世, é) is inserted, deleted and stepped over as one.
 * It keeps a history whose up/down keep the line being drafted, and one kill
 * buffer for Ctrl-K/U/W and Ctrl-Y.
 *
 * `InputRenderer` turns the buffer into terminal output: the prompt and the
 * text over as many rows as they need (a wide character never split across
 * the row edge; explicit line breaks between rows, so terminals never
 * reflow the input on their own), an optional status row above them, and
 * the cursor where the editor's cursor is. It remembers what it drew, so an
 * update writes only what changed: typing at the end writes the new
 * characters, an edit in the middle rewrites from there on. `erase()` takes
 * it all away so the caller can print lines in its place and draw it again.
 * An input taller than the terminal shows the rows around the cursor. Pure:
 * both return strings of ANSI for the caller to write.
 */
import {
  editorForm,
  editorWidth,
  graphemes,
  graphemeWidth,
  stripAnsi,
  styledWidth,
  truncateText,
} from "./text_width.ts";
import type { KeyEvent } from "./keys.ts";

/** Entries a history keeps by default. */
export const HISTORY_SIZE = 500;

const WORD = /^[\p{L}\p{N}\p{M}_]/u;
const SPACE = /^\s/u;

/** The editing buffer: graphemes, a cursor between them, history, kill buffer. */
export class LineEditor {
  #chars: string[] = [];
  #widths: number[] = [];
  #cursor = 0;
  /** The lowest grapheme index changed since `markDrawn()`. */
  #dirty = 0;
  #killed = "";
  readonly #history: string[];
  readonly #historySize: number;
  /** Which history entry is shown; history.length for the draft. */
  #at: number;
  #draft = "";

  /** `history` is oldest first; it is kept to `historySize` entries. */
  constructor(history: readonly string[] = [], historySize = HISTORY_SIZE) {
    this.#historySize = historySize;
    this.#history = history.slice(-historySize);
    this.#at = this.#history.length;
  }

  /** The whole text. */
  get text(): string {
    return this.#chars.join("");
  }

  /** Number of graphemes. */
  get length(): number {
    return this.#chars.length;
  }

  /** The cursor, as a grapheme index (0 to length). */
  get cursor(): number {
    return this.#cursor;
  }

  /** The graphemes, for drawing. */
  get chars(): readonly string[] {
    return this.#chars;
  }

  /** The columns each grapheme takes, for drawing. */
  get widths(): readonly number[] {
    return this.#widths;
  }

  /** History entries, oldest first. */
  get history(): readonly string[] {
    return this.#history;
  }

  /** The text before the cursor (what completion looks at). */
  get beforeCursor(): string {
    return this.#chars.slice(0, this.#cursor).join("");
  }

  /** The lowest grapheme index whose text changed since `markDrawn()`. */
  get dirtyFrom(): number {
    return this.#dirty;
  }

  /** Says everything is drawn (the renderer calls it). */
  markDrawn(): void {
    this.#dirty = this.#chars.length;
  }

  #touch(i: number): void {
    if (i < this.#dirty) this.#dirty = i;
  }

  /**
   * Replaces graphemes [from, to) with `text`, segmenting it together with
   * its neighbours (a skin tone typed after 👍 joins it); the cursor goes
   * after the inserted text.
   */
  #splice(from: number, to: number, text: string): void {
    const lo = from > 0 ? from - 1 : from;
    const hi = to < this.#chars.length ? to + 1 : to;
    const before = lo < from ? this.#chars[lo]! : "";
    const after = hi > to ? this.#chars[to]! : "";
    const segs = before === "" && after === "" && text === ""
      ? []
      : graphemes(before + text + after);
    this.#chars.splice(lo, hi - lo, ...segs);
    this.#widths.splice(lo, hi - lo, ...segs.map(editorWidth));
    // The cursor goes to the first boundary at or after the inserted text.
    const target = before.length + text.length;
    let offset = 0;
    let i = 0;
    while (i < segs.length && offset < target) offset += segs[i++]!.length;
    this.#cursor = lo + i;
    // Typing after a character leaves it as it was, unless the two joined.
    this.#touch(before !== "" && segs[0] === before ? lo + 1 : lo);
  }

  /** Inserts text at the cursor. */
  insert(text: string): void {
    if (text === "") return;
    if (text.length > 4096) {
      // A large paste: one segmentation, one splice, no neighbour join worries.
      const segs = graphemes(text);
      const at = this.#cursor;
      this.#chars.splice(at, 0, ...segs);
      this.#widths.splice(at, 0, ...segs.map(editorWidth));
      this.#cursor = at + segs.length;
      this.#touch(at);
      this.#rejoin(at);
      this.#rejoin(this.#cursor);
      return;
    }
    this.#splice(this.#cursor, this.#cursor, text);
  }

  /** Segments graphemes i-1 and i together again if they now join. */
  #rejoin(i: number): void {
    if (i <= 0 || i >= this.#chars.length) return;
    const joined = graphemes(this.#chars[i - 1]! + this.#chars[i]!);
    if (joined.length === 2) return;
    const cursorAfter = this.#cursor > i - 1;
    this.#chars.splice(i - 1, 2, ...joined);
    this.#widths.splice(i - 1, 2, ...joined.map(editorWidth));
    if (cursorAfter) this.#cursor -= 2 - joined.length;
    this.#touch(i - 1);
  }

  #remove(from: number, to: number): string {
    if (from >= to) return "";
    const removed = this.#chars.slice(from, to).join("");
    this.#chars.splice(from, to - from);
    this.#widths.splice(from, to - from);
    this.#cursor = from;
    this.#touch(from);
    this.#rejoin(from);
    return removed;
  }

  /** Deletes the grapheme before the cursor; false when there is none. */
  backspace(): boolean {
    if (this.#cursor === 0) return false;
    this.#remove(this.#cursor - 1, this.#cursor);
    return true;
  }

  /** Deletes the grapheme under the cursor; false when there is none. */
  deleteForward(): boolean {
    if (this.#cursor >= this.#chars.length) return false;
    this.#remove(this.#cursor, this.#cursor + 1);
    return true;
  }

  /** Moves one grapheme left. */
  left(): boolean {
    if (this.#cursor === 0) return false;
    this.#cursor--;
    return true;
  }

  /** Moves one grapheme right. */
  right(): boolean {
    if (this.#cursor >= this.#chars.length) return false;
    this.#cursor++;
    return true;
  }

  /** Moves to the start. */
  home(): boolean {
    const moved = this.#cursor !== 0;
    this.#cursor = 0;
    return moved;
  }

  /** Moves to the end. */
  end(): boolean {
    const moved = this.#cursor !== this.#chars.length;
    this.#cursor = this.#chars.length;
    return moved;
  }

  #isWord(i: number): boolean {
    return WORD.test(this.#chars[i]!);
  }

  #isSpace(i: number): boolean {
    return SPACE.test(this.#chars[i]!);
  }

  /** Where the word before the cursor starts (letters, digits, marks, _). */
  #wordStart(): number {
    let i = this.#cursor;
    while (i > 0 && !this.#isWord(i - 1)) i--;
    while (i > 0 && this.#isWord(i - 1)) i--;
    return i;
  }

  /** Where the word after the cursor ends. */
  #wordEnd(): number {
    let i = this.#cursor;
    const n = this.#chars.length;
    while (i < n && !this.#isWord(i)) i++;
    while (i < n && this.#isWord(i)) i++;
    return i;
  }

  /** Moves to the start of this or the previous word (Alt-B, Ctrl-Left). */
  wordLeft(): boolean {
    const to = this.#wordStart();
    const moved = to !== this.#cursor;
    this.#cursor = to;
    return moved;
  }

  /** Moves to the end of this or the next word (Alt-F, Ctrl-Right). */
  wordRight(): boolean {
    const to = this.#wordEnd();
    const moved = to !== this.#cursor;
    this.#cursor = to;
    return moved;
  }

  #kill(from: number, to: number): boolean {
    if (from >= to) return false;
    this.#killed = this.#remove(from, to);
    return true;
  }

  /** Deletes from the start to the cursor (Ctrl-U). */
  killToStart(): boolean {
    return this.#kill(0, this.#cursor);
  }

  /** Deletes from the cursor to the end (Ctrl-K). */
  killToEnd(): boolean {
    return this.#kill(this.#cursor, this.#chars.length);
  }

  /** Deletes back to the previous space-separated word start (Ctrl-W). */
  killSpaceWordBack(): boolean {
    let i = this.#cursor;
    while (i > 0 && this.#isSpace(i - 1)) i--;
    while (i > 0 && !this.#isSpace(i - 1)) i--;
    return this.#kill(i, this.#cursor);
  }

  /** Deletes back to the start of the word (Alt-Backspace). */
  killWordBack(): boolean {
    return this.#kill(this.#wordStart(), this.#cursor);
  }

  /** Deletes to the end of the word (Alt-D). */
  killWordForward(): boolean {
    const end = this.#wordEnd();
    const from = this.#cursor;
    if (!this.#kill(from, end)) return false;
    this.#cursor = from;
    return true;
  }

  /** Inserts the text last deleted by a kill (Ctrl-Y). */
  yank(): boolean {
    if (this.#killed === "") return false;
    this.insert(this.#killed);
    return true;
  }

  /**
   * Replaces the `length` UTF-16 units before the cursor (whole graphemes,
   * rounded up) with `text`: what a completion does to the word typed.
   */
  replaceBeforeCursor(length: number, text: string): void {
    let from = this.#cursor;
    let units = 0;
    while (from > 0 && units < length) units += this.#chars[--from]!.length;
    this.#remove(from, this.#cursor);
    this.insert(text);
  }

  /** Replaces the whole text; the cursor goes to the end. */
  setText(text: string): void {
    this.#chars = graphemes(text);
    this.#widths = this.#chars.map(editorWidth);
    this.#cursor = this.#chars.length;
    this.#dirty = 0;
  }

  /** Empties the line (Ctrl-C); the history position returns to the draft. */
  clear(): void {
    this.setText("");
    this.#at = this.#history.length;
    this.#draft = "";
  }

  /** Shows the previous history entry, keeping the draft; false at the oldest. */
  historyUp(): boolean {
    if (this.#at === 0) return false;
    if (this.#at === this.#history.length) this.#draft = this.text;
    this.#at--;
    this.setText(this.#history[this.#at]!);
    return true;
  }

  /** Shows the next history entry, or the draft again; false at the draft. */
  historyDown(): boolean {
    if (this.#at >= this.#history.length) return false;
    this.#at++;
    this.setText(
      this.#at === this.#history.length
        ? this.#draft
        : this.#history[this.#at]!,
    );
    return true;
  }

  /**
   * Takes the line (Enter): returns its text, adds it to the history (not
   * blank lines, nor a repeat of the last entry) and empties the buffer.
   */
  submit(): string {
    const text = this.text;
    if (
      text.trim() !== "" && this.#history[this.#history.length - 1] !== text
    ) {
      this.#history.push(text);
      if (this.#history.length > this.#historySize) this.#history.shift();
    }
    this.clear();
    return text;
  }

  /**
   * Drops the newest history entry equal to `text` (a line that carried a
   * password); the history is then shown from its newest entry again.
   */
  forget(text: string): void {
    const i = this.#history.lastIndexOf(text);
    if (i >= 0) this.#history.splice(i, 1);
    this.#at = this.#history.length;
    this.#draft = "";
  }
}

/** What the renderer draws besides the buffer. */
export interface InputView {
  /** The prompt, possibly styled (escape sequences are not counted). */
  prompt: string;
  /** A row above the prompt (a transfer's progress), or null for none. */
  status: string | null;
  /** Terminal columns. */
  columns: number;
  /** Terminal rows; the input shows at most rows - 1 of its own rows. */
  rows: number;
}

const CSI = "\x1b[";

/** The cursor move from one block position to another (rows drawn exist). */
function move(
  fromRow: number,
  fromCol: number,
  toRow: number,
  toCol: number,
): string {
  let s = "";
  if (toRow < fromRow) {
    s += toRow === fromRow - 1 ? `${CSI}A` : `${CSI}${fromRow - toRow}A`;
  } else if (toRow > fromRow) {
    s += toRow === fromRow + 1 ? `${CSI}B` : `${CSI}${toRow - fromRow}B`;
  }
  if (toCol === fromCol) return s;
  if (toCol === 0) return s + "\r";
  if (toCol > fromCol) {
    return s +
      (toCol === fromCol + 1 ? `${CSI}C` : `${CSI}${toCol - fromCol}C`);
  }
  return s + (toCol === fromCol - 1 ? `${CSI}D` : `${CSI}${fromCol - toCol}D`);
}

/**
 * How a hard line of cells (their widths) re-wraps at `columns`, as a
 * terminal that reflows does it (a wide cell that no longer fits moves to
 * the next row): the rows it takes and where the position `at` columns in
 * lands.
 */
export function reflow(
  cells: readonly number[],
  columns: number,
  at: number,
): { rows: number; atRow: number; atCol: number } {
  let row = 0;
  let col = 0;
  let offset = 0;
  for (const w of cells) {
    if (col > 0 && col + w > columns) {
      row++;
      col = 0;
    }
    if (offset >= at) return { rows: -1, atRow: row, atCol: col };
    col += w;
    offset += w;
  }
  return { rows: row + 1, atRow: row, atCol: Math.min(col, columns - 1) };
}

function rowsOf(cells: readonly number[], columns: number): number {
  let row = 0;
  let col = 0;
  for (const w of cells) {
    if (col > 0 && col + w > columns) {
      row++;
      col = 0;
    }
    col += w;
  }
  return row + 1;
}

function cellsOf(styled: string): number[] {
  return graphemes(stripAnsi(styled)).map(graphemeWidth);
}

/** Draws a LineEditor on a terminal and keeps track of what is on screen. */
export class InputRenderer {
  // The layout: where each grapheme below #valid starts (input row,
  // column) for #layoutColumns and a prompt #layoutPrompt wide.
  #row = new Int32Array(256);
  #col = new Int32Array(256);
  #valid = 0;
  #endRow = 0;
  #endCol = 0;
  #layoutColumns = 0;
  #layoutPrompt = -1;

  // What is on screen. Block rows count from the status row, if any.
  #drawn = false;
  #columns = 0;
  #prompt = "";
  #status: string | null = null;
  /** The first input row shown (a tall input shows the rows around the cursor). */
  #top = 0;
  /** Input rows shown. */
  #shown = 0;
  /** Graphemes drawn: [#first, #end); #all when the last one is drawn too. */
  #first = 0;
  #end = 0;
  #all = false;
  /** Where the terminal cursor is, in block rows and columns. */
  #curRow = 0;
  #curCol = 0;
  /** The widths of the cells written on each block row (for resize). */
  #cells: number[][] = [];

  /** Whether the input is on screen. */
  get drawn(): boolean {
    return this.#drawn;
  }

  /** Block rows on screen, the status row included. */
  get height(): number {
    return this.#drawn ? (this.#status !== null ? 1 : 0) + this.#shown : 0;
  }

  /** Forgets what is on screen (after something else cleared or wrote over it). */
  forget(): void {
    this.#drawn = false;
  }

  #grow(n: number): void {
    if (n <= this.#row.length) return;
    let size = this.#row.length;
    while (size < n) size *= 2;
    const row = new Int32Array(size);
    const col = new Int32Array(size);
    row.set(this.#row.subarray(0, this.#valid));
    col.set(this.#col.subarray(0, this.#valid));
    this.#row = row;
    this.#col = col;
  }

  /** Lays out graphemes from `from` on (those before keep their places). */
  #layout(
    ed: LineEditor,
    from: number,
    promptWidth: number,
    columns: number,
  ): void {
    const n = ed.length;
    this.#grow(n + 1);
    const widths = ed.widths;
    let [row, col] = this.#anchor(from, promptWidth, columns, widths);
    for (let i = from; i < n; i++) {
      const w = widths[i]!;
      if (col > 0 && col + w > columns) {
        row++;
        col = 0;
      }
      this.#row[i] = row;
      this.#col[i] = col;
      col += w;
      if (col >= columns) {
        row++;
        col = 0;
      }
    }
    this.#endRow = row;
    this.#endCol = col;
    this.#valid = n;
    this.#layoutColumns = columns;
    this.#layoutPrompt = promptWidth;
  }

  /**
   * Where writing grapheme `i` begins: just after grapheme i-1 (the next
   * row when that one filled its row). Depends only on what is before i.
   */
  #anchor(
    i: number,
    promptWidth: number,
    columns: number,
    widths: readonly number[],
  ): [number, number] {
    let row = 0;
    let col = promptWidth;
    if (i > 0) {
      row = this.#row[i - 1]!;
      col = this.#col[i - 1]! + widths[i - 1]!;
    }
    return col >= columns ? [row + 1, 0] : [row, col];
  }

  /** The first grapheme on input row `r` (rows never decrease along the line). */
  #firstOnRow(r: number, n: number): number {
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#row[mid]! < r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The output that brings the screen from what was drawn to the editor's
   * state; marks the editor drawn. Before the first call (and after
   * `erase()`) the cursor must be at column 0 of an empty row.
   */
  render(ed: LineEditor, view: InputView): string {
    const columns = Math.max(2, view.columns);
    const prompt = fit(view.prompt, columns - 1);
    const promptWidth = styledWidth(prompt);
    const status = view.status === null ? null : fit(view.status, columns - 1);
    const statusRows = status === null ? 0 : 1;
    const n = ed.length;

    const layoutOk = columns === this.#layoutColumns &&
      promptWidth === this.#layoutPrompt;
    const d = Math.min(ed.dirtyFrom, layoutOk ? this.#valid : 0, n);
    this.#layout(ed, d, promptWidth, columns);
    ed.markDrawn();

    const cur = ed.cursor;
    const curRow = cur < n ? this.#row[cur]! : this.#endRow;
    const curCol = cur < n ? this.#col[cur]! : this.#endCol;
    const total = this.#endRow + 1;
    const shown = Math.min(total, Math.max(1, view.rows - 1 - statusRows));
    let full = !this.#drawn || columns !== this.#columns ||
      prompt !== this.#prompt || (status === null) !== (this.#status === null);
    let top = full ? 0 : this.#top;
    if (curRow < top) top = curRow;
    if (curRow >= top + shown) top = curRow - shown + 1;
    top = Math.max(0, Math.min(top, total - shown));
    // A new window, or a change at or above its first row, redraws it all.
    if (top !== this.#top || (top > 0 && d <= this.#first)) full = true;

    const out: string[] = [];
    if (full) {
      out.push(this.#drawn ? this.#move(0, 0) : "\r", `${CSI}J`);
      this.#cells = [];
      this.#curRow = 0;
      this.#curCol = 0;
      if (status !== null) {
        out.push(status, "\r\n");
        this.#cells.push(cellsOf(status));
        this.#curRow = 1;
      }
      this.#cells.push([]);
      if (top === 0) {
        out.push(prompt);
        this.#cells[this.#curRow] = cellsOf(prompt);
        this.#curCol = promptWidth;
      }
      this.#first = this.#firstOnRow(top, n);
      this.#writeFrom(ed, this.#first, top, shown, statusRows, out);
    } else {
      if (status !== this.#status) {
        out.push(this.#move(0, 0), status!, `${CSI}K`);
        this.#curCol = styledWidth(status!);
        this.#cells[0] = cellsOf(status!);
      }
      // Something was drawn from d on, or text was added after all of it.
      if (d < this.#end || (d === this.#end && this.#all && d < n)) {
        const [r, c] = this.#anchor(d, promptWidth, columns, ed.widths);
        out.push(this.#move(statusRows + r - top, c));
        if (d < this.#end) out.push(`${CSI}J`);
        this.#cells.length = this.#curRow + 1;
        const row = this.#cells[this.#curRow] ??= [];
        let used = 0;
        for (let k = 0; k < row.length; k++) {
          if (used >= c) {
            row.length = k;
            break;
          }
          used += row[k]!;
        }
        this.#writeFrom(ed, d, top, shown, statusRows, out);
      }
    }
    out.push(this.#move(statusRows + curRow - top, curCol));

    this.#drawn = true;
    this.#columns = columns;
    this.#prompt = prompt;
    this.#status = status;
    this.#top = top;
    this.#shown = shown;
    return out.join("");
  }

  /** The move from the terminal cursor to a block position, noted as done. */
  #move(row: number, col: number): string {
    const s = move(this.#curRow, this.#curCol, row, col);
    this.#curRow = row;
    this.#curCol = col;
    return s;
  }

  /**
   * Writes graphemes from `from` (the cursor at its anchor) to the last row
   * shown, with a line break between rows, and one after a full last row
   * so the cursor can sit there.
   */
  #writeFrom(
    ed: LineEditor,
    from: number,
    top: number,
    shown: number,
    statusRows: number,
    out: string[],
  ): void {
    const n = ed.length;
    const chars = ed.chars;
    const widths = ed.widths;
    const lastRow = top + shown - 1;
    let row = this.#curRow - statusRows + top;
    let col = this.#curCol;
    let cells = this.#cells[this.#curRow]!;
    let i = from;
    for (; i < n; i++) {
      const r = this.#row[i]!;
      if (r > lastRow) break;
      if (r > row) {
        out.push("\r\n");
        row = r;
        col = 0;
        cells = this.#cells[statusRows + row - top] = [];
      }
      const g = chars[i]!;
      const form = editorForm(g);
      if (form === null) {
        out.push(g);
        cells.push(widths[i]!);
      } else {
        // The terminal sees a visible form as its own characters.
        out.push(form);
        for (const w of cellsOf(form)) cells.push(w);
      }
      col += widths[i]!;
    }
    this.#all = i === n;
    if (this.#all && this.#endRow > row && this.#endRow <= lastRow) {
      out.push("\r\n");
      row = this.#endRow;
      col = 0;
      this.#cells[statusRows + row - top] = [];
    }
    if (col >= this.#layoutColumns) {
      // A full last row shown: the terminal's cursor waits past the edge.
      out.push("\r");
      col = 0;
    }
    this.#end = i;
    this.#curRow = statusRows + row - top;
    this.#curCol = col;
  }

  /**
   * The output that erases the input and the status row, leaving the
   * cursor at column 0 of the first of their rows, where the caller may
   * print; the next render draws afresh below what was printed.
   */
  erase(): string {
    if (!this.#drawn) return "";
    this.#drawn = false;
    return this.#move(0, 0) + `${CSI}J`;
  }

  /**
   * Like erase, after the terminal changed to `columns` wide. A terminal
   * that reflows (tmux, VTE, kitty, iTerm2, Windows Terminal) split each
   * drawn row wider than the new width into several and moved the cursor
   * with its text; one that does not (xterm) cut the rows. `reflows` says
   * which to expect.
   */
  resize(columns: number, reflows = true): string {
    if (!this.#drawn) return "";
    this.#drawn = false;
    const cols = Math.max(2, columns);
    let up = this.#curRow;
    if (reflows && cols < this.#columns) {
      up = 0;
      for (let r = 0; r < this.#curRow; r++) {
        up += rowsOf(this.#cells[r] ?? [], cols);
      }
      up += reflow(this.#cells[this.#curRow] ?? [], cols, this.#curCol).atRow;
    }
    return "\r" + move(up, 0, 0, 0) + `${CSI}J`;
  }
}

/** Styled text that fits in `max` columns (cut, plain, with "…" when too wide). */
function fit(styled: string, max: number): string {
  return styledWidth(styled) <= max
    ? styled
    : truncateText(stripAnsi(styled), max);
}

/**
 * Applies an editing key to the buffer, readline style: text and pastes,
 * Backspace/Delete, arrows, Home/End, Ctrl-A/E/B/F/K/U/W/Y/H, Alt-B/F/D,
 * Alt-Backspace, Ctrl- and Alt-arrows by word, Up/Down and Ctrl-P/N through
 * history, Ctrl-D deleting forward on a non-empty line. Returns false for
 * a key that is not editing (Enter, Tab, Ctrl-C, an empty line's Ctrl-D…),
 * which the caller handles.
 */
export function editKey(ed: LineEditor, key: KeyEvent): boolean {
  if (key.type === "text" || key.type === "paste") {
    ed.insert(key.text);
    return true;
  }
  const name = key.name;
  const word = key.ctrl || key.alt;
  if (key.ctrl && !key.alt) {
    switch (name) {
      case "a":
        ed.home();
        return true;
      case "e":
        ed.end();
        return true;
      case "b":
        ed.left();
        return true;
      case "f":
        ed.right();
        return true;
      case "k":
        ed.killToEnd();
        return true;
      case "u":
        ed.killToStart();
        return true;
      case "w":
        ed.killSpaceWordBack();
        return true;
      case "y":
        ed.yank();
        return true;
      case "h":
        ed.backspace();
        return true;
      case "p":
        ed.historyUp();
        return true;
      case "n":
        ed.historyDown();
        return true;
      case "d":
        if (ed.length === 0) return false;
        ed.deleteForward();
        return true;
    }
  }
  if (key.alt && !key.ctrl) {
    switch (name) {
      case "b":
        ed.wordLeft();
        return true;
      case "f":
        ed.wordRight();
        return true;
      case "d":
        ed.killWordForward();
        return true;
    }
  }
  switch (name) {
    case "backspace":
      if (word) ed.killWordBack();
      else ed.backspace();
      return true;
    case "delete":
      if (word) ed.killWordForward();
      else ed.deleteForward();
      return true;
    case "left":
      if (word) ed.wordLeft();
      else ed.left();
      return true;
    case "right":
      if (word) ed.wordRight();
      else ed.right();
      return true;
    case "home":
      ed.home();
      return true;
    case "end":
      ed.end();
      return true;
    case "up":
      ed.historyUp();
      return true;
    case "down":
      ed.historyDown();
      return true;
    default:
      return false;
  }
}
