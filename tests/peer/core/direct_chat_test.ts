/**
 * F10 end to end: real `chat peer --json` processes against a real registry
 * process, plus request expiry on in-process peers with a shifted clock.
 */
import { Logger } from "../../../common/log.ts";
import { CHAT_REQUEST_TTL_MS } from "../../../peer/core/conversations.ts";
import { isReply, Peer } from "../../../peer/core/mod.ts";
import type { PeerEvent } from "../../../peer/core/events.ts";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { ManualClock } from "../../helpers/clock.ts";
import { spawnRegistry, startRegistry, until } from "../../helpers/registry.ts";
import {
  type JsonLine,
  type JsonPeer,
  spawnPeer,
} from "../../helpers/peer_process.ts";

/** Asks for a chat from `a` to `b` and has `b` accept it. */
async function openChat(a: JsonPeer, b: JsonPeer): Promise<void> {
  const from = b.lines.length;
  const asked = await a.send(`/chat ${b.user}`);
  assertEquals(asked.ok, true, JSON.stringify(asked));
  await b.waitFor(
    (l) => l.type === "chat_request" && l.from === a.user,
    "chat_request",
    undefined,
    from,
  );
  const accepted = await b.send(`/accept ${a.user}`);
  assertEquals(accepted.ok, true, JSON.stringify(accepted));
  await a.waitFor(
    (l) => l.type === "chat_started" && l.with === b.user,
    "chat_started",
  );
}

/** Sends `text` from `a` to `b` and waits for the message and its delivery. */
async function exchange(
  a: JsonPeer,
  b: JsonPeer,
  text: string,
): Promise<JsonLine> {
  const sent = await a.send(`/msg ${b.user} ${text}`);
  assertEquals(sent.ok, true, JSON.stringify(sent));
  assertEquals(sent.state, "sent");
  const got = await b.waitFor(
    (l) => l.type === "message" && l.text === text,
    `message ${text}`,
  );
  assertEquals(got.from, a.user);
  assertEquals(got.id, sent.id);
  assertEquals(got.room, undefined);
  await a.waitFor(
    (l) => l.type === "delivered" && l.to === b.user && l.id === sent.id,
    `delivered ${text}`,
  );
  return got;
}

Deno.test("two peer processes chat directly in both directions with delivery notices", async () => {
  await using reg = await spawnRegistry();
  await using alice = await spawnPeer(reg, { user: "alice" });
  await using bob = await spawnPeer(reg, { user: "bob" });

  const asked = await alice.send("/chat bob");
  assertEquals(asked.ok, true);
  assertEquals(asked.state, "requested");
  await bob.waitFor(
    (l) => l.type === "chat_request" && l.from === "alice",
    "chat_request",
  );
  const accepted = await bob.send("/accept alice");
  assertEquals(accepted.ok, true);
  assertEquals(accepted.saving, false);
  const started = await alice.waitFor(
    (l) => l.type === "chat_started" && l.with === "bob",
    "chat_started",
  );
  assertEquals(started.saving, false);
  assertEquals(bob.events("chat_started")[0]?.with, "alice");

  const sent = await alice.send("/msg bob hello bob");
  assertEquals(sent.state, "sent");
  const got = await bob.waitFor(
    (l) => l.type === "message" && l.text === "hello bob",
    "message",
  );
  assertEquals(got.from, "alice");
  assertEquals(got.id, sent.id);
  await alice.waitFor(
    (l) => l.type === "delivered" && l.to === "bob" && l.id === sent.id,
    "delivered",
  );

  // A plain line goes to the current chat (the one bob accepted).
  const back = await bob.send("hi alice");
  assertEquals(back.command, "/msg");
  await alice.waitFor(
    (l) => l.type === "message" && l.text === "hi alice" && l.from === "bob",
    "reply",
  );
  await bob.waitFor(
    (l) => l.type === "delivered" && l.to === "alice" && l.id === back.id,
    "delivered back",
  );

  // Several in a row arrive in order, each delivered once.
  const ids: unknown[] = [];
  for (let i = 0; i < 5; i++) {
    ids.push((await alice.send(`/msg bob burst ${i}`)).id);
  }
  await alice.waitFor(
    (l) => l.type === "delivered" && l.id === ids[4],
    "the last delivery",
  );
  const burst = bob.events("message").filter((l) =>
    String(l.text).startsWith("burst")
  );
  assertEquals(
    burst.map((l) => l.text),
    [0, 1, 2, 3, 4].map((i) => `burst ${i}`),
  );
  const delivered = alice.events("delivered").map((l) => l.id);
  assertEquals(new Set(delivered).size, delivered.length);

  // Text is carried verbatim: quotes, spacing, unicode.
  await exchange(alice, bob, `it's  "quoted"  — ünïcödé ✓`);

  const closed = await alice.send("/close bob");
  assertEquals(closed.ok, true);
  await bob.waitFor(
    (l) => l.type === "chat_closed" && l.with === "alice",
    "chat_closed",
  );
  assertEquals(bob.events("chat_closed")[0]?.reason, "closed by alice");
  assertEquals(alice.events("chat_closed").length, 1);
  assertEquals(alice.events("chat_closed")[0]?.with, "bob");

  // After the close, a message needs a new chat.
  const after = await bob.send("/msg alice still there?");
  assertEquals(after.ok, true);
  assertEquals(after.state, "requested");
});

