/**
 * The interactive shell (SPEC §2.1) under a real pseudo-terminal: `chat peer`
 * runs inside a detached tmux session, keys are typed with send-keys and the
 * screen is read with capture-pane. Each test uses its own tmux socket (-L)
 * so parallel runs never collide, and kills its tmux server in `finally`.
 *
 * Needs tmux (Debian: `apt-get install -y tmux`); without it the tests are
 * skipped with a message saying so.
 */
import { join } from "node:path";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import {
  type JsonLine,
  runChat,
  spawnPeer,
} from "../../helpers/peer_process.ts";
import {
  type RegistryProcess,
  spawnRegistry,
  until,
} from "../../helpers/registry.ts";
import {
  COLOUR,
  ShellSession,
  TMUX_FOUND,
} from "../../helpers/shell_session.ts";

async function withAccount(reg: RegistryProcess, user: string): Promise<void> {
  await using p = await spawnPeer(reg, { user });
  assertEquals(await p.quit(), 0);
}

const isReply = (command: string) => (l: JsonLine) =>
  l.type === "reply" && l.command === command;

Deno.test({
  name:
    "the shell masks the password, asks again when it is wrong, shows the prompt without colour under NO_COLOR, and Ctrl-D logs out",
  ignore: !TMUX_FOUND,
  fn: async () => {
    await using reg = await spawnRegistry();
    await withAccount(reg, "alice");
    await using sh = await ShellSession.start(reg, "alice", { NO_COLOR: "1" });

    await sh.waitFor("password for alice:", "the password prompt");
    await sh.type("not-the-secret");
    await sh.press("Enter");
    const second = await sh.waitFor(
      /wrong password[^\n]*\n(.*\n)*password for alice:\s*$/m,
      "a second password prompt",
    );
    assertIncludes(second, "*".repeat("not-the-secret".length));
    await sh.type("alice-password");
    await sh.press("Enter");
    const screen = await sh.waitFor(/^alice>/m, "the prompt");
    assertIncludes(screen, "logged in as alice");
    assert(
      !screen.includes("alice-password") && !screen.includes("not-the-secret"),
      `a password was echoed:\n${screen}`,
    );
    assertIncludes(screen, "*".repeat("alice-password".length));

    await sh.type("/help");
    await sh.press("Enter");
    const help = await sh.waitFor("A line without / goes where", "/help");
    for (
      const usage of [
        "/who [-l]",
        "/msg NAME TEXT",
        "/room create NAME",
        "/send NAME|#ROOM FILE",
        "/file accept|reject|cancel ID",
        "/quit",
      ]
    ) assertIncludes(help, usage);

    assert(
      !COLOUR.test(await sh.screenWithColours()),
      "NO_COLOR: no colours on screen",
    );

    await sh.type("/who");
    await sh.press("Enter");
    await sh.waitFor("1 online: alice", "the /who reply");
    await sh.press("C-d");
    await sh.waitFor("logging out", "Ctrl-D logging out");
    assertEquals(await sh.exitCode(), 0);
    await using check = await spawnPeer(reg, { user: "checker" });
    assertEquals((await check.send("/search alice")).online, false);
  },
});

Deno.test({
  name:
    "an incoming message leaves the half-typed line intact, tab completes commands, Ctrl-D logs out",
  ignore: !TMUX_FOUND,
  fn: async () => {
    await using reg = await spawnRegistry();
    await withAccount(reg, "alice");
    await using bob = await spawnPeer(reg, { user: "bob" });
    await using sh = await ShellSession.start(reg, "alice");
    await sh.logIn("alice");
    assert(
      COLOUR.test(await sh.screenWithColours()),
      "colours on a terminal without NO_COLOR",
    );

    // Tab completion of a command name.
    await sh.type("/requ");
    await sh.press("Tab");
    await sh.waitFor(/alice> \/requests\s*$/m, "/requ completed to /requests");
    await sh.press("Enter");
    await sh.waitFor("no pending friend requests", "the /requests reply");

    // bob asks for a chat; alice accepts in the shell.
    await bob.send("/chat alice");
    await sh.waitFor("bob wants to chat", "the chat request");
    await sh.type("/accept bob");
    await sh.press("Enter");
    await bob.waitFor((l) => l.type === "chat_started", "chat_started");
    await sh.waitFor(/^alice@bob>\s*$/m, "the prompt naming the conversation");

    // A message arrives while a line is half typed.
    await sh.type("half typed");
    await sh.waitFor(/alice@bob> half typed$/m, "the half-typed line");
    const sent = await bob.send("/msg alice ping from *bob*");
    assertEquals(sent.state, "sent");
    // Colour is on, so *bob* shows in bold, without its asterisks.
    const screen = await sh.waitFor(
      /bob: ping from bob$/m,
      "bob's message on screen",
    );
    const lines = screen.trimEnd().split("\n");
    const msgAt = lines.findIndex((l) => l.includes("bob: ping from bob"));
    assert(/^\[\d\d:\d\d\] bob: ping from bob$/.test(lines[msgAt]!.trim()));
    await until(
      async () => (await sh.cursorLine()).trimEnd() === "alice@bob> half typed",
      "the half-typed text redrawn on the prompt line",
    );
    assert(
      !lines[msgAt]!.includes("half typed"),
      "the message did not land inside the typed text",
    );

    // Finishing the line sends the whole of it to the current chat.
    await sh.type(" and finished");
    await sh.press("Enter");
    const got = await bob.waitFor(
      (l) => l.type === "message" && l.from === "alice",
      "alice's line at bob",
    );
    assertEquals(got.text, "half typed and finished");
    await sh.waitFor(/alice: half typed and finished/, "alice's own echo");

    // Ctrl-D on an empty line logs out: alice is offline at the registry.
    await sh.press("C-d");
    assertEquals(await sh.exitCode(), 0);
    const search = await bob.send("/search alice");
    assert(isReply("/search")(search));
    assertEquals(search.online, false, "alice went offline at the registry");
  },
});

