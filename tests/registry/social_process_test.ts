/**
 * Friends with presence pushes (F7) and blocks (F8) against a real
 * `chat registry` process.
 */
import assert from "node:assert/strict";
import { until } from "../helpers/registry.ts";
import {
  loggedIn,
  refused,
  sealedTo,
  signup,
  type TestClient,
  withRegistryProcess,
} from "./support.ts";

const PW = "correct horse";

Deno.test("registry process: friends and presence", async (t) => {
  await withRegistryProcess([], async (reg) => {
    const target = reg.target();
    for (const u of ["alice", "bob", "carol"]) await signup(target, u, PW);
    const open: TestClient[] = [];
    const login = async (user: string) => {
      const c = await loggedIn(target, user, PW);
      open.push(c);
      return c;
    };
    try {
      const bob = await login("bob");
      let alice = await login("alice");

      await t.step(
        "a friend request is pushed to the online addressee",
        async () => {
          assert.deepEqual(
            await alice.request("friend_request", { user: "Bob" }),
            { user: "bob", state: "pending" },
          );
          assert.deepEqual(await bob.event("friend_request"), {
            type: "friend_request",
            from: "alice",
          });
          assert.deepEqual(await bob.request("requests", {}), {
            incoming: ["alice"],
            outgoing: [],
          });
          assert.deepEqual(await alice.request("requests", {}), {
            incoming: [],
            outgoing: ["bob"],
          });
        },
      );

      await t.step(
        "accepting tells both sides and shows each other online",
        async () => {
          assert.deepEqual(
            await bob.request("friend_accept", { user: "alice" }),
            { user: "alice" },
          );
          await alice.event("friend_accepted", (e) => e.user === "bob");
          await alice.event("presence", (e) => e.user === "bob" && e.online);
          await bob.event("presence", (e) => e.user === "alice" && e.online);
        },
      );

      await t.step("friends are listed with presence and status", async () => {
        await bob.request("status", { text: "coding" });
        assert.deepEqual(await alice.request("friends", {}), {
          friends: [{ user: "bob", online: true, status: "coding" }],
        });
        const profile = await alice.request("profile", { user: "bob" });
        assert.equal(profile.friend, "friends");
      });

      await t.step(
        "an online friend is told when the other logs out and in",
        async () => {
          bob.events.length = 0;
          await alice.request("logout", {});
          await bob.event("presence", (e) => e.user === "alice" && !e.online);
          assert.deepEqual(await bob.request("friends", {}), {
            friends: [{
              user: "alice",
              online: false,
              status: "Hey there! I am using chat",
            }],
          });
          await alice.close();
          alice = await login("alice");
          await bob.event("presence", (e) => e.user === "alice" && e.online);
        },
      );

      await t.step(
        "a dropped connection is pushed as offline at once",
        async () => {
          bob.events.length = 0;
          await alice.close();
          await bob.event("presence", (e) => e.user === "alice" && !e.online);
          alice = await login("alice");
          await bob.event("presence", (e) => e.user === "alice" && e.online);
        },
      );

      await t.step(
        "a request waiting for an offline user is pushed at login",
        async () => {
          await alice.request("friend_request", { user: "carol" });
          const carol = await login("carol");
          assert.deepEqual(await carol.event("friend_request"), {
            type: "friend_request",
            from: "alice",
          });
        },
      );

      await t.step("declining leaves both without a relation", async () => {
        const carol = open.at(-1)!;
        await carol.request("friend_decline", { user: "alice" });
        assert.deepEqual(await alice.request("requests", {}), {
          incoming: [],
          outgoing: [],
        });
        await refused(
          carol.request("friend_decline", { user: "alice" }),
          "state",
          /^alice has not sent you a friend request$/,
        );
        assert.equal(
          (await carol.request("friends", {})).friends.length,
          0,
        );
      });

      await t.step(
        "removing a friend tells the other and stops presence",
        async () => {
          await alice.request("friend_remove", { user: "bob" });
          await bob.event("friend_removed", (e) => e.user === "alice");
          assert.deepEqual(await bob.request("friends", {}), {
            friends: [],
          });
          bob.events.length = 0;
          await alice.request("logout", {});
          // A marker request: events are sent in order, so if a presence push
          // were coming it would have arrived before this reply.
          const carol = open.at(-1)!;
          await carol.request("friend_request", { user: "bob" });
          await bob.event("friend_request", (e) => e.from === "carol");
          assert.equal(bob.eventsOf("presence").length, 0);
        },
      );
    } finally {
      for (const c of open) await c.close();
    }
  });
});

