/**
 * Rooms across real `chat peer --json` processes (SPEC F14, F15): a room of
 * five, bad input, administration, invitations, and a room that keeps talking
 * while the registry is stopped. The pure room rules are tested in
 * tests/registry/rooms_test.ts.
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { Logger } from "../../../common/log.ts";
import { isReply, Peer, type PeerEvent } from "../../../peer/mod.ts";
import type { RegistryTarget } from "../../../peer/net/registry_client.ts";
import { spawnRegistry, startRegistry, until } from "../../helpers/registry.ts";
import {
  type JsonLine,
  type JsonPeer,
  type RegistryRef,
  spawnPeer,
  type SpawnPeerOptions,
} from "../../helpers/peer_process.ts";

/** Peers of one test, each with a CHAT_HOME under one folder removed at the end. */
interface Crowd extends AsyncDisposable {
  /** Starts (or restarts, with the same home) the peer `user`. */
  spawn(user: string, opts?: Omit<SpawnPeerOptions, "user">): Promise<JsonPeer>;
  /** Starts several peers at once. */
  spawnAll(users: string[]): Promise<JsonPeer[]>;
}

async function crowd(reg: RegistryRef): Promise<Crowd> {
  const root = await Deno.makeTempDir({ prefix: "chat-rooms-" });
  const running: JsonPeer[] = [];
  const spawn = async (
    user: string,
    opts: Omit<SpawnPeerOptions, "user"> = {},
  ) => {
    const home = join(root, user);
    await Deno.mkdir(home, { recursive: true });
    const p = await spawnPeer(reg, { user, home, ...opts });
    running.push(p);
    return p;
  };
  return {
    spawn,
    spawnAll: (users) => Promise.all(users.map((u) => spawn(u))),
    async [Symbol.asyncDispose]() {
      await Promise.all(running.map((p) => p.quit()));
      await Deno.remove(root, { recursive: true });
    },
  };
}

/** Sends a command and fails the test unless it succeeded. */
async function ok(peer: JsonPeer, line: string): Promise<JsonLine> {
  const reply = await peer.send(line);
  assert(
    reply.ok === true,
    `${peer.user}: ${line} failed: ${JSON.stringify(reply)}`,
  );
  return reply;
}

/** Sends a command and returns its error, failing the test if it succeeded. */
async function refused(peer: JsonPeer, line: string): Promise<string> {
  const reply = await peer.send(line);
  assert(
    reply.ok === false,
    `${peer.user}: ${line} should fail: ${JSON.stringify(reply)}`,
  );
  return String(reply.error);
}

/** Waits until `peer` has the room message `text` from `from`. */
function roomMessage(
  peer: JsonPeer,
  room: string,
  from: string,
  text: string,
): Promise<JsonLine> {
  return peer.waitFor(
    (l) =>
      l.type === "message" && l.room === room && l.from === from &&
      l.text === text,
    `room message '${text}' from ${from} in ${room}`,
  );
}

/** Waits until `sender` has a delivered event from each of `to` for message `id`. */
async function deliveredTo(
  sender: JsonPeer,
  room: string,
  id: unknown,
  to: string[],
): Promise<void> {
  for (const user of to) {
    await sender.waitFor(
      (l) =>
        l.type === "delivered" && l.to === user && l.id === id &&
        l.room === room,
      `delivered ${id} to ${user}`,
    );
  }
}

