/**
 * The screen the shell draws on, read back through a virtual terminal:
 * lines printed above a multi-row input at 80 and 40 columns leave it whole,
 * a status row stays above the prompt, pastes arrive as one edit, keys
 * become actions, bursts of events are coalesced into few redraws while an
 * echo never waits, and the terminal is given back as it was found.
 */
import { assert, assertEquals } from "../../helpers/assert.ts";
import { ManualClock } from "../../helpers/clock.ts";
import { VirtualTerminal } from "../../helpers/vt.ts";
import {
  PASTE_OFF,
  PASTE_ON,
  Screen,
  type ScreenAction,
} from "../../../peer/front/screen.ts";

const enc = new TextEncoder();
/** Lets queued microtasks (the screen's echo) run. */
const tick = () => new Promise<void>((r) => setTimeout(r, 0));

function setup(columns = 80, rows = 24) {
  const vt = new VirtualTerminal(columns, rows);
  const clock = new ManualClock(1000);
  const writes: string[] = [];
  const late: ScreenAction[] = [];
  const screen = new Screen({
    write: (s) => {
      writes.push(s);
      vt.write(s);
    },
    columns,
    rows,
    prompt: "alice> ",
    timers: clock,
    now: () => clock.now(),
    onLateAction: (a) => late.push(a),
  });
  const type = async (text: string) => {
    const actions = screen.input(enc.encode(text));
    await tick();
    return actions;
  };
  return { vt, clock, writes, screen, type, late };
}

/** The input rows as the terminal shows them, joined, from the prompt on. */
function inputOnScreen(vt: VirtualTerminal): string {
  const rows = vt.screen;
  const at = rows.findLastIndex((r) => r.startsWith("alice> "));
  return rows.slice(at).join("");
}

Deno.test("start turns bracketed paste on and draws the prompt; stop gives the terminal back", async () => {
  const { vt, screen, writes, type } = setup();
  screen.start();
  assert(writes[0]!.startsWith(PASTE_ON));
  assert(vt.bracketedPaste);
  assertEquals(vt.screen[0], "alice>");
  await type("half a line");
  assertEquals(vt.screen[0], "alice> half a line");
  screen.print("* bob is online");
  screen.stop();
  assert(writes[writes.length - 1]!.endsWith(PASTE_OFF));
  assert(!vt.bracketedPaste);
  assertEquals(vt.lines, ["* bob is online"]);
  assertEquals(
    [vt.row, vt.col],
    [1, 0],
    "the cursor at column 0 of an empty row",
  );
  assertEquals(vt.unknown, []);
});

for (const columns of [80, 40]) {
  Deno.test(`a message arriving while a two-row input is typed at ${columns} columns leaves the input whole`, async () => {
    const { vt, screen, type, clock } = setup(columns, 24);
    screen.start();
    const typed =
      "this is what alice is typing while bob talks, and it is long " +
      "enough to take two rows even at eighty columns 世界 👍🏽";
    for (const ch of typed) await type(ch);
    assert(inputOnScreen(vt).length > columns, "two rows at least");
    screen.printEntry(
      "[20:14] bob: ",
      "a long answer from bob that wraps onto a second row with its continuation under the text",
    );
    clock.advance(20);
    await tick();
    screen.printEntry("[20:15] bob: ", "short");
    clock.advance(20);
    await tick();
    const rows = vt.screen.filter((r) => r !== "");
    assert(rows[0]!.startsWith("[20:14] bob: a long answer"));
    assert(
      rows[1]!.startsWith(" ".repeat(13)) && rows[1]![13] !== " ",
      rows[1],
    );
    assert(rows.some((r) => r === "[20:15] bob: short"));
    // Rows are compared without spaces: one that ends a row is not shown.
    const bare = (t: string) => t.replaceAll(" ", "");
    assertEquals(bare(inputOnScreen(vt)), bare("alice> " + typed));
    assertEquals(vt.screen.filter((r) => r.startsWith("alice> ")).length, 1);
    // Typing goes on where it was.
    await type("!");
    assertEquals(bare(inputOnScreen(vt)), bare("alice> " + typed + "!"));
    assertEquals(vt.unknown, []);
  });
}