Deno.test("direct chat flows between real peer processes", async (t) => {
  await using reg = await spawnRegistry();
  await using alice = await spawnPeer(reg, { user: "alice" });
  await using bob = await spawnPeer(reg, { user: "bob" });
  await using carol = await spawnPeer(reg, { user: "carol" });

  await t.step(
    "/msg to someone with no chat carries the first message in the request",
    async () => {
      const first = await alice.send("/msg bob are you there?");
      assertEquals(first.ok, true);
      assertEquals(first.state, "requested");
      assertEquals(typeof first.id, "number");
      const req = await bob.waitFor(
        (l) => l.type === "chat_request" && l.from === "alice",
        "chat_request with text",
      );
      assertEquals(req.text, "are you there?");
      // A second message while the request waits is queued, not lost.
      const second = await alice.send("/msg bob hello?");
      assertEquals(second.state, "requested");
      assertEquals(alice.events("delivered").length, 0);

      await bob.send("/accept alice");
      await alice.waitFor(
        (l) => l.type === "delivered" && l.id === first.id,
        "delivery of the first message after accept",
      );
      const queued = await bob.waitFor(
        (l) => l.type === "message" && l.text === "hello?",
        "the queued message",
      );
      assertEquals(queued.id, second.id);
      await alice.waitFor(
        (l) => l.type === "delivered" && l.id === second.id,
        "delivery of the queued message",
      );
      await alice.send("/close bob");
      await bob.waitFor((l) => l.type === "chat_closed", "chat_closed");
    },
  );

  await t.step("/reject tells the asker chat_rejected", async () => {
    const from = alice.lines.length;
    await carol.send("/chat alice");
    await alice.waitFor(
      (l) => l.type === "chat_request" && l.from === "carol",
      "chat_request from carol",
      undefined,
      from,
    );
    const r = await alice.send("/reject carol");
    assertEquals(r.ok, true);
    assertEquals(r.with, "carol");
    const rejected = await carol.waitFor(
      (l) => l.type === "chat_rejected",
      "chat_rejected",
    );
    assertEquals(rejected.by, "alice");
    // The request is gone: accepting it now is an error.
    const late = await alice.send("/accept carol");
    assertEquals(late.ok, false);
    assertIncludes(String(late.error), "no chat request from carol");
    const msg = await carol.send("/msg alice but why");
    assertEquals(msg.state, "requested", "a new request, not a message");
    await alice.waitFor(
      (l) => l.type === "chat_request" && l.text === "but why",
      "the new request",
    );
    await alice.send("/reject carol");
    await carol.waitFor(
      (l) =>
        l.type === "chat_rejected" &&
        carol.events("chat_rejected").length === 2,
      "second rejection",
    );
  });

  await t.step("several chats at once keep their messages apart", async () => {
    await openChat(alice, bob);
    await openChat(carol, alice);
    await exchange(alice, bob, "for bob only");
    await exchange(alice, carol, "for carol only");
    await exchange(bob, alice, "bob to alice");
    await exchange(carol, alice, "carol to alice");
    assert(!bob.events("message").some((l) => l.text === "for carol only"));
    assert(!carol.events("message").some((l) => l.text === "for bob only"));
    assert(!carol.events("message").some((l) => l.from === "bob"));

    // Closing one leaves the other open.
    await alice.send("/close carol");
    await carol.waitFor(
      (l) => l.type === "chat_closed" && l.with === "alice",
      "carol's chat_closed",
    );
    await exchange(bob, alice, "still open");
    const gone = await carol.send("/msg alice hello?");
    assertEquals(gone.state, "requested");
    await alice.send("/reject carol");
  });

  await t.step(
    "bad input gets an error reply and changes nothing",
    async () => {
      const cases: [string, string][] = [
        ["/msg bob", "usage: /msg NAME TEXT"],
        ["/msg bob    ", "usage: /msg NAME TEXT"],
        ["/msg", "usage: /msg NAME TEXT"],
        ["/accept dave", "no chat request from dave"],
        ["/accept", "usage: /accept NAME [--save]"],
        ["/reject dave", "no chat request from dave"],
        ["/close dave", "no chat with dave"],
        ["/chat alice", "you cannot chat with yourself"],
        ["/msg alice hi me", "you cannot message yourself"],
        ["/chat nosuchuser", "no such user 'nosuchuser'"],
        ["/msg nosuchuser hello", "no such user 'nosuchuser'"],
        ["/chat bad!name", "'bad!name' is not a valid user name"],
        ["/chat bob carol", "usage: /chat NAME"],
        ["/save dave on", "no open chat with dave"],
        ["/save bob maybe", "say on or off"],
        ["/msg bob " + "x".repeat(8193), "longer than 8192 characters"],
      ];
      for (const [line, error] of cases) {
        const r = await alice.send(line);
        assertEquals(r.ok, false, `${line} should fail`);
        assertIncludes(String(r.error), error, `${line}: ${r.error}`);
      }
      // The chat with bob is still open and works.
      await exchange(alice, bob, "after the bad input");
      await exchange(bob, alice, "and back");
    },
  );

  await t.step(
    "the other side dying closes the chat with a reason",
    async () => {
      const from = alice.lines.length;
      const code = await bob.kill("SIGKILL");
      assert(code !== 0);
      const closed = await alice.waitFor(
        (l) => l.type === "chat_closed" && l.with === "bob",
        "chat_closed after bob died",
        undefined,
        from,
      );
      assertEquals(closed.reason, "lost the connection to bob");
      await until(
        async () => (await alice.send("/search bob")).online === false,
        "the registry to see bob offline",
      );
      const r = await alice.send("/msg bob are you there");
      assertEquals(r.ok, true, JSON.stringify(r));
      assertEquals(r.state, "stored");
    },
  );
});

