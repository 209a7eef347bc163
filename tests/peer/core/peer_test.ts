/**
 * The peer core (peer/core.ts) against a real registry on loopback, in this
 * process: login and `ready`, the registry-backed commands, presence pushes
 * between friends, blocks, offline messages and /inbox, and a TIMEOUT from
 * the registry (driven by a manual clock and an explicit sweep).
 */
import { Logger } from "../../../common/log.ts";
import { Peer, type PeerOptions } from "../../../peer/core/peer.ts";
import type { PeerEvent } from "../../../peer/core/events.ts";
import { RegistryError } from "../../../peer/net/registry_client.ts";
import {
  assert,
  assertEquals,
  assertIncludes,
  assertRejects,
} from "../../helpers/assert.ts";
import {
  startRegistry,
  type TestRegistry,
  until,
} from "../../helpers/registry.ts";

/** A started in-process peer with the events it emitted. */
interface TestPeer extends AsyncDisposable {
  peer: Peer;
  events: PeerEvent[];
  logs: string[];
  /** Resolves with the first event (from `from`) matching `pred`. */
  waitFor(
    pred: (ev: PeerEvent) => boolean,
    what: string,
    from?: number,
  ): Promise<PeerEvent>;
  /** Runs a command line and expects it to succeed; returns the data. */
  ok(line: string): Promise<Record<string, unknown>>;
  /** Runs a command line and expects it to fail; returns the error. */
  fails(line: string): Promise<string>;
}

async function startPeer(
  reg: TestRegistry,
  user: string,
  extra: Partial<PeerOptions> = {},
): Promise<TestPeer> {
  const home = await Deno.makeTempDir({ prefix: `chat-core-${user}-` });
  const events: PeerEvent[] = [];
  const logs: string[] = [];
  let peer: Peer;
  try {
    peer = await Peer.start({
      target: { ...reg.target(), home },
      credentials: { user, password: `${user}-password` },
      home,
      port: 0,
      listenHost: "127.0.0.1",
      signup: true,
      logger: new Logger("debug", (l) => logs.push(l)),
      ...extra,
    }, (ev) => events.push(ev));
  } catch (err) {
    await Deno.remove(home, { recursive: true }).catch(() => {});
    throw err;
  }
  const run = async (line: string, want: boolean) => {
    const r = await peer.run(line);
    assertEquals(
      r.ok,
      want,
      `${user}: ${line} → ${JSON.stringify(r)}`,
    );
    return r;
  };
  return {
    peer,
    events,
    logs,
    waitFor: (pred, what, from = 0) =>
      until(
        () => events.slice(from).find(pred),
        `${user}: ${what} (events: ${JSON.stringify(events.slice(-8))})`,
        15_000,
      ),
    ok: async (line) => {
      const r = await run(line, true);
      return r.ok ? { ...r.data } : {};
    },
    fails: async (line) => {
      const r = await run(line, false);
      return r.ok ? "" : r.error;
    },
    [Symbol.asyncDispose]: async () => {
      await peer.stop();
      await Deno.remove(home, { recursive: true }).catch(() => {});
    },
  };
}

async function signup(reg: TestRegistry, user: string): Promise<void> {
  const c = await reg.client();
  try {
    await c.request("signup", { user, password: `${user}-password` });
  } finally {
    c.close();
    await c.closed;
  }
}

