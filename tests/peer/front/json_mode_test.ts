/**
 * The JSON scripting mode (SPEC §2.2) as a real `chat peer --json` process
 * driven over stdin and stdout: one reply per command line in order, the
 * events, exit codes, credentials from the environment, sign-up, and the
 * one-session-per-user rule with --replace.
 */
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { type JsonLine, spawnPeer } from "../../helpers/peer_process.ts";
import { spawnRegistry, until } from "../../helpers/registry.ts";
import { COMMAND_HELP } from "../../../peer/core/commands.ts";

/** Lines that are neither replies nor events the SPEC lists are bugs. */
function assertAllJson(lines: JsonLine[]): void {
  for (const l of lines) {
    assert(l.type !== "unparsable", `stdout had a non-JSON line: ${l.raw}`);
  }
}

Deno.test("JSON mode answers every command line exactly once, in order", async (t) => {
  await using reg = await spawnRegistry();
  await using alice = await spawnPeer(reg, { user: "alice" });

  await t.step("the first line is ready with the user and P2P port", () => {
    const first = alice.lines[0]!;
    assertEquals(first.type, "ready");
    assertEquals(first.user, "alice");
    assert(Number(first.port) > 0);
    assertEquals(first.created, true, "--signup created the account");
  });

  await t.step(
    "pipelined good, bad and unknown lines get one reply each",
    async () => {
      const lines = [
        "/who",
        "/frobnicate",
        "/search",
        "/status scripting away",
        "plain text with no conversation",
        "/search nobody",
        "/help",
        "/msg bad!name hi",
        "/search alice",
        "/status",
      ];
      const from = alice.lines.length;
      // All written before any reply is read: replies must still pair up.
      const replies = await Promise.all(lines.map((l) => alice.send(l)));
      assertEquals(replies.map((r) => r.command), [
        "/who",
        "/frobnicate",
        "/search",
        "/status",
        "/msg",
        "/search",
        "/help",
        "/msg",
        "/search",
        "/status",
      ]);
      assertEquals(replies.map((r) => r.ok), [
        true,
        false,
        false,
        true,
        false,
        false,
        true,
        false,
        true,
        true,
      ]);
      assertEquals(replies[0]!.users, [{ user: "alice" }]);
      assertEquals(replies[0]!.total, 1);
      assertIncludes(
        String(replies[1]!.error),
        "unknown command '/frobnicate'",
      );
      assertIncludes(String(replies[2]!.error), "usage: /search NAME");
      assertEquals(replies[3]!.status, "scripting away");
      assertIncludes(String(replies[4]!.error), "no current conversation");
      assertEquals(replies[5]!.error, "no such user 'nobody'");
      assertIncludes(String(replies[6]!.text), "/msg NAME TEXT");
      assertIncludes(String(replies[7]!.error), "not a valid user name");
      assertEquals(replies[8]!.online, true);
      assertEquals(replies[9]!.status, "scripting away");
      for (const r of replies) {
        assertEquals(r.type, "reply");
        if (!r.ok) {
          assertEquals(Object.keys(r).sort(), [
            "command",
            "error",
            "ok",
            "type",
          ]);
        }
      }
      const replyLines = alice.lines.slice(from).filter((l) =>
        l.type === "reply"
      );
      assertEquals(replyLines.length, lines.length, "no extra replies");
    },
  );

  await t.step("blank lines are not commands and get no reply", async () => {
    const from = alice.lines.length;
    const reply = await alice.send("\n  \n/status");
    assertEquals(reply.command, "/status");
    const replies = alice.lines.slice(from).filter((l) => l.type === "reply");
    assertEquals(replies.length, 1);
  });

  await t.step("/quit replies, logs out and exits 0", async () => {
    const reply = await alice.send("/quit");
    assertEquals(reply, { type: "reply", command: "/quit", ok: true });
    assertEquals(await alice.exited, 0);
    assertAllJson(alice.lines);
  });
});

