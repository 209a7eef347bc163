/**
 * The room commands (peer/core/handlers/rooms.ts) across real
 * `chat peer --json` processes: a room of five that talks and sees joins,
 * leaves and presence, and every kind of refusal with a clear reason. The
 * pure room rules are tested in tests/registry/rooms_test.ts.
 */
import { DatabaseSync } from "node:sqlite";
import {
  assert,
  assertEquals,
  assertIncludes,
} from "../../../helpers/assert.ts";
import { spawnRegistry } from "../../../helpers/registry.ts";
import type { JsonPeer } from "../../../helpers/peer_process.ts";
import {
  crowd,
  deliveredTo,
  ok,
  refused,
  roomMessage,
} from "../rooms_support.ts";

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
