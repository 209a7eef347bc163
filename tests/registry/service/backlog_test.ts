/**
 * A room's backlog at the registry: room_keys and room_store serve members
 * only, boxes must cover each member's devices of now (else the member is
 * named stale and nothing is kept for them), a member who blocked the
 * sender is answered alike, the share per member is bounded with the
 * oldest dropped and counted, and the member fetches it with the room named.
 */
import assert from "node:assert/strict";
import { base64url } from "../../../wire/mod.ts";
import { DEVICE, type Fields, Fixture, unsealed } from "./support.ts";

/** A room_store as a peer on DEVICE makes it for members with one DEVICE each. */
function backlogFields(
  room: string,
  users: string[],
  text: string,
): Fields<"room_store"> {
  return {
    room,
    mid: base64url(crypto.getRandomValues(new Uint8Array(16))),
    from_device: DEVICE,
    members: users.map((user) => ({
      user,
      boxes: [{
        device: DEVICE,
        box: base64url(new TextEncoder().encode(text)),
      }],
    })),
  };
}

Deno.test("room_store keeps a room's backlog for members only", async (t) => {
  using fx = await Fixture.create({ roomBacklog: 2 });
  await fx.signup("alice", "bob", "carol", "mallory");
  await fx.addDevices("alice", "bob", "carol", "mallory");
  const alice = await fx.login("alice", { kind: "tool", device: true });
  const carol = await fx.login("carol", { kind: "tool", device: true });
  const mallory = await fx.login("mallory", { kind: "tool", device: true });
  await alice.request("room_create", { room: "lobby" });
  const bob = await fx.login("bob", { kind: "tool", device: true });
  await bob.request("room_join", { room: "lobby" });
  await carol.request("room_join", { room: "lobby" });
  await bob.request("logout", {});

  await t.step("room_keys names members' devices, not others'", async () => {
    const r = await alice.request("room_keys", {
      room: "lobby",
      users: ["bob", "mallory", "BOB", "nobody"],
    });
    assert.deepEqual(r.members.map((m) => [m.user, m.devices.length]), [
      ["bob", 1],
    ]);
    assert.equal(r.members[0]!.devices[0]!.name, DEVICE);
    assert.match(
      await mallory.refused(
        "room_keys",
        { room: "lobby", users: ["bob"] },
        "state",
      ),
      /you are not in room 'lobby'/,
    );
    assert.match(
      await alice.refused(
        "room_keys",
        { room: "nowhere", users: ["bob"] },
        "not_found",
      ),
      /no such room 'nowhere'/,
    );
  });

  await t.step("a non-member cannot leave anything", async () => {
    assert.match(
      await mallory.refused(
        "room_store",
        backlogFields("lobby", ["bob"], "spam"),
        "state",
      ),
      /you are not in room 'lobby'/,
    );
    // Nor can a member leave it for someone outside the room.
    const r = await alice.request(
      "room_store",
      backlogFields("lobby", ["mallory", "alice"], "x"),
    );
    assert.deepEqual([r.stored, r.stale], [[], []]);
    assert.equal(await fx.store.countOffline("mallory"), 0);
  });

  await t.step("boxes for other devices are named stale", async () => {
    const f = backlogFields("lobby", ["bob", "carol"], "x");
    f.members[0]!.boxes[0]!.device = "old-laptop";
    const r = await alice.request("room_store", f);
    assert.deepEqual([r.stored, r.stale], [["carol"], ["bob"]]);
    assert.equal(await fx.store.countOffline("bob"), 0);
  });

  await t.step("a backlog sealed by another device is refused", async () => {
    const f = backlogFields("lobby", ["bob"], "x");
    f.from_device = "elsewhere";
    assert.match(
      await alice.refused("room_store", f, "invalid"),
      /sealed by the device of the session sending it/,
    );
  });

  await t.step("bounded per member: the oldest go, counted", async () => {
    for (let i = 1; i <= 4; i++) {
      const r = await alice.request(
        "room_store",
        backlogFields("lobby", ["bob"], `m${i}`),
      );
      assert.deepEqual(r.stored, ["bob"]);
    }
    const back = await fx.login("bob", { device: true });
    const page = await back.request("offline_fetch", {});
    assert.deepEqual(
      page.messages.map((m) => [m.from, m.room, unsealed(m)]),
      [["alice", "lobby", "m3"], ["alice", "lobby", "m4"]],
    );
    assert.deepEqual(page.dropped, [{ room: "lobby", count: 2 }]);
    await back.request("offline_ack", {
      ids: page.messages.map((m) => m.id),
      drops: ["lobby"],
    });
    const after = await back.request("offline_fetch", {});
    assert.deepEqual([after.messages, after.dropped], [[], undefined]);
    // No delivery notice for a room's backlog.
    assert.equal(await fx.store.countReceipts("alice"), 0);
    await back.request("logout", {});
  });

  await t.step(
    "a member who blocked the sender is answered alike",
    async () => {
      await carol.request("block", { user: "alice" });
      const r = await alice.request(
        "room_store",
        backlogFields("lobby", ["bob", "carol"], "hello"),
      );
      assert.deepEqual([r.stored, r.stale], [["bob", "carol"], []]);
      assert.equal(await fx.store.countOffline("bob"), 1);
      const carolHas = (await fx.store.offlineFor("carol", 10)).filter((m) =>
        m.text.includes(base64url(new TextEncoder().encode("hello")))
      );
      assert.equal(carolHas.length, 0, "nothing kept for carol");
    },
  );
});
