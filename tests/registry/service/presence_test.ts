/**
 * Presence (registry/handlers/presence.ts): who is told of logins and
 * logouts, what waited is pushed after the login reply, heartbeats, and the
 * sweep that ends silent and idle sessions — on the manual clock, through
 * the service's own sweep timer.
 */
import assert from "node:assert/strict";
import { AUDIENCE_BATCH } from "../../../registry/handlers/presence.ts";
import {
  type Conn,
  Fixture,
  heartbeatOf,
  loginFields,
  START,
} from "./support.ts";

const online = (user: string) => ({ type: "presence", user, online: true });
const offline = (user: string) => ({ type: "presence", user, online: false });

Deno.test("presence pushes", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob", "carol", "dave", "erin");
  // bob is alice's friend; carol and erin share a room with her; dave
  // blocked her; alice blocked erin.
  const alice0 = await fx.login("alice");
  const setup = {
    bob: (c: Conn) => fx.befriend(c, alice0),
    carol: async (c: Conn) =>
      void await c.request("room_create", { room: "den" }),
    dave: async (c: Conn) => void await c.request("block", { user: "alice" }),
    erin: async (c: Conn) => void await c.request("room_join", { room: "den" }),
  };
  for (const [user, prepare] of Object.entries(setup)) {
    const c = await fx.login(user);
    await prepare(c);
    await c.disconnect();
  }
  await alice0.request("room_join", { room: "den" });
  await alice0.request("block", { user: "erin" });
  await alice0.disconnect();
  const bob = await fx.login("bob");
  const carol = await fx.login("carol");
  const dave = await fx.login("dave");
  const erin = await fx.login("erin");
  const others = [bob, carol, dave, erin];
  for (const c of others) c.take();

  const alice = await fx.login("alice");

  await t.step(
    "a peer login is told to friends and room mates, not to users blocked either way",
    () => {
      assert.deepEqual(bob.take(), [online("alice")]);
      assert.deepEqual(carol.take(), [online("alice")]);
      assert.deepEqual(dave.take(), []);
      assert.deepEqual(erin.take(), []);
    },
  );

  await t.step("so is its end, and the last-seen time is stored", async () => {
    fx.clock.advance(1_000);
    await alice.disconnect();
    assert.deepEqual(bob.take(), [offline("alice")]);
    assert.deepEqual(carol.take(), [offline("alice")]);
    assert.deepEqual(dave.take(), []);
    assert.deepEqual(erin.take(), []);
    assert.equal((await fx.store.getUser("alice"))?.lastSeen, fx.clock.now());
  });

  await t.step("a tool or receive session tells nobody", async () => {
    const tool = await fx.login("alice", { kind: "tool" });
    const receive = await fx.login("alice", { kind: "receive" });
    await tool.disconnect();
    await receive.disconnect();
    for (const c of others) assert.deepEqual(c.take(), []);
    assert.equal(fx.service.sessions.online, 4);
  });
});

Deno.test("what waited is pushed after the login reply", async () => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob", "carol");
  const bob = await fx.login("bob");
  await bob.request("friend_request", { user: "alice" });
  await bob.request("room_create", { room: "den" });
  await bob.request("room_invite", { room: "den", user: "alice" });
  const carol = await fx.login("carol");
  await carol.request("friend_request", { user: "alice" });

  const alice = await fx.greeted();
  alice.take();
  const login = await alice.request("login", loginFields("alice"));
  const got = alice.take();
  assert.deepEqual(got[0], {
    type: "reply",
    id: 2,
    ok: true,
    data: { ...login },
  });
  assert.deepEqual(got.slice(1), [
    { type: "friend_request", from: "bob" },
    { type: "friend_request", from: "carol" },
    { type: "room_invite", room: "den", from: "bob" },
  ]);
  // A tool login of the same user is told nothing.
  const tool = await fx.greeted();
  tool.take();
  await tool.request("login", loginFields("alice", { kind: "tool" }));
  assert.equal(tool.take().length, 1);
});