Deno.test("a peer logs in, emits ready with its P2P port and answers the registry commands", async (t) => {
  await using reg = await startRegistry();
  await using alice = await startPeer(reg, "alice");
  await using bob = await startPeer(reg, "bob");

  await t.step("ready carries the user and the listening P2P port", () => {
    const ready = alice.events.find((e) => e.type === "ready");
    assertEquals(ready, {
      type: "ready",
      user: "alice",
      port: alice.peer.port,
      created: true,
    });
    assert(alice.peer.port > 0);
    assertEquals(alice.events[0]?.type, "ready", "ready comes first");
  });

  await t.step("/who lists both, -l adds address and status", async () => {
    const who = await alice.ok("/who");
    const names = (who.users as { user: string }[]).map((u) => u.user).sort();
    assertEquals(names, ["alice", "bob"]);
    assertEquals(who.total, 2);
    const detailed = await alice.ok("/who -l");
    const b = (detailed.users as Record<string, unknown>[]).find((u) =>
      u.user === "bob"
    )!;
    assertEquals(b.host, "127.0.0.1");
    assertEquals(b.port, bob.peer.port);
    assertEquals(b.status, "Hey there! I am using chat");
  });

  await t.step(
    "/status sets the text and /profile shows it to others",
    async () => {
      assertEquals(await bob.ok("/status"), {
        status: "Hey there! I am using chat",
      });
      assertEquals(await bob.ok("/status gone fishing"), {
        status: "gone fishing",
      });
      const p = await alice.ok("/profile bob");
      assertEquals(p.user, "bob");
      assertEquals(p.status, "gone fishing");
      assertEquals(p.online, true);
      assertEquals(p.friend, "none");
      assertEquals((await alice.ok("/profile alice")).friend, "you");
    },
  );

  await t.step(
    "/search: online with address, unknown is an error",
    async () => {
      const s = await alice.ok("/search BOB");
      assertEquals(s.online, true);
      assertEquals(s.port, bob.peer.port);
      assertEquals(s.host, "127.0.0.1");
      assertIncludes(await alice.fails("/search nobody"), "no such user");
    },
  );

  await t.step(
    "bad lines and unknown commands are replies, not exceptions",
    async () => {
      assertIncludes(await alice.fails("/frobnicate"), "unknown command");
      assertIncludes(await alice.fails("/search"), "usage: /search NAME");
      const r = await alice.peer.run("x".repeat(9000));
      assertEquals(r.ok, false);
      assertEquals(r.command, "/msg", "a plain line reports what it became");
      assertIncludes(
        await alice.fails("no current chat"),
        "no current conversation",
      );
      assertIncludes(
        await alice.fails("/msg alice hi"),
        "cannot message yourself",
      );
      assertIncludes(
        await alice.fails("/profile ghost"),
        "no such user 'ghost'",
      );
      assertEquals((await alice.peer.run("/help")).ok, true);
    },
  );
});

Deno.test("friends exchange requests, acceptances and presence pushes", async () => {
  await using reg = await startRegistry();
  await using alice = await startPeer(reg, "alice");
  {
    await using bob = await startPeer(reg, "bob");

    assertEquals(await alice.ok("/friend add bob"), {
      user: "bob",
      state: "pending",
      action: "add",
    });
    await bob.waitFor(
      (e) => e.type === "friend_request" && e.from === "alice",
      "friend_request",
    );
    assertEquals(await alice.ok("/requests"), {
      incoming: [],
      outgoing: ["bob"],
    });
    assertEquals(await bob.ok("/requests"), {
      incoming: ["alice"],
      outgoing: [],
    });
    assertEquals(await bob.ok("/friend accept alice"), {
      user: "alice",
      action: "accept",
    });
    await alice.waitFor(
      (e) => e.type === "friend_accepted" && e.user === "bob",
      "friend_accepted",
    );
    const friends = await alice.ok("/friends");
    assertEquals(friends.friends, [{
      user: "bob",
      online: true,
      status: "Hey there! I am using chat",
    }]);
    assertEquals((await alice.ok("/profile bob")).friend, "friends");
    assert(alice.peer.knownUsers.includes("bob"), "bob completes by name");
  }
  await alice.waitFor(
    (e) => e.type === "presence" && e.user === "bob" && !e.online,
    "bob offline",
  );
  const mark = alice.events.length;
  await using bob2 = await startPeer(reg, "bob");
  await alice.waitFor(
    (e) => e.type === "presence" && e.user === "bob" && e.online,
    "bob online again",
    mark,
  );
  const s = await alice.ok("/search bob");
  assertEquals(s.online, true);

  assertEquals(await bob2.ok("/friend remove alice"), {
    user: "alice",
    action: "remove",
  });
  await alice.waitFor(
    (e) => e.type === "friend_removed" && e.user === "bob",
    "friend_removed",
  );
  assertEquals((await alice.ok("/friends")).friends, []);

  await alice.ok("/friend add bob");
  await bob2.waitFor(
    (e) => e.type === "friend_request" && e.from === "alice",
    "second friend_request",
  );
  assertEquals(await bob2.ok("/friend decline alice"), {
    user: "alice",
    action: "decline",
  });
  assertEquals(await alice.ok("/requests"), { incoming: [], outgoing: [] });
});