Deno.test("JSON mode prints the events: presence, friend requests, offline messages, chats", async () => {
  await using reg = await spawnRegistry();
  await using alice = await spawnPeer(reg, { user: "alice" });
  await using carol = await spawnPeer(reg, { user: "carol" });
  // carol goes away; alice leaves her a message.
  assertEquals(await carol.quit(), 0);
  const stored = await alice.send("/msg carol see you *later*");
  assertEquals(stored.state, "stored");
  assertEquals(stored.to, "carol");
  assertIncludes(String(stored.notice), "carol is offline");

  {
    await using bob = await spawnPeer(reg, { user: "bob" });
    await alice.send("/friend add bob");
    const req = await bob.waitFor(
      (l) => l.type === "friend_request",
      "friend_request",
    );
    assertEquals(req, { type: "friend_request", from: "alice" });
    const acc = await bob.send("/friend accept alice");
    assertEquals(acc, {
      type: "reply",
      command: "/friend",
      ok: true,
      user: "alice",
      action: "accept",
    });
    await alice.waitFor(
      (l) => l.type === "friend_accepted" && l.user === "bob",
      "friend_accepted",
    );
    // With accept-friends off, a friend's request waits for /accept too.
    const off = await alice.send("/set accept-friends off");
    assertEquals(off, {
      type: "reply",
      command: "/set",
      ok: true,
      settings: { "accept-friends": "off" },
      changed: "accept-friends",
    });
    const chat = await bob.send("/msg alice hello with a request");
    assertEquals(chat.state, "requested");
    const ask = await alice.waitFor(
      (l) => l.type === "chat_request",
      "chat_request",
    );
    assertEquals(ask, {
      type: "chat_request",
      from: "bob",
      text: "hello with a request",
    });
    const accepted = await alice.send("/accept bob --save");
    assertEquals(accepted, {
      type: "reply",
      command: "/accept",
      ok: true,
      with: "bob",
      saving: true,
    });
    const started = await bob.waitFor(
      (l) => l.type === "chat_started",
      "chat_started",
    );
    assertEquals(started, {
      type: "chat_started",
      with: "alice",
      saving: false,
      path: "direct",
    });
    // The request's text was shown with the request; accepting delivers it.
    const delivered = await bob.waitFor(
      (l) => l.type === "delivered" && l.id === chat.id,
      "delivery of the request's text",
    );
    assertEquals(delivered, { type: "delivered", to: "alice", id: chat.id });
    const sent = await alice.send("/msg bob hi back");
    assertEquals(sent.state, "sent");
    const msg = await bob.waitFor(
      (l) => l.type === "message" && l.text === "hi back",
      "a message",
    );
    assertEquals(msg.from, "alice");
    assertEquals(msg.id, sent.id);
    assert(!("room" in msg), "a direct message has no room");
    assertEquals(await bob.quit(), 0, "end of stdin exits 0");
    await alice.waitFor(
      (l) => l.type === "chat_closed" && l.with === "bob",
      "chat_closed when bob logs out",
    );
  }
  const off = await alice.waitFor(
    (l) => l.type === "presence" && l.user === "bob" && l.online === false,
    "bob offline",
  );
  assertEquals(off, { type: "presence", user: "bob", online: false });
  const gone = await alice.send("/search bob");
  assertEquals(gone.online, false, "end of stdin logged bob out");

  await using carol2 = await spawnPeer(reg, {
    user: "carol",
    signup: false,
    home: carol.home,
  });
  const got = await carol2.waitFor(
    (l) => l.type === "offline_message",
    "offline_message",
  );
  assertEquals(got.from, "alice");
  assertEquals(got.text, "see you *later*");
  assert(!Number.isNaN(Date.parse(String(got.sent_at))), "sent_at is ISO");
  const inbox = await carol2.send("/inbox");
  assertEquals((inbox.messages as unknown[]).length, 1);
  assertAllJson([...alice.lines, ...carol2.lines]);
});

