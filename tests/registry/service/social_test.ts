/**
 * Social requests (registry/handlers/social.ts): search, who, profiles,
 * friends with their pushes, and blocks.
 */
import assert from "node:assert/strict";
import { ADDRESS, Fixture, P2P_PORT, START } from "./support.ts";

const iso = (ms: number) => new Date(ms).toISOString();

Deno.test("search, who and profile", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob", "carol");
  const alice = await fx.login("alice");

  await t.step("search: an online user with address and port", async () => {
    const bob = await fx.login("bob", { address: "203.0.113.9" });
    assert.deepEqual(await alice.request("search", { user: "BOB" }), {
      user: "bob",
      online: true,
      host: "203.0.113.9",
      port: P2P_PORT,
      last_seen: null,
      status: "Hey there! I am using chat",
    });
    await bob.disconnect();
  });

  await t.step("search: an offline user with the last-seen time", async () => {
    assert.deepEqual(await alice.request("search", { user: "bob" }), {
      user: "bob",
      online: false,
      last_seen: iso(START),
      status: "Hey there! I am using chat",
    });
    // Never online: no last-seen time.
    assert.equal(
      (await alice.request("search", { user: "carol" })).last_seen,
      null,
    );
    await alice.refused(
      "search",
      { user: "zed" },
      "not_found",
      /^no such user 'zed'$/,
    );
  });

  await t.step("who lists online peers, short and detailed", async () => {
    const bob = await fx.login("bob");
    await bob.request("status", { text: "on a train" });
    await fx.login("carol", { kind: "tool" });
    assert.deepEqual(await alice.request("who", {}), {
      users: [{ user: "alice" }, { user: "bob" }],
      total: 2,
    });
    assert.deepEqual(await alice.request("who", { detailed: true }), {
      users: [
        {
          user: "alice",
          host: ADDRESS,
          port: P2P_PORT,
          status: "Hey there! I am using chat",
        },
        { user: "bob", host: ADDRESS, port: P2P_PORT, status: "on a train" },
      ],
      total: 2,
    });
    await bob.disconnect();
  });

  await t.step("profile: status, presence, since and relation", async () => {
    assert.deepEqual(await alice.request("profile", { user: "bob" }), {
      user: "bob",
      status: "on a train",
      online: false,
      last_seen: iso(START),
      since: iso(START),
      friend: "none",
    });
    assert.equal(
      (await alice.request("profile", { user: "alice" })).friend,
      "you",
    );
    await alice.refused("profile", { user: "zed" }, "not_found");
  });
});

Deno.test("friends", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob", "carol");
  const alice = await fx.login("alice");
  const bob = await fx.login("bob");
  alice.take();
  bob.take();

  await t.step("a request is pushed to its target and listed", async () => {
    assert.deepEqual(
      await alice.request("friend_request", { user: "Bob" }),
      { user: "bob", state: "pending" },
    );
    assert.deepEqual(bob.take(), [{ type: "friend_request", from: "alice" }]);
    assert.deepEqual(await bob.request("requests", {}), {
      incoming: ["alice"],
      outgoing: [],
    });
    assert.deepEqual(await alice.request("requests", {}), {
      incoming: [],
      outgoing: ["bob"],
    });
    assert.equal(
      (await bob.request("profile", { user: "alice" })).friend,
      "requested_you",
    );
  });

  await t.step(
    "accepting tells both, and each that the other is online",
    async () => {
      alice.take();
      bob.take();
      const reply = await bob.request("friend_accept", { user: "alice" });
      assert.deepEqual(reply, { user: "alice" });
      assert.deepEqual(alice.take(), [
        { type: "friend_accepted", user: "bob" },
        { type: "presence", user: "bob", online: true },
      ]);
      // bob's own events come before his reply.
      assert.deepEqual(bob.take().map((m) => m.type), [
        "friend_accepted",
        "presence",
        "reply",
      ]);
      assert.deepEqual(await alice.request("friends", {}), {
        friends: [{
          user: "bob",
          online: true,
          status: "Hey there! I am using chat",
        }],
      });
    },
  );

  await t.step("crossed requests make friends at once", async () => {
    const carol = await fx.login("carol");
    await carol.request("friend_request", { user: "alice" });
    alice.take();
    assert.deepEqual(
      await alice.request("friend_request", { user: "carol" }),
      { user: "carol", state: "friends" },
    );
    assert.deepEqual(carol.events("friend_accepted"), [
      { type: "friend_accepted", user: "alice" },
    ]);
    await carol.disconnect();
  });

  await t.step("removing tells the other; declining tells nobody", async () => {
    bob.take();
    assert.deepEqual(await alice.request("friend_remove", { user: "bob" }), {
      user: "bob",
    });
    assert.deepEqual(bob.take(), [{ type: "friend_removed", user: "alice" }]);
    await alice.refused(
      "friend_remove",
      { user: "bob" },
      "state",
      /^bob is not your friend$/,
    );
    await bob.request("friend_request", { user: "alice" });
    bob.take();
    await alice.request("friend_decline", { user: "bob" });
    assert.deepEqual(bob.take(), []);
    assert.equal(
      (await alice.request("profile", { user: "bob" })).friend,
      "none",
    );
    await alice.refused(
      "friend_decline",
      { user: "bob" },
      "state",
      /^bob has not sent you a friend request$/,
    );
  });

  await t.step("yourself and unknown users are refused", async () => {
    await alice.refused(
      "friend_request",
      { user: "alice" },
      "invalid",
      /^you cannot befriend yourself$/,
    );
    await alice.refused("friend_request", { user: "zed" }, "not_found");
  });
});