Deno.test("a room of five peer processes talks, notices joins, leaves and presence", async (t) => {
  await using reg = await spawnRegistry();
  await using c = await crowd(reg);
  const peers = await c.spawnAll(["alice", "bob", "carol", "dave", "erin"]);
  const [alice, bob, carol, dave] = peers as [
    JsonPeer,
    JsonPeer,
    JsonPeer,
    JsonPeer,
    JsonPeer,
  ];
  let erin = peers[4]!;
  const others = [bob, carol, dave, erin];

  await t.step(
    "the creator makes a room with description and capacity",
    async () => {
      const made = await ok(
        alice,
        `/room create Lobby --description "where everyone meets" --capacity 6`,
      );
      assertEquals(made.room, "lobby");
      assertEquals(made.command, "/room");
    },
  );

  await t.step("four members join and everyone present is told", async () => {
    for (const p of others) {
      const state = await ok(p, "/join lobby");
      assertEquals(state.room, "lobby");
      assertEquals(state.owner, "alice");
    }
    for (const p of others) {
      await alice.waitFor(
        (l) =>
          l.type === "room_joined" && l.room === "lobby" && l.user === p.user,
        `room_joined ${p.user}`,
      );
    }
    // The last to join is announced to the four already in.
    for (const p of [alice, bob, carol, dave]) {
      await p.waitFor(
        (l) => l.type === "room_joined" && l.user === "erin",
        "room_joined erin",
      );
    }
  });

  await t.step(
    "/rooms lists names; /rooms -l adds description, members/capacity and lock",
    async () => {
      const short = await ok(carol, "/rooms");
      assertEquals(short.rooms, [{ room: "lobby", joined: true }]);
      const long = await ok(carol, "/rooms -l");
      const rooms = long.rooms as Record<string, unknown>[];
      assertEquals(rooms.length, 1);
      assertEquals(rooms[0]!.room, "lobby");
      assertEquals(rooms[0]!.description, "where everyone meets");
      assertEquals(rooms[0]!.members, 5);
      assertEquals(rooms[0]!.capacity, 6);
      assertEquals(rooms[0]!.locked, false);
      assertEquals(rooms[0]!.owner, "alice");
    },
  );

  await t.step(
    "/members lists every member in joining order with presence and role",
    async () => {
      const m = await ok(dave, "/members lobby");
      assertEquals(m.members, [
        { user: "alice", online: true, role: "owner" },
        { user: "bob", online: true, role: "member" },
        { user: "carol", online: true, role: "member" },
        { user: "dave", online: true, role: "member" },
        { user: "erin", online: true, role: "member" },
      ]);
    },
  );

  await t.step(
    "/say reaches all four others, and the sender hears back from each",
    async () => {
      const said = await ok(alice, "/say lobby hello everyone");
      assertEquals(said.room, "lobby");
      assertEquals(said.recipients, ["bob", "carol", "dave", "erin"]);
      assertEquals(said.unreached, []);
      for (const p of others) {
        const got = await roomMessage(p, "lobby", "alice", "hello everyone");
        assertEquals(got.id, said.id);
      }
      await deliveredTo(alice, "lobby", said.id, [
        "bob",
        "carol",
        "dave",
        "erin",
      ]);
    },
  );

  await t.step("plain text after /join goes to the room", async () => {
    const said = await ok(carol, "hi from carol");
    assertEquals(said.command, "/say");
    assertEquals(said.room, "lobby");
    for (const p of [alice, bob, dave, erin]) {
      await roomMessage(p, "lobby", "carol", "hi from carol");
    }
    await deliveredTo(carol, "lobby", said.id, [
      "alice",
      "bob",
      "dave",
      "erin",
    ]);
    // A room message is not a direct one: nobody was asked for a chat.
    assertEquals(alice.events("chat_request").length, 0);
  });

  await t.step(
    "a member who leaves is announced and no longer addressed",
    async () => {
      await ok(dave, "/leave lobby");
      for (const p of [alice, bob, carol, erin]) {
        await p.waitFor(
          (l) =>
            l.type === "room_left" && l.room === "lobby" && l.user === "dave" &&
            l.reason === "left",
          "room_left dave",
        );
      }
      const said = await ok(bob, "/say lobby dave is gone");
      assertEquals(said.recipients, ["alice", "carol", "erin"]);
      assertIncludes(
        await refused(dave, "/say lobby still here?"),
        "not in room",
      );
      assertIncludes(
        await refused(dave, "plain text"),
        "no current conversation",
      );
    },
  );

  await t.step("room mates see a member go offline and come back", async () => {
    const mark = alice.lines.length;
    assertEquals(await erin.quit(), 0);
    for (const p of [alice, bob, carol]) {
      await p.waitFor(
        (l) => l.type === "presence" && l.user === "erin" && l.online === false,
        "erin offline",
      );
    }
    const m = await ok(alice, "/members lobby");
    assertEquals(
      (m.members as { user: string; online: boolean }[]).find((x) =>
        x.user === "erin"
      )?.online,
      false,
    );
    const said = await ok(alice, "/say lobby erin is away");
    assertEquals(said.recipients, ["bob", "carol"]);

    // While erin is away dave comes back; erin must learn it at login.
    await ok(dave, "/join lobby");
    erin = await c.spawn("erin");
    for (const p of [alice, bob, carol, dave]) {
      await p.waitFor(
        (l) => l.type === "presence" && l.user === "erin" && l.online === true,
        "erin online again",
        15_000,
        p === alice ? mark : 0,
      );
    }
  });

  await t.step(
    "a member back online can speak to the room at once",
    async () => {
      const said = await ok(erin, "/say lobby back again");
      assertEquals(said.recipients, ["alice", "bob", "carol", "dave"]);
      for (const p of [alice, bob, carol, dave]) {
        await roomMessage(p, "lobby", "erin", "back again");
      }
      await deliveredTo(erin, "lobby", said.id, [
        "alice",
        "bob",
        "carol",
        "dave",
      ]);
      // And the room reaches the new erin, at her new address.
      const hello = await ok(bob, "welcome back erin");
      assertEquals(hello.recipients, ["alice", "carol", "dave", "erin"]);
      await roomMessage(erin, "lobby", "bob", "welcome back erin");
      await deliveredTo(bob, "lobby", hello.id, ["erin"]);
    },
  );
});

