/**
 * The line editor and its renderer: editing by grapheme (👍🏽, CJK, é),
 * words, kills and history; and drawing, checked on a virtual terminal: an
 * input over several rows at 80 and 40 columns, lines printed above it,
 * resizes, a status row, an input taller than the terminal, and random
 * edits compared with the layout they should produce.
 */
import { assert, assertEquals } from "../../helpers/assert.ts";
import { mulberry32, pickOne, randInt } from "../../helpers/random.ts";
import { VirtualTerminal } from "../../helpers/vt.ts";
import {
  InputRenderer,
  LineEditor,
  reflow,
} from "../../../peer/front/line_editor.ts";
import {
  editorForm,
  editorWidth,
  stripAnsi,
  styledWidth,
  truncateText,
} from "../../../peer/front/text_width.ts";

/** The rows an input should occupy, and where its cursor is: the spec of the layout. */
function layout(
  prompt: string,
  ed: LineEditor,
  columns: number,
): { rows: string[]; cursor: [number, number] } {
  // A prompt too wide for the terminal is cut to leave one column.
  const shown = styledWidth(prompt) <= columns - 1
    ? stripAnsi(prompt)
    : truncateText(stripAnsi(prompt), columns - 1);
  const rows = [shown];
  let col = styledWidth(shown);
  let cursor: [number, number] | null = null;
  ed.chars.forEach((g, i) => {
    const w = editorWidth(g);
    if (col > 0 && col + w > columns) {
      rows.push("");
      col = 0;
    }
    if (i === ed.cursor) cursor = [rows.length - 1, col];
    rows[rows.length - 1] += editorForm(g) ?? g;
    col += w;
    if (col >= columns) {
      rows.push("");
      col = 0;
    }
  });
  return { rows, cursor: cursor ?? [rows.length - 1, col] };
}

/** A terminal, an editor and a renderer, checked after every step. */
class Session {
  readonly vt: VirtualTerminal;
  readonly ed = new LineEditor();
  readonly r = new InputRenderer();
  readonly printed: string[] = [];
  prompt = "alice> ";
  status: string | null = null;
  last = "";
  /** Recent steps and their output, shown when a check fails. */
  readonly log: string[] = [];

  constructor(public columns: number, public rows = 200) {
    this.vt = new VirtualTerminal(columns, rows);
  }

  draw(): string {
    this.last = this.r.render(this.ed, {
      prompt: this.prompt,
      status: this.status,
      columns: this.columns,
      rows: this.rows,
    });
    this.vt.write(this.last);
    this.#note(`render ${JSON.stringify(this.last)}`);
    this.check();
    return this.last;
  }

  type(text: string): void {
    for (const ch of text) {
      this.ed.insert(ch);
      this.draw();
    }
  }

  #note(step: string): void {
    this.log.push(step);
    if (this.log.length > 8) this.log.shift();
  }

  print(line: string): void {
    const erase = this.r.erase();
    this.#note(`print ${JSON.stringify(erase)} ${line}`);
    this.vt.write(erase + line + "\r\n");
    this.printed.push(line);
    this.draw();
  }

  resize(columns: number, reflowing = true): void {
    this.vt.resize(columns, this.rows, reflowing);
    const erase = this.r.resize(columns, reflowing);
    this.#note(
      `resize ${this.columns}->${columns} ${reflowing} ${
        JSON.stringify(erase)
      }`,
    );
    this.vt.write(erase);
    this.columns = columns;
    this.draw();
  }

  check(): void {
    const { rows, cursor } = layout(this.prompt, this.ed, this.columns);
    const status = this.status === null
      ? []
      : [truncateText(stripAnsi(this.status), this.columns - 1)];
    // An input taller than the terminal shows a window of rows, the
    // cursor's among them; the terminal's cursor says which.
    const shown = Math.min(rows.length, this.rows - 1 - status.length);
    const above = this.printed.length + status.length;
    const row = this.vt.scrollback.length + this.vt.row;
    const top = cursor[0] - (row - above);
    assert(
      top >= 0 && top + shown <= rows.length && cursor[0] < top + shown,
      `window from ${top} of ${shown} rows (cursor on ${
        cursor[0]
      } of ${rows.length})` +
        `\n${this.log.join("\n")}`,
    );
    const want = [...this.printed, ...status, ...rows.slice(top, top + shown)]
      .map((l) => l.trimEnd());
    while (want.length > 0 && want[want.length - 1] === "") want.pop();
    assertEquals(
      this.vt.lines,
      want,
      `text ${JSON.stringify(this.ed.text)}\n${this.log.join("\n")}`,
    );
    assertEquals(
      this.vt.col,
      cursor[1],
      `cursor; text ${JSON.stringify(this.ed.text)} at ${this.ed.cursor}, ` +
        `${this.columns} columns\n${this.log.join("\n")}`,
    );
    assert(
      !this.vt.pendingWrap,
      "the cursor is never left past the last column",
    );
    assertEquals(this.vt.unknown, []);
  }
}

