/**
 * A room with a member on each of three registry processes sharing one
 * PostgreSQL database: an invitation made on one instance reaches the
 * invitee on another, joins and room messages reach every member, what is
 * said on one instance while a member is away reaches them on another, and a
 * kick made on one instance is heard on the others.
 */
import { assert } from "../helpers/assert.ts";
import { startCluster } from "../helpers/cluster.ts";
import { mark, ok, spawnPeer } from "../helpers/peer_process.ts";
import { skipNote } from "../helpers/postgres.ts";

Deno.test({
  name: `cluster: a room with members on three instances${skipNote()}`,
  ignore: skipNote() !== "",
  fn: async (t) => {
    await using cluster = await startCluster(3);
    const [one, two, three] = cluster.instances;
    await using alice = await spawnPeer(one!, { user: "alice" });
    await using bob = await spawnPeer(two!, { user: "bob" });
    await using carol = await spawnPeer(three!, { user: "carol" });

    await t.step(
      "an invitation made on instance 1 reaches bob on instance 2",
      async () => {
        await ok(alice, "/room create ops --password sesame");
        await ok(alice, "/invite ops bob");
        await bob.waitFor(
          (l) =>
            l.type === "room_invite" && l.room === "ops" && l.from === "alice",
          "the invitation",
        );
        const from = mark(alice);
        await ok(bob, "/invite accept ops");
        await alice.waitFor(
          (l) =>
            l.type === "room_joined" && l.room === "ops" && l.user === "bob",
          "bob joined, heard on instance 1",
          15_000,
          from,
        );
      },
    );

    await t.step(
      "carol on instance 3 joins with the password; all hear it",
      async () => {
        const a = mark(alice);
        const b = mark(bob);
        await ok(carol, "/join ops --password sesame");
        for (const [p, at] of [[alice, a], [bob, b]] as const) {
          await p.waitFor(
            (l) => l.type === "room_joined" && l.user === "carol",
            `${p.user} hears carol join`,
            15_000,
            at,
          );
        }
        const members = await ok(carol, "/members ops");
        const text = JSON.stringify(members);
        for (const u of ["alice", "bob", "carol"]) {
          assert(text.includes(`"${u}"`), text);
        }
        assert(!text.includes('"online":false'), `all online: ${text}`);
      },
    );

    await t.step(
      "a room message reaches the members on the other instances",
      async () => {
        await ok(bob, "/say ops hello from instance 2");
        for (const p of [alice, carol]) {
          await p.waitFor(
            (l) =>
              l.type === "message" && l.room === "ops" &&
              l.text === "hello from instance 2",
            `${p.user} gets bob's room message`,
            20_000,
          );
        }
      },
    );

    await t.step("presence of a room mate crosses instances", async () => {
      const from = mark(alice);
      assert((await carol.quit()) === 0);
      await alice.waitFor(
        (l) =>
          l.type === "presence" && l.user === "carol" && l.online === false,
        "carol offline as a room mate",
        15_000,
        from,
      );
    });

    await t.step(
      "what alice says on instance 1 while carol is away reaches carol on instance 3",
      async () => {
        const r = await ok(alice, "/say ops said while carol was away");
        assert(
          JSON.stringify([r.recipients, r.later]) ===
            JSON.stringify([["bob"], ["carol"]]),
          JSON.stringify(r),
        );
        // carol comes back from her device (its keys are for instance 3's address).
        await using back = await spawnPeer(three!, {
          user: "carol",
          home: carol.home,
          signup: false,
          env: { CHAT_PASSWORD: "" },
        });
        const m = await back.waitFor(
          (l) => l.type === "message" && l.room === "ops" && l.backlog === true,
          "the backlog",
        );
        assert(m.text === "said while carol was away", String(m.text));
        assert(m.from === "alice", String(m.from));
      },
    );

    await t.step(
      "a kick on instance 1 is heard by bob on instance 2",
      async () => {
        await ok(alice, "/kick ops bob");
        await bob.waitFor(
          (l) =>
            l.type === "room_left" && l.room === "ops" && l.user === "bob" &&
            l.reason === "kicked",
          "bob told he was kicked",
        );
      },
    );
  },
});
