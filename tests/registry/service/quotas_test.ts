/**
 * Quotas and paging (SPEC §3.1): the invitation bomb, rooms owned, pending
 * friend requests and invitations per sender and recipient, what is pushed
 * at login, paged lists that never outgrow the frame, and a room filter.
 */
import assert from "node:assert/strict";
import { encodeJson, MAX_FRAME_BYTES } from "../../../wire/mod.ts";
import { type Conn, Fixture } from "./support.ts";

/** Bytes of a reply's data as it travels. */
function size(data: object): number {
  return encodeJson({ type: "reply", id: 1, ok: true, data }).length;
}

/** Creates `n` rooms named `prefix0`… as `c`. */
async function rooms(
  c: Conn,
  prefix: string,
  n: number,
  description = "",
): Promise<void> {
  for (let i = 0; i < n; i++) {
    await c.request("room_create", {
      room: `${prefix}${String(i).padStart(3, "0")}`,
      description,
    });
  }
}

Deno.test("the invitation bomb is defused", async (t) => {
  using fx = await Fixture.create({
    maxRoomsOwned: 6,
    maxInvitesPerSender: 5,
    maxInvitesPerRecipient: 8,
    loginPushItems: 3,
  });
  await fx.signup("mallory", "trudy", "victim", "friend");
  const mallory = await fx.login("mallory", { kind: "tool" });
  const trudy = await fx.login("trudy", { kind: "tool" });

  await t.step("rooms owned per user are capped", async () => {
    await rooms(mallory, "m", 6);
    await mallory.refused(
      "room_create",
      { room: "m006" },
      "limit",
      /^you own 6 rooms \(the limit is 6\); leave or hand over one first$/,
    );
    assert.equal(await fx.store.getRoom("m006"), null);
  });

  await t.step("pending invitations are capped per sender", async () => {
    for (let i = 0; i < 5; i++) {
      await mallory.request("room_invite", { room: `m00${i}`, user: "victim" });
    }
    // Renewing one that is pending is no new invitation.
    await mallory.request("room_invite", { room: "m000", user: "victim" });
    await mallory.refused(
      "room_invite",
      { room: "m005", user: "victim" },
      "limit",
      /^you have 5 invitations waiting for an answer \(the limit is 5\); withdraw some first$/,
    );
  });

  await t.step("and per recipient", async () => {
    await rooms(trudy, "t", 4);
    for (let i = 0; i < 3; i++) {
      await trudy.request("room_invite", { room: `t00${i}`, user: "victim" });
    }
    await trudy.refused(
      "room_invite",
      { room: "t003", user: "victim" },
      "limit",
      /^victim has 8 invitations waiting already \(the limit is 8\); try again later$/,
    );
  });

  await t.step(
    "at login the victim gets one page of each and the totals",
    async () => {
      for (const u of ["mallory", "trudy", "friend"]) {
        const c = await fx.login(u, { kind: "tool" });
        await c.request("friend_request", { user: "victim" });
      }
      const victim = await fx.login("victim");
      const pushed = victim.events();
      assert.equal(victim.events("room_invite").length, 3);
      assert.equal(victim.events("friend_request").length, 3);
      assert.deepEqual(victim.events("pending"), [
        { type: "pending", friend_requests: 3, invites: 8 },
      ]);
      assert.equal(pushed.length, 7);
      // The rest is paged.
      const first = await victim.request("invites", { limit: 5 });
      assert.equal(first.invites.length, 5);
      assert.equal(first.total, 8);
      assert.equal(first.next_offset, 5);
      const rest = await victim.request("invites", { offset: 5 });
      assert.equal(rest.invites.length, 3);
      assert.equal(rest.next_offset, undefined);
      assert.deepEqual(
        new Set([...first.invites, ...rest.invites].map((i) => i.room)).size,
        8,
      );
    },
  );

  await t.step(
    "the owner withdraws an invitation; the invitee is told",
    async () => {
      const victim = await fx.login("victim", { replace: true });
      victim.take();
      await trudy.refused(
        "invite_withdraw",
        { room: "m000", user: "victim" },
        "forbidden",
        /^only the owner of 'm000' \(mallory\) can withdraw invitations$/,
      );
      assert.deepEqual(
        await mallory.request("invite_withdraw", {
          room: "m000",
          user: "victim",
        }),
        { room: "m000", user: "victim" },
      );
      assert.deepEqual(victim.take(), [
        { type: "invite_withdrawn", room: "m000" },
      ]);
      await victim.refused("invite_accept", { room: "m000" }, "state");
      await mallory.refused(
        "invite_withdraw",
        { room: "m000", user: "victim" },
        "state",
        /^victim has no pending invitation to 'm000'$/,
      );
      // The sender's quota is free again.
      await mallory.request("room_invite", { room: "m005", user: "friend" });
    },
  );
});

