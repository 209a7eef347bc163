/**
 * Rooms (registry/handlers/rooms.ts): create, list, join with a password or
 * an invitation, capacity, kick, owner hand-over and leave, with the events
 * each sends to the members.
 */
import assert from "node:assert/strict";
import { Fixture, START } from "./support.ts";

const owner = (user: string) => ({ user, online: true, role: "owner" });
const member = (user: string, online = true) => ({
  user,
  online,
  role: "member",
});

Deno.test("creating, listing and joining rooms", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob", "carol");
  const alice = await fx.login("alice");
  const bob = await fx.login("bob");

  await t.step(
    "the creator owns the room and is its first member",
    async () => {
      assert.deepEqual(
        await alice.request("room_create", {
          room: "Den",
          description: "the den",
          capacity: 2,
        }),
        { room: "den" },
      );
      assert.deepEqual(await alice.request("room_members", { room: "DEN" }), {
        room: "den",
        owner: "alice",
        members: [owner("alice")],
      });
      await bob.refused(
        "room_create",
        { room: "DEN" },
        "taken",
        /^room 'den' already exists$/,
      );
    },
  );

  await t.step("a join is told to every member, the joiner too", async () => {
    alice.take();
    bob.take();
    assert.deepEqual(await bob.request("room_join", { room: "den" }), {
      room: "den",
      owner: "alice",
      members: [owner("alice"), member("bob")],
    });
    const joined = { type: "room_joined", room: "den", user: "bob" };
    assert.deepEqual(alice.take(), [joined]);
    assert.deepEqual(bob.take().slice(0, 1), [joined]);
    // Joining again changes nothing and tells nobody.
    await bob.request("room_join", { room: "den" });
    assert.deepEqual(alice.take(), []);
  });

  await t.step("a full room turns the next joiner away", async () => {
    const carol = await fx.login("carol");
    await carol.refused(
      "room_join",
      { room: "den" },
      "full",
      /^room 'den' is full \(2 members\)$/,
    );
    await carol.refused(
      "room_join",
      { room: "nowhere" },
      "not_found",
      /^there is no room 'nowhere'$/,
    );
  });

  await t.step("rooms are listed short, detailed, and mine", async () => {
    const carol = await fx.login("carol", { kind: "tool" });
    await carol.request("room_create", { room: "attic", password: "s3cret!!" });
    assert.deepEqual(await bob.request("rooms", {}), {
      rooms: [{ room: "attic", joined: false }, { room: "den", joined: true }],
    });
    assert.deepEqual(await bob.request("rooms", { detailed: true }), {
      rooms: [
        {
          room: "attic",
          description: "",
          members: 1,
          capacity: 50,
          locked: true,
          owner: "carol",
          joined: false,
        },
        {
          room: "den",
          description: "the den",
          members: 2,
          capacity: 2,
          locked: false,
          owner: "alice",
          joined: true,
        },
      ],
    });
    assert.deepEqual(await carol.request("rooms", { mine: true }), {
      rooms: [{ room: "attic", joined: true }],
    });
  });
});

Deno.test("locked rooms", async (t) => {
  // No sweep: the clock moves a minute without heartbeats.
  using fx = await Fixture.create({ sweepEveryMs: 0 });
  await fx.signup("alice", "bob");
  const alice = await fx.login("alice");
  const bob = await fx.login("bob");
  await alice.request("room_create", {
    room: "vault",
    password: "open sesame",
  });

  await t.step("the password is kept as a scrypt hash", async () => {
    const room = await fx.store.getRoom("vault");
    assert.match(room?.passwordHash ?? "", /^scrypt\$1024\$8\$1\$/);
  });

  await t.step(
    "a join without the password or with a wrong one is refused",
    async () => {
      await bob.refused(
        "room_join",
        { room: "vault" },
        "auth",
        /^room 'vault' needs a password: \/join vault --password P$/,
      );
      await bob.refused(
        "room_join",
        { room: "vault", password: "open barley" },
        "auth",
        /^wrong password for room 'vault'$/,
      );
    },
  );

  await t.step(
    "wrong passwords are throttled on the clock, per room and user",
    async () => {
      for (let i = 0; i < 4; i++) {
        await bob.refused(
          "room_join",
          { room: "vault", password: "open barley" },
          "auth",
        );
      }
      await bob.refused(
        "room_join",
        { room: "vault", password: "open sesame" },
        "throttled",
        /^too many attempts, retry in 60 s$/,
      );
      fx.clock.advance(60_000);
      assert.deepEqual(
        (await bob.request("room_join", {
          room: "vault",
          password: "open sesame",
        })).members.map((m) => m.user),
        ["alice", "bob"],
      );
    },
  );
});

