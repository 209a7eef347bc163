/**
 * The key decoder: every encoding in a table, decoded whole, one byte at a
 * time and split at random; bracketed pastes of any size in linear time;
 * unknown sequences swallowed; a lone ESC resolved by the injected timer.
 */
import { assert, assertEquals } from "../../helpers/assert.ts";
import { ManualClock } from "../../helpers/clock.ts";
import { mulberry32, randInt } from "../../helpers/random.ts";
import { KeyDecoder, type KeyEvent } from "../../../peer/front/keys.ts";

const enc = new TextEncoder();

function k(
  name: string,
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
const text = (t: string): KeyEvent => ({ type: "text", text: t });
const paste = (t: string, truncated = false): KeyEvent => ({
  type: "paste",
  text: t,
  truncated,
});

/** Adjacent text events joined: how the events read whatever the chunking. */
function merged(events: KeyEvent[]): KeyEvent[] {
  const out: KeyEvent[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (e.type === "text" && last?.type === "text") {
      out[out.length - 1] = text(last.text + e.text);
    } else out.push(e);
  }
  return out;
}

/** Decodes `bytes` split into chunks at `cuts`, then flushes. */
function decode(bytes: Uint8Array, cuts: number[]): KeyEvent[] {
  const d = new KeyDecoder();
  const out: KeyEvent[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...d.push(bytes.subarray(at, cut)));
    at = cut;
  }
  out.push(...d.flush());
  return merged(out);
}

function bytesOf(input: string | number[]): Uint8Array {
  return typeof input === "string" ? enc.encode(input) : new Uint8Array(input);
}