Deno.test("heartbeats", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice");
  const alice = await fx.login("alice");
  const s = alice.state.session!;
  const token = alice.token!;

  await t.step(
    "a heartbeat with the right MAC and a higher counter is accepted",
    () => {
      fx.clock.advance(700);
      assert.equal(
        fx.service.heartbeat(heartbeatOf(s, 1, token), fx.clock.now()),
        true,
      );
      assert.equal(s.lastBeat, fx.clock.now());
      assert.equal(s.lastSeq, 1);
      assert.equal(
        fx.service.heartbeat(heartbeatOf(s, 7, token), fx.clock.now()),
        true,
      );
      assert.equal(s.lastSeq, 7);
    },
  );

  await t.step("a replayed or older counter is ignored", () => {
    const before = s.lastBeat;
    fx.clock.advance(500);
    assert.equal(
      fx.service.heartbeat(heartbeatOf(s, 7, token), fx.clock.now()),
      false,
    );
    assert.equal(
      fx.service.heartbeat(heartbeatOf(s, 3, token), fx.clock.now()),
      false,
    );
    assert.equal(s.lastBeat, before);
  });

  await t.step("a wrong MAC or an unknown session is ignored", () => {
    const wrong = new Uint8Array(32).fill(7);
    assert.equal(
      fx.service.heartbeat(heartbeatOf(s, 8, wrong), fx.clock.now()),
      false,
    );
    assert.equal(s.lastSeq, 7);
    const stranger = { ...s, id: "0".repeat(32) };
    assert.equal(
      fx.service.heartbeat(heartbeatOf(stranger, 9, token), fx.clock.now()),
      false,
    );
  });
});

Deno.test("the sweep on the manual clock", async (t) => {
  const TTL = 3_000;
  using fx = await Fixture.create({ heartbeatTtlMs: TTL, sweepEveryMs: 500 });
  await fx.signup("alice", "bob", "carol");
  const bob = await fx.login("bob");
  using _bobBeats = fx.heartbeats(bob);
  for (const user of ["alice", "carol"]) {
    const c = await fx.login(user);
    await fx.befriend(c, bob);
    await c.disconnect();
  }

  await t.step(
    "a session whose heartbeats stop is ended after the TTL and told timeout",
    async () => {
      const alice = await fx.login("alice");
      const beats = fx.heartbeats(alice);
      await fx.clock.advanceAsync(10_000); // heartbeats keep it on
      assert.ok(alice.state.session);
      beats[Symbol.dispose]();
      const deadline = alice.state.session.lastBeat + TTL;
      bob.take();
      alice.take();
      await fx.clock.advanceAsync(deadline - fx.clock.now());
      assert.ok(
        alice.state.session,
        "silent for exactly the TTL is not yet too long",
      );
      // The next sweep ends it.
      await fx.clock.advanceAsync(500);
      assert.equal(alice.state.session, null);
      assert.deepEqual(alice.take(), [{
        type: "timeout",
        reason: "heartbeat",
      }]);
      assert.equal(alice.link.closedBy, "closeAfterFlush");
      assert.deepEqual(bob.take(), [offline("alice")]);
      const lastSeen = (await fx.store.getUser("alice"))?.lastSeen ?? 0;
      assert.ok(
        lastSeen > deadline && lastSeen <= deadline + 500,
        `${lastSeen}`,
      );
      assert.equal(fx.logsWith("reason=timeout:heartbeat").length, 1);
    },
  );

  await t.step(
    "sessions that fall silent together are ended in one sweep",
    async () => {
      const alice = await fx.login("alice");
      const carol = await fx.login("carol");
      bob.take();
      const writes: string[][] = [];
      const setLastSeen = fx.store.setLastSeen.bind(fx.store);
      fx.store.setLastSeen = (names, at) => {
        writes.push([...names]);
        return setLastSeen(names, at);
      };
      await fx.clock.advanceAsync(TTL + 500);
      assert.equal(alice.state.session, null);
      assert.equal(carol.state.session, null);
      assert.deepEqual(writes, [["alice", "carol"]]);
      assert.deepEqual(bob.take(), [offline("alice"), offline("carol")]);
      assert.ok(bob.state.session, "bob beat all along");
    },
  );
});