Deno.test("editing moves and deletes by grapheme", async (t) => {
  await t.step("thumbs up with a skin tone is one character", () => {
    const ed = new LineEditor();
    ed.insert("a👍🏽b");
    assertEquals(ed.length, 3);
    ed.left();
    ed.backspace();
    assertEquals(ed.text, "ab");
    assertEquals(ed.cursor, 1);
  });
  await t.step("a skin tone typed after 👍 joins it", () => {
    const ed = new LineEditor();
    ed.insert("x👍");
    ed.insert("🏽");
    assertEquals([...ed.chars], ["x", "👍🏽"]);
    assertEquals(ed.cursor, 2);
    ed.backspace();
    assertEquals(ed.text, "x");
  });
  await t.step("a combining accent typed after e joins it", () => {
    const ed = new LineEditor();
    ed.insert("cafe");
    ed.insert("\u0301");
    assertEquals(ed.length, 4);
    ed.backspace();
    assertEquals(ed.text, "caf");
  });
  await t.step("CJK: two columns, one character", () => {
    const ed = new LineEditor();
    ed.insert("世界你好");
    ed.left();
    ed.left();
    ed.insert("x");
    assertEquals(ed.text, "世界x你好");
    assertEquals(ed.cursor, 3);
    assertEquals([...ed.widths], [2, 2, 1, 2, 2]);
    ed.deleteForward();
    assertEquals(ed.text, "世界x好");
  });
  await t.step("a family ZWJ sequence and a flag", () => {
    const ed = new LineEditor();
    ed.insert("👨‍👩‍👧🇫🇷");
    assertEquals(ed.length, 2);
    ed.home();
    ed.deleteForward();
    assertEquals(ed.text, "🇫🇷");
  });
  await t.step("deleting what separated two joinable pieces joins them", () => {
    const ed = new LineEditor();
    ed.insert("🇫x🇷");
    assertEquals(ed.length, 3);
    ed.left();
    ed.backspace();
    assertEquals([...ed.chars], ["🇫🇷"]);
    assertEquals(ed.cursor, 0);
  });
  await t.step("moves stop at the ends", () => {
    const ed = new LineEditor();
    assertEquals([ed.left(), ed.right(), ed.backspace(), ed.deleteForward()], [
      false,
      false,
      false,
      false,
    ]);
    ed.insert("ab");
    assertEquals([ed.home(), ed.home(), ed.end(), ed.end()], [
      true,
      false,
      true,
      false,
    ]);
  });
});

Deno.test("words and kills", async (t) => {
  // [name, text, cursor, action, text after, cursor after]
  const cases: [
    string,
    string,
    number,
    (ed: LineEditor) => void,
    string,
    number,
  ][] = [
    [
      "Alt-B to the word start",
      "hello big world",
      15,
      (e) => e.wordLeft(),
      "hello big world",
      10,
    ],
    [
      "Alt-B over spaces and punctuation",
      "hello, big",
      7,
      (e) => e.wordLeft(),
      "hello, big",
      0,
    ],
    [
      "Alt-F to the word end",
      "hello big world",
      0,
      (e) => e.wordRight(),
      "hello big world",
      5,
    ],
    [
      "Alt-F from inside a gap",
      "hello   big",
      5,
      (e) => e.wordRight(),
      "hello   big",
      11,
    ],
    [
      "Ctrl-W deletes back to a space",
      "see /tmp/x.txt",
      14,
      (e) => e.killSpaceWordBack(),
      "see ",
      4,
    ],
    [
      "Ctrl-W eats trailing spaces first",
      "one two  ",
      9,
      (e) => e.killSpaceWordBack(),
      "one ",
      4,
    ],
    [
      "Alt-Backspace deletes a word only",
      "see /tmp/x.txt",
      14,
      (e) => e.killWordBack(),
      "see /tmp/x.",
      11,
    ],
    [
      "Alt-D deletes the next word",
      "one two three",
      3,
      (e) => e.killWordForward(),
      "one three",
      3,
    ],
    [
      "Ctrl-U deletes to the start",
      "one two",
      4,
      (e) => e.killToStart(),
      "two",
      0,
    ],
    ["Ctrl-K deletes to the end", "one two", 3, (e) => e.killToEnd(), "one", 3],
    [
      "words of CJK and accents",
      "déjà 世界 vu",
      7,
      (e) => e.wordLeft(),
      "déjà 世界 vu",
      5,
    ],
  ];
  for (const [name, text, cursor, act, after, cursorAfter] of cases) {
    await t.step(name, () => {
      const ed = new LineEditor();
      ed.insert(text);
      ed.home();
      for (let i = 0; i < cursor; i++) ed.right();
      act(ed);
      assertEquals([ed.text, ed.cursor], [after, cursorAfter]);
    });
  }
  await t.step("Ctrl-Y puts back what was killed", () => {
    const ed = new LineEditor();
    ed.insert("one two");
    ed.killSpaceWordBack();
    ed.home();
    ed.yank();
    assertEquals(ed.text, "twoone ");
  });
});