const CASES: [string, string | number[], KeyEvent[]][] = [
  ["printable text", "hello", [text("hello")]],
  ["UTF-8 text", "é世👍🏽", [text("é世👍🏽")]],
  ["invalid UTF-8 is U+FFFD", [0x61, 0xff, 0x62], [text("a\ufffdb")]],
  ["a UTF-8 character cut by Enter", [0xe4, 0xb8, 0x0d], [
    text("\ufffd"),
    k("enter"),
  ]],
  ["C1 controls never reach text", "a\u009bb\u0085", [text("ab")]],
  ["Enter as CR", "\r", [k("enter")]],
  ["Enter as LF", "\n", [k("enter")]],
  ["CR LF is one Enter", "a\r\nb", [text("a"), k("enter"), text("b")]],
  ["two CRs are two Enters", "\r\r", [k("enter"), k("enter")]],
  ["LF CR are two Enters", "\n\r", [k("enter"), k("enter")]],
  ["Backspace as DEL", "\x7f", [k("backspace")]],
  ["Backspace as BS", "\x08", [k("backspace")]],
  ["Tab", "\t", [k("tab")]],
  ["Shift-Tab", "\x1b[Z", [k("tab", { shift: true })]],
  ["Ctrl-A", "\x01", [k("a", { ctrl: true })]],
  ["Ctrl-E", "\x05", [k("e", { ctrl: true })]],
  ["Ctrl-K", "\x0b", [k("k", { ctrl: true })]],
  ["Ctrl-U", "\x15", [k("u", { ctrl: true })]],
  ["Ctrl-W", "\x17", [k("w", { ctrl: true })]],
  ["Ctrl-L", "\x0c", [k("l", { ctrl: true })]],
  ["Ctrl-C", "\x03", [k("c", { ctrl: true })]],
  ["Ctrl-D", "\x04", [k("d", { ctrl: true })]],
  ["Ctrl-Z", "\x1a", [k("z", { ctrl: true })]],
  ["Ctrl-Space", "\x00", [k("space", { ctrl: true })]],
  ["Ctrl-]", "\x1d", [k("]", { ctrl: true })]],
  ["Ctrl-_", "\x1f", [k("_", { ctrl: true })]],
  ["up, down, right, left (CSI)", "\x1b[A\x1b[B\x1b[C\x1b[D", [
    k("up"),
    k("down"),
    k("right"),
    k("left"),
  ]],
  ["arrows (SS3, application mode)", "\x1bOA\x1bOB\x1bOC\x1bOD", [
    k("up"),
    k("down"),
    k("right"),
    k("left"),
  ]],
  ["Ctrl-Left, Ctrl-Right (xterm)", "\x1b[1;5D\x1b[1;5C", [
    k("left", { ctrl: true }),
    k("right", { ctrl: true }),
  ]],
  ["Alt-Right, Shift-Up", "\x1b[1;3C\x1b[1;2A", [
    k("right", { alt: true }),
    k("up", { shift: true }),
  ]],
  ["Ctrl-arrows (rxvt)", "\x1bOd\x1bOc", [
    k("left", { ctrl: true }),
    k("right", { ctrl: true }),
  ]],
  ["Shift-arrows (rxvt)", "\x1b[a", [k("up", { shift: true })]],
  ["Home and End (xterm)", "\x1b[H\x1b[F", [k("home"), k("end")]],
  ["Home and End (SS3)", "\x1bOH\x1bOF", [k("home"), k("end")]],
  ["Home and End (VT220)", "\x1b[1~\x1b[4~", [k("home"), k("end")]],
  ["Home and End (rxvt)", "\x1b[7~\x1b[8~", [k("home"), k("end")]],
  ["Delete, Insert, PageUp, PageDown", "\x1b[3~\x1b[2~\x1b[5~\x1b[6~", [
    k("delete"),
    k("insert"),
    k("pageup"),
    k("pagedown"),
  ]],
  ["Ctrl-Delete (xterm)", "\x1b[3;5~", [k("delete", { ctrl: true })]],
  ["Ctrl-Delete (rxvt)", "\x1b[3^", [k("delete", { ctrl: true })]],
  ["Shift-Delete (rxvt) is not waiting for more", "\x1b[3$x", [
    k("delete", { shift: true }),
    text("x"),
  ]],
  ["function keys", "\x1bOP\x1b[15~\x1b[24~\x1b[[A", [
    k("f1"),
    k("f5"),
    k("f12"),
    k("f1"),
  ]],
  ["keypad Enter and digits (application keypad)", "\x1bOM\x1bOq\x1bOk", [
    k("enter"),
    text("1+"),
  ]],
  ["Alt-digit", "\x1b1\x1b9", [k("1", { alt: true }), k("9", { alt: true })]],
  ["Alt-b, Alt-f", "\x1bb\x1bf", [
    k("b", { alt: true }),
    k("f", { alt: true }),
  ]],
  ["Alt-B is shifted", "\x1bB", [k("B", { alt: true, shift: true })]],
  ["Alt-Backspace", "\x1b\x7f", [k("backspace", { alt: true })]],
  ["Alt-Enter", "\x1b\r", [k("enter", { alt: true })]],
  ["Ctrl-Alt-A", "\x1b\x01", [k("a", { ctrl: true, alt: true })]],
  ["ESC ESC [A: Escape then up", "\x1b\x1b[A", [k("escape"), k("up")]],
  ["ESC before UTF-8: Escape then text", "\x1bé", [k("escape"), text("é")]],
  ["a lone ESC at the end is Escape after flush", "ab\x1b", [
    text("ab"),
    k("escape"),
  ]],
  ["CSI u", "\x1b[97;5u\x1b[13;2u\x1b[233u", [
    k("a", { ctrl: true }),
    k("enter", { shift: true }),
    text("é"),
  ]],
  ["unknown CSI swallowed", "a\x1b[99xb", [text("ab")]],
  ["device attributes reply swallowed", "a\x1b[?1;2cb", [text("ab")]],
  ["focus reports swallowed", "\x1b[I\x1b[Oz", [text("z")]],
  ["SGR mouse report swallowed", "\x1b[<0;10;5Mz", [text("z")]],
  ["OSC reply (BEL) swallowed", "\x1b]11;rgb:0000/0000/0000\x07x", [
    text("x"),
  ]],
  ["OSC reply (ST) swallowed", "\x1b]0;title\x1b\\y", [text("y")]],
  ["DCS swallowed", "\x1bP1$r0m\x1b\\y", [text("y")]],
  ["a control byte inside CSI ends it and counts", "\x1b[1;\r", [k("enter")]],
  ["a stray paste end is swallowed", "a\x1b[201~b", [text("ab")]],
  ["bracketed paste", "\x1b[200~hello\r\nworld\rend\x1b[201~", [
    paste("hello\nworld\nend"),
  ]],
  ["paste keeps escape sequences as text", "\x1b[200~a\x1b[Ab\x03\x1b[201~", [
    paste("a\x1b[Ab\x03"),
  ]],
  [
    "paste with near-misses of its end",
    "\x1b[200~x\x1b[201y\x1b\x1b[20~\x1b[201~",
    [
      paste("x\x1b[201y\x1b\x1b[20~"),
    ],
  ],
  ["text, paste, text", "ab\x1b[200~你好\x1b[201~c\r", [
    text("ab"),
    paste("你好"),
    text("c"),
    k("enter"),
  ]],
  ["an empty paste", "\x1b[200~\x1b[201~", [paste("")]],
];

