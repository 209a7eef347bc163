/**
 * Running a room (peer/core/handlers/rooms.ts): handing it over,
 * kicking (a kicked member is cut off at once, even by a forging client)
 * and leaving, and invitations that wait for an offline user and open a
 * locked room.
 */
import {
  assert,
  assertEquals,
  assertIncludes,
} from "../../../helpers/assert.ts";
import { isReply } from "../../../../peer/mod.ts";
import { spawnRegistry, until } from "../../../helpers/registry.ts";
import type { JsonPeer } from "../../../helpers/peer_process.ts";
import {
  corePeer,
  crowd,
  deliveredTo,
  ok,
  refused,
  roomMessage,
} from "../rooms_support.ts";

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

Deno.test("a kick lasts until /unban; the owner changes the password and withdraws invitations", async (t) => {
  await using reg = await spawnRegistry();
  await using c = await crowd(reg);
  const [alice, bob, carol, dave] = await c.spawnAll([
    "alice",
    "bob",
    "carol",
    "dave",
  ]) as [JsonPeer, JsonPeer, JsonPeer, JsonPeer];
  await ok(alice, "/room create club --password one-pass");
  await ok(bob, "/join club --password one-pass");

  await t.step("a kicked member cannot rejoin, nor be invited", async () => {
    const kicked = await ok(alice, "/kick club bob");
    assertEquals([kicked.room, kicked.user], ["club", "bob"]);
    await bob.waitFor(
      (l) => l.type === "room_left" && l.user === "bob",
      "bob told he was removed",
    );
    assertEquals(
      await refused(bob, "/join club --password one-pass"),
      "you were removed from room 'club' and cannot rejoin until its owner unbans you",
    );
    assertEquals(
      await refused(alice, "/invite club bob"),
      "bob is banned from room 'club' — unban them before inviting",
    );
  });

  await t.step("only the owner unbans, and only the banned", async () => {
    assertIncludes(await refused(carol, "/unban club bob"), "only the owner");
    assertEquals(
      await refused(alice, "/unban club carol"),
      "carol is not banned from room 'club'",
    );
    const r = await ok(alice, "/unban club bob");
    assertEquals([r.command, r.room, r.user], ["/unban", "club", "bob"]);
    await ok(bob, "/join club --password one-pass");
    await ok(bob, "/leave club");
  });

  await t.step("a new password replaces the old one", async () => {
    const r = await ok(alice, "/room password club 'two pass'");
    assertEquals([r.command, r.room, r.locked], ["/room", "club", true]);
    assertEquals(
      await refused(bob, "/join club --password one-pass"),
      "wrong password for room 'club'",
    );
    await ok(bob, "/join club --password 'two pass'");
    await ok(bob, "/leave club");
    assertIncludes(
      await refused(carol, "/room password club mine"),
      "only the owner",
    );
  });

  await t.step("without a password the room opens to anyone", async () => {
    const r = await ok(alice, "/room password club");
    assertEquals(r.locked, false);
    await ok(carol, "/join club");
    const rooms = await ok(carol, "/rooms -l club");
    assertEquals(
      (rooms.rooms as { room: string; locked: boolean }[]).map((
        x,
      ) => [x.room, x.locked]),
      [["club", false]],
    );
  });

  await t.step(
    "a withdrawn invitation is gone, and the invitee is told",
    async () => {
      assertEquals(
        await refused(alice, "/invite withdraw club dave"),
        "dave has no pending invitation to 'club'",
      );
      await ok(alice, "/invite club dave");
      await dave.waitFor(
        (l) => l.type === "room_invite" && l.room === "club",
        "the invitation",
      );
      const w = await ok(alice, "/invite withdraw club dave");
      assertEquals([w.command, w.room, w.user], ["/invite", "club", "dave"]);
      const gone = await dave.waitFor(
        (l) => l.type === "invite_withdrawn",
        "invite_withdrawn",
      );
      assertEquals(gone, { type: "invite_withdrawn", room: "club" });
      assertEquals((await ok(dave, "/invites")).invites, []);
      assertEquals(
        await refused(dave, "/invite accept club"),
        "you have no invitation to 'club'",
      );
    },
  );

  await t.step(
    "handing the room over withdraws every pending invitation",
    async () => {
      await ok(alice, "/invite club dave");
      await dave.waitFor(
        (l) => l.type === "room_invite" && l.room === "club",
        "the second invitation",
      );
      const mark = dave.lines.length;
      await ok(alice, "/owner club carol");
      await dave.waitFor(
        (l) => l.type === "invite_withdrawn" && l.room === "club",
        "invite_withdrawn on the hand-over",
        undefined,
        mark,
      );
      assertEquals((await ok(dave, "/invites")).invites, []);
    },
  );
});