Deno.test("history: up and down keep the draft; Enter adds non-blank, non-repeated lines", () => {
  const ed = new LineEditor(["/who", "/rooms"], 3);
  ed.insert("half a thou");
  assert(ed.historyUp());
  assertEquals(ed.text, "/rooms");
  assertEquals(ed.cursor, 6);
  assert(ed.historyUp());
  assertEquals(ed.text, "/who");
  assert(!ed.historyUp());
  assert(ed.historyDown());
  assert(ed.historyDown());
  assertEquals(ed.text, "half a thou");
  assert(!ed.historyDown());
  ed.insert("ght");
  assertEquals(ed.submit(), "half a thought");
  assertEquals(ed.text, "");
  ed.insert("half a thought");
  ed.submit();
  ed.insert("   ");
  ed.submit();
  assertEquals([...ed.history], ["/who", "/rooms", "half a thought"].slice(-3));
  ed.insert("/help");
  ed.submit();
  assertEquals([...ed.history], ["/rooms", "half a thought", "/help"]);
  ed.insert("draft");
  ed.historyUp();
  ed.clear();
  assert(!ed.historyDown(), "Ctrl-C returns to an empty draft");
  assertEquals(ed.text, "");
});

Deno.test("the row edge: a wide character never splits; a full row puts the cursor on the next", async (t) => {
  const cases: [string, string, string[], [number, number]][] = [
    ["fills the row exactly", "abcdefgh", ["> abcdefgh", ""], [1, 0]],
    ["a wide character moves down whole", "abcdefg世", ["> abcdefg", "世"], [
      1,
      2,
    ]],
    ["a wide character ends the row", "abcdef世", ["> abcdef世", ""], [1, 0]],
    ["an emoji at the edge", "abcdefg👍🏽z", ["> abcdefg", "👍🏽z"], [1, 3]],
  ];
  for (const [name, text, rows, cursor] of cases) {
    await t.step(name, () => {
      const s = new Session(10, 10);
      s.prompt = "> ";
      s.ed.insert(text);
      s.draw();
      assertEquals(layout(s.prompt, s.ed, 10), { rows, cursor });
      assertEquals(
        s.vt.screen.slice(0, rows.length),
        rows.map((r) => r.trimEnd()),
      );
    });
  }
});

Deno.test("typing at the end writes only what was typed", () => {
  const s = new Session(20, 10);
  s.prompt = "> ";
  s.draw();
  const outs: string[] = [];
  for (const ch of "hello world, this is long") {
    s.ed.insert(ch);
    outs.push(s.draw());
  }
  assertEquals(outs.slice(0, 5), ["h", "e", "l", "l", "o"]);
  // The character that fills the row moves the cursor to the next one.
  assertEquals(outs[17], " \r\n");
  assertEquals(outs[18], "i");
  s.ed.left();
  assertEquals(s.draw(), "\x1b[D");
  s.ed.home();
  assertEquals(s.draw(), "\x1b[A\x1b[4D");
  s.ed.backspace();
  assertEquals(s.draw(), "");
  s.ed.end();
  s.ed.backspace();
  assertEquals(
    s.draw(),
    "\x1b[B\x1b[5C\x1b[D\x1b[J".replace("\x1b[5C\x1b[D", "\x1b[4C"),
  );
});