Deno.test("decoder reads every key encoding in one chunk", async (t) => {
  for (const [name, input, want] of CASES) {
    await t.step(name, () => assertEquals(decode(bytesOf(input), []), want));
  }
});

Deno.test("decoder reads every key encoding one byte at a time", async (t) => {
  for (const [name, input, want] of CASES) {
    await t.step(name, () => {
      const bytes = bytesOf(input);
      const cuts = Array.from({ length: bytes.length }, (_, i) => i + 1);
      assertEquals(decode(bytes, cuts), want);
    });
  }
});

Deno.test("decoder reads all the encodings at once, split anywhere", () => {
  // Cases that end in a lone ESC would join with the next case's bytes.
  const usable = CASES.filter(([, input]) => {
    const b = bytesOf(input);
    return b[b.length - 1] !== 0x1b;
  });
  // An unknown sequence between cases keeps a CR and the next LF apart.
  const all = usable.flatMap(([, input]) => [
    ...bytesOf(input),
    ...bytesOf("\x1b[99x"),
  ]);
  const want = merged(usable.flatMap(([, , events]) => events));
  const bytes = new Uint8Array(all);
  const rand = mulberry32(14);
  for (let round = 0; round < 200; round++) {
    const cuts = new Set<number>();
    const n = randInt(rand, 1, 40);
    for (let i = 0; i < n; i++) cuts.add(randInt(rand, 1, bytes.length - 1));
    const sorted = [...cuts].sort((a, b) => a - b);
    assertEquals(decode(bytes, sorted), want, `cuts ${sorted.join(",")}`);
  }
});

Deno.test("random bytes never throw and never yield control characters as text", () => {
  const rand = mulberry32(7);
  const d = new KeyDecoder();
  for (let round = 0; round < 2000; round++) {
    const chunk = new Uint8Array(randInt(rand, 0, 32));
    for (let i = 0; i < chunk.length; i++) {
      // Weighted towards ESC and sequence bytes, where the states are.
      const r = rand();
      chunk[i] = r < 0.15 ? 0x1b : r < 0.3 ? 0x5b : randInt(rand, 0, 255);
    }
    for (
      const e of [...d.push(chunk), ...(round % 50 === 0 ? d.flush() : [])]
    ) {
      if (e.type === "text") {
        // deno-lint-ignore no-control-regex
        assert(!/[\u0000-\u001f\u007f-\u009f]/.test(e.text), JSON.stringify(e));
        assert(e.text.length > 0);
      }
    }
  }
});

