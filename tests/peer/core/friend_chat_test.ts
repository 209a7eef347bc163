/**
 * Direct chats with friends and unanswered requests, end to end: real
 * `chat peer --json` processes against a real registry process. A friend's
 * request opens the chat at once (unless /set accept-friends off, which
 * persists in CHAT_HOME); a request nobody answers within 60 s leaves its
 * messages with the registry as offline messages, and the asker is told.
 * The expiry runs on an in-process peer whose clock the test moves.
 */
import { Logger } from "../../../common/log.ts";
import { CHAT_REQUEST_TTL_MS } from "../../../peer/core/conversations.ts";
import { Peer } from "../../../peer/core/mod.ts";
import type { PeerEvent } from "../../../peer/core/events.ts";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { ManualClock } from "../../helpers/clock.ts";
import { spawnRegistry, until } from "../../helpers/registry.ts";
import { type JsonPeer, spawnPeer } from "../../helpers/peer_process.ts";

async function ok(p: JsonPeer, line: string) {
  const r = await p.send(line);
  assertEquals(r.ok, true, `${p.user}: ${line}: ${JSON.stringify(r)}`);
  return r;
}

async function befriend(a: JsonPeer, b: JsonPeer): Promise<void> {
  await ok(a, `/friend add ${b.user}`);
  await b.waitFor(
    (l) => l.type === "friend_request" && l.from === a.user,
    "the friend request",
  );
  await ok(b, `/friend accept ${a.user}`);
  await a.waitFor(
    (l) => l.type === "friend_accepted" && l.user === b.user,
    "friend_accepted",
  );
}

Deno.test("a friend's chat request is accepted at once unless accept-friends is off", async (t) => {
  await using reg = await spawnRegistry();
  const aliceHome = await Deno.makeTempDir({ prefix: "chat-alice-" });
  try {
    let alice = await spawnPeer(reg, { user: "alice", home: aliceHome });
    await using bob = await spawnPeer(reg, { user: "bob" });
    await using carol = await spawnPeer(reg, { user: "carol" });
    await befriend(bob, alice);

    await t.step(
      "a friend's /msg opens the chat and delivers its text, no /accept",
      async () => {
        const from = alice.lines.length;
        const sent = await ok(bob, "/msg alice lunch?");
        assertEquals(sent.state, "requested");
        assertIncludes(
          String(sent.notice),
          "if alice does not answer within 60 s, your message is stored as an offline message",
        );
        const started = await alice.waitFor(
          (l) => l.type === "chat_started" && l.with === "bob",
          "alice's chat_started",
          undefined,
          from,
        );
        assertEquals(started.auto, true);
        assertEquals(started.saving, false);
        const got = await alice.waitFor(
          (l) => l.type === "message" && l.from === "bob",
          "the request's message",
          undefined,
          from,
        );
        assertEquals(got.text, "lunch?");
        assertEquals(got.id, sent.id);
        await bob.waitFor(
          (l) => l.type === "delivered" && l.id === sent.id,
          "bob's delivery notice",
        );
        assertEquals(
          alice.lines.slice(from).filter((l) => l.type === "chat_request"),
          [],
          "no request to answer",
        );
        // The chat is open both ways.
        const back = await ok(alice, "/msg bob sure");
        assertEquals(back.state, "sent");
        await bob.waitFor(
          (l) => l.type === "message" && l.text === "sure",
          "alice's answer",
        );
        await ok(bob, "/close alice");
        await alice.waitFor(
          (l) => l.type === "chat_closed" && l.with === "bob",
          "chat_closed",
          undefined,
          from,
        );
      },
    );

    await t.step(
      "someone who is not a friend still has to be accepted",
      async () => {
        const from = alice.lines.length;
        await ok(carol, "/chat alice");
        await alice.waitFor(
          (l) => l.type === "chat_request" && l.from === "carol",
          "carol's chat_request",
          undefined,
          from,
        );
        assert(
          !alice.lines.slice(from).some((l) => l.type === "chat_started"),
          "nothing opened by itself",
        );
        await ok(alice, "/reject carol");
      },
    );

    await t.step(
      "a mistyped command or name gets a 'did you mean'",
      async () => {
        const cmd = await alice.send("/acept bob");
        assertEquals(cmd.ok, false);
        assertEquals(
          cmd.error,
          "unknown command '/acept' — did you mean /accept? (type /help for the list)",
        );
        const user = await alice.send("/msg bobb hello");
        assertEquals(user.ok, false);
        assertEquals(user.error, "no such user 'bobb' — did you mean bob?");
        await ok(carol, "/room create lunch");
        await ok(alice, "/rooms");
        const room = await alice.send("/join lunhc");
        assertEquals(room.ok, false);
        assertEquals(
          room.error,
          "there is no room 'lunhc' — did you mean lunch?",
        );
        const far = await alice.send("/msg zed hello");
        assertEquals(far.error, "no such user 'zed'");
      },
    );

    await t.step("/set shows and checks the setting", async () => {
      const shown = await ok(alice, "/set");
      assertEquals(shown.settings, { "accept-friends": "on" });
      const cases: [string, string][] = [
        ["/set accept-friends maybe", "say on or off"],
        ["/set colours on", "no setting 'colours' (there is accept-friends)"],
        ["/set accept-friends", "usage: /set [accept-friends on|off]"],
      ];
      for (const [line, error] of cases) {
        const r = await alice.send(line);
        assertEquals(r.ok, false, line);
        assertIncludes(String(r.error), error);
      }
    });

    await t.step(
      "with accept-friends off a friend's request waits, and it stays off after a restart",
      async () => {
        const off = await ok(alice, "/set accept-friends off");
        assertEquals(off.settings, { "accept-friends": "off" });
        assertEquals(off.changed, "accept-friends");
        assertEquals(await alice.quit(), 0);
        alice = await spawnPeer(reg, {
          user: "alice",
          home: aliceHome,
          signup: false,
        });
        assertEquals((await ok(alice, "/set")).settings, {
          "accept-friends": "off",
        });
        await ok(bob, "/msg alice again?");
        const req = await alice.waitFor(
          (l) => l.type === "chat_request" && l.from === "bob",
          "bob's chat_request",
        );
        assertEquals(req.text, "again?");
        assert(!alice.events("chat_started").length, "not opened by itself");
        await ok(alice, "/accept bob");
        await bob.waitFor(
          (l) =>
            l.type === "delivered" &&
            bob.events("delivered").length === 2,
          "delivery of the request's message after /accept",
        );
        await ok(alice, "/set accept-friends on");
        await ok(alice, "/close bob");
      },
    );
    await alice.quit();
  } finally {
    await Deno.remove(aliceHome, { recursive: true });
  }
});

