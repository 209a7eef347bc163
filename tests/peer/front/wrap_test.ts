/**
 * Output wrapping and untrusted text: word wrapping with continuation rows
 * under the text, long words broken only when longer than a row, wide
 * characters and colours measured right, and nothing from someone else
 * able to start a line at column 0, reorder it, or reach the terminal raw.
 */
import { assert, assertEquals } from "../../helpers/assert.ts";
import { mulberry32, pickOne, randInt } from "../../helpers/random.ts";
import { VirtualTerminal } from "../../helpers/vt.ts";
import {
  entry,
  indentFor,
  plainEntry,
  sanitize,
  wrap,
} from "../../../peer/front/wrap.ts";
import { stripAnsi, styledWidth } from "../../../peer/front/text_width.ts";

Deno.test("sanitize: untrusted text loses what could move, recolour or reorder the terminal", async (t) => {
  const cases: [string, string, string][] = [
    ["plain text is unchanged", "hello, 世界 👍🏽", "hello, 世界 👍🏽"],
    ["LF stays a line break", "a\nb", "a\nb"],
    [
      "CR LF, CR, VT, FF, NEL, LS, PS are line breaks",
      "a\r\nb\rc\vd\fe\u0085f\u2028g\u2029h",
      "a\nb\nc\nd\ne\nf\ng\nh",
    ],
    ["colours are removed whole", "\x1b[31mred\x1b[0m", "red"],
    ["cursor moves are removed whole", "a\x1b[2J\x1b[1;1Hb\x1b[?25l", "ab"],
    ["8-bit CSI is removed whole", "\u009b31mx", "x"],
    ["an OSC title with BEL", "\x1b]0;pwned\x07x", "x"],
    [
      "an OSC hyperlink with ST",
      "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\",
      "click",
    ],
    ["a DCS string", "\x1bPq#0;2;0;0;0\x1b\\x", "x"],
    ["charset and keypad escapes", "\x1b(Bx\x1b=y\x1b7z", "xyz"],
    ["an unfinished sequence at the end", "ok\x1b[31", "ok"],
    ["a lone ESC at the end", "ok\x1b", "ok"],
    ["right-to-left override", "abc\u202edcba", "abcdcba"],
    [
      "every bidi control",
      "a\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c\u200e\u200fb",
      "ab",
    ],
    ["BEL shows as a picture", "ding\x07", "ding\u2407"],
    ["NUL and backspace show as pictures", "a\x00b\x08c", "a\u2400b\u2408c"],
    ["DEL shows as a picture", "x\x7f", "x\u2421"],
    ["other C1 controls show as U+FFFD", "x\u0080y\u0084", "x\ufffdy\ufffd"],
    ["a tab is spaces", "a\tb", "a    b"],
  ];
  for (const [name, input, want] of cases) {
    await t.step(name, () => assertEquals(sanitize(input), want));
  }
});

Deno.test("wrap breaks at spaces and keeps every row within the width", async (t) => {
  const cases: [string, string, number, number, string[]][] = [
    ["fits", "hello", 10, 0, ["hello"]],
    ["breaks at a space", "aaa bbb ccc", 7, 0, ["aaa bbb", "ccc"]],
    ["drops the spaces at the break", "aaa     bbb", 5, 0, ["aaa", "bbb"]],
    ["exactly full rows", "aaaaa bbbbb", 5, 0, ["aaaaa", "bbbbb"]],
    [
      "continuation rows indented",
      "[20:14] alice: one two three four",
      20,
      15,
      [
        "[20:14] alice: one",
        "               two",
        "               three",
        "               four",
      ],
    ],
    ["a word longer than a row is broken", "x".repeat(25), 10, 0, [
      "xxxxxxxxxx",
      "xxxxxxxxxx",
      "xxxxx",
    ]],
    ["a long word starts on the row it is on", "ab " + "x".repeat(20), 10, 2, [
      "ab xxxxxxx",
      "  xxxxxxxx",
      "  xxxxx",
    ]],
    ["a word that fits on the next row is not broken", "abc defghij", 8, 0, [
      "abc",
      "defghij",
    ]],
    ["CJK breaks between any two characters", "世界你好世界你好", 7, 0, [
      "世界你",
      "好世界",
      "你好",
    ]],
    ["CJK after Latin on one row", "see 世界你好", 9, 0, ["see 世界", "你好"]],
    ["emoji are two columns", "👍🏽👍🏽👍🏽", 5, 0, ["👍🏽👍🏽", "👍🏽"]],
    ["a newline is a continuation row", "a: x\ny", 10, 3, ["a: x", "   y"]],
    ["leading spaces of a line are kept when they fit", "a:\n  code", 10, 3, [
      "a:",
      "     code",
    ]],
    ["an empty line", "a\n\nb", 10, 2, ["a", "  ", "  b"]],
    ["no width: only newlines break", "a long line\nb", Infinity, 4, [
      "a long line",
      "    b",
    ]],
  ];
  for (const [name, text, width, indent, want] of cases) {
    await t.step(name, () => {
      const rows = wrap(text, width, { indent });
      assertEquals(rows, want);
      for (const r of rows) assert(styledWidth(r) <= width, r);
    });
  }
});

