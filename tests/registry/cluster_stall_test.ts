/**
 * An instance that stalls (SIGSTOP) longer than its lease is swept by the
 * other: its users show offline there. When it runs again (SIGCONT) it
 * registers its sessions again: they are online everywhere once more, their
 * friends on the other instance are told so, and its own users hear of the
 * friends who came and went on the other instance while it was stopped.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { startCluster } from "../helpers/cluster.ts";
import { type JsonPeer, mark, ok, spawnPeer } from "../helpers/peer_process.ts";
import { skipNote } from "../helpers/postgres.ts";
import { until } from "../helpers/registry.ts";

async function befriend(a: JsonPeer, b: JsonPeer): Promise<void> {
  await ok(a, `/friend add ${b.user}`);
  await b.waitFor(
    (l) => l.type === "friend_request" && l.from === a.user,
    `${a.user}'s request`,
  );
  const from = mark(a);
  await ok(b, `/friend accept ${a.user}`);
  await a.waitFor(
    (l) => l.type === "friend_accepted" && l.user === b.user,
    `${b.user} accepting`,
    15_000,
    from,
  );
}

const presence = (user: string, online: boolean) =>
(l: {
  type: string;
  [k: string]: unknown;
}) => l.type === "presence" && l.user === user && l.online === online;

Deno.test({
  name:
    `cluster: an instance stopped longer than its lease comes back with its sessions online${skipNote()}`,
  ignore: skipNote() !== "",
  fn: async (t) => {
    await using cluster = await startCluster(2);
    const [one, two] = cluster.instances as [
      (typeof cluster.instances)[0],
      (typeof cluster.instances)[0],
    ];
    await using alice = await spawnPeer(one, { user: "alice" });
    await using bob = await spawnPeer(two, { user: "bob" });
    await using carol = await spawnPeer(two, { user: "carol" });
    // dave's account exists; he logs in while instance 1 is stopped.
    {
      await using dave = await spawnPeer(two, { user: "dave" });
      await befriend(alice, dave);
      assertEquals(await dave.quit(), 0);
    }
    await befriend(alice, bob);
    await befriend(alice, carol);

    let aliceFrom = 0;
    let bobFrom = 0;
    await using later = new AsyncDisposableStack();
    await t.step(
      "instance 1 stopped: swept by instance 2, alice offline there",
      async () => {
        bobFrom = mark(bob);
        one.child.kill("SIGSTOP");
        await bob.waitFor(
          presence("alice", false),
          "alice offline after the sweep",
          30_000,
          bobFrom,
        );
        assert(
          two.stderr.some((l) => l.includes("cluster instance swept")),
          "instance 2 swept instance 1",
        );
        const r = await ok(bob, "/search alice");
        assertEquals(r.online, false, JSON.stringify(r));
        // Meanwhile on instance 2: carol leaves and dave arrives, while
        // instance 2 no longer counts alice as online.
        assertEquals(await carol.quit(), 0);
        later.use(await spawnPeer(two, { user: "dave", signup: false }));
        await until(
          () => two.stderr.some((l) => / login user=dave /.test(l)),
          "dave logged in on instance 2",
        );
        aliceFrom = mark(alice);
        bobFrom = mark(bob);
        one.child.kill("SIGCONT");
      },
    );

    await t.step(
      "instance 1 runs again: alice is online everywhere, bob is told",
      async () => {
        await bob.waitFor(
          presence("alice", true),
          "alice online again, pushed to bob",
          30_000,
          bobFrom,
        );
        await until(
          () =>
            one.stderr.some((l) =>
              l.includes("cluster sessions registered again")
            ),
          "instance 1 registering its sessions again",
        );
        const r = await ok(bob, "/search alice");
        assertEquals(r.online, true, JSON.stringify(r));
        // alice's session went on: she was neither timed out nor replaced.
        assertEquals(alice.events("timeout"), []);
        assertEquals(alice.events("session_ended"), []);
        const who = await ok(alice, "/search bob");
        assertEquals(who.online, true, JSON.stringify(who));
      },
    );

    await t.step(
      "alice hears who came and went on instance 2 while hers was stopped",
      async () => {
        await alice.waitFor(
          presence("carol", false),
          "carol offline",
          15_000,
          aliceFrom,
        );
        await alice.waitFor(
          presence("dave", true),
          "dave online",
          15_000,
          aliceFrom,
        );
      },
    );

    await t.step("a new chat from bob reaches alice", async () => {
      await ok(bob, "/chat alice");
      await bob.waitFor(
        (l) => l.type === "chat_started" && l.with === "alice",
        "chat_started",
        15_000,
        bobFrom,
      );
      await ok(bob, "/msg alice welcome back");
      await alice.waitFor(
        (l) => l.type === "message" && l.text === "welcome back",
        "bob's message",
        15_000,
        aliceFrom,
      );
    });
  },
});