Deno.test("JSON mode login failures exit 1 with a clear message", async (t) => {
  await using reg = await spawnRegistry();
  {
    await using first = await spawnPeer(reg, { user: "erin" });
    assertEquals(await first.quit(), 0);
  }
  const fail = async (
    o: Parameters<typeof spawnPeer>[1],
    message: string,
  ) => {
    await using p = await spawnPeer(reg, { ...o, waitReady: false });
    const code = await p.exited;
    assertEquals(code, 1, `${o.user}: ${p.stderr.join("\n")}`);
    const err = p.stderr.join("\n");
    assertIncludes(err, message);
    assert(!p.lines.some((l) => l.type === "ready"), "no ready on failure");
    const stdout = p.lines.filter((l) => l.type === "error");
    assert(
      stdout.every((l) => String(l.message).includes(message)),
      JSON.stringify(p.lines),
    );
    return { err, lines: p.lines };
  };
  await t.step("a wrong password", async () => {
    const { err } = await fail(
      { user: "erin", password: "not-erins-password", signup: false },
      "wrong password for erin",
    );
    assert(!err.includes("not-erins-password"), "the password is not echoed");
  });
  await t.step("an unknown user without --signup", async () => {
    await fail({ user: "nobody", signup: false }, "nobody");
  });
  await t.step("no CHAT_PASSWORD, said on stderr and stdout", async () => {
    const message = "no password: set CHAT_PASSWORD";
    const { lines } = await fail(
      { user: "erin", signup: false, env: { CHAT_PASSWORD: "" } },
      message,
    );
    assertEquals(lines.length, 1);
    assertEquals(lines[0]!.type, "error");
  });
  await t.step("a bad CHAT_LOG_LEVEL", async () => {
    await fail(
      { user: "erin", signup: false, env: { CHAT_LOG_LEVEL: "loud" } },
      "CHAT_LOG_LEVEL 'loud' is not a log level",
    );
  });
  await t.step("a bad CHAT_MAX_FILE_BYTES", async () => {
    await fail(
      { user: "erin", signup: false, env: { CHAT_MAX_FILE_BYTES: "lots" } },
      "CHAT_MAX_FILE_BYTES 'lots' is not a number of bytes",
    );
  });
  await t.step("a password too short for --signup", async () => {
    await fail({ user: "frank", password: "short" }, "at least 8 characters");
  });
});

Deno.test("--signup creates the account, and a second login needs --replace", async (t) => {
  await using reg = await spawnRegistry();
  await using gina = await spawnPeer(reg, { user: "gina", signup: true });
  assertEquals((await gina.send("/profile gina")).friend, "you");

  await t.step("a second login of an online user is refused", async () => {
    await using again = await spawnPeer(reg, {
      user: "gina",
      signup: false,
      waitReady: false,
    });
    assertEquals(await again.exited, 1);
    assertIncludes(again.stderr.join("\n"), "gina is already online");
    assertEquals((await gina.send("/status")).ok, true, "the first lives on");
  });

  await t.step("--replace ends the older session, which exits", async () => {
    await using newer = await spawnPeer(reg, {
      user: "gina",
      signup: false,
      args: ["--replace"],
    });
    const ended = await gina.waitFor(
      (l) => l.type === "session_ended",
      "session_ended",
    );
    assertIncludes(String(ended.reason), "replaced");
    assertEquals(await gina.exited, 1);
    assertEquals((await newer.send("/search gina")).online, true);
  });
});

Deno.test("a heartbeat TIMEOUT makes JSON mode print timeout and log in again", async () => {
  // One heartbeat at login, then none for an hour: the 1 s TTL runs out.
  await using reg = await spawnRegistry({
    args: ["--heartbeat-interval", "1h", "--heartbeat-ttl", "1s"],
  });
  await using hal = await spawnPeer(reg, { user: "hal" });
  const t = await hal.waitFor((l) => l.type === "timeout", "timeout", 20_000);
  assertEquals(t, { type: "timeout", reason: "heartbeat", again: true });
  await hal.waitFor((l) => l.type === "registry_restored", "logged in again");
  assert(!hal.lines.some((l) => l.type === "registry_lost"));
  assertEquals(await hal.quit(), 0);
});