Deno.test("the status row stays above the prompt, lines go above both", async () => {
  const { vt, screen, type, clock } = setup(60, 10);
  screen.start();
  await type("hi");
  screen.status("x.bin → bob [###.......] 30%");
  clock.advance(20);
  await tick();
  assertEquals(vt.screen.slice(0, 2), [
    "x.bin → bob [###.......] 30%",
    "alice> hi",
  ]);
  screen.print("* bob accepted x.bin");
  screen.status("x.bin → bob [######....] 60%");
  clock.advance(20);
  await tick();
  assertEquals(vt.screen.slice(0, 3), [
    "* bob accepted x.bin",
    "x.bin → bob [######....] 60%",
    "alice> hi",
  ]);
  screen.status(null);
  screen.print("* bob received the file");
  clock.advance(20);
  await tick();
  assertEquals(vt.lines, [
    "* bob accepted x.bin",
    "* bob received the file",
    "alice> hi",
  ]);
});

Deno.test("keys become actions; editing keys are handled in the screen", async (t) => {
  await t.step("Enter submits the line and clears the input", async () => {
    const { vt, screen, type } = setup();
    screen.start();
    assertEquals(await type("hello\r"), [{ type: "submit", text: "hello" }]);
    assertEquals(vt.screen[0], "alice>");
    assertEquals(await type("\x1b[A"), []);
    assertEquals(screen.editor.text, "hello", "history");
  });
  await t.step("Ctrl-C clears the line and says so", async () => {
    const { vt, screen, type } = setup();
    screen.start();
    assertEquals(await type("half\x03"), [{ type: "interrupt" }]);
    assertEquals(vt.screen[0], "alice>");
  });
  await t.step("Ctrl-D ends only on an empty line", async () => {
    const { screen, type } = setup();
    screen.start();
    assertEquals(await type("ab\x1b[D\x04"), []);
    assertEquals(screen.editor.text, "a");
    assertEquals(await type("\x15\x04"), [{ type: "eof" }]);
  });
  await t.step(
    "Tab asks for completion; complete() replaces the word",
    async () => {
      const { vt, screen, type } = setup();
      screen.start();
      assertEquals(await type("/msg bo\t"), [{
        type: "complete",
        before: "/msg bo",
      }]);
      screen.complete(2, "bob ");
      await tick();
      assertEquals(vt.screen[0], "alice> /msg bob");
      assertEquals(vt.col, 16);
    },
  );
  await t.step(
    "Alt-digit switches, Ctrl-Z suspends, other keys are passed on",
    async () => {
      const { screen, type } = setup();
      screen.start();
      assertEquals(await type("\x1b1\x1b0\x1a\x1bOP"), [
        { type: "switch", index: 1 },
        { type: "switch", index: 10 },
        { type: "suspend" },
        {
          type: "key",
          key: {
            type: "key",
            name: "f1",
            ctrl: false,
            alt: false,
            shift: false,
          },
        },
      ]);
    },
  );
  await t.step("a lone ESC arrives when its timer fires", async () => {
    const { screen, type, clock, late } = setup();
    screen.start();
    assertEquals(await type("\x1b"), []);
    clock.advance(100);
    assertEquals(late, [{
      type: "key",
      key: {
        type: "key",
        name: "escape",
        ctrl: false,
        alt: false,
        shift: false,
      },
    }]);
  });
  await t.step("word and line editing keys", async () => {
    const { screen, type } = setup();
    screen.start();
    await type("one two three\x17"); // Ctrl-W
    assertEquals(screen.editor.text, "one two ");
    await type("\x01X\x05Y\x1bb\x1b[3~"); // Ctrl-A X Ctrl-E Y Alt-B Delete
    assertEquals(screen.editor.text, "Xone two ");
    await type("\x1b[1;5D\x0b"); // Ctrl-Left Ctrl-K
    assertEquals(screen.editor.text, "Xone ");
  });
});

Deno.test("a multi-line paste is one edit: shown with ↵, sent as one message", async () => {
  const { vt, screen, type, writes } = setup();
  screen.start();
  const before = writes.length;
  assertEquals(
    await type("\x1b[200~line one\r\nline two\rline three\x1b[201~"),
    [],
  );
  assertEquals(writes.length, before + 1, "drawn once");
  assertEquals(vt.screen[0], "alice> line one↵line two↵line three");
  assertEquals(await type("\r"), [{
    type: "submit",
    text: "line one\nline two\nline three",
  }]);
});