Deno.test("wrong or missing passwords, a full room and a taken name each get a clear error", async (t) => {
  await using reg = await spawnRegistry();
  await using c = await crowd(reg);
  const [alice, bob, carol] = await c.spawnAll(["alice", "bob", "carol"]) as [
    JsonPeer,
    JsonPeer,
    JsonPeer,
  ];
  await ok(alice, "/room create vault --password hunter22 --capacity 2");

  await t.step("a locked room asks for its password", async () => {
    assertIncludes(
      await refused(bob, "/join vault"),
      "room 'vault' needs a password: /join vault --password P",
    );
    assertIncludes(
      await refused(bob, "/join vault --password hunter23"),
      "wrong password for room 'vault'",
    );
    const long = await ok(bob, "/rooms -l");
    assertEquals((long.rooms as Record<string, unknown>[])[0]!.locked, true);
    assertEquals((long.rooms as Record<string, unknown>[])[0]!.members, 1);
    const state = await ok(bob, "/join vault --password hunter22");
    assertEquals(
      (state.members as { user: string }[]).map((m) => m.user),
      ["alice", "bob"],
    );
    // Joining again is harmless.
    await ok(bob, "/join vault --password hunter22");
  });

  await t.step(
    "a full room turns the next joiner away and stays as it was",
    async () => {
      assertIncludes(
        await refused(carol, "/join vault --password hunter22"),
        "room 'vault' is full (2 members)",
      );
      const m = await ok(alice, "/members vault");
      assertEquals((m.members as unknown[]).length, 2);
    },
  );

  await t.step(
    "the room password is kept as a scrypt hash, never in clear",
    async () => {
      const db = new DatabaseSync(reg.dbPath, { readOnly: true });
      try {
        const row = db.prepare("SELECT password_hash FROM rooms WHERE name = ?")
          .get("vault") as { password_hash: string };
        assert(/^scrypt\$\d+\$\d+\$\d+\$/.test(row.password_hash));
        assert(!row.password_hash.includes("hunter22"));
      } finally {
        db.close();
      }
      for (const file of [reg.dbPath, `${reg.dbPath}-wal`]) {
        const bytes = await Deno.readFile(file).catch(() => new Uint8Array());
        assert(
          !new TextDecoder("latin1").decode(bytes).includes("hunter22"),
          `the password is in ${file}`,
        );
      }
    },
  );

  await t.step("wrong room passwords are throttled like logins", async () => {
    const dave = await c.spawn("dave");
    for (let i = 0; i < 5; i++) {
      assertIncludes(
        await refused(dave, `/join vault --password wrong${i}xx`),
        "wrong password for room 'vault'",
      );
    }
    // Even the right password waits now.
    assertIncludes(
      await refused(dave, "/join vault --password hunter22"),
      "too many attempts, retry in",
    );
  });

  await t.step("a room name is taken whatever its case", async () => {
    for (const name of ["vault", "VAULT", "Vault"]) {
      assertIncludes(
        await refused(carol, `/room create ${name}`),
        "room 'vault' already exists",
      );
    }
    const all = await ok(carol, "/rooms -l");
    const vault = (all.rooms as Record<string, unknown>[])[0]!;
    assertEquals(vault.owner, "alice");
    assertEquals(vault.capacity, 2);
  });

  await t.step("bad command lines are refused with their usage", async () => {
    const cases: [string, string][] = [
      ["/room create bad!name", "'bad!name' is not a valid room name"],
      ["/room create", "usage: /room create NAME"],
      ["/room make lounge", "usage: /room create NAME"],
      ["/room create lounge --capacity 0", "capacity must be a whole number"],
      ["/room create lounge --capacity -3", "capacity must be a whole number"],
      ["/room create lounge --capacity lots", "capacity must be"],
      ["/room create lounge --capacity 100000", "capacity must be"],
      ["/room create lounge --password", "--password needs a value"],
      ["/room create lounge --colour red", "unexpected '--colour'"],
      ["/join", "usage: /join ROOM"],
      ["/join bad/room", "is not a valid room name"],
      ["/leave", "usage: /leave ROOM"],
      ["/members", "usage: /members ROOM"],
      ["/say vault", "usage: /say ROOM TEXT"],
      ["/say", "usage: /say ROOM TEXT"],
      ["/invite vault", "usage: /invite ROOM NAME"],
      ["/kick vault", "usage: /kick ROOM NAME"],
      ["/owner vault", "usage: /owner ROOM NAME"],
      ["/rooms --all", "usage: /rooms [-l]"],
    ];
    for (const [line, error] of cases) {
      assertIncludes(await refused(carol, line), error, line);
    }
    // Nothing was created by any of them.
    const all = await ok(carol, "/rooms");
    assertEquals(all.rooms, [{ room: "vault", joined: false }]);
  });

  await t.step(
    "rooms that do not exist, or that you are not in, are named in the error",
    async () => {
      assertIncludes(
        await refused(carol, "/join nowhere"),
        "there is no room 'nowhere'",
      );
      assertIncludes(
        await refused(carol, "/members nowhere"),
        "there is no room 'nowhere'",
      );
      assertIncludes(
        await refused(carol, "/say vault let me in"),
        "you are not in room 'vault' — /join vault first",
      );
      assertIncludes(
        await refused(carol, "/leave vault"),
        "you are not in room 'vault'",
      );
      assertIncludes(
        await refused(carol, "/invite vault bob"),
        "only the owner of 'vault' (alice) can invite",
      );
      assertIncludes(
        await refused(alice, "/invite vault nobody"),
        "no such user 'nobody'",
      );
      assertIncludes(
        await refused(alice, "/invite vault bob"),
        "bob is already in room 'vault'",
      );
      assertIncludes(
        await refused(alice, "/kick vault carol"),
        "carol is not in room 'vault'",
      );
      assertIncludes(
        await refused(alice, "/kick vault alice"),
        "use /leave vault to leave your own room",
      );
      assertIncludes(
        await refused(alice, "/owner vault carol"),
        "carol is not in room 'vault'; only members can own it",
      );
      assertIncludes(
        await refused(alice, "/invite accept vault"),
        "you have no invitation to 'vault'",
      );
      // The room and its members are untouched.
      const m = await ok(bob, "/members vault");
      assertEquals(m.owner, "alice");
      assertEquals((m.members as unknown[]).length, 2);
    },
  );
});

