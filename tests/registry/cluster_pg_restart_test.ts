/**
 * PostgreSQL restarted (crashed: immediate shutdown) under two running
 * registry processes: they recover without a restart of their own. Requests
 * are served again, events cross between the instances again (their
 * subscriptions are made anew and the directory is read back from the
 * tables), and the sessions held through the outage stay online.
 */
import assert from "node:assert/strict";
import { startCluster } from "../helpers/cluster.ts";
import { PostgresServer, skipNote } from "../helpers/postgres.ts";
import { until } from "../helpers/registry.ts";
import { loggedIn, signup, type TestClient } from "./support.ts";

const PW = "correct horse";

Deno.test({
  name: `cluster: PostgreSQL restarted under the registries${skipNote()}`,
  ignore: skipNote() !== "",
  fn: async (t) => {
    await using pg = await PostgresServer.create({ durable: true });
    await using db = await pg.createDatabase();
    await using cluster = await startCluster(2, { db });
    const [one, two] = cluster.instances;
    const t1 = one!.target();
    const t2 = two!.target();
    for (const u of ["alice", "bob", "dave"]) await signup(t1, u, PW);
    await using alice = await loggedIn(t1, "alice", PW);
    await using bob = await loggedIn(t2, "bob", PW);
    await alice.request("friend_request", { user: "bob" });
    await bob.request("friend_accept", { user: "alice" });
    await alice.event("presence", (e) => e.user === "bob" && e.online);

    await t.step("the database crashes and comes back", async () => {
      await pg.restart("immediate");
    });

    const served = (c: TestClient) =>
      until(
        () =>
          c.request("search", { user: "dave" }).then(() => true, () => false),
        "requests served again",
        60_000,
        200,
      );

    await t.step(
      "both instances serve requests again, without a restart",
      async () => {
        await served(alice);
        await served(bob);
        // Neither process exited meanwhile.
        const running = (r: typeof one) =>
          Promise.race([
            r!.child.status.then(() => false),
            Promise.resolve(true),
          ]);
        assert.equal(await running(one), true);
        assert.equal(await running(two), true);
      },
    );

    await t.step(
      "the sessions held through the outage are online everywhere",
      async () => {
        await until(
          async () => (await bob.request("search", { user: "alice" })).online,
          "alice online as instance 2 sees her",
          30_000,
          200,
        );
        await until(
          async () => (await alice.request("search", { user: "bob" })).online,
          "bob online as instance 1 sees him",
          30_000,
          200,
        );
      },
    );

    await t.step("events cross between the instances again", async () => {
      // A login on instance 2 is heard on instance 1 …
      await using dave = await loggedIn(t2, "dave", PW);
      await until(
        async () => (await alice.request("search", { user: "dave" })).online,
        "dave online as instance 1 sees him",
        30_000,
        200,
      );
      // … and an event for a user of instance 1 reaches her.
      await dave.request("friend_request", { user: "alice" });
      await alice.event("friend_request", (e) => e.from === "dave", 30_000);
      alice.events.length = 0;
      await bob.request("logout", {});
      await alice.event(
        "presence",
        (e) => e.user === "bob" && !e.online,
        30_000,
      );
    });
  },
});