Deno.test("a blocked user cannot befriend or reach you, and is not told why", async () => {
  await using reg = await startRegistry();
  await using alice = await startPeer(reg, "alice");
  await using bob = await startPeer(reg, "bob");

  assertEquals(await bob.ok("/block alice"), { user: "alice" });
  assertEquals(await bob.ok("/blocks"), { users: ["alice"] });
  // A friend request is answered as to anyone (the block stays secret)
  // and never shown to bob.
  assertEquals((await alice.ok("/friend add bob")).state, "pending");
  assertEquals((await bob.ok("/requests")).incoming, []);
  const chat = await alice.fails("/chat bob");
  assert(!/block/i.test(chat), `the refusal reveals the block: ${chat}`);
  assertIncludes(
    await bob.fails("/friend add alice"),
    "you have blocked alice",
  );
  assertEquals(await bob.ok("/unblock alice"), { user: "alice" });
  assertEquals(await bob.ok("/blocks"), { users: [] });
  assertEquals((await alice.ok("/friend add bob")).state, "pending");
});

Deno.test("a message to an offline user is stored, delivered at login and kept in /inbox", async () => {
  await using reg = await startRegistry();
  await signup(reg, "carol");
  await using alice = await startPeer(reg, "alice");

  assertIncludes(
    await alice.fails("/chat carol"),
    "carol is offline — /msg carol TEXT leaves a message for later",
  );
  const first = await alice.ok("/msg carol first one");
  assertEquals(first.state, "stored");
  assertEquals(first.to, "carol");
  assertIncludes(
    String(first.notice),
    "carol is offline — your message was stored",
  );
  await alice.ok("/msg carol it's the *second*");
  assertEquals(await alice.ok("/inbox"), { messages: [] });

  await using carol = await startPeer(reg, "carol", { signup: false });
  await carol.waitFor(
    (e) => e.type === "offline_message" && e.text === "it's the *second*",
    "both offline messages",
  );
  const got = carol.events.filter((e) => e.type === "offline_message");
  assertEquals(got.map((e) => e.type === "offline_message" && e.text), [
    "first one",
    "it's the *second*",
  ]);
  const ready = carol.events.findIndex((e) => e.type === "ready");
  const firstMsg = carol.events.findIndex((e) => e.type === "offline_message");
  assert(ready < firstMsg, "offline messages come after ready");
  const inbox = await carol.ok("/inbox");
  const msgs = inbox.messages as {
    from: string;
    text: string;
    sent_at: string;
  }[];
  assertEquals(msgs.map((m) => [m.from, m.text]), [
    ["alice", "first one"],
    ["alice", "it's the *second*"],
  ]);
  for (const m of msgs) assert(!Number.isNaN(Date.parse(m.sent_at)), m.sent_at);

  // Delivered once: a new session of carol gets nothing again.
  await carol.peer.stop();
  await using again = await startPeer(reg, "carol", { signup: false });
  assertEquals(await again.ok("/inbox"), { messages: [] });
});

