/**
 * The shell's terminal side under tmux: a message arriving while the typed
 * line takes two rows (at 80 and at 40 columns), bracketed pastes (four
 * lines as one message, 8 KiB at once), delivery notices naming what they
 * confirm, Ctrl-C clearing the line, grapheme editing with wide
 * characters, word wrapping, "did you mean", the prompt naming where a
 * plain line goes with /switch and Alt-digit, a room message some members
 * did not get, and Ctrl-Z past the heartbeat TTL followed by fg.
 */
import { assert, assertEquals } from "../../helpers/assert.ts";
import {
  type JsonPeer,
  runChat,
  spawnPeer,
} from "../../helpers/peer_process.ts";
import {
  type RegistryProcess,
  spawnRegistry,
  until,
} from "../../helpers/registry.ts";
import { ShellSession, TMUX_FOUND } from "../../helpers/shell_session.ts";

async function withAccount(reg: RegistryProcess, user: string): Promise<void> {
  await using p = await spawnPeer(reg, { user });
  assertEquals(await p.quit(), 0);
}

/** alice in a shell of `columns` columns, chatting with bob (a JSON peer). */
async function chatting(
  reg: RegistryProcess,
  bob: JsonPeer,
  columns: number,
): Promise<ShellSession> {
  const sh = await ShellSession.start(reg, "alice", { NO_COLOR: "1" }, {
    columns,
    rows: 30,
  });
  await sh.logIn("alice");
  await bob.send("/chat alice");
  await sh.waitFor("bob wants to chat", "the chat request");
  await sh.type("/accept bob");
  await sh.press("Enter");
  await bob.waitFor((l) => l.type === "chat_started", "chat_started");
  await sh.waitFor(/^alice@bob>\s*$/m, "the prompt naming bob");
  return sh;
}

/** The visible rows, trailing blanks cut. */
async function rows(sh: ShellSession): Promise<string[]> {
  return (await sh.visible()).split("\n").map((r) => r.trimEnd());
}

for (const columns of [80, 40]) {
  Deno.test({
    name:
      `a message arriving while a two-row line is typed shows whole above it at ${columns} columns, and the line stays whole`,
    ignore: !TMUX_FOUND,
    fn: async () => {
      await using reg = await spawnRegistry();
      await withAccount(reg, "alice");
      await using bob = await spawnPeer(reg, { user: "bob" });
      await using sh = await chatting(reg, bob, columns);

      // "alice@bob> " is 11 columns: this line takes two rows.
      const typed = Array.from(
        { length: Math.ceil(columns / 5) + 2 },
        (_, i) => `w${String(i).padStart(3, "0")}`,
      ).join(" ");
      assert(typed.length + 11 > columns && typed.length + 11 < 2 * columns);
      await sh.type(typed);
      await sh.waitFor(typed.slice(-12), "the end of the typed line");
      for (const n of [1, 2, 3]) {
        assertEquals(
          (await bob.send(`/msg alice incoming number ${n}`)).state,
          "sent",
        );
      }
      const screen = await sh.waitFor(
        /bob: incoming number 3/,
        "the third message",
      );
      for (const n of [1, 2]) {
        assert(
          screen.includes(`bob: incoming number ${n}`),
          `message ${n} is missing:\n${screen}`,
        );
      }
      // The input is drawn once, on the last rows, and nowhere else.
      await until(async () => {
        const r = (await rows(sh)).filter((l) => l !== "");
        const joined = r.slice(-2).join("");
        return joined === `alice@bob> ${typed}` || null;
      }, "the two-row input on the last two rows");
      const all = await sh.screen();
      assertEquals(
        all.split("alice@bob> w000").length - 1,
        1,
        `the input's first row drawn more than once:\n${all}`,
      );

      // Narrower still: the line is drawn again, and a message still shows.
      await sh.resize(columns - 10, 30);
      // The shell hears of the new width first (the terminal reflowed what
      // was on it), then a message comes.
      await until(async () => {
        const r = (await rows(sh)).filter((l) => l !== "");
        return r.slice(-2).join("").endsWith(typed.slice(-20)) || null;
      }, "the input redrawn at the new width");
      await bob.send("/msg alice after the resize");
      await sh.waitFor(/bob: after the resize/, "a message after the resize");
      await until(async () => {
        const r = (await rows(sh)).filter((l) => l !== "");
        return r.slice(-2).join("").endsWith(typed.slice(-20)) || null;
      }, "the input under the message");
      const after = await sh.visible();
      assertEquals(
        after.split("alice@bob> w000").length - 1,
        1,
        `the input drawn twice after the resize:\n${after}`,
      );

      // Enter sends the whole line.
      await sh.press("Enter");
      const got = await bob.waitFor(
        (l) => l.type === "message" && l.from === "alice",
        "alice's line",
      );
      assertEquals(got.text, typed);
      await sh.press("C-d");
      assertEquals(await sh.exitCode(), 0);
    },
  });
}