/** A Peer core in this process, collecting its events (for forging what a CLI cannot). */
async function corePeer(
  target: RegistryTarget,
  user: string,
): Promise<{ peer: Peer; events: PeerEvent[] } & AsyncDisposable> {
  const events: PeerEvent[] = [];
  const peer = await Peer.start({
    target,
    credentials: { user, password: `${user}-password` },
    home: target.home,
    port: 0,
    listenHost: "127.0.0.1",
    signup: true,
    logger: new Logger("error", () => {}),
  }, (ev) => events.push(ev));
  return { peer, events, [Symbol.asyncDispose]: () => peer.stop() };
}

Deno.test("the owner hands over, kicks, and leaves; a kicked member is cut off at once", async (t) => {
  await using reg = await spawnRegistry();
  await using c = await crowd(reg);
  const [alice, bob, dave] = await c.spawnAll(["alice", "bob", "dave"]) as [
    JsonPeer,
    JsonPeer,
    JsonPeer,
  ];
  const carolHome = await Deno.makeTempDir({ prefix: "chat-carol-" });
  await using _carolHome = {
    [Symbol.asyncDispose]: () => Deno.remove(carolHome, { recursive: true }),
  };
  await using carol = await corePeer(reg.target(carolHome), "carol");
  await ok(alice, "/room create club");
  await ok(bob, "/join club");
  assertEquals((await carol.peer.run("/join club")).ok, true);
  await ok(dave, "/join club");
  // Everyone has spoken once, so links exist both ways.
  for (const p of [alice, bob, dave]) {
    await ok(p, `/say club hello from ${p.user}`);
  }
  await until(
    () =>
      carol.events.filter((e) => e.type === "message" && e.room === "club")
        .length === 3,
    "carol hears all three",
  );

  await t.step(
    "the owner hands the room to another member and everyone is told",
    async () => {
      const r = await ok(alice, "/owner club bob");
      assertEquals([r.room, r.user], ["club", "bob"]);
      for (const p of [alice, bob, dave]) {
        await p.waitFor(
          (l) =>
            l.type === "room_owner" && l.room === "club" && l.user === "bob",
          "room_owner bob",
        );
      }
      const m = await ok(dave, "/members club");
      assertEquals(m.owner, "bob");
      assertEquals(
        (m.members as { role: string }[]).map((x) => x.role),
        ["member", "owner", "member", "member"],
      );
    },
  );

  await t.step(
    "a former owner can no longer kick, invite or hand over",
    async () => {
      assertIncludes(
        await refused(alice, "/kick club carol"),
        "only the owner of 'club' (bob) can remove members",
      );
      assertIncludes(
        await refused(alice, "/owner club dave"),
        "only the owner of 'club' (bob) can hand over ownership",
      );
      assertIncludes(
        await refused(alice, "/invite club dave"),
        "only the owner of 'club' (bob) can invite",
      );
      assertIncludes(await refused(dave, "/kick club carol"), "only the owner");
    },
  );

  await t.step(
    "a kicked member is told why and no longer receives",
    async () => {
      await ok(bob, "/kick club carol");
      await until(
        () =>
          carol.events.find((e) =>
            e.type === "room_left" && e.room === "club" && e.user === "carol" &&
            e.reason === "kicked"
          ),
        "carol told she was kicked",
      );
      for (const p of [alice, bob, dave]) {
        await p.waitFor(
          (l) =>
            l.type === "room_left" && l.user === "carol" &&
            l.reason === "kicked",
          "room_left carol kicked",
        );
      }
      const said = await ok(bob, "/say club carol is out");
      assertEquals(said.recipients, ["alice", "dave"]);
      await deliveredTo(bob, "club", said.id, ["alice", "dave"]);
      const cut = await carol.peer.run("/say club let me back");
      assertEquals(cut.ok, false);
      assert(!cut.ok && cut.error.includes("you are not in room 'club'"));
    },
  );

  await t.step(
    "receivers drop room messages from a kicked member who pretends to be in",
    async () => {
      // Carol's peer forges the membership the registry took away.
      carol.peer.rooms.load({
        room: "club",
        owner: "bob",
        members: ["alice", "bob", "carol", "dave"].map((user) => ({
          user,
          online: true,
          role: "member" as const,
        })),
      });
      const forged = await carol.peer.run("/say club I am still here");
      assert(isReply(forged, "say"), JSON.stringify(forged));
      assertEquals(forged.data.recipients, ["alice", "bob", "dave"]);
      // A direct message behind it on the same link marks when it was handled.
      for (const p of [alice, bob, dave]) {
        assertEquals((await carol.peer.run(`/chat ${p.user}`)).ok, true);
        await p.waitFor(
          (l) => l.type === "chat_request" && l.from === "carol",
          "chat_request after the forged message",
        );
        assertEquals(
          p.lines.filter((l) =>
            l.type === "message" && l.from === "carol" &&
            l.text === "I am still here"
          ),
          [],
          `${p.user} dropped the forged room message`,
        );
      }
      assertEquals(
        carol.events.filter((e) =>
          e.type === "delivered" && e.id === forged.data.id
        ),
        [],
      );
    },
  );

  await t.step(
    "when the owner leaves the longest-standing member owns the room",
    async () => {
      await ok(bob, "/leave club");
      for (const p of [alice, dave]) {
        await p.waitFor(
          (l) =>
            l.type === "room_owner" && l.room === "club" && l.user === "alice",
          "room_owner alice",
        );
      }
      assertEquals((await ok(dave, "/members club")).owner, "alice");
      await ok(alice, "/leave club");
      await dave.waitFor(
        (l) =>
          l.type === "room_owner" && l.room === "club" && l.user === "dave",
        "room_owner dave",
      );
    },
  );

  await t.step("a room left empty is deleted", async () => {
    await ok(dave, "/leave club");
    assertEquals((await ok(alice, "/rooms")).rooms, []);
    assertIncludes(
      await refused(alice, "/join club"),
      "there is no room 'club'",
    );
    // The name is free again.
    await ok(dave, "/room create club");
    assertEquals((await ok(dave, "/members club")).owner, "dave");
  });
});