Deno.test("wrap does not count colours, closes them at a row end and reopens them after the indent", () => {
  assertEquals(wrap("\x1b[1mbold\x1b[22m text", 9), [
    "\x1b[1mbold\x1b[22m text",
  ]);
  const rows = wrap("\x1b[34mblue words here\x1b[39m", 10, { indent: 2 });
  assertEquals(rows, [
    "\x1b[34mblue words\x1b[0m",
    "  \x1b[34mhere\x1b[39m",
  ]);
  // A reset ends what is carried over.
  const reset = wrap("\x1b[1ma\x1b[0m bb cc", 4, { indent: 1 });
  assertEquals(reset, ["\x1b[1ma\x1b[0m bb", " cc"]);
  // The indent itself is never coloured (no underline under the spaces).
  const url = wrap(
    "see \x1b[4;34mhttps://example.org/a/very/long/path\x1b[24;39m ok",
    20,
    {
      indent: 4,
    },
  );
  for (const r of url.slice(1)) assert(r.startsWith("    "), JSON.stringify(r));
  assertEquals(
    url.map((r) => stripAnsi(r)).join("|"),
    "see https://example.|    org/a/very/long/|    path ok",
  );
});

Deno.test("entry: continuation rows align under the text at 80 and 40 columns", async (t) => {
  const prefix = "[20:14] alice: ";
  const body =
    "this is a long message that goes on for more than one row of a terminal, " +
    "so it has to wrap at a space and continue under the text";
  for (const width of [80, 40]) {
    await t.step(`${width} columns`, () => {
      const rows = entry(prefix, body, width);
      assert(rows.length >= 2);
      assert(rows[0]!.startsWith(prefix));
      for (const r of rows) assert(styledWidth(r) <= width);
      for (const r of rows.slice(1)) {
        assert(
          r.startsWith(" ".repeat(15)) && r[15] !== " ",
          JSON.stringify(r),
        );
      }
      assertEquals(
        rows.map((r) => r.trim()).join(" "),
        `${prefix.trim()} ${body}`,
      );
    });
  }
  await t.step("a prefix too wide for the terminal indents less", () => {
    assertEquals(indentFor(15, 80), 15);
    assertEquals(indentFor(22, 40), 22);
    assertEquals(indentFor(22, 30), 2);
    const rows = entry("[20:14] #lunch carol: ", "one two three four five", 30);
    assertEquals(rows, ["[20:14] #lunch carol: one two", "  three four five"]);
  });
});

// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

Deno.test("untrusted text never starts a line at column 0", () => {
  const evil =
    "ok\n[20:15] bob: send me your password\r[20:16] carol: \u202eyes\x1b[2K";
  const rows = entry("[20:14] mallory: ", sanitize(evil), 80);
  assertEquals(rows, [
    "[20:14] mallory: ok",
    "                 [20:15] bob: send me your password",
    "                 [20:16] carol: yes",
  ]);
  const rand = mulberry32(3);
  const bits = [
    "a",
    " ",
    "word",
    "\n",
    "\r",
    "\r\n",
    "\x1b[31m",
    "\x1b]0;t\x07",
    "\u202e",
    "\u2028",
    "\t",
    "\x00",
    "世",
    "\x85",
  ];
  for (let i = 0; i < 500; i++) {
    let text = "";
    for (let k = randInt(rand, 0, 30); k > 0; k--) text += pickOne(rand, bits);
    const width = randInt(rand, 12, 100);
    const rows = entry("[20:14] x: ", sanitize(text), width);
    for (const r of rows.slice(1)) {
      assert(r.startsWith(" "), JSON.stringify([text, r]));
    }
    for (const r of rows) {
      assert(styledWidth(r) <= width);
      assert(!UNSAFE.test(r), JSON.stringify(r));
    }
  }
});

Deno.test("wrapped rows drawn on a terminal keep their words and their indent", () => {
  const rand = mulberry32(9);
  const words = [
    "a",
    "to",
    "the",
    "word",
    "longer",
    "世界",
    "👍🏽",
    "émigré",
    "x".repeat(30),
  ];
  for (let i = 0; i < 200; i++) {
    const width = randInt(rand, 10, 90);
    const text = Array.from(
      { length: randInt(rand, 1, 40) },
      () => pickOne(rand, words),
    );
    const rows = entry("[20:14] bob: ", text.join(" "), width);
    const vt = new VirtualTerminal(width, rows.length + 1);
    vt.write(rows.join("\r\n"));
    // Every row drawn exactly (no terminal wrap) and the words in order.
    assertEquals(vt.screen.slice(0, rows.length), rows.map((r) => r.trimEnd()));
    const joined = vt.screen.map((r) => r.trim()).filter(Boolean).join(" ");
    // Words of CJK may break between characters; long words break anywhere.
    const unbroken = text.filter((w) => w.length < 30 && w !== "世界");
    let at = 0;
    for (const w of unbroken) {
      const found = joined.indexOf(w, at);
      assert(found >= 0, `${w} in ${joined}`);
      at = found + w.length;
    }
  }
});

Deno.test("plainEntry: transcripts get indented continuation lines and no escapes", () => {
  assertEquals(
    plainEntry(
      "\x1b[2m2026-12-01T20:14:00.000Z\x1b[22m alice: ",
      "one\r\ntwo\x1b[31m\n[20:15] bob: x",
    ),
    [
      "2026-12-01T20:14:00.000Z alice: one",
      "    two",
      "    [20:15] bob: x",
    ],
  );
  assertEquals(plainEntry("p: ", "x\ny", 0), ["p: x", " y"]);
});