Deno.test({
  name:
    "a four-line paste is one message with one delivery notice naming it; Ctrl-C clears a half line and does not log out; graphemes and wide characters edit as one; long messages wrap at words under the text",
  ignore: !TMUX_FOUND,
  fn: async () => {
    await using reg = await spawnRegistry();
    await withAccount(reg, "alice");
    await using bob = await spawnPeer(reg, { user: "bob" });
    await using sh = await chatting(reg, bob, 80);

    await sh.paste("first line\nsecond line\nthird line\nfourth line");
    await sh.press("Enter");
    const got = await bob.waitFor(
      (l) => l.type === "message" && l.from === "alice",
      "the pasted message",
    );
    assertEquals(got.text, "first line\nsecond line\nthird line\nfourth line");
    const screen = await sh.waitFor(
      /✓ delivered to bob: "first line/,
      "the delivery notice naming the message",
    );
    assertEquals(
      screen.split("✓ delivered").length - 1,
      1,
      `one notice for one message:\n${screen}`,
    );
    const lines = screen.split("\n");
    const at = lines.findIndex((l) => /\] alice: first line$/.test(l));
    assert(at >= 0, `the echo of the paste:\n${screen}`);
    const indent = lines[at]!.indexOf("first line");
    for (
      const [i, text] of ["second line", "third line", "fourth line"].entries()
    ) {
      assertEquals(
        lines[at + 1 + i],
        " ".repeat(indent) + text,
        `line ${i + 2} continues under the text:\n${screen}`,
      );
    }

    // Ctrl-C on a half-typed line clears it; the shell goes on.
    await sh.type("half a tho");
    await sh.waitFor(/alice@bob> half a tho$/m, "the half line");
    await sh.press("C-c");
    await until(
      async () => (await sh.cursorLine()).trimEnd() === "alice@bob>",
      "the line cleared",
    );
    await sh.type("/who");
    await sh.press("Enter");
    await sh.waitFor(/2 online: /, "the shell still logged in");

    // 👍🏽 and 世 are one character each to the cursor and to backspace.
    await sh.type("a👍🏽b世c");
    await sh.press("Left", "Left", "BSpace", "BSpace");
    await sh.press("End");
    await sh.type("!");
    await sh.press("Enter");
    const edited = await bob.waitFor(
      (l) => l.type === "message" && l.text !== got.text,
      "the edited line",
    );
    assertEquals(edited.text, "a世c!");

    // Wide characters take two columns: the cursor lands after them.
    await sh.type("世界x");
    await sh.press("Left", "BSpace");
    await sh.waitFor(/alice@bob> 世x$/m, "界 deleted, x kept");
    await until(async () => {
      const x = Number(
        (await sh.tmux("display-message", "-p", "-t", "chat", "#{cursor_x}"))
          .trim(),
      );
      return x === "alice@bob> ".length + 2 || null;
    }, "the cursor two columns after 世");
    await sh.press("C-u");

    // A long message wraps at words, continuation rows under the text.
    const words = Array.from({ length: 30 }, (_, i) => `word${i}`).join(" ");
    await bob.send(`/msg alice ${words}`);
    const wrapped = await sh.waitFor(/bob: word0 /, "the long message");
    const rowsOf = wrapped.split("\n");
    const first = rowsOf.findIndex((l) => /bob: word0 /.test(l));
    const under = rowsOf[first]!.indexOf("word0");
    assert(rowsOf[first]!.length <= 80);
    assert(
      rowsOf[first + 1]!.startsWith(" ".repeat(under) + "word"),
      `the continuation is under the text:\n${wrapped}`,
    );
    for (const r of rowsOf.slice(first, first + 3)) {
      assert(!/word\d*$/.test(r) || /word\d+$/.test(r), r);
    }
    const rejoined = rowsOf.slice(first, first + 3).map((r) => r.trim()).join(
      " ",
    );
    assert(rejoined.includes(words.slice(0, 100)), rejoined);

    // "did you mean" for a mistyped command; nothing is sent.
    await sh.type("/acept bob");
    await sh.press("Enter");
    await sh.waitFor(
      "unknown command '/acept' — did you mean /accept?",
      "the suggestion",
    );
    await sh.press("C-d");
    assertEquals(await sh.exitCode(), 0);
  },
});