Deno.test("an invitation waits for an offline user, is delivered at login, and opens a locked room", async (t) => {
  await using reg = await spawnRegistry();
  await using c = await crowd(reg);
  const [alice, carol] = await c.spawnAll(["alice", "carol"]) as [
    JsonPeer,
    JsonPeer,
  ];
  // bob and dave have accounts but are offline.
  for (const user of ["bob", "dave"]) {
    assertEquals(await (await c.spawn(user)).quit(), 0);
  }
  await ok(alice, "/room create vault --password s3cret-pw --capacity 5");

  await t.step("the owner invites online and offline users alike", async () => {
    assertEquals(
      [(await ok(alice, "/invite vault bob")).user, "bob"],
      ["bob", "bob"],
    );
    await ok(alice, "/invite vault dave");
    await ok(alice, "/invite vault carol");
    const inv = await carol.waitFor(
      (l) => l.type === "room_invite" && l.room === "vault",
      "room_invite at once",
    );
    assertEquals(inv.from, "alice");
  });

  await t.step("a declined invitation is gone and opens nothing", async () => {
    const list = await ok(carol, "/invites");
    assertEquals(
      (list.invites as { room: string; from: string }[]).map((
        i,
      ) => [i.room, i.from]),
      [["vault", "alice"]],
    );
    await ok(carol, "/invite decline vault");
    assertEquals((await ok(carol, "/invites")).invites, []);
    assertIncludes(
      await refused(carol, "/invite accept vault"),
      "you have no invitation to 'vault'",
    );
    assertIncludes(
      await refused(carol, "/invite decline vault"),
      "you have no invitation to 'vault'",
    );
    assertIncludes(await refused(carol, "/join vault"), "needs a password");
  });

  await t.step(
    "an offline invitee is told at login and joins without the password",
    async () => {
      const bob = await c.spawn("bob");
      const inv = await bob.waitFor(
        (l) => l.type === "room_invite" && l.room === "vault",
        "room_invite at login",
      );
      assertEquals(inv.from, "alice");
      const state = await ok(bob, "/invite accept vault");
      assertEquals(state.command, "/invite");
      assertEquals(
        (state.members as { user: string }[]).map((m) => m.user),
        ["alice", "bob"],
      );
      await alice.waitFor(
        (l) =>
          l.type === "room_joined" && l.room === "vault" && l.user === "bob",
        "room_joined bob",
      );
      assertEquals((await ok(bob, "/invites")).invites, []);
      // Accepting made vault bob's current conversation.
      const said = await ok(bob, "thanks for the invite");
      assertEquals([said.command, said.room], ["/say", "vault"]);
      await roomMessage(alice, "vault", "bob", "thanks for the invite");
      await deliveredTo(bob, "vault", said.id, ["alice"]);
    },
  );

  await t.step(
    "an unanswered invitation is delivered again at every login",
    async () => {
      let dave = await c.spawn("dave");
      await dave.waitFor((l) => l.type === "room_invite", "first delivery");
      assertEquals(await dave.quit(), 0);
      dave = await c.spawn("dave");
      await dave.waitFor((l) => l.type === "room_invite", "second delivery");
      assertEquals(
        ((await ok(dave, "/invites")).invites as unknown[]).length,
        1,
      );
    },
  );
});

