/**
 * Room moderation: a kick bans until the owner unbans; the owner changes or
 * removes the password; invitations do not survive a hand-over, so their
 * holders cannot walk past the password of the new owner's room.
 */
import assert from "node:assert/strict";
import { Fixture, PASSWORD } from "./support.ts";

Deno.test("a kick bans until unbanned", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob", "carol");
  const alice = await fx.login("alice");
  const bob = await fx.login("bob");
  await alice.request("room_create", { room: "den" });
  await bob.request("room_join", { room: "den" });
  await alice.request("room_kick", { room: "den", user: "bob" });

  await t.step("the kicked member cannot rejoin at once", async () => {
    await bob.refused(
      "room_join",
      { room: "den" },
      "forbidden",
      /^you were removed from room 'den' and cannot rejoin until its owner unbans you$/,
    );
  });

  await t.step("nor be invited back while banned", async () => {
    await alice.refused(
      "room_invite",
      { room: "den", user: "bob" },
      "state",
      /^bob is banned from room 'den' — unban them before inviting$/,
    );
  });

  await t.step("only the owner unbans, and only the banned", async () => {
    const carol = await fx.login("carol", { kind: "tool" });
    await carol.refused(
      "room_unban",
      { room: "den", user: "bob" },
      "forbidden",
      /^only the owner of 'den' \(alice\) can unban$/,
    );
    await alice.refused(
      "room_unban",
      { room: "den", user: "carol" },
      "state",
      /^carol is not banned from room 'den'$/,
    );
    assert.deepEqual(
      await alice.request("room_unban", { room: "den", user: "bob" }),
      { room: "den", user: "bob" },
    );
    await bob.request("room_join", { room: "den" });
  });
});

Deno.test("the owner changes and removes the room password", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob", "carol", "dave");
  const alice = await fx.login("alice", { kind: "tool" });
  await alice.request("room_create", { room: "vault", password: PASSWORD });

  await t.step("only the owner may", async () => {
    const bob = await fx.login("bob", { kind: "tool" });
    await bob.refused(
      "room_password",
      { room: "vault" },
      "forbidden",
      /^only the owner of 'vault' \(alice\) can set its password$/,
    );
  });

  await t.step("a new password replaces the old", async () => {
    assert.deepEqual(
      await alice.request("room_password", {
        room: "vault",
        password: "new secret",
      }),
      { room: "vault", locked: true },
    );
    const bob = await fx.login("bob", { kind: "tool" });
    await bob.refused(
      "room_join",
      { room: "vault", password: PASSWORD },
      "auth",
    );
    await bob.request("room_join", { room: "vault", password: "new secret" });
  });

  await t.step("no password opens the room", async () => {
    assert.deepEqual(
      await alice.request("room_password", { room: "vault" }),
      { room: "vault", locked: false },
    );
    const carol = await fx.login("carol", { kind: "tool" });
    await carol.request("room_join", { room: "vault" });
    assert.equal((await fx.store.getRoom("vault"))?.passwordHash, null);
  });
});

Deno.test("invitations do not survive a hand-over", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob", "carol", "dave");
  const alice = await fx.login("alice", { kind: "tool" });
  const bob = await fx.login("bob", { kind: "tool" });
  const carol = await fx.login("carol");
  await alice.request("room_create", { room: "vault", password: PASSWORD });
  await bob.request("room_join", { room: "vault", password: PASSWORD });
  await alice.request("room_invite", { room: "vault", user: "carol" });
  carol.take();

  await t.step(
    "handing over withdraws them, and the invitee is told",
    async () => {
      await alice.request("room_owner", { room: "vault", user: "bob" });
      assert.deepEqual(carol.take(), [
        { type: "invite_withdrawn", room: "vault" },
      ]);
      await carol.refused("invite_accept", { room: "vault" }, "state");
      await carol.refused(
        "room_join",
        { room: "vault" },
        "auth",
        /needs a password/,
      );
    },
  );

  await t.step("the new owner invites again whom they want", async () => {
    await bob.request("room_invite", { room: "vault", user: "carol" });
    await carol.request("invite_accept", { room: "vault" });
  });

  await t.step("so does an owner leaving", async () => {
    await bob.request("room_invite", { room: "vault", user: "dave" });
    await bob.request("room_leave", { room: "vault" });
    assert.equal((await fx.store.getRoom("vault"))?.owner, "alice");
    const dave = await fx.login("dave", { kind: "tool" });
    await dave.refused("invite_accept", { room: "vault" }, "state");
  });

  await t.step("a hand-over respects the rooms-owned cap", async () => {
    using capped = await Fixture.create({ maxRoomsOwned: 1 });
    await capped.signup("alice", "bob");
    const a = await capped.login("alice", { kind: "tool" });
    const b = await capped.login("bob", { kind: "tool" });
    await a.request("room_create", { room: "one" });
    await b.request("room_create", { room: "two" });
    await b.request("room_join", { room: "one" });
    await a.refused(
      "room_owner",
      { room: "one", user: "bob" },
      "limit",
      /^bob owns 1 rooms already \(the limit is 1\)$/,
    );
  });
});

Deno.test("ping answers without counting as a user action", async () => {
  using fx = await Fixture.create({ idleTimeoutMs: 60_000, sweepEveryMs: 0 });
  await fx.signup("alice");
  const alice = await fx.login("alice");
  using _beats = fx.heartbeats(alice);
  fx.clock.advance(59_000);
  assert.deepEqual(await alice.request("ping", {}), {});
  fx.clock.advance(2_000);
  assert.equal(await fx.service.sweep(fx.clock.now()), 1);
  assert.deepEqual(alice.events("timeout"), [
    { type: "timeout", reason: "idle" },
  ]);
});