Deno.test("an edit in the middle rewrites from there on, nothing before it", () => {
  const s = new Session(20, 10);
  s.prompt = "> ";
  s.ed.insert("the quick brown fox jumps over");
  s.draw();
  for (let i = 0; i < 20; i++) s.ed.left();
  s.draw();
  s.ed.insert("X");
  const out = s.draw();
  assert(out.includes("\x1b[J"));
  assert(!out.includes("the"), JSON.stringify(out));
  assert(out.startsWith("\x1b[JXbrown"), JSON.stringify(out));
});

for (const columns of [80, 40]) {
  Deno.test(`lines printed above a ${columns}-column input over several rows leave it whole`, () => {
    const s = new Session(columns, 24);
    s.type("this message is longer than one row of the terminal, ");
    s.type("so it wraps onto a second row and maybe a third one too, 世界 👍🏽");
    assert(layout(s.prompt, s.ed, columns).rows.length >= 2);
    for (let i = 0; i < 5; i++) s.print(`[20:1${i}] bob: hi ${i}`);
    // Edit in the middle, then more lines arrive.
    for (let i = 0; i < 30; i++) s.ed.left();
    s.draw();
    s.type("inserted ");
    s.print("[20:20] carol: hello");
    s.ed.end();
    s.draw();
    s.print("[20:21] bob: more");
    const screen = s.vt.screen.join("\n");
    assert(screen.includes("[20:20] carol: hello"));
    assert(screen.includes("[20:21] bob: more"));
  });
}

Deno.test("after a resize the input is drawn again whole, with or without reflow", async (t) => {
  for (const reflowing of [true, false]) {
    await t.step(reflowing ? "reflowing terminal" : "cutting terminal", () => {
      const s = new Session(80, 40);
      s.type(
        "a long line that takes more than one row at forty columns and more ",
      );
      s.type("世界 text after the wide ones 👍🏽 and more");
      s.print("[20:14] bob: first");
      s.resize(40, reflowing);
      s.print("[20:15] bob: second");
      s.resize(33, reflowing);
      for (let i = 0; i < 10; i++) s.ed.left();
      s.draw();
      s.resize(61, reflowing);
      s.print("[20:16] bob: third");
      s.resize(80, reflowing);
    });
  }
});

Deno.test("narrowing a short terminal redraws the input whole on its screen", () => {
  const s = new Session(60, 8);
  s.type("this input takes two rows at sixty columns and more at twenty, ");
  s.type("once the terminal is narrowed, which makes it taller than the ");
  s.type("eight rows of this terminal, so its first rows scroll out of reach");
  assert(layout(s.prompt, s.ed, 20).rows.length > 8);
  s.vt.resize(20, 8);
  s.vt.write(s.r.resize(20));
  s.columns = 20;
  s.last = s.r.render(s.ed, {
    prompt: s.prompt,
    status: null,
    columns: 20,
    rows: 8,
  });
  s.vt.write(s.last);
  // Rows pushed into the scrollback by the reflow stay there, as on any
  // terminal; the screen shows the last seven input rows and nothing else.
  const { rows } = layout(s.prompt, s.ed, 20);
  assertEquals(s.vt.screen.slice(0, 7), rows.slice(-7).map((r) => r.trimEnd()));
  assertEquals([s.vt.row, s.vt.col], [6, layout(s.prompt, s.ed, 20).cursor[1]]);
});

Deno.test("a status row above the prompt is redrawn alone and erased with the input", () => {
  const s = new Session(40, 20);
  s.type("typing");
  s.status = "x.bin → bob [####....] 50%";
  s.draw();
  s.status = "x.bin → bob [######..] 75%";
  const out = s.draw();
  assert(!out.includes("alice"), "only the status row is rewritten");
  s.print("[20:14] bob: got it?");
  s.status = null;
  s.draw();
  s.type(" more");
});

Deno.test("an input taller than the terminal shows the rows around the cursor", () => {
  const s = new VirtualTerminal(40, 10);
  const ed = new LineEditor();
  const r = new InputRenderer();
  const view = { prompt: "> ", status: null, columns: 40, rows: 10 };
  ed.insert("word ".repeat(200)); // 1,000 characters: 26 rows
  s.write(r.render(ed, view));
  assertEquals(r.height, 9);
  assertEquals(s.row, 8, "the cursor at the end, on the last row shown");
  // Home shows the first rows, prompt included.
  ed.home();
  s.write(r.render(ed, view));
  assertEquals(s.screen[0], "> " + "word ".repeat(7) + "wor");
  assertEquals([s.row, s.col], [0, 2]);
  // Erasing takes away every row shown; a line printed stands alone.
  s.write(r.erase() + "[20:14] bob: hi\r\n");
  assertEquals(s.lines, ["[20:14] bob: hi"]);
  s.write(r.render(ed, view));
  assertEquals(s.screen[1], "> " + "word ".repeat(7) + "wor");
  assertEquals(s.unknown, []);
});