Deno.test("a room keeps talking while the registry is stopped longer than the heartbeat TTL", async () => {
  const ttlMs = 1500;
  await using reg = await spawnRegistry({
    args: ["--heartbeat-interval", "250ms", "--heartbeat-ttl", `${ttlMs}ms`],
  });
  await using c = await crowd(reg);
  const peers = await c.spawnAll(["alice", "bob", "carol"]);
  const [alice, bob, carol] = peers as [JsonPeer, JsonPeer, JsonPeer];
  await ok(alice, "/room create ops");
  await ok(bob, "/join ops");
  await ok(carol, "/join ops");
  const round = async (tag: string) => {
    for (const p of peers) {
      const rest = peers.filter((o) => o !== p);
      const said = await ok(p, `/say ops ${tag} from ${p.user}`);
      assertEquals(said.recipients, rest.map((o) => o.user));
      for (const o of rest) {
        await roomMessage(o, "ops", p.user, `${tag} from ${p.user}`);
      }
      await deliveredTo(p, "ops", said.id, rest.map((o) => o.user));
    }
  };
  // Everyone speaks once so every member has its links (dialing needs the registry).
  await round("warm-up");

  reg.child.kill("SIGSTOP");
  let rounds = 0;
  try {
    // The room talks for the whole outage, which lasts well over the TTL.
    const stoppedAt = Date.now();
    while (Date.now() - stoppedAt < 2 * ttlMs) await round(`round ${++rounds}`);
  } finally {
    reg.child.kill("SIGCONT");
  }
  assert(rounds >= 1);

  // Once the registry runs again it notices its own stall and does not
  // blame the peers for the heartbeats it could not hear.
  await until(
    () =>
      reg.stderr.some((l) => l.includes("registry stalled")) ||
      peers.some((p) => p.events("timeout").length > 0),
    "the registry to notice its stall",
  );
  const m = await ok(carol, "/members ops");
  assertEquals(
    (m.members as { user: string; online: boolean }[]).map((x) => x.online),
    [true, true, true],
  );
  for (const p of peers) {
    assertEquals(p.events("timeout"), [], `${p.user} was not timed out`);
    assertEquals(
      p.events("presence").filter((l) => l.online === false),
      [],
      `${p.user} saw nobody go offline`,
    );
  }
  await round("after");
});