Deno.test("a large paste is one event in any chunking (8 MiB too)", async (t) => {
  const body = "0123456789abcdef\u00e9\u4e16 ".repeat(3000); // about 72 KiB
  const bytes = bytesOf(`\x1b[200~${body}\x1b[201~!`);
  await t.step("8 KiB paste one byte at a time", () => {
    const small = bytesOf(`\x1b[200~${"x".repeat(8192)}\x1b[201~`);
    const cuts = Array.from({ length: small.length - 1 }, (_, i) => i + 1);
    assertEquals(decode(small, cuts), [paste("x".repeat(8192))]);
  });
  await t.step("one byte at a time", () => {
    const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    assertEquals(decode(bytes, cuts), [paste(body), text("!")]);
  });
  await t.step("4 KiB chunks", () => {
    const cuts = [];
    for (let i = 4096; i < bytes.length; i += 4096) cuts.push(i);
    assertEquals(decode(bytes, cuts), [paste(body), text("!")]);
  });
  await t.step("8 MiB in 64 KiB chunks", () => {
    const big = new Uint8Array(8 * 1024 * 1024).fill(0x61);
    const d = new KeyDecoder();
    const out: KeyEvent[] = [...d.push(bytesOf("\x1b[200~"))];
    for (let i = 0; i < big.length; i += 65536) {
      out.push(...d.push(big.subarray(i, i + 65536)));
    }
    assert(d.pasting);
    out.push(...d.push(bytesOf("\x1b[201~")));
    assertEquals(out.length, 1);
    const e = out[0]!;
    assert(e.type === "paste" && e.text.length === big.length && !e.truncated);
  });
});

Deno.test("a paste longer than the limit is cut and says so", () => {
  const d = new KeyDecoder({ maxPasteBytes: 10 });
  const out = [
    ...d.push(bytesOf("\x1b[200~0123456")),
    ...d.push(bytesOf("789abcdef\x1b[201~ok")),
  ];
  assertEquals(merged(out), [paste("0123456789", true), text("ok")]);
});

Deno.test("a lone ESC becomes the Escape key when the timer fires", async (t) => {
  await t.step("timeout", () => {
    const clock = new ManualClock();
    const late: KeyEvent[][] = [];
    const d = new KeyDecoder({
      timers: clock,
      escapeTimeoutMs: 100,
      onTimeout: (events) => late.push(events),
    });
    assertEquals(d.push(bytesOf("\x1b")), []);
    assert(d.waiting);
    clock.advance(99);
    assertEquals(late, []);
    clock.advance(1);
    assertEquals(late, [[k("escape")]]);
    assert(!d.waiting);
    assertEquals(clock.pending, 0);
  });
  await t.step("the rest of the sequence in time cancels it", () => {
    const clock = new ManualClock();
    const late: KeyEvent[][] = [];
    const d = new KeyDecoder({ timers: clock, onTimeout: (e) => late.push(e) });
    assertEquals(d.push(bytesOf("\x1b")), []);
    clock.advance(50);
    assertEquals(d.push(bytesOf("[")), []);
    clock.advance(50);
    assertEquals(d.push(bytesOf("D")), [k("left")]);
    clock.advance(1000);
    assertEquals(late, []);
    assertEquals(clock.pending, 0);
  });
  await t.step("ESC [ left alone is Alt-[", () => {
    const clock = new ManualClock();
    const late: KeyEvent[][] = [];
    const d = new KeyDecoder({ timers: clock, onTimeout: (e) => late.push(e) });
    d.push(bytesOf("\x1b["));
    clock.advance(100);
    assertEquals(late, [[k("[", { alt: true })]]);
  });
  await t.step("a half-read longer sequence is dropped, never typed", () => {
    const d = new KeyDecoder();
    assertEquals(d.push(bytesOf("\x1b[1;5")), []);
    assertEquals(d.flush(), []);
    assertEquals(d.push(bytesOf("x")), [text("x")]);
  });
  await t.step("no timer is armed during a paste", () => {
    const clock = new ManualClock();
    const d = new KeyDecoder({ timers: clock, onTimeout: () => {} });
    d.push(bytesOf("\x1b[200~abc"));
    assertEquals(clock.pending, 0);
    d.close();
  });
});