Deno.test("an 8 KiB paste is inserted and drawn once; typing after it writes one character", () => {
  const s = new VirtualTerminal(80, 24);
  const ed = new LineEditor();
  const r = new InputRenderer();
  const view = { prompt: "alice> ", status: null, columns: 80, rows: 24 };
  const paste = "0123456789abcdef".repeat(512);
  ed.insert(paste);
  const out = r.render(ed, view);
  s.write(out);
  assertEquals(ed.length, 8192);
  assert(
    out.length < 24 * 90,
    `only the rows shown are written (${out.length} bytes)`,
  );
  ed.insert("!");
  assertEquals(r.render(ed, view), "!");
  assertEquals(s.unknown, []);
});

Deno.test("reflow: where a hard row lands at a narrower width", () => {
  const narrow = (n: number) => new Array(n).fill(1);
  assertEquals(reflow(narrow(80), 40, 80), { rows: 2, atRow: 1, atCol: 39 });
  assertEquals(reflow(narrow(50), 40, 50), { rows: 2, atRow: 1, atCol: 10 });
  assertEquals(reflow(narrow(50), 40, 45).atRow, 1);
  assertEquals(reflow([], 40, 0), { rows: 1, atRow: 0, atCol: 0 });
  assertEquals(reflow([1, 1, 1, 2, 1], 4, 5), { rows: -1, atRow: 1, atCol: 2 });
});

Deno.test("random edits, prints and resizes always leave the screen as laid out", () => {
  const pieces = [
    "a",
    "b",
    "c",
    " ",
    "  ",
    "word",
    "longerword",
    "世",
    "界",
    "👍",
    "🏽",
    "👍🏽",
    "e\u0301",
    "\u0301",
    "🇫🇷",
    "👨‍👩‍👧",
    "\t",
    "\x1b",
    "\n",
    "\u202e",
    "\u200b",
    "x y z ",
    "1️⃣",
  ];
  const rand = mulberry32(2026);
  for (let round = 0; round < 40; round++) {
    // A short terminal now and then, so the input outgrows it.
    const s = new Session(
      randInt(rand, 10, 90),
      rand() < 0.3 ? randInt(rand, 3, 12) : 200,
    );
    if (rand() < 0.3) s.prompt = "\x1b[35malice#lunch>\x1b[39m ";
    s.draw();
    for (let step = 0; step < 120; step++) {
      const r = rand();
      const ed = s.ed;
      if (r < 0.4) ed.insert(pickOne(rand, pieces));
      else if (r < 0.5) ed.backspace();
      else if (r < 0.55) ed.deleteForward();
      else if (r < 0.62) ed.left();
      else if (r < 0.67) ed.right();
      else if (r < 0.69) ed.home();
      else if (r < 0.71) ed.end();
      else if (r < 0.74) ed.wordLeft();
      else if (r < 0.76) ed.wordRight();
      else if (r < 0.77) ed.killToEnd();
      else if (r < 0.78) ed.killSpaceWordBack();
      else if (r < 0.79) ed.yank();
      else if (r < 0.8) ed.killToStart();
      else if (r < 0.86) {
        s.print(`[${round}:${step}]`);
        continue;
      } else if (r < 0.89) {
        // A short terminal only widens: narrowed, its reflowed rows could
        // outgrow the screen and scroll where no cursor reaches (tested alone).
        const columns = randInt(rand, s.rows < 200 ? s.columns : 10, 90);
        s.resize(columns, rand() < 0.7);
        continue;
      } else if (r < 0.92) {
        s.status = rand() < 0.5
          ? null
          : `status ${step} ${"#".repeat(randInt(rand, 0, 100))}`;
      } else if (r < 0.93) {
        ed.submit();
      } else if (r < 0.95) ed.historyUp();
      // Sometimes several edits are drawn at once, as the screen coalesces.
      if (rand() < 0.8) s.draw();
    }
    s.draw();
  }
});

Deno.test("forget drops a line from the history and Up starts from the newest again", () => {
  const ed = new LineEditor(["/who"]);
  ed.insert("/room password den secret");
  ed.submit();
  ed.forget("/room password den secret");
  assertEquals(ed.history, ["/who"]);
  assertEquals(ed.historyUp(), true);
  assertEquals(ed.text, "/who");
  assertEquals(ed.historyUp(), false);
});