Deno.test("a flood of forged room messages costs the receiver at most one registry request", async () => {
  await using reg = await startRegistry();
  const root = await Deno.makeTempDir({ prefix: "chat-flood-" });
  await using _root = {
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
  const target = (user: string) => ({
    ...reg.target(),
    home: join(root, user),
  });
  await using alice = await corePeer(target("alice"), "alice");
  await using carol = await corePeer(target("carol"), "carol");
  const run = async (p: Peer, line: string) => {
    const r = await p.run(line);
    assert(r.ok, `${p.user}: ${line}: ${JSON.stringify(r)}`);
    return r;
  };
  await run(alice.peer, "/room create club");
  await run(carol.peer, "/join club");
  await run(carol.peer, "/say club hello");
  await until(
    () => alice.events.find((e) => e.type === "message" && e.room === "club"),
    "alice hears carol",
  );
  await run(alice.peer, "/kick club carol");
  await until(
    () => carol.events.find((e) => e.type === "room_left"),
    "carol told she was kicked",
  );
  // Carol forges her membership and floods the room.
  carol.peer.rooms.load({
    room: "club",
    owner: "alice",
    members: ["alice", "carol"].map((user) => ({
      user,
      online: true,
      role: "member" as const,
    })),
  });
  const before = reg.registry.service.stats.requests;
  const flood = [];
  for (let i = 0; i < 300; i++) {
    flood.push(carol.peer.conversations.say("club", `forged ${i}`));
  }
  await Promise.all(flood);
  // The link is read in order: once this arrives the flood was handled.
  await run(carol.peer, "/chat alice");
  await until(
    () => alice.events.find((e) => e.type === "chat_request"),
    "the chat request behind the flood",
  );
  const spent = reg.registry.service.stats.requests - before;
  assert(spent <= 3, `the flood cost ${spent} registry requests`);
  assertEquals(
    alice.events.filter((e) => e.type === "message" && e.from === "carol")
      .length,
    1,
  );
  const members = await run(alice.peer, "/members club");
  assert(isReply(members, "members"), JSON.stringify(members));
  assertEquals(members.data.owner, "alice");
});
