/**
 * The virtual terminal the screen tests read: xterm's deferred wrap, wide
 * characters at the edge, erasing, scrolling and resizing behave as a real
 * terminal does, or the screen tests would prove nothing.
 */
import { assertEquals } from "./assert.ts";
import { VirtualTerminal } from "./vt.ts";

Deno.test("vt: text, CR, LF and the deferred wrap at the last column", () => {
  const vt = new VirtualTerminal(5, 3);
  vt.write("abcde");
  assertEquals([vt.row, vt.col, vt.pendingWrap], [0, 4, true]);
  vt.write("\r\n");
  assertEquals([vt.row, vt.col], [1, 0]);
  vt.write("fghijk");
  assertEquals(vt.screen, ["abcde", "fghij", "k"]);
  assertEquals(vt.unknown, []);
});

Deno.test("vt: a wide character that does not fit wraps whole", () => {
  const vt = new VirtualTerminal(5, 3);
  vt.write("abcd世x");
  assertEquals(vt.screen, ["abcd", "世x", ""]);
  assertEquals([vt.row, vt.col], [1, 3]);
});

Deno.test("vt: combining marks and emoji sequences take their cells", () => {
  const vt = new VirtualTerminal(10, 2);
  vt.write("e\u0301👍🏽z");
  assertEquals(vt.screen[0], "e\u0301👍🏽z");
  assertEquals(vt.col, 4);
});

Deno.test("vt: cursor moves and erasing", () => {
  const vt = new VirtualTerminal(10, 4);
  vt.write("one\r\ntwo\r\nthree");
  vt.write("\x1b[2A\r\x1b[2C");
  assertEquals([vt.row, vt.col], [0, 2]);
  vt.write("\x1b[K");
  assertEquals(vt.screen, ["on", "two", "three", ""]);
  vt.write("\x1b[B\r\x1b[J");
  assertEquals(vt.screen, ["on", "", "", ""]);
  vt.write("\x1b[3;4Hx\x1b[2K");
  assertEquals(vt.screen[2], "");
  vt.write("\x1b[?2004h");
  assertEquals(vt.bracketedPaste, true);
  assertEquals(vt.unknown, []);
  vt.write("\x1b[5n\x01");
  assertEquals(vt.unknown, ["CSI 5n", "\x01"]);
});

Deno.test("vt: output past the last row scrolls into the scrollback", () => {
  const vt = new VirtualTerminal(10, 2);
  vt.write("a\r\nb\r\nc\r\nd");
  assertEquals(vt.screen, ["c", "d"]);
  assertEquals(vt.lines, ["a", "b", "c", "d"]);
  vt.write("\x1b[5A");
  assertEquals(vt.row, 0);
});

Deno.test("vt: a sequence split across writes", () => {
  const vt = new VirtualTerminal(10, 2);
  vt.write("ab\x1b[");
  vt.write("1Dc");
  assertEquals(vt.screen[0], "ac");
});

Deno.test("vt: narrowing with reflow splits long lines; the cursor follows its text", () => {
  const vt = new VirtualTerminal(10, 5);
  vt.write("0123456789\r\nabcdefgh");
  vt.write("\x1b[3D");
  assertEquals([vt.row, vt.col], [1, 5]);
  vt.resize(4, 5);
  assertEquals(vt.screen, ["0123", "4567", "89", "abcd", "efgh"]);
  assertEquals([vt.row, vt.col], [4, 1]);
});

Deno.test("vt: widening with reflow joins only what the terminal wrapped", () => {
  const vt = new VirtualTerminal(4, 5);
  vt.write("abcdefg\r\nhi");
  assertEquals(vt.screen, ["abcd", "efg", "hi", "", ""]);
  vt.resize(10, 5);
  assertEquals(vt.screen, ["abcdefg", "hi", "", "", ""]);
  assertEquals([vt.row, vt.col], [1, 2]);
});

Deno.test("vt: resizing without reflow cuts rows", () => {
  const vt = new VirtualTerminal(10, 3);
  vt.write("0123456789\r\nab");
  vt.resize(4, 3, false);
  assertEquals(vt.screen, ["0123", "ab", ""]);
  assertEquals([vt.row, vt.col], [1, 2]);
});