Deno.test("pending friend requests are capped", async (t) => {
  using fx = await Fixture.create({
    maxFriendRequestsPerSender: 2,
    maxFriendRequestsPerRecipient: 2,
  });
  await fx.signup("alice", "bob", "carol", "dave", "erin");
  const alice = await fx.login("alice", { kind: "tool" });

  await t.step("per sender", async () => {
    await alice.request("friend_request", { user: "bob" });
    await alice.request("friend_request", { user: "carol" });
    await alice.refused(
      "friend_request",
      { user: "dave" },
      "limit",
      /^you have 2 friend requests waiting for an answer \(the limit is 2\)/,
    );
  });

  await t.step("per recipient", async () => {
    const dave = await fx.login("dave", { kind: "tool" });
    await dave.request("friend_request", { user: "bob" });
    const erin = await fx.login("erin", { kind: "tool" });
    await erin.refused(
      "friend_request",
      { user: "bob" },
      "limit",
      /^bob has 2 friend requests waiting already \(the limit is 2\); try again later$/,
    );
  });

  await t.step("accepting one of ours is always allowed", async () => {
    const bob = await fx.login("bob", { kind: "tool" });
    // bob's request to alice crosses hers: that makes friends, no new request.
    assert.equal(
      (await bob.request("friend_request", { user: "alice" })).state,
      "friends",
    );
  });
});

Deno.test("every list is paged with a total", async (t) => {
  using fx = await Fixture.create({ maxRoomsOwned: 1000, requestBurst: 5000 });
  const users = Array.from({ length: 30 }, (_, i) => `u${i}`);
  await fx.signup("alice", ...users);
  const alice = await fx.login("alice");

  await t.step(
    "rooms: 600 rooms of long descriptions page within the frame",
    async () => {
      // Control characters travel as \u00XX: 6 bytes for each of 280.
      await rooms(alice, "r", 600, "\u0001".repeat(280));
      const seen: string[] = [];
      let offset: number | undefined = 0;
      let pages = 0;
      while (offset !== undefined) {
        const page: Awaited<ReturnType<typeof alice.request<"rooms">>> =
          await alice.request("rooms", {
            detailed: true,
            offset,
            limit: 1000,
          });
        assert.ok(size(page) < MAX_FRAME_BYTES, `${size(page)} bytes`);
        assert.equal(page.total, 600);
        seen.push(...page.rooms.map((r) => r.room));
        offset = page.next_offset;
        pages++;
      }
      assert.equal(new Set(seen).size, 600);
      assert.ok(pages >= 4, `${pages} pages`);
    },
  );

  await t.step("rooms: the default page, and a name search", async () => {
    const first = await alice.request("rooms", {});
    assert.equal(first.rooms.length, 200);
    assert.equal(first.next_offset, 200);
    const found = await alice.request("rooms", { search: "R59", limit: 50 });
    assert.deepEqual(found.rooms.map((r) => r.room), [
      "r590",
      "r591",
      "r592",
      "r593",
      "r594",
      "r595",
      "r596",
      "r597",
      "r598",
      "r599",
    ]);
    assert.equal(found.total, 10);
    // Wildcards are literal text, not patterns.
    assert.equal(
      (await alice.request("rooms", { search: "%", limit: 5 })).total,
      0,
    );
  });

  await t.step(
    "a request without paging whose list fits gets the reply it always got",
    async () => {
      assert.deepEqual(await alice.request("rooms", { search: "r00" }), {
        rooms: Array.from({ length: 10 }, (_, i) => ({
          room: `r00${i}`,
          joined: true,
        })),
      });
    },
  );

  await t.step("who", async () => {
    for (const u of users) await fx.login(u);
    const page = await alice.request("who", { offset: 10, limit: 5 });
    // By name: alice, u0, u1, u10 … u19, u2, u20 …
    assert.deepEqual(page.users.map((u) => u.user), [
      "u17",
      "u18",
      "u19",
      "u2",
      "u20",
    ]);
    assert.equal(page.total, 31);
    assert.equal(page.next_offset, 15);
  });

  await t.step("members, friend requests, friends and blocks", async () => {
    for (const u of users.slice(0, 12)) {
      const c = await fx.login(u, { kind: "tool" });
      await c.request("room_join", { room: "r000" });
      await c.request("friend_request", { user: "alice" });
    }
    const members = await alice.request("room_members", {
      room: "r000",
      offset: 10,
      limit: 2,
    });
    assert.deepEqual(members.members.map((m) => m.user), ["u9", "u10"]);
    assert.equal(members.total, 13);
    assert.equal(members.next_offset, 12);
    const requests = await alice.request("requests", { limit: 5 });
    assert.equal(requests.incoming.length, 5);
    assert.equal(requests.incoming_total, 12);
    assert.equal(requests.next_offset, 5);
    for (const u of users.slice(0, 3)) {
      await alice.request("friend_accept", { user: u });
    }
    const friends = await alice.request("friends", { limit: 2 });
    assert.equal(friends.friends.length, 2);
    assert.equal(friends.total, 3);
    assert.equal(friends.next_offset, 2);
    for (const u of users.slice(20, 25)) {
      await alice.request("block", { user: u });
    }
    const blocks = await alice.request("blocks", { offset: 4 });
    assert.deepEqual(blocks, { users: ["u24"], total: 5 });
  });
});
