/**
 * Terminal width of text: graphemes by Intl.Segmenter, two columns for wide
 * characters and emoji sequences, none for combining marks, and controls
 * always drawn in a visible form.
 */
import { assertEquals } from "../../helpers/assert.ts";
import {
  graphemes,
  graphemeWidth,
  isBidiControl,
  isWideCodePoint,
  textWidth,
  visibleForm,
  visibleText,
} from "../../../peer/front/text_width.ts";

Deno.test("graphemes keep what a person sees as one character together", async (t) => {
  const cases: [string, string, string[]][] = [
    ["ASCII one by one", "abc", ["a", "b", "c"]],
    ["thumbs up with a skin tone", "a👍🏽b", ["a", "👍🏽", "b"]],
    ["a family (ZWJ)", "👨‍👩‍👧x", ["👨‍👩‍👧", "x"]],
    ["flags pair regional indicators", "🇫🇷🇯🇵", ["🇫🇷", "🇯🇵"]],
    ["a keycap", "1️⃣2", ["1️⃣", "2"]],
    ["combining accent", "e\u0301t", ["e\u0301", "t"]],
    ["CJK", "世界", ["世", "界"]],
    ["CR LF is one", "a\r\nb", ["a", "\r\n", "b"]],
    ["controls stand alone", "a\x1b[", ["a", "\x1b", "["]],
    ["empty", "", []],
  ];
  for (const [name, text, want] of cases) {
    await t.step(name, () => assertEquals(graphemes(text), want));
  }
});

Deno.test("each grapheme's width in columns", async (t) => {
  const cases: [string, string, number][] = [
    ["ASCII letter", "a", 1],
    ["space", " ", 1],
    ["Latin-1", "é", 1],
    ["e + combining acute", "e\u0301", 1],
    ["lone combining mark", "\u0301", 0],
    ["zero width space", "\u200b", 0],
    ["zero width joiner alone", "\u200d", 0],
    ["CJK ideograph", "世", 2],
    ["Hiragana", "あ", 2],
    ["Hangul syllable", "한", 2],
    ["Hangul jamo L+V+T", "\u1100\u1161\u11a8", 2],
    ["fullwidth A", "Ａ", 2],
    ["ideographic space", "\u3000", 2],
    ["halfwidth katakana", "ｱ", 1],
    ["CJK extension B", "\u{20000}", 2],
    ["emoji presentation", "😀", 2],
    ["thumbs up + skin tone", "👍🏽", 2],
    ["a skin tone after a letter stands alone", "x🏽", 3],
    ["lone skin tone", "🏽", 2],
    ["an invented ZWJ sequence is its parts", "🦲\u200d👩\u200d🐈", 6],
    ["family ZWJ sequence", "👨‍👩‍👧", 2],
    ["flag", "🇫🇷", 2],
    ["lone regional indicator", "🇫", 2],
    ["keycap", "1️⃣", 2],
    ["heart with emoji selector", "❤️", 2],
    ["heart as text", "❤", 1],
    ["watch with text selector", "⌚︎", 1],
    ["copyright with emoji selector", "©️", 2],
    ["thermometer (text default)", "🌡", 1],
    ["box drawing (ambiguous, narrow)", "─", 1],
    ["Greek (ambiguous, narrow)", "λ", 1],
    ["ESC shows as ␛", "\x1b", 1],
    ["newline shows as ↵", "\n", 1],
    ["CR LF shows as one ↵", "\r\n", 1],
    ["DEL shows as ␡", "\x7f", 1],
    ["C1 CSI shows as U+FFFD", "\u009b", 1],
    ["RLO shows as <U+202E>", "\u202e", 8],
  ];
  for (const [name, g, want] of cases) {
    await t.step(name, () => assertEquals(graphemeWidth(g), want));
  }
});

Deno.test("controls and bidi controls have a visible form; the rest is drawn as is", () => {
  assertEquals(visibleForm("a"), null);
  assertEquals(visibleForm("世"), null);
  assertEquals(visibleForm("\x00"), "\u2400");
  assertEquals(visibleForm("\t"), "\u2409");
  assertEquals(visibleForm("\x1b"), "\u241b");
  assertEquals(visibleForm("\u2066"), "<U+2066>");
  assertEquals(visibleForm("\u061c"), "<U+061C>");
  for (const c of ["\u200e", "\u200f", "\u202a", "\u202e", "\u2069"]) {
    assertEquals(isBidiControl(c), true, c);
  }
  assertEquals(isBidiControl("a"), false);
  assertEquals(visibleText("a\x1b[31mb\n"), "a\u241b[31mb\u21b5");
  assertEquals(visibleText("plain"), "plain");
});

Deno.test("text width sums graphemes", () => {
  assertEquals(textWidth("hello"), 5);
  assertEquals(textWidth("世界 ok"), 7);
  assertEquals(textWidth("👍🏽👍"), 4);
  assertEquals(textWidth("cafe\u0301"), 4);
  assertEquals(textWidth(""), 0);
});

Deno.test("the wide table's edges", () => {
  const cases: [number, boolean][] = [
    [0x10ff, false],
    [0x1100, true],
    [0x115f, true],
    [0x1160, false],
    [0x303e, true],
    [0x303f, false],
    [0x4e00, true],
    [0x9fff, true],
    [0xd7a3, true],
    [0xd7a4, false],
    [0xff01, true],
    [0xff61, false],
    [0x3fffd, true],
    [0x40000, false],
  ];
  for (const [cp, want] of cases) {
    assertEquals(isWideCodePoint(cp), want, cp.toString(16));
  }
});
