/**
 * A peer given every instance of a cluster (`--registry h1:P1,h2:P2`) moves
 * to another when its instance is killed with SIGKILL: it logs in again
 * there and its direct chat carries on; what was acknowledged before the
 * kill (a friendship, an offline message) is all there.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { startCluster } from "../helpers/cluster.ts";
import { mark, ok, spawnPeer } from "../helpers/peer_process.ts";
import { skipNote } from "../helpers/postgres.ts";
import { until } from "../helpers/registry.ts";

Deno.test({
  name:
    `cluster: a peer moves to another instance when its own is killed${skipNote()}`,
  ignore: skipNote() !== "",
  fn: async (t) => {
    await using cluster = await startCluster(2);
    await using alice = await spawnPeer(cluster.instances[0]!, {
      user: "alice",
      registry: cluster.addresses(),
    });
    // Which instance alice picked: the one that logged her in.
    const at = await until(
      () =>
        cluster.instances.findIndex((r) =>
          r.stderr.some((l) => / login user=alice /.test(l))
        ) + 1,
      "alice's login in an instance's log",
    );
    const hers = cluster.instances[at - 1]!;
    const other = cluster.instances[2 - at]!;
    // bob knows only the other instance, so only alice moves.
    await using bob = await spawnPeer(other, { user: "bob" });
    // carol's machine: the device her offline message is sealed to.
    const carolHome = await Deno.makeTempDir({ prefix: "chat-carol-" });
    await using _carolHome = {
      [Symbol.asyncDispose]: () => Deno.remove(carolHome, { recursive: true }),
    };
    {
      await using carol = await spawnPeer(other, {
        user: "carol",
        home: carolHome,
      });
      assertEquals(await carol.quit(), 0);
    }

    await t.step("friends with an open chat across instances", async () => {
      await ok(alice, "/friend add bob");
      await bob.waitFor(
        (l) => l.type === "friend_request" && l.from === "alice",
        "the request",
      );
      await ok(bob, "/friend accept alice");
      await ok(alice, "/chat bob");
      // Friends: the chat opens at once.
      await alice.waitFor(
        (l) => l.type === "chat_started" && l.with === "bob",
        "chat_started",
      );
      await ok(alice, "/msg bob before the kill");
      await bob.waitFor(
        (l) => l.type === "message" && l.text === "before the kill",
        "the first message",
      );
      // Acknowledged by alice's instance just before it dies.
      const r = await ok(alice, "/msg carol kept for you");
      assert(JSON.stringify(r).includes("offline"), JSON.stringify(r));
    });

    await t.step(
      "alice's instance killed: she is back through the other",
      async () => {
        const from = mark(alice);
        assertEquals(await hers.stop("SIGKILL"), 137);
        await alice.waitFor(
          (l) => l.type === "registry_lost",
          "registry_lost",
          15_000,
          from,
        );
        await alice.waitFor(
          (l) => l.type === "registry_restored",
          "registry_restored",
          30_000,
          from,
        );
        assert(
          other.stderr.some((l) => / login user=alice /.test(l)),
          "logged in again on the other instance",
        );
        const r = await ok(bob, "/search alice");
        assertEquals(r.online, true, JSON.stringify(r));
      },
    );

    await t.step(
      "the chat carries on, and the friendship is there",
      async () => {
        await ok(alice, "/msg bob after the kill");
        await bob.waitFor(
          (l) => l.type === "message" && l.text === "after the kill",
          "a message after the kill",
        );
        await ok(bob, "/msg alice still here");
        await alice.waitFor(
          (l) => l.type === "message" && l.text === "still here",
          "bob's reply",
        );
        const friends = await ok(alice, "/friends");
        assert(
          JSON.stringify(friends).includes('"bob"'),
          JSON.stringify(friends),
        );
      },
    );

    await t.step(
      "the offline message acknowledged by the dead instance is delivered",
      async () => {
        await using carol = await spawnPeer(other, {
          user: "carol",
          signup: false,
          home: carolHome,
        });
        await carol.waitFor(
          (l) => l.type === "offline_message" && l.text === "kept for you",
          "the offline message",
        );
      },
    );
  },
});