Deno.test("invitations", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob", "carol", "dave");
  const alice = await fx.login("alice");
  const bob = await fx.login("bob");
  const carol = await fx.login("carol");
  await alice.request("room_create", {
    room: "vault",
    password: "open sesame",
  });

  await t.step("only the owner invites, and only non-members", async () => {
    await bob.refused(
      "room_invite",
      { room: "vault", user: "carol" },
      "forbidden",
      /^only the owner of 'vault' \(alice\) can invite$/,
    );
    await alice.refused(
      "room_invite",
      { room: "vault", user: "alice" },
      "state",
      /^alice is already in room 'vault'$/,
    );
    await alice.refused(
      "room_invite",
      { room: "vault", user: "zed" },
      "not_found",
    );
    await alice.refused(
      "room_invite",
      { room: "nowhere", user: "bob" },
      "not_found",
      /^there is no room 'nowhere'$/,
    );
  });

  await t.step("a user who blocked the owner is not available", async () => {
    const dave = await fx.login("dave", { kind: "tool" });
    await dave.request("block", { user: "alice" });
    await alice.refused(
      "room_invite",
      { room: "vault", user: "dave" },
      "unavailable",
      /^dave is not available$/,
    );
  });

  await t.step("the invitee is told and finds it listed", async () => {
    bob.take();
    assert.deepEqual(
      await alice.request("room_invite", { room: "VAULT", user: "Bob" }),
      { room: "vault", user: "bob" },
    );
    assert.deepEqual(bob.take(), [
      { type: "room_invite", room: "vault", from: "alice" },
    ]);
    assert.deepEqual(await bob.request("invites", {}), {
      invites: [{
        room: "vault",
        from: "alice",
        sent_at: new Date(START).toISOString(),
      }],
    });
  });

  await t.step("accepting joins without the password", async () => {
    const state = await bob.request("invite_accept", { room: "vault" });
    assert.deepEqual(state.members.map((m) => m.user), ["alice", "bob"]);
    assert.equal((await fx.store.getInvite("vault", "bob"))?.state, "accepted");
    await bob.refused(
      "invite_accept",
      { room: "vault" },
      "state",
      /^you have no invitation to 'vault'$/,
    );
  });

  await t.step("declining leaves the invitee out", async () => {
    await alice.request("room_invite", { room: "vault", user: "carol" });
    assert.deepEqual(await carol.request("invite_decline", { room: "vault" }), {
      room: "vault",
    });
    assert.deepEqual(await carol.request("invites", {}), {
      invites: [],
    });
    await carol.refused("invite_accept", { room: "vault" }, "state");
    await carol.refused("room_join", { room: "vault" }, "auth");
  });
});

Deno.test("the owner's powers and leaving", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob", "carol");
  const alice = await fx.login("alice");
  const bob = await fx.login("bob");
  const carol = await fx.login("carol");
  await alice.request("room_create", { room: "den" });
  await bob.request("room_join", { room: "den" });
  await carol.request("room_join", { room: "den" });
  for (const c of [alice, bob, carol]) c.take();

  await t.step("only the owner kicks, and not themselves", async () => {
    await bob.refused(
      "room_kick",
      { room: "den", user: "carol" },
      "forbidden",
      /^only the owner of 'den' \(alice\) can remove members$/,
    );
    await alice.refused(
      "room_kick",
      { room: "den", user: "alice" },
      "invalid",
      /^use \/leave den to leave your own room$/,
    );
    await alice.refused(
      "room_kick",
      { room: "den", user: "zed" },
      "state",
      /^zed is not in room 'den'$/,
    );
  });

  await t.step("a kick is told to the members and to the kicked", async () => {
    bob.take();
    assert.deepEqual(
      await alice.request("room_kick", { room: "den", user: "carol" }),
      { room: "den", user: "carol" },
    );
    const left = {
      type: "room_left",
      room: "den",
      user: "carol",
      reason: "kicked",
      by: "alice",
    };
    assert.deepEqual(bob.take(), [left]);
    assert.deepEqual(carol.take(), [left]);
    assert.deepEqual(
      (await alice.request("room_members", { room: "den" })).members,
      [owner("alice"), member("bob")],
    );
  });

  await t.step("the owner hands the room over to a member only", async () => {
    await alice.refused(
      "room_owner",
      { room: "den", user: "carol" },
      "state",
      /^carol is not in room 'den'; only members can own it$/,
    );
    await alice.refused(
      "room_owner",
      { room: "den", user: "alice" },
      "state",
      /^you already own room 'den'$/,
    );
    bob.take();
    assert.deepEqual(
      await alice.request("room_owner", { room: "den", user: "bob" }),
      { room: "den", user: "bob" },
    );
    assert.deepEqual(bob.take(), [{
      type: "room_owner",
      room: "den",
      user: "bob",
    }]);
    await alice.refused("room_kick", { room: "den", user: "bob" }, "forbidden");
  });

  await t.step(
    "when the owner leaves, the longest-standing member owns the room",
    async () => {
      // Carol was kicked: she is back only once the owner unbans her.
      await bob.request("room_unban", { room: "den", user: "carol" });
      await carol.request("room_join", { room: "den" });
      bob.take();
      carol.take();
      assert.deepEqual(await bob.request("room_leave", { room: "den" }), {
        room: "den",
      });
      assert.deepEqual(carol.take(), [
        { type: "room_left", room: "den", user: "bob", reason: "left" },
        { type: "room_owner", room: "den", user: "alice" },
      ]);
      await bob.refused(
        "room_leave",
        { room: "den" },
        "state",
        /^you are not in room 'den'$/,
      );
    },
  );

  await t.step("the room goes when its last member leaves", async () => {
    await carol.request("room_leave", { room: "den" });
    await alice.request("room_leave", { room: "den" });
    await alice.refused("room_members", { room: "den" }, "not_found");
    assert.equal(await fx.store.getRoom("den"), null);
  });

  await t.step("members are shown offline once gone", async () => {
    await alice.request("room_create", { room: "den" });
    await bob.request("room_join", { room: "den" });
    await bob.disconnect();
    assert.deepEqual(
      (await alice.request("room_members", { room: "den" })).members,
      [owner("alice"), member("bob", false)],
    );
  });
});