Deno.test("blocks", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob");
  const alice = await fx.login("alice");
  const bob = await fx.login("bob");
  await fx.befriend(alice, bob);
  fx.clock.advance(1_000);
  alice.take();
  bob.take();

  await t.step(
    "the blocked friend sees the blocker go offline, and the friendship ends",
    async () => {
      assert.deepEqual(await alice.request("block", { user: "BOB" }), {
        user: "bob",
      });
      assert.deepEqual(bob.take(), [
        { type: "presence", user: "alice", online: false },
      ]);
      assert.deepEqual(await alice.request("blocks", {}), {
        users: ["bob"],
      });
      assert.deepEqual(await alice.request("friends", {}), {
        friends: [],
      });
    },
  );

  await t.step(
    "the blocker is hidden from the blocked: search, who, profile",
    async () => {
      assert.deepEqual(await bob.request("search", { user: "alice" }), {
        user: "alice",
        online: false,
        last_seen: null,
        status: "Hey there! I am using chat",
      });
      assert.deepEqual(await bob.request("who", {}), {
        users: [{ user: "bob" }],
        total: 1,
      });
      const profile = await bob.request("profile", { user: "alice" });
      assert.equal(profile.online, false);
      assert.equal(profile.last_seen, null);
      // The blocker still sees the blocked.
      assert.equal(
        (await alice.request("search", { user: "bob" })).online,
        true,
      );
    },
  );

  await t.step(
    "the blocked user's request is answered as any other and never reaches the blocker",
    async () => {
      assert.deepEqual(
        await bob.request("friend_request", { user: "alice" }),
        { user: "alice", state: "pending" },
      );
      assert.deepEqual(
        (await bob.request("requests", {})).outgoing,
        ["alice"],
      );
      assert.deepEqual(await alice.request("requests", {}), {
        incoming: [],
        outgoing: [],
      });
      await alice.refused(
        "friend_request",
        { user: "bob" },
        "state",
        /^you have blocked bob — \/unblock bob first$/,
      );
      assert.deepEqual(alice.take().filter((m) => m.type !== "reply"), []);
    },
  );

  await t.step(
    "a block is no friend's presence: logins are not told",
    async () => {
      alice.take();
      await bob.disconnect();
      const again = await fx.login("bob");
      await again.disconnect();
      assert.deepEqual(alice.take(), []);
    },
  );

  await t.step(
    "unblocking restores visibility, not the friendship",
    async () => {
      assert.deepEqual(await alice.request("unblock", { user: "bob" }), {
        user: "bob",
      });
      await alice.refused(
        "unblock",
        { user: "bob" },
        "state",
        /^bob is not blocked$/,
      );
      const bob2 = await fx.login("bob");
      assert.equal(
        (await bob2.request("search", { user: "alice" })).online,
        true,
      );
      // Bob's request stands, as any unanswered one; alice now sees it.
      assert.equal(
        (await bob2.request("profile", { user: "alice" })).friend,
        "requested",
      );
      assert.deepEqual(
        (await alice.request("requests", {})).incoming,
        ["bob"],
      );
    },
  );

  await t.step("yourself and unknown users cannot be blocked", async () => {
    await alice.refused(
      "block",
      { user: "alice" },
      "invalid",
      /^you cannot block yourself$/,
    );
    await alice.refused("block", { user: "zed" }, "not_found");
  });
});