Deno.test("login failures are one-line errors: wrong password, unknown user, already online", async () => {
  await using reg = await startRegistry();
  await signup(reg, "dave");
  const home = await Deno.makeTempDir({ prefix: "chat-core-fail-" });
  const base = (user: string, password: string): PeerOptions => ({
    target: { ...reg.target(), home },
    credentials: { user, password },
    home,
    port: 0,
    listenHost: "127.0.0.1",
    logger: new Logger("error", () => {}),
  });
  try {
    const wrong = await assertRejects(
      () => Peer.start(base("dave", "not-the-password"), () => {}),
    );
    assert(wrong instanceof RegistryError);
    assertEquals(wrong.code, "auth");
    const unknown = await assertRejects(
      () => Peer.start(base("nobody", "whatever-password"), () => {}),
    );
    assert(unknown instanceof RegistryError);
    assertEquals(unknown.code, "not_found");

    await using dave = await startPeer(reg, "dave", { signup: false });
    const twice = await assertRejects(
      () => Peer.start(base("dave", "dave-password"), () => {}),
      /dave is already online/,
    );
    assert(twice instanceof RegistryError);
    assertEquals(twice.code, "online");

    const events: PeerEvent[] = [];
    const newer = await Peer.start(
      { ...base("dave", "dave-password"), replace: true },
      (ev) => events.push(ev),
    );
    try {
      const end = await dave.peer.ended;
      assertEquals(end.code, "ended");
      assertIncludes(end.reason, "replaced");
      assert(dave.events.some((e) => e.type === "session_ended"));
      assertEquals((await newer.run("/status")).ok, true);
    } finally {
      await newer.stop();
    }
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});

Deno.test("a heartbeat TIMEOUT from the registry is reported and the peer logs in again by itself", async () => {
  let now = Date.now();
  await using reg = await startRegistry({
    now: () => now,
    sweepEveryMs: 0,
    // One heartbeat at login, then silence: as if heartbeats were blocked.
    heartbeatIntervalMs: 3_600_000,
    heartbeatTtlMs: 5_000,
  });
  await using alice = await startPeer(reg, "alice");
  await using bob = await startPeer(reg, "bob");
  await alice.ok("/friend add bob");
  await bob.ok("/friend accept alice");

  now += 1_000;
  assertEquals(await reg.registry.service.sweep(now), 0, "nobody is stale yet");
  now += 10_000;
  assertEquals(await reg.registry.service.sweep(now), 2);

  await alice.waitFor((e) => e.type === "timeout", "timeout");
  const t = alice.events.find((e) => e.type === "timeout");
  assertEquals(t, { type: "timeout", reason: "heartbeat", again: true });
  await alice.waitFor((e) => e.type === "registry_restored", "logged in again");
  assert(
    !alice.events.some((e) => e.type === "registry_lost"),
    "a timeout is not reported as an outage",
  );
  await bob.waitFor((e) => e.type === "registry_restored", "bob logged in");
  // Logged in again: the registry answers, bob sees alice online.
  await alice.ok("/who");
  const found = await bob.ok("/search alice");
  assertEquals(found.online, true);
  await alice.peer.stop();
  assertEquals((await alice.peer.run("/who")).ok, false);
});

Deno.test("an idle TIMEOUT from the registry emits timeout and ends the session cleanly", async () => {
  let now = Date.now();
  await using reg = await startRegistry({
    now: () => now,
    sweepEveryMs: 0,
    heartbeatIntervalMs: 3_600_000,
    heartbeatTtlMs: 3_600_000,
    idleTimeoutMs: 5_000,
  });
  await using alice = await startPeer(reg, "alice");
  now += 10_000;
  assertEquals(await reg.registry.service.sweep(now), 1);
  await alice.waitFor((e) => e.type === "timeout", "timeout");
  const end = await alice.peer.ended;
  assertEquals(end.code, "timeout");
  assertIncludes(end.reason, "idle");
  const t = alice.events.find((e) => e.type === "timeout");
  assertEquals(t, { type: "timeout", reason: "idle", again: false });
  assert(
    !alice.events.some((e) => e.type === "registry_lost"),
    "a timeout is not an outage: no reconnection",
  );
  assertIncludes(await alice.fails("/who"), "logged out by the registry");
  await alice.peer.stop();
});