Deno.test("an idle TIMEOUT makes JSON mode print timeout and exit 1", async () => {
  await using reg = await spawnRegistry({ args: ["--idle-timeout", "1s"] });
  await using hal = await spawnPeer(reg, { user: "hal" });
  const t = await hal.waitFor((l) => l.type === "timeout", "timeout", 20_000);
  assertEquals(t, { type: "timeout", reason: "idle", again: false });
  assertEquals(await hal.exited, 1);
  assert(!hal.lines.some((l) => l.type === "registry_lost"));
});

Deno.test("JSON mode reports registry_lost and registry_restored, and SIGTERM logs out", async () => {
  const home = await Deno.makeTempDir({ prefix: "chat-json-reg-" });
  try {
    const first = await spawnRegistry({ home });
    await using ivy = await spawnPeer(first, { user: "ivy" });
    await first.stop("SIGKILL");
    const lost = await ivy.waitFor(
      (l) => l.type === "registry_lost",
      "registry_lost",
    );
    assertEquals(lost, { type: "registry_lost" });
    const down = await ivy.send("/who");
    assertEquals(down.ok, false);
    assertIncludes(String(down.error), "reconnecting");
    await using second = await spawnRegistry({
      home,
      port: first.port,
      udpPort: first.udpPort,
    });
    await ivy.waitFor(
      (l) => l.type === "registry_restored",
      "registry_restored",
      30_000,
    );
    assertEquals((await ivy.send("/who")).users, [{ user: "ivy" }]);
    assertEquals(await ivy.kill("SIGTERM"), 0);
    await until(
      () => second.stderr.some((l) => /logout/.test(l) && /ivy/.test(l)),
      "the registry logged ivy out",
    );
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});

Deno.test("JSON mode never prints file_progress but prints the file events", async () => {
  await using reg = await spawnRegistry();
  await using jo = await spawnPeer(reg, { user: "jo" });
  await using kim = await spawnPeer(reg, { user: "kim" });
  const path = `${jo.home}/data.bin`;
  const bytes = new Uint8Array(3 * 1024 * 1024).map((_, i) => i * 7);
  await Deno.writeFile(path, bytes);
  const sent = await jo.send(`/send kim ${path}`);
  assertEquals(sent.ok, true, JSON.stringify(sent));
  const offer = await kim.waitFor((l) => l.type === "file_offer", "offer");
  assertEquals(offer.from, "jo");
  assertEquals(offer.name, "data.bin");
  assertEquals(offer.size, bytes.length);
  assertEquals(offer.id, sent.id);
  await kim.send(`/file accept ${offer.id}`);
  const got = await kim.waitFor(
    (l) => l.type === "file_received",
    "file_received",
    30_000,
  );
  assertEquals(got.size, bytes.length);
  assertEquals(String(got.sha256).length, 64);
  await jo.waitFor((l) => l.type === "file_sent", "file_sent", 30_000);
  for (const p of [jo, kim]) {
    assert(!p.lines.some((l) => l.type === "file_progress"), p.user);
  }
});

Deno.test("docs/json-mode.md documents every command and every event", async () => {
  const doc = await Deno.readTextFile(
    new URL("../../../docs/json-mode.md", import.meta.url),
  );
  const events = await Deno.readTextFile(
    new URL("../../../peer/core/events.ts", import.meta.url),
  );
  const types = [...events.matchAll(/type: "([a-z_]+)"/g)].map((m) => m[1]!);
  assert(types.length > 20, "event types found in peer/events.ts");
  for (const type of types) {
    assert(doc.includes(`\`${type}\``), `event ${type} is not documented`);
  }
  for (const name of Object.keys(COMMAND_HELP)) {
    assert(
      new RegExp(`^\\|.*\`/${name}[ \`]`, "m").test(doc),
      `/${name} has no reply row`,
    );
  }
  for (
    const v of [
      "CHAT_USER",
      "CHAT_PASSWORD",
      "CHAT_REGISTRY",
      "CHAT_REGISTRY_FINGERPRINT",
      "CHAT_HOME",
      "CHAT_MAX_FILE_BYTES",
      "CHAT_LOG_LEVEL",
    ]
  ) assert(doc.includes(`| \`${v}\``), `${v} is not documented`);
});