Deno.test("an unanswered request's messages become offline messages and the asker is told", async () => {
  await using reg = await spawnRegistry();
  const home = await Deno.makeTempDir({ prefix: "chat-expire-" });
  // bob is online but away: a real process that answers nothing.
  await using bob = await spawnPeer(reg, { user: "bob" });
  const clock = new ManualClock(Date.now());
  const events: PeerEvent[] = [];
  const alice = await Peer.start({
    target: reg.target(home),
    credentials: { user: "alice", password: "alice-password" },
    home,
    port: 0,
    listenHost: "127.0.0.1",
    signup: true,
    logger: new Logger("error", () => {}),
    clock,
  }, (ev) => events.push(ev));
  try {
    const first = await alice.run("/msg bob are you there?");
    assert(
      first.ok && first.name === "msg" && first.data.state === "requested",
    );
    const firstId = first.data.id;
    await bob.waitFor(
      (l) => l.type === "chat_request" && l.from === "alice",
      "bob's chat_request",
    );
    const second = await alice.run("/msg bob call me when you are back");
    assert(
      second.ok && second.name === "msg" && second.data.state === "requested",
    );
    const secondId = second.data.id;

    // Just short of 60 s nothing happens.
    clock.advance(CHAT_REQUEST_TTL_MS - 1000);
    assertEquals(alice.conversations.get("bob")?.state, "outgoing");
    assertEquals(bob.events("offline_message"), []);

    clock.advance(2000);
    assertEquals(
      events.filter((e) => e.type === "chat_rejected"),
      [{ type: "chat_rejected", by: "bob", reason: "no answer within 60 s" }],
    );
    const stored = await until(
      () => {
        const s = events.filter((e) => e.type === "stored");
        return s.length === 2 ? s : undefined;
      },
      "both messages stored",
    );
    assertEquals(stored.map((e) => e.type === "stored" && e.id), [
      firstId,
      secondId,
    ]);
    for (const e of stored) {
      assert(e.type === "stored");
      assertEquals(e.to, "bob");
      assertEquals(
        e.notice,
        "bob did not answer within 60 s — your message was stored as an offline message for bob",
      );
      assert(!Number.isNaN(Date.parse(e.sent_at)), e.sent_at);
    }
    // bob is online: the registry hands them over at once, in order.
    await bob.waitFor(
      () => bob.events("offline_message").length === 2,
      "both offline messages at bob",
    );
    assertEquals(
      bob.events("offline_message").map((l) => [l.from, l.text]),
      [["alice", "are you there?"], ["alice", "call me when you are back"]],
    );
    const inbox = await bob.send("/inbox");
    assertEquals(
      (inbox.messages as { text: string }[]).map((m) => m.text),
      ["are you there?", "call me when you are back"],
    );
    // A request with no text leaves nothing behind.
    await alice.run("/chat bob");
    await bob.waitFor(
      (l) =>
        l.type === "chat_request" && bob.events("chat_request").length === 2,
      "the second request",
    );
    clock.advance(CHAT_REQUEST_TTL_MS + 1000);
    await until(
      () => events.filter((e) => e.type === "chat_rejected").length === 2,
      "the second expiry",
    );
    assertEquals(events.filter((e) => e.type === "stored").length, 2);
  } finally {
    await alice.stop();
    await Deno.remove(home, { recursive: true });
  }
});
