/**
 * The shell's pure parts: tab completion (what each command's words complete
 * to) and the colour decision. The shell itself runs under a real terminal
 * in shell_pty_test.ts.
 */
import { assertEquals } from "../../helpers/assert.ts";
import {
  complete,
  completesRooms,
  type CompletionSource,
} from "../../../peer/front/completion.ts";
import { useColor } from "../../../peer/front/terminal.ts";

const SOURCE: CompletionSource = {
  knownUsers: ["alice", "albert", "bob"],
  knownRooms: ["lunch", "linux", "ops"],
};

Deno.test("tab completion offers each command's own words, users and rooms", async (t) => {
  const table: [string, string[]][] = [
    // Command names.
    ["/requ", ["/requests "]],
    ["/fri", ["/friend ", "/friends "]],
    // Sub-commands and fixed words.
    ["/friend a", ["add ", "accept "]],
    ["/friend accept al", ["alice ", "albert "]],
    [
      "/invite ",
      ["lunch ", "linux ", "ops ", "accept ", "decline ", "withdraw "],
    ],
    ["/invite w", ["withdraw "]],
    ["/invite withdraw o", ["ops "]],
    ["/invite withdraw ops a", ["alice ", "albert "]],
    ["/invite a", ["accept "]],
    ["/invite d", ["decline "]],
    ["/invite accept l", ["lunch ", "linux "]],
    ["/invite lunch b", ["bob "]],
    ["/file c", ["cancel "]],
    ["/room c", ["create "]],
    ["/room p", ["password "]],
    ["/room password l", ["lunch ", "linux "]],
    ["/room password lunch x", []],
    ["/unban o", ["ops "]],
    ["/unban ops b", ["bob "]],
    ["/save bob o", ["on ", "off "]],
    ["/accept bob --", ["--save "]],
    ["/who -", ["-l "]],
    ["/help fr", ["friend ", "friends "]],
    // Users where a command takes a user.
    ["/chat a", ["alice ", "albert "]],
    ["/msg b", ["bob "]],
    ["/msg bob hello a", []],
    ["/search @al", ["alice ", "albert "]],
    // Rooms where a command takes a room, with or without #.
    ["/join l", ["lunch ", "linux "]],
    ["/join #l", ["#lunch ", "#linux "]],
    ["/kick ops b", ["bob "]],
    ["/owner l", ["lunch ", "linux "]],
    // /send takes a user or a #room.
    ["/send ", ["alice ", "albert ", "bob ", "#lunch ", "#linux ", "#ops "]],
    ["/send #o", ["#ops "]],
    // Plain text completes user names anywhere, rooms after #.
    ["hi b", ["bob "]],
    ["see #o", ["#ops "]],
    // Nothing past the words a command takes.
    ["/quit x", []],
    ["/block bob x", []],
  ];
  for (const [line, want] of table) {
    await t.step(JSON.stringify(line), () => {
      const [hits, word] = complete(line, SOURCE);
      assertEquals(hits, want);
      assertEquals(word, line.split(/\s+/).pop());
    });
  }
});

Deno.test("room completion is recognised so the shell can fetch room names first", () => {
  for (const line of ["/join ", "/invite ", "/send ", "/kick l", "hi #"]) {
    assertEquals(completesRooms(line), true, line);
  }
  for (
    const line of ["/jo", "/chat ", "/kick ops ", "hello", "/invite lunch "]
  ) {
    assertEquals(completesRooms(line), false, line);
  }
});

Deno.test("colour is off under NO_COLOR, whatever the terminal", () => {
  assertEquals(useColor(true), false);
  assertEquals(useColor(false), Deno.stdout.isTerminal());
});