Deno.test({
  name:
    "an 8 KiB paste shows at once and goes as one message, and the session stays logged in",
  ignore: !TMUX_FOUND,
  fn: async () => {
    // A short heartbeat TTL: a starved heartbeat would log alice out.
    await using reg = await spawnRegistry({
      args: ["--heartbeat-interval", "200ms", "--heartbeat-ttl", "1s"],
    });
    await withAccount(reg, "alice");
    await using bob = await spawnPeer(reg, { user: "bob" });
    await using sh = await chatting(reg, bob, 80);
    const big = Array.from({ length: 2048 }, (_, i) =>
      `w${String(i % 1000).padStart(3, "0")}`).join(" ").slice(0, 8190) + " Z";
    assertEquals(big.length, 8192);
    await sh.paste(big);
    await sh.waitFor(/ Z$/m, "the end of the paste on screen");
    await sh.press("Enter");
    const got = await bob.waitFor(
      (l) =>
        l.type === "message" && l.from === "alice",
      "the pasted message",
    );
    assertEquals(got.text, big);
    await sh.waitFor(/✓ delivered to bob: "w000 w001/, "its delivery");
    const search = await bob.send("/search alice");
    assertEquals(search.online, true, "alice is still logged in");
    await sh.press("C-d");
    assertEquals(await sh.exitCode(), 0);
  },
});

Deno.test({
  name:
    "the prompt names where a plain line goes: a created room becomes it, /switch and Alt-digit change it, a line that goes nowhere is not echoed, a room message says how many members have it now and later, a kick names who did it",
  ignore: !TMUX_FOUND,
  fn: async () => {
    await using reg = await spawnRegistry();
    await withAccount(reg, "alice");
    await withAccount(reg, "carol");
    await using bob = await spawnPeer(reg, { user: "bob" });
    await using sh = await ShellSession.start(reg, "alice", {
      NO_COLOR: "1",
    });
    await sh.logIn("alice");

    // Nowhere to go yet: the line is refused and not shown as sent.
    await sh.type("into the void");
    await sh.press("Enter");
    const refused = await sh.waitFor(
      "no current conversation",
      "the refusal",
    );
    assert(
      !/alice: into the void/.test(refused),
      `a line that went nowhere was echoed:\n${refused}`,
    );

    await sh.type("/room create lunch");
    await sh.press("Enter");
    await sh.waitFor(/^alice#lunch>/m, "the prompt naming the new room");
    await sh.type("/invite lunch bob");
    await sh.press("Enter");
    await sh.waitFor("invited bob to #lunch", "the invitation");
    await sh.type("/invite lunch carol");
    await sh.press("Enter");
    await sh.waitFor("invited carol to #lunch", "carol's invitation");
    assertEquals((await bob.send("/invite accept lunch")).ok, true);
    await sh.waitFor("bob joined #lunch", "bob in the room");
    await using carol = await spawnPeer(reg, { user: "carol" });
    assertEquals((await carol.send("/invite accept lunch")).ok, true);
    await sh.waitFor("carol joined #lunch", "carol in the room");
    assertEquals(await carol.quit(), 0);
    await sh.waitFor("carol went offline", "carol offline");

    // A plain line goes to the room; one member has it, the other (away)
    // gets it from the room's backlog when back.
    await sh.type("pizza?");
    await sh.press("Enter");
    const said = await bob.waitFor(
      (l) => l.type === "message" && l.room === "lunch",
      "the room message at bob",
    );
    assertEquals(said.text, "pizza?");
    await sh.waitFor(
      /1 of 2 members of #lunch have it now; 1 will get it when they are back/,
      "how many have it",
    );

    // A chat with bob; /switch goes back and forth, the prompt follows.
    await bob.send("/chat alice");
    await sh.waitFor("bob wants to chat", "the chat request");
    await sh.type("/accept bob");
    await sh.press("Enter");
    await sh.waitFor(/^alice@bob>\s*$/m, "the prompt naming bob");
    await sh.type("/switch #lunch");
    await sh.press("Enter");
    await sh.waitFor(/^alice#lunch>\s*$/m, "switched to the room");
    await sh.type("back in the room");
    await sh.press("Enter");
    const inRoom = await bob.waitFor(
      (l) => l.type === "message" && l.text === "back in the room",
      "the line in the room",
    );
    assertEquals(inRoom.room, "lunch");
    await sh.type("/switch");
    await sh.press("Enter");
    await sh.waitFor(/Alt-2 +bob/, "the list of conversations");
    await sh.press("M-2");
    await sh.waitFor(/^alice@bob>\s*$/m, "Alt-2 switched to bob");
    await sh.type("/switch bobb");
    await sh.press("Enter");
    await sh.waitFor("did you mean bob?", "the name suggestion");

    // A kick names who did it, to the removed member and in the room.
    await sh.type("/kick lunch bob");
    await sh.press("Enter");
    const kicked = await bob.waitFor(
      (l) => l.type === "room_left" && l.user === "bob",
      "bob told he was removed",
    );
    assertEquals([kicked.reason, kicked.by], ["kicked", "alice"]);
    await sh.waitFor(
      "bob was removed from #lunch by alice",
      "the kick in alice's shell",
    );
    await sh.press("C-d");
    assertEquals(await sh.exitCode(), 0);
  },
});

Deno.test({
  name:
    "Ctrl-Z past the heartbeat TTL gives the terminal back; fg redraws, and the peer logs in again by itself and says so",
  ignore: !TMUX_FOUND,
  fn: async () => {
    await using reg = await spawnRegistry({
      args: ["--heartbeat-interval", "200ms", "--heartbeat-ttl", "1s"],
    });
    await withAccount(reg, "alice");
    await using bob = await spawnPeer(reg, { user: "bob" });
    await using sh = await ShellSession.start(reg, "alice", {
      NO_COLOR: "1",
    }, { jobControl: true });
    await sh.logIn("alice");
    await sh.type("half");
    await sh.press("C-z");
    // bash's job report, on a line of its own, then its prompt.
    await sh.waitFor(/Stopped/, "the job stopped");
    await until(
      async () => /\$ ?$/.test((await sh.cursorLine()).trimEnd() + " ") || null,
      "bash's prompt at column 0 of its own line",
    );
    // The registry times the stopped peer out.
    await until(
      async () => (await bob.send("/search alice")).online === false || null,
      "alice timed out at the registry",
    );
    await sh.type("fg");
    await sh.press("Enter");
    await sh.waitFor(
      /no heartbeat\) — logging in again(.*\n)+.*registry connection restored/,
      "the shell saying it logs in again, then that it did",
    );
    await until(
      async () => (await sh.cursorLine()).trimEnd() === "alice> half" || null,
      "the prompt and the half line redrawn",
    );
    assertEquals((await bob.send("/search alice")).online, true);
    await sh.press("C-u", "C-d");
    assertEquals(await sh.exitCode(), 0);
  },
});

Deno.test("without a terminal the shell reads lines from stdin and prints plain lines", async () => {
  await using reg = await spawnRegistry();
  await withAccount(reg, "alice");
  const home = await Deno.makeTempDir({ prefix: "chat-plain-shell-" });
  try {
    const run = await runChat(["peer", "--user", "alice"], {
      env: {
        CHAT_HOME: home,
        CHAT_PASSWORD: "alice-password",
        CHAT_REGISTRY: `127.0.0.1:${reg.port}`,
        CHAT_REGISTRY_FINGERPRINT: `sha256:${reg.fingerprint}`,
      },
      stdin: new TextEncoder().encode("/who\nnowhere to go\n/quit\n"),
    });
    assertEquals(run.code, 0, run.stderr);
    assert(run.text.includes("1 online: alice"), run.text);
    assert(run.text.includes("no current conversation"), run.text);
    assert(!run.text.includes("alice: nowhere to go"), run.text);
    // No terminal: no escape sequences at all.
    assert(!run.text.includes("\x1b["), JSON.stringify(run.text));
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
