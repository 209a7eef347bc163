/**
 * A small virtual terminal for tests: enough of an xterm to interpret what
 * the shell's screen code writes (printable text by grapheme with wide
 * characters, CR, LF, BS, cursor moves, erase in line and in display,
 * autowrap with xterm's deferred wrap at the last column, scrolling into a
 * scrollback) and resizing with or without reflow. Tests feed it output and
 * assert the text on screen. Anything it does not understand is kept in
 * `unknown`, so a test can insist there is none.
 */
import { graphemes, graphemeWidth } from "../../peer/front/text_width.ts";

interface Row {
  /** One grapheme per column; "" for the right half of a wide character. */
  cells: string[];
  /** Columns written to (erasing shrinks it). */
  used: number;
  /** The row continues on the next one (the terminal wrapped it). */
  wrapped: boolean;
}

function blankRow(columns: number): Row {
  return { cells: new Array(columns).fill(" "), used: 0, wrapped: false };
}

/** A VT100/xterm subset with a scrollback. */
export class VirtualTerminal {
  columns: number;
  rows: number;
  #screen: Row[];
  /** Rows scrolled off the top, oldest first. */
  readonly scrollback: Row[] = [];
  row = 0;
  col = 0;
  /** The cursor is past the last column; the next character wraps first. */
  pendingWrap = false;
  /** Whether bracketed paste mode is on (ESC[?2004h). */
  bracketedPaste = false;
  /** Sequences and controls this model does not interpret. */
  readonly unknown: string[] = [];
  #pending = "";

  constructor(columns: number, rows: number) {
    this.columns = columns;
    this.rows = rows;
    this.#screen = Array.from({ length: rows }, () => blankRow(columns));
  }

  /** The screen's rows as text, trailing spaces trimmed. */
  get screen(): string[] {
    return this.#screen.map(rowText);
  }

  /** Scrollback and screen as text, trailing empty rows left out. */
  get lines(): string[] {
    const all = [...this.scrollback, ...this.#screen].map(rowText);
    while (all.length > 0 && all[all.length - 1] === "") all.pop();
    return all;
  }

  /** Interprets output (a sequence may be split across calls). */
  write(data: string): void {
    const s = this.#pending + data;
    this.#pending = "";
    let text = "";
    const flushText = () => {
      if (text) this.#print(text);
      text = "";
    };
    for (let i = 0; i < s.length; i++) {
      const c = s[i]!;
      const code = c.charCodeAt(0);
      if (code >= 0x20 && code !== 0x7f && !(code >= 0x80 && code < 0xa0)) {
        text += c;
        continue;
      }
      flushText();
      if (c === "\x1b") {
        const end = this.#escape(s, i);
        if (end < 0) {
          this.#pending = s.slice(i);
          return;
        }
        i = end;
        continue;
      }
      this.#control(c);
    }
    flushText();
  }

  #control(c: string): void {
    switch (c) {
      case "\r":
        this.col = 0;
        this.pendingWrap = false;
        return;
      case "\n":
        this.pendingWrap = false;
        this.#lineFeed();
        return;
      case "\b":
        if (this.pendingWrap) this.pendingWrap = false;
        else if (this.col > 0) this.col--;
        return;
      case "\x07":
        return;
      case "\t":
        this.col = Math.min(
          this.columns - 1,
          (Math.floor(this.col / 8) + 1) * 8,
        );
        this.pendingWrap = false;
        return;
      default:
        this.unknown.push(c);
    }
  }