Deno.test("a login during a storm may take longer over its first heartbeat", async (t) => {
  const TTL = 3_000;
  const FIRST = 10_000;
  using fx = await Fixture.create({
    heartbeatTtlMs: TTL,
    sweepEveryMs: 500,
    loginStormConnections: 3,
    firstHeartbeatMs: FIRST,
  });
  await fx.signup("alice", "bob", "carol");

  await t.step(
    "without a storm, a silent new session has the TTL",
    async () => {
      const alice = await fx.login("alice");
      await fx.clock.advanceAsync(TTL + 500);
      assert.equal(alice.state.session, null);
      assert.deepEqual(alice.take().at(-1), {
        type: "timeout",
        reason: "heartbeat",
      });
    },
  );

  await t.step(
    "in a storm (more connections without a session than the limit), the first heartbeat may come up to the allowance; later ones keep the TTL",
    async () => {
      // Four connections wait without a session.
      const waiting = [1, 2, 3, 4].map(() => fx.connect());
      const bob = await fx.login("bob");
      const carol = await fx.login("carol");
      for (const c of waiting) await c.disconnect();
      await fx.clock.advanceAsync(TTL + 1_000);
      assert.ok(bob.state.session, "bob's first heartbeat may still come");
      assert.ok(carol.state.session);
      // bob's first heartbeat comes; from then on the TTL holds him.
      const beats = fx.heartbeats(bob);
      await fx.clock.advanceAsync(1_000);
      beats[Symbol.dispose]();
      await fx.clock.advanceAsync(TTL + 500);
      assert.equal(bob.state.session, null);
      // carol never sends one: ended once the allowance is over.
      assert.ok(carol.state.session);
      await fx.clock.advanceAsync(FIRST - (2 * TTL + 2_500) + 500);
      assert.equal(carol.state.session, null);
      assert.deepEqual(carol.take().at(-1), {
        type: "timeout",
        reason: "heartbeat",
      });
    },
  );
});

Deno.test("idle logout on the manual clock", async (t) => {
  const IDLE = 60_000;
  using fx = await Fixture.create({
    idleTimeoutMs: IDLE,
    heartbeatIntervalMs: 10_000,
    heartbeatTtlMs: 30_000,
    sweepEveryMs: 1_000,
  });
  await fx.signup("alice");
  const alice = await fx.login("alice");
  using _beats = fx.heartbeats(alice);
  const tool = await fx.login("alice", { kind: "tool" });
  using _toolBeats = fx.heartbeats(tool);

  await t.step(
    "a request is a user action that restarts the idle time",
    async () => {
      await fx.clock.advanceAsync(IDLE - 1_000);
      await alice.request("who", {});
      await fx.clock.advanceAsync(IDLE - 1_000);
      assert.ok(alice.state.session);
    },
  );

  await t.step(
    "a peer without a user action for the idle time is ended as idle; a tool is not",
    async () => {
      // Heartbeats go on: they are not user actions. At exactly the idle
      // time the peer stays; the sweep a second later ends it.
      await fx.clock.advanceAsync(1_000);
      assert.ok(alice.state.session);
      await fx.clock.advanceAsync(1_000);
      assert.equal(alice.state.session, null);
      assert.deepEqual(alice.events("timeout"), [
        { type: "timeout", reason: "idle" },
      ]);
      assert.ok(tool.state.session, "tool sessions have no idle logout");
    },
  );
});

Deno.test("users gone with a dead registry process are told offline, batch after batch of audience lookups", async () => {
  using fx = await Fixture.create();
  await fx.signup("watcher", "back");
  const big = { perSender: 1_000, perRecipient: 1_000 };
  // More users than one audience lookup takes, each a friend of watcher.
  const gone = Array.from(
    { length: AUDIENCE_BATCH + 5 },
    (_, i) => `gone${String(i).padStart(3, "0")}`,
  );
  for (const user of [...gone, "back"]) {
    if (user !== "back") await fx.store.createUser(user, "hash", START);
    await fx.store.requestFriend(user, "watcher", START, big);
    await fx.store.acceptFriend(user, "watcher", START);
  }
  const watcher = await fx.login("watcher");
  // "back" is online again here by the time the announcements go out.
  await fx.login("back");
  watcher.take();
  await fx.service.wentOffline([...gone, "back"]);
  assert.deepEqual(watcher.take(), gone.map(offline));
});