Deno.test("an 8 KiB paste is decoded, inserted and drawn in one flush", async () => {
  const { vt, screen, writes, type } = setup(80, 24);
  screen.start();
  const text = "0123456789abcdef".repeat(512);
  const before = writes.length;
  await type(`\x1b[200~${text}\x1b[201~`);
  assertEquals(writes.length, before + 1);
  assertEquals(screen.editor.length, 8192);
  // The rows around the cursor (the end) fill the screen but one.
  const shown = vt.screen.filter((r) => r !== "");
  assertEquals(shown.length, 23);
  assertEquals(shown.join(""), text.slice(-shown.join("").length));
  await type("!");
  assertEquals(writes[writes.length - 1], "!");
});

Deno.test("a hundred events in a burst are drawn in few flushes; an echo never waits", async () => {
  const { vt, screen, type, clock } = setup(80, 24);
  screen.start();
  await type("typing along");
  const start = screen.flushes;
  for (let i = 0; i < 100; i++) screen.print(`[20:14] bob: message ${i}`);
  await tick();
  clock.advance(20);
  await tick();
  assert(screen.flushes - start <= 2, `${screen.flushes - start} flushes`);
  assertEquals(vt.screen[22], "[20:14] bob: message 99");
  assertEquals(vt.screen[23], "alice> typing along");
  // Events spread over time: at most one flush a frame.
  const spread = screen.flushes;
  for (let ms = 0; ms < 100; ms++) {
    screen.print(`[20:15] carol: ${ms}`);
    clock.advance(1);
    await tick();
  }
  clock.advance(20);
  await tick();
  const flushes = screen.flushes - spread;
  assert(
    flushes >= 5 && flushes <= 8,
    `${flushes} flushes for 100 events in 100 ms`,
  );
  // A key while a frame is pending is drawn at once, lines included.
  screen.print("[20:16] bob: pending");
  const writes = screen.flushes;
  await type("!");
  assertEquals(screen.flushes, writes + 1);
  assertEquals(vt.screen[22], "[20:16] bob: pending");
  assertEquals(vt.screen[23], "alice> typing along!");
});

Deno.test("a resize redraws the input whole at the new width", async () => {
  const { vt, screen, type } = setup(80, 24);
  screen.start();
  const typed =
    "a line long enough to need two rows once the terminal is only forty columns wide";
  await type(typed);
  screen.print("[20:14] bob: hello");
  await tick();
  vt.resize(40, 24);
  screen.resize(40, 24);
  await tick();
  assertEquals(vt.lines[0], "[20:14] bob: hello");
  assertEquals(vt.lines.slice(1).join(""), "alice> " + typed);
  vt.resize(80, 24);
  screen.resize(80, 24);
  await tick();
  assertEquals(vt.lines[0], "[20:14] bob: hello");
  assertEquals(vt.lines.slice(1).join(""), "alice> " + typed);
  assertEquals(vt.lines.length, 3, "two rows at 80 columns, no leftovers");
});

Deno.test("suspend gives the terminal back; resume draws the input again", async () => {
  const { vt, screen, type } = setup();
  screen.start();
  await type("half");
  screen.suspend();
  assert(!vt.bracketedPaste);
  assertEquals(vt.lines, []);
  vt.write("[1]+  Stopped\r\n$ fg\r\n");
  screen.resume();
  assert(vt.bracketedPaste);
  assertEquals(vt.lines, ["[1]+  Stopped", "$ fg", "alice> half"]);
});

Deno.test("Ctrl-L clears the terminal and draws the input at the top", async () => {
  const { vt, screen, type, clock } = setup();
  screen.start();
  screen.print("old");
  clock.advance(20);
  assertEquals(vt.screen[0], "old");
  await type("x\x0c");
  assertEquals(vt.screen[0], "alice> x");
  assertEquals(vt.screen.filter((r) => r !== "").length, 1);
  // Lines not yet drawn when Ctrl-L comes are drawn after the clear.
  screen.print("new");
  await type("\x0c");
  assertEquals(vt.screen.slice(0, 2), ["new", "alice> x"]);
});