Deno.test("an unanswered chat request expires after 60 s on both sides", async () => {
  await using reg = await startRegistry();
  const home = await Deno.makeTempDir({ prefix: "chat-expiry-" });
  // Each peer's core runs on its own manual clock: the once-a-second sweep
  // fires when the test advances it, and never on its own.
  const clocks = {
    alice: new ManualClock(Date.now()),
    bob: new ManualClock(Date.now()),
  };
  const events: { who: string; ev: PeerEvent }[] = [];
  const start = (user: "alice" | "bob") =>
    Peer.start({
      target: reg.target(),
      credentials: { user, password: `${user}-password` },
      home: `${home}/${user}`,
      port: 0,
      listenHost: "127.0.0.1",
      signup: true,
      logger: new Logger("error", () => {}),
      clock: clocks[user],
    }, (ev) => events.push({ who: user, ev }));
  const advanceBoth = (ms: number) => {
    clocks.alice.advance(ms);
    clocks.bob.advance(ms);
  };
  const alice = await start("alice");
  const bob = await start("bob");
  try {
    const asked = await alice.run("/chat bob");
    assertEquals(asked.ok, true);
    await until(
      () => events.find((e) => e.who === "bob" && e.ev.type === "chat_request"),
      "bob's chat_request",
    );
    // Just short of the limit the sweeps find nothing to end.
    advanceBoth(CHAT_REQUEST_TTL_MS - 1000);
    assertEquals(alice.conversations.get("bob")?.state, "outgoing");
    assertEquals(bob.conversations.get("alice")?.state, "incoming");

    // Past it, the next sweep ends the request on both sides at once.
    advanceBoth(2000);
    assertEquals(
      events.filter((e) => e.who === "alice" && e.ev.type === "chat_rejected")
        .map((e) => e.ev),
      [{ type: "chat_rejected", by: "bob", reason: "no answer within 60 s" }],
    );
    assertEquals(bob.conversations.get("alice"), undefined);
    assertEquals(
      events.filter((e) => e.who === "bob" && e.ev.type.startsWith("chat_"))
        .map((e) => e.ev),
      [
        { type: "chat_request", from: "alice" },
        { type: "chat_request_expired", from: "alice" },
      ],
      "bob is told the request went away",
    );
    const late = await bob.run("/accept alice");
    assertEquals(late.ok, false);
    assertIncludes(
      late.ok ? "" : late.error,
      "no chat request from alice (it may have expired)",
    );
    assert(
      !events.some((e) => e.ev.type === "chat_started"),
      "no chat was opened",
    );
    // Accepting a request that already expired at the asker (its sweep ran
    // first) opens nothing: the asker closes it at once.
    await alice.run("/chat bob");
    await until(
      () => bob.conversations.get("alice")?.state === "incoming",
      "the second request",
    );
    clocks.alice.advance(CHAT_REQUEST_TTL_MS + 1000);
    assertEquals(alice.conversations.get("bob"), undefined);
    assertEquals((await bob.run("/accept alice")).ok, true);
    const closed = await until(
      () =>
        events.find((e) => e.who === "bob" && e.ev.type === "chat_closed")?.ev,
      "bob's chat_closed",
    );
    assertEquals(closed, {
      type: "chat_closed",
      with: "alice",
      reason: "the request expired",
    });
    assertEquals(bob.conversations.get("alice"), undefined);
    assert(
      !events.some((e) => e.who === "alice" && e.ev.type === "chat_started"),
    );

    // A new request after expiry works as usual.
    const again = await alice.run("/chat bob");
    assertEquals(again.ok, true);
    await until(
      () =>
        events.filter((e) => e.who === "bob" && e.ev.type === "chat_request")
          .length === 3,
      "the third request",
    );
    assertEquals((await bob.run("/accept alice")).ok, true);
    await until(
      () =>
        events.find((e) => e.who === "alice" && e.ev.type === "chat_started"),
      "chat_started",
    );
  } finally {
    await alice.stop();
    await bob.stop();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("a conversation goes on while the registry is frozen", async () => {
  await using reg = await spawnRegistry();
  await using alice = await spawnPeer(reg, { user: "alice" });
  await using bob = await spawnPeer(reg, { user: "bob" });
  await openChat(alice, bob);
  await exchange(alice, bob, "before the freeze");

  reg.child.kill("SIGSTOP");
  try {
    // Nothing of the conversation needs the registry.
    for (let i = 0; i < 3; i++) {
      await exchange(alice, bob, `frozen ${i} from alice`);
      await exchange(bob, alice, `frozen ${i} from bob`);
    }
    const closed = [
      ...alice.events("chat_closed"),
      ...bob.events("chat_closed"),
    ];
    assertEquals(closed, []);
  } finally {
    reg.child.kill("SIGCONT");
  }
  await exchange(alice, bob, "after the thaw");
});

Deno.test("more messages than a link's send queue holds all arrive, in order", async (t) => {
  await using reg = await startRegistry();
  const home = await Deno.makeTempDir({ prefix: "chat-burst-" });
  const received: string[] = [];
  const delivered = new Set<number>();
  const closed: PeerEvent[] = [];
  const start = (user: string) =>
    Peer.start({
      target: reg.target(),
      credentials: { user, password: `${user}-password` },
      home: `${home}/${user}`,
      port: 0,
      listenHost: "127.0.0.1",
      signup: true,
      logger: new Logger("error", () => {}),
    }, (ev) => {
      // The first message of a request arrives inside the request.
      if (ev.type === "message") received.push(ev.text);
      if (ev.type === "chat_request" && ev.text) received.push(ev.text);
      if (ev.type === "delivered") delivered.add(ev.id);
      if (ev.type === "chat_closed") closed.push(ev);
    });
  const alice = await start("alice");
  const bob = await start("bob");
  // 1,400 messages of 8,000 characters: more than the 8 MiB a link queues.
  const COUNT = 1400;
  const body = "x".repeat(7990);
  const send = async (i: number) => {
    const r = await alice.run(`/msg bob ${String(i).padStart(6, "0")} ${body}`);
    assert(
      isReply(r, "msg") && r.data.state !== "stored" &&
        r.data.id !== undefined,
      JSON.stringify(r),
    );
    return r.data.id;
  };
  const expectAll = async (offset: number) => {
    await until(
      () => received.length >= offset + COUNT || closed.length > 0,
      "every message at bob",
      60_000,
    );
    assertEquals(closed, []);
    const got = received.slice(offset).map((t) => Number(t.slice(0, 6)));
    assertEquals(got, Array.from({ length: COUNT }, (_, i) => i));
  };
  try {
    await t.step("queued while the request waits, sent on accept", async () => {
      const ids: number[] = [];
      for (let i = 0; i < COUNT; i++) ids.push(await send(i));
      await until(() => bob.conversations.get("alice"), "bob's request");
      assertEquals((await bob.run("/accept alice")).ok, true);
      await expectAll(0);
      await until(
        () => ids.every((id) => delivered.has(id)),
        "every delivery",
        60_000,
      );
    });
    await t.step("sent in one go into an open chat", async () => {
      for (let i = 0; i < COUNT; i++) await send(i);
      await expectAll(COUNT);
    });
  } finally {
    await alice.stop();
    await bob.stop();
    await Deno.remove(home, { recursive: true });
  }
});