Deno.test({
  name:
    "tab completes user and room names from the registry, a progress bar above the prompt leaves the half-typed line intact, /quit logs out",
  ignore: !TMUX_FOUND,
  fn: async () => {
    await using reg = await spawnRegistry();
    await withAccount(reg, "alice");
    await withAccount(reg, "carol");
    await using bob = await spawnPeer(reg, { user: "bob" });
    assert((await bob.send("/room create opsroom")).ok);
    assert((await bob.send("/friend add alice")).ok);
    await using sh = await ShellSession.start(reg, "alice", { NO_COLOR: "1" });
    await sh.logIn("alice");
    await sh.waitFor("bob wants to be your friend", "the friend request");

    // A room alice has never seen: Tab asks the registry for room names.
    await sh.type("/join ops");
    await sh.press("Tab");
    await sh.waitFor(/alice> \/join opsroom\s*$/m, "the room name completed");
    await sh.press("Enter");
    await sh.waitFor(/^alice#opsroom>/m, "the prompt naming the room");
    // A user name (bob asked for friendship, so alice knows him).
    await sh.type("/friend acc");
    await sh.press("Tab");
    // Completion answers asynchronously: wait for it before typing on.
    await until(
      async () => (await sh.cursorLine()).trimEnd().endsWith("/friend accept"),
      "the sub-command completed",
    );
    await sh.type("b");
    await sh.press("Tab");
    await sh.waitFor(
      /alice#opsroom> \/friend accept bob\s*$/m,
      "sub-command and user completed",
    );
    await sh.press("Enter");
    await sh.waitFor("friends", "the friend accept reply");
    // The reply and the registry's event both say it: shown once. bob's
    // event comes with alice's, so once bob has it alice's has come too.
    await bob.waitFor(
      (l) => l.type === "friend_accepted" && l.user === "alice",
      "bob told they are friends",
    );
    await sh.type("/friends");
    await sh.press("Enter");
    const friendsShown = await sh.waitFor(/[●○] bob/, "the /friends list");
    assertEquals(
      friendsShown.split("you and bob are friends now").length - 1,
      1,
      `"friends now" more than once:\n${friendsShown}`,
    );

    // carol pipes a stream to alice, slowly, while alice types.
    const stream = new TransformStream<Uint8Array, Uint8Array>();
    const writer = stream.writable.getWriter();
    const sending = runChat(
      ["send", "alice", "-", "--name", "slow.bin"],
      {
        env: {
          CHAT_HOME: join(sh.dir, "carol-home"),
          CHAT_USER: "carol",
          CHAT_PASSWORD: "carol-password",
          CHAT_REGISTRY: `127.0.0.1:${reg.port}`,
          CHAT_REGISTRY_FINGERPRINT: `sha256:${reg.fingerprint}`,
        },
        stdin: stream.readable,
      },
    );
    const offer = await sh.waitFor(
      /carol offers slow\.bin \(size unknown\) — \/file accept (\S+)/,
      "carol's offer",
    );
    const id = /\/file accept (\S+)/.exec(offer)![1]!;
    await sh.type(`/file accept ${id}`);
    await sh.press("Enter");
    const chunk = new Uint8Array(256 * 1024).fill(7);
    await writer.write(chunk);
    await sh.waitFor(/^slow\.bin ← carol .*\/s/m, "the progress bar");
    // Ctrl-D while a transfer runs asks first; an arrow key is not echoed.
    await sh.press("C-d");
    await sh.waitFor(
      /1 transfer is still running — log out and stop it\? \[y\/N\]\s*$/m,
      "the question",
    );
    await sh.press("Left");
    await sh.type("n");
    await sh.press("Enter");
    await until(
      async () => (await sh.cursorLine()).trimEnd() === "alice#opsroom>",
      "the prompt back after no",
    );
    const asked = await sh.screen();
    assert(
      /\[y\/N\] n$/m.test(asked) && !asked.includes("^[["),
      `the answer as typed, no arrow key:\n${asked}`,
    );
    await sh.type("half typed");
    for (let i = 0; i < 8; i++) {
      await writer.write(chunk);
      await new Promise((r) => setTimeout(r, 150));
    }
    const during = await sh.screen();
    const lines = during.trimEnd().split("\n");
    assert(
      /^slow\.bin ← carol /.test(lines.at(-2) ?? ""),
      `the bar sits just above the prompt:\n${during}`,
    );
    assertEquals(
      (await sh.cursorLine()).trimEnd(),
      "alice#opsroom> half typed",
    );
    await writer.close();
    const done = await sh.waitFor(
      // 9 × 256 KiB; the line wraps on the 100-column terminal.
      /received 2\.3 MiB from carol → \S*slow\.bin/,
      "the file received",
    );
    assert(!/^slow\.bin ← carol /m.test(done), `the bar is gone:\n${done}`);
    assertEquals((await sending).code, 0);
    await until(
      async () =>
        (await sh.cursorLine()).trimEnd() === "alice#opsroom> half typed",
      "the half-typed text still on the prompt line",
    );

    // Clear the line (Ctrl-U) and quit.
    await sh.press("C-u");
    await sh.type("/quit");
    await sh.press("Enter");
    await sh.waitFor("logging out…", "/quit saying it logs out");
    assertEquals(await sh.exitCode(), 0);
    const search = await bob.send("/search alice");
    assertEquals(search.online, false, "alice went offline at the registry");
  },
});

Deno.test({
  name:
    "/room password asks for the password masked, a typed one is kept out of the history, Ctrl-C gives up the question only",
  ignore: !TMUX_FOUND,
  fn: async () => {
    await using reg = await spawnRegistry();
    await withAccount(reg, "alice");
    await using bob = await spawnPeer(reg, { user: "bob" });
    await using sh = await ShellSession.start(reg, "alice", { NO_COLOR: "1" });
    await sh.logIn("alice");
    await sh.type("/room create den");
    await sh.press("Enter");
    await sh.waitFor("created #den", "the room created");

    // Asked, not typed: each character shows as a star.
    await sh.type("/room password den");
    await sh.press("Enter");
    await sh.waitFor(
      "new password for #den (Enter alone removes it):",
      "the question",
    );
    await sh.type("s3cret pw");
    await sh.waitFor(/\(Enter alone removes it\): \*{9}\s*$/m, "nine stars");
    await sh.press("Enter");
    const set = await sh.waitFor("#den now has a new password", "the reply");
    assert(!set.includes("s3cret"), `the password was echoed:\n${set}`);
    const joined = await bob.send("/join den --password 's3cret pw'");
    assertEquals(joined.ok, true, JSON.stringify(joined));

    // Typed on the line: it works, but Up does not bring it back.
    await sh.type("/room password den typed-pw");
    await sh.press("Enter");
    await sh.waitFor(
      /now has a new password(.*\n)*.*now has a new password/,
      "the second reply",
    );
    await sh.press("Up");
    await until(
      async () => (await sh.cursorLine()).includes("/room password den"),
      "the question line from the history",
    );
    assert(
      !(await sh.cursorLine()).includes("typed-pw"),
      `a password came back from the history: ${await sh.cursorLine()}`,
    );
    await sh.press("C-u");

    // Ctrl-C while asked gives up the question, not the session.
    await sh.type("/room password den");
    await sh.press("Enter");
    await until(
      async () => (await sh.cursorLine()).includes("(Enter alone removes it):"),
      "the question again",
    );
    await sh.type("abc");
    await sh.press("C-c");
    await until(
      async () =>
        // Creating the room made it where plain lines go.
        /^alice#den> ?$/.test((await sh.cursorLine()).trimEnd() + " "),
      "the prompt back",
    );
    await sh.type("/who");
    await sh.press("Enter");
    await sh.waitFor(/\d online: .*alice/, "a command after the question");
    const rooms = await bob.send("/rooms -l den");
    assertEquals(
      (rooms.rooms as { locked: boolean }[]).map((r) => r.locked),
      [true],
      "the given-up question changed nothing",
    );

    await sh.press("C-d");
    assertEquals(await sh.exitCode(), 0);
    const history = await Deno.readTextFile(join(sh.dir, "history"));
    assert(
      !history.includes("typed-pw") && !history.includes("s3cret"),
      `a password in the history file:\n${history}`,
    );
    assert(history.includes("/room create den"), history);
  },
});