  /** Reads the escape sequence at s[i]; returns its last index, -1 if incomplete. */
  #escape(s: string, i: number): number {
    const next = s[i + 1];
    if (next === undefined) return -1;
    if (next === "[") {
      let j = i + 2;
      while (
        j < s.length && s.charCodeAt(j) >= 0x20 && s.charCodeAt(j) <= 0x3f
      ) {
        j++;
      }
      if (j >= s.length) return -1;
      this.#csi(s.slice(i + 2, j), s[j]!);
      return j;
    }
    if (next === "]") {
      const bel = s.indexOf("\x07", i);
      const st = s.indexOf("\x1b\\", i);
      const ends = [bel, st >= 0 ? st + 1 : -1].filter((x) => x >= 0);
      if (ends.length === 0) return -1;
      return Math.min(...ends);
    }
    if (next === "7") {
      this.#saved = [this.row, this.col];
      return i + 1;
    }
    if (next === "8") {
      [this.row, this.col] = this.#saved;
      this.pendingWrap = false;
      return i + 1;
    }
    this.unknown.push(`ESC ${next}`);
    return i + 1;
  }

  #saved: [number, number] = [0, 0];

  #csi(params: string, final: string): void {
    const nums = params.replace(/^\?/, "").split(";").map((p) =>
      p === "" ? undefined : Number(p)
    );
    const n = Math.max(1, nums[0] ?? 1);
    const row = this.#screen[this.row]!;
    if (params.startsWith("?")) {
      if (params === "?2004" && (final === "h" || final === "l")) {
        this.bracketedPaste = final === "h";
      } else if (params !== "?25") this.unknown.push(`CSI ${params}${final}`);
      return;
    }
    switch (final) {
      case "A":
        this.row = Math.max(0, this.row - n);
        break;
      case "B":
        this.row = Math.min(this.rows - 1, this.row + n);
        break;
      case "C":
        this.col = Math.min(this.columns - 1, this.col + n);
        break;
      case "D":
        this.col = Math.max(0, this.col - n);
        break;
      case "G":
        this.col = Math.min(this.columns - 1, n - 1);
        break;
      case "H":
      case "f":
        this.row = Math.min(this.rows - 1, Math.max(1, nums[0] ?? 1) - 1);
        this.col = Math.min(this.columns - 1, Math.max(1, nums[1] ?? 1) - 1);
        break;
      case "K": {
        const mode = nums[0] ?? 0;
        if (mode === 0) this.#eraseRow(row, this.col, this.columns);
        else if (mode === 1) this.#eraseRow(row, 0, this.col + 1);
        else if (mode === 2) this.#eraseRow(row, 0, this.columns);
        else this.unknown.push(`CSI ${params}K`);
        break;
      }
      case "J": {
        const mode = nums[0] ?? 0;
        if (mode === 0) {
          this.#eraseRow(row, this.col, this.columns);
          for (let r = this.row + 1; r < this.rows; r++) {
            this.#screen[r] = blankRow(this.columns);
          }
        } else if (mode === 2 || mode === 3) {
          this.#screen = Array.from(
            { length: this.rows },
            () => blankRow(this.columns),
          );
        } else this.unknown.push(`CSI ${params}J`);
        break;
      }
      case "m":
        return; // Colours do not change the text.
      default:
        this.unknown.push(`CSI ${params}${final}`);
        return;
    }
    this.pendingWrap = false;
  }

  #eraseRow(row: Row, from: number, to: number): void {
    // Erasing half of a wide character erases all of it.
    splitAt(row, from);
    splitAt(row, to);
    for (let c = from; c < to; c++) row.cells[c] = " ";
    if (to >= this.columns) {
      row.used = Math.min(row.used, from);
      row.wrapped = false;
    }
  }

  #lineFeed(): void {
    if (this.row < this.rows - 1) {
      this.row++;
      return;
    }
    this.scrollback.push(this.#screen.shift()!);
    this.#screen.push(blankRow(this.columns));
  }

  #print(text: string): void {
    for (const g of graphemes(text)) {
      const w = graphemeWidth(g);
      if (w === 0) {
        this.#combine(g);
        continue;
      }
      if (this.pendingWrap || this.col + w > this.columns) {
        this.#screen[this.row]!.wrapped = true;
        this.pendingWrap = false;
        this.col = 0;
        this.#lineFeed();
      }
      const row = this.#screen[this.row]!;
      // Writing over part of a wide character blanks all of it.
      splitAt(row, this.col);
      splitAt(row, this.col + w);
      row.cells.fill("", this.col, Math.min(this.columns, this.col + w));
      row.cells[this.col] = g;
      row.used = Math.max(row.used, this.col + w);
      this.col += w;
      if (this.col >= this.columns) {
        this.col = this.columns - 1;
        this.pendingWrap = true;
      }
    }
  }

  /** A zero-width grapheme joins the character before the cursor. */
  #combine(g: string): void {
    const row = this.#screen[this.row]!;
    let c = this.pendingWrap ? this.col : this.col - 1;
    while (c > 0 && row.cells[c] === "") c--;
    if (c >= 0 && row.cells[c] !== " ") row.cells[c] += g;
  }

  /**
   * Changes the size. With `reflow` (tmux, VTE) rows the terminal wrapped
   * are joined again and every line is wrapped at the new width, the cursor
   * moving with its text; without it (xterm) rows are cut or padded.
   */
  resize(columns: number, rows: number, reflow = true): void {
    if (!reflow) {
      for (const row of [...this.scrollback, ...this.#screen]) {
        splitAt(row, columns);
        row.cells.length = columns;
        for (let c = 0; c < columns; c++) row.cells[c] ??= " ";
        row.used = Math.min(row.used, columns);
      }
      this.columns = columns;
      this.col = Math.min(this.col, columns - 1);
      this.#setRows(this.#screen, rows);
      return;
    }
    const all = [...this.scrollback, ...this.#screen];
    const cursorAt = this.scrollback.length + this.row;
    // Logical lines: cells with widths; the cursor as (line, offset).
    const lines: { g: string; w: number }[][] = [];
    let cursorLine = 0;
    let cursorOffset = 0;
    let current: { g: string; w: number }[] = [];
    let offset = 0;
    for (let r = 0; r < all.length; r++) {
      const row = all[r]!;
      if (r === cursorAt) {
        cursorLine = lines.length;
        cursorOffset = offset + this.col + (this.pendingWrap ? 1 : 0);
      }
      for (let c = 0; c < row.used; c++) {
        const g = row.cells[c]!;
        if (g === "") continue;
        let w = 1;
        while (row.cells[c + w] === "") w++;
        current.push({ g, w });
      }
      offset += row.used;
      if (!row.wrapped) {
        lines.push(current);
        current = [];
        offset = 0;
      }
    }
    if (current.length) lines.push(current);
    // Empty lines below the cursor's line are dropped, as VTE does.
    while (
      lines.length - 1 > cursorLine && lines[lines.length - 1]!.length === 0
    ) {
      lines.pop();
    }
    const out: Row[] = [];
    let cRow = 0;
    let cCol = 0;
    let cPending = false;
    lines.forEach((cells, li) => {
      let row = blankRow(columns);
      out.push(row);
      let col = 0;
      let at = 0;
      let placed = li !== cursorLine;
      for (const { g, w } of cells) {
        if (col > 0 && col + w > columns) {
          row.wrapped = true;
          row = blankRow(columns);
          out.push(row);
          col = 0;
        }
        if (!placed && at >= cursorOffset) {
          cRow = out.length - 1;
          cCol = col;
          placed = true;
        }
        row.cells.fill("", col, Math.min(columns, col + w));
        row.cells[col] = g;
        col += w;
        row.used = col;
        at += w;
      }
      if (!placed) {
        cRow = out.length - 1;
        const want = col + (cursorOffset - at);
        cPending = want >= columns;
        cCol = Math.min(want, columns - 1);
      }
    });
    this.columns = columns;
    this.scrollback.length = 0;
    this.#screen = out;
    this.row = cRow;
    this.col = cCol;
    this.pendingWrap = cPending;
    this.#setRows(this.#screen, rows, true);
  }

  /** Fits the screen to `rows`, keeping the cursor's row on it. */
  #setRows(screen: Row[], rows: number, reflowed = false): void {
    this.rows = rows;
    if (!reflowed) {
      while (screen.length > rows && screen.length - 1 > this.row) screen.pop();
    }
    while (screen.length > rows) {
      this.scrollback.push(screen.shift()!);
      this.row--;
    }
    while (screen.length < rows) screen.push(blankRow(this.columns));
    this.#screen = screen;
  }
}

/** Blanks a wide character that straddles the boundary before column `at`. */
function splitAt(row: Row, at: number): void {
  if (row.cells[at] !== "") return;
  let owner = at;
  while (owner > 0 && row.cells[owner] === "") owner--;
  let end = at;
  while (row.cells[end] === "") end++;
  row.cells.fill(" ", owner, end);
}

function rowText(row: Row): string {
  return row.cells.join("").trimEnd();
}
