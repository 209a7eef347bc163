/**
 * Two registry processes on one PostgreSQL database act as one registry:
 * alice on instance 1 and bob on instance 2 find each other, hear each
 * other's friend requests and presence, chat directly, and leave each other
 * offline messages.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { startCluster } from "../helpers/cluster.ts";
import { mark, ok, spawnPeer } from "../helpers/peer_process.ts";
import { skipNote } from "../helpers/postgres.ts";
import { deviceTool } from "./support.ts";

Deno.test({
  name: `cluster: alice on instance 1 and bob on instance 2${skipNote()}`,
  ignore: skipNote() !== "",
  fn: async (t) => {
    await using cluster = await startCluster(2);
    const [one, two] = cluster.instances;
    assertEquals(one!.fingerprint, two!.fingerprint, "one fingerprint");
    await using alice = await spawnPeer(one!, { user: "alice" });
    await using bob = await spawnPeer(two!, { user: "bob" });

    await t.step(
      "search and who see a user of the other instance",
      async () => {
        const r = await ok(alice, "/search bob");
        assertEquals(r.online, true, JSON.stringify(r));
        const who = await ok(bob, "/who");
        assert(JSON.stringify(who).includes("alice"), JSON.stringify(who));
      },
    );

    await t.step("a friend request and its acceptance cross over", async () => {
      await ok(alice, "/friend add bob");
      await bob.waitFor(
        (l) => l.type === "friend_request" && l.from === "alice",
        "alice's request on instance 2",
      );
      const from = mark(alice);
      await ok(bob, "/friend accept alice");
      await alice.waitFor(
        (l) => l.type === "presence" && l.user === "bob" && l.online === true,
        "bob online, pushed from instance 2",
        15_000,
        from,
      );
    });

    await t.step("a direct chat between the instances", async () => {
      await ok(alice, "/chat bob");
      // Friends: the chat opens at once.
      await alice.waitFor(
        (l) => l.type === "chat_started" && l.with === "bob",
        "chat_started",
      );
      await ok(alice, "/msg bob across the cluster");
      await bob.waitFor(
        (l) => l.type === "message" && l.text === "across the cluster",
        "alice's message",
      );
    });

    await t.step("presence: bob logging out is pushed to alice", async () => {
      const from = mark(alice);
      assertEquals(await bob.quit(), 0);
      await alice.waitFor(
        (l) => l.type === "presence" && l.user === "bob" && l.online === false,
        "bob offline",
        15_000,
        from,
      );
      const r = await ok(alice, "/search bob");
      assertEquals(r.online, false, JSON.stringify(r));
    });

    await t.step(
      "an offline message left on instance 1 waits for bob on instance 2",
      async () => {
        await ok(alice, "/msg bob while you were away");
        // bob again on the same machine: the message is sealed to it.
        await using bob2 = await spawnPeer(two!, {
          user: "bob",
          home: bob.home,
          signup: false,
        });
        await bob2.waitFor(
          (l) =>
            l.type === "offline_message" && l.text === "while you were away",
          "the offline message",
        );
        // One stored while bob is online on instance 2 is announced to him
        // there at once (offline_waiting), and his peer fetches it.
        // Sealed as alice's peer seals it, by a tool on alice's device.
        const { client: tool, seal } = await deviceTool(
          one!.target(),
          alice.home,
          "alice",
        );
        await using _tool = tool;
        await tool.request(
          "offline_send",
          await seal("bob", "stored while you are on instance 2"),
        );
        await bob2.waitFor(
          (l) =>
            l.type === "offline_message" &&
            l.text === "stored while you are on instance 2",
          "the offline message announced across instances",
        );
      },
    );
  },
});