Deno.test("registry process: blocks", async (t) => {
  await withRegistryProcess([], async (reg) => {
    const target = reg.target();
    for (const u of ["alice", "mallory", "bob"]) await signup(target, u, PW);
    const alice = await loggedIn(target, "alice", PW, { device: true });
    const mallory = await loggedIn(target, "mallory", PW, { device: true });
    const bob = await loggedIn(target, "bob", PW, { device: true });
    try {
      await alice.request("friend_request", { user: "mallory" });
      await mallory.request("friend_accept", { user: "alice" });
      await mallory.event("presence", (e) => e.user === "alice" && e.online);

      await t.step(
        "blocking a friend ends the friendship; they see you go offline",
        async () => {
          mallory.events.length = 0;
          assert.deepEqual(await alice.request("block", { user: "mallory" }), {
            user: "mallory",
          });
          await mallory.event(
            "presence",
            (e) => e.user === "alice" && !e.online,
          );
          assert.deepEqual(await alice.request("friends", {}), {
            friends: [],
          });
          assert.deepEqual(await alice.request("blocks", {}), {
            users: ["mallory"],
          });
        },
      );

      await t.step(
        "the blocked user's friend request is answered as any other and never reaches alice",
        async () => {
          assert.deepEqual(
            await mallory.request("friend_request", { user: "alice" }),
            { user: "alice", state: "pending" },
          );
          assert.equal(alice.eventsOf("friend_request").length, 0);
          assert.deepEqual(
            (await alice.request("requests", {})).incoming,
            [],
          );
        },
      );

      await t.step(
        "the blocked user cannot be introduced (no chats or files)",
        async () => {
          for (const purpose of ["chat", "file"] as const) {
            await refused(
              mallory.request("introduce", { user: "alice", purpose }),
              "unavailable",
              /^alice is not available$/,
            );
          }
          // Someone else can still be introduced to alice.
          const intro = await bob.request("introduce", {
            user: "alice",
            purpose: "chat",
          });
          assert.equal(intro.user, "alice");
          assert.ok(intro.ticket.length > 0);
        },
      );

      await t.step(
        "the blocked user's offline message is answered as stored and never kept",
        async () => {
          const sent = await mallory.request(
            "offline_send",
            sealedTo(mallory, "alice", "hi"),
          );
          assert.equal(sent.to, "alice");
          assert.deepEqual(await alice.request("offline_fetch", {}), {
            messages: [],
          });
        },
      );

      await t.step(
        "the blocked user sees the blocker as offline in search and who",
        async () => {
          const found = await mallory.request("search", { user: "alice" });
          assert.equal(found.online, false);
          assert.equal(found.last_seen, null);
          assert.equal(found.host, undefined);
          const who = await mallory.request("who", {});
          assert.deepEqual(who.users.map((u) => u.user), ["bob", "mallory"]);
          const profile = await mallory.request("profile", { user: "alice" });
          assert.equal(profile.online, false);
          // Everyone else still sees alice online.
          assert.equal(
            (await bob.request("search", { user: "alice" })).online,
            true,
          );
        },
      );

      await t.step(
        "the blocker's presence changes are not pushed to the blocked user",
        async () => {
          mallory.events.length = 0;
          await alice.request("logout", {});
          await alice.login("alice", PW);
          await mallory.request("active", {});
          assert.equal(mallory.eventsOf("presence").length, 0);
        },
      );

      await t.step(
        "the blocker may not befriend whom they block until unblocking",
        async () => {
          await refused(
            alice.request("friend_request", { user: "mallory" }),
            "state",
            /^you have blocked mallory — \/unblock mallory first$/,
          );
        },
      );

      await t.step("unblocking restores normal visibility", async () => {
        await alice.request("unblock", { user: "mallory" });
        await until(
          async () =>
            (await mallory.request("search", { user: "alice" })).online,
          "mallory to see alice online",
          2_000,
        );
        await mallory.request(
          "offline_send",
          sealedTo(mallory, "bob", "hello"),
        );
        await refused(
          alice.request("unblock", { user: "mallory" }),
          "state",
          /^mallory is not blocked$/,
        );
      });
    } finally {
      for (const c of [alice, mallory, bob]) await c.close();
    }
  });
});
