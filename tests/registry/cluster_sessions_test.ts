/**
 * Sessions across registry processes on one PostgreSQL database: one
 * interactive session per user in the whole cluster (--replace ends one held
 * by another instance), heartbeats named by the login reply, an instance
 * killed with SIGKILL swept by another after the lease, and one identity.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startCluster } from "../helpers/cluster.ts";
import { skipNote } from "../helpers/postgres.ts";
import { spawnRegistry, until } from "../helpers/registry.ts";
import { loggedIn, refused, signup } from "./support.ts";
import {
  knownFingerprint,
  RegistryClient,
  rememberFingerprint,
} from "../../peer/net/mod.ts";

const PW = "correct horse";

Deno.test({
  name:
    `cluster: one session per user across instances, --replace, sweeping a killed instance${skipNote()}`,
  ignore: skipNote() !== "",
  fn: async (t) => {
    await using cluster = await startCluster(2, {
      args: ["--heartbeat-ttl", "2s", "--login-failures", "2"],
    });
    const [one, two] = cluster.instances;
    const t1 = one!.target();
    const t2 = two!.target();
    for (const u of ["alice", "bob", "carol", "dave"]) await signup(t1, u, PW);
    await using bob = await loggedIn(t2, "bob", PW);
    await bob.request("friend_request", { user: "alice" });
    const alice1 = await loggedIn(t1, "alice", PW);
    await alice1.request("friend_accept", { user: "bob" });
    await bob.event("presence", (e) => e.user === "alice" && e.online);

    await t.step("the login reply names the instance's heartbeat port", () => {
      assert.equal(alice1.session!.heartbeat_port, one!.udpPort);
      assert.equal(bob.session!.heartbeat_port, two!.udpPort);
    });

    await t.step(
      "failed logins on one instance count on the other",
      async () => {
        for (let i = 0; i < 2; i++) {
          await refused(
            loggedIn(t1, "dave", "wrong password"),
            "auth",
            /wrong/,
          );
        }
        await refused(
          loggedIn(t2, "dave", PW),
          "throttled",
          /^too many attempts, retry in \d+ s$/,
        );
      },
    );

    await t.step(
      "an instance is trusted when another of the same list was",
      async () => {
        const home = await Deno.makeTempDir({ prefix: "chat-trust-" });
        const a1 = { host: "127.0.0.1", port: one!.port };
        const a2 = { host: "127.0.0.1", port: two!.port };
        await rememberFingerprint(
          home,
          `127.0.0.1:${a1.port}`,
          one!.fingerprint,
        );
        // Alone, instance 2 is unknown and nobody can be asked.
        await refused(
          RegistryClient.connect({ ...a2, home }),
          "trust",
          /is not known yet and there is no terminal to ask/,
        );
        const c = await RegistryClient.connect({
          ...a2,
          home,
          alternates: [a1],
        });
        c.close();
        await c.closed;
        assert.equal(
          await knownFingerprint(home, `127.0.0.1:${a2.port}`),
          two!.fingerprint,
          "remembered for instance 2 too",
        );
        await Deno.remove(home, { recursive: true });
      },
    );

    await t.step(
      "a second login on the other instance is refused",
      async () => {
        await refused(
          loggedIn(t2, "alice", PW),
          "online",
          /^alice is already online — use --replace to end that session$/,
        );
      },
    );

    const alice2 = await loggedIn(t2, "alice", PW, { replace: true });
    await t.step(
      "--replace on instance 2 ends the session on instance 1",
      async () => {
        await alice1.event("session_ended", (e) => e.reason === "replaced");
        await until(() => alice1.client.isClosed, "instance 1 closes it");
        // The replaced session's end is no offline: alice stays online.
        const { friends } = await bob.request("friends", {});
        assert.deepEqual(friends.map((f) => [f.user, f.online]), [
          ["alice", true],
        ]);
        const search = await bob.request("search", { user: "alice" });
        assert.equal(search.online, true);
      },
    );
    await alice1.close();

    await t.step(
      "instance 2 killed: its sessions are swept by instance 1 after the lease",
      async () => {
        await using watcher = await loggedIn(t1, "carol", PW);
        await watcher.request("friend_request", { user: "alice" });
        await alice2.request("friend_accept", { user: "carol" });
        await watcher.event("presence", (e) => e.user === "alice" && e.online);
        assert.equal(await two!.stop("SIGKILL"), 137);
        await watcher.event(
          "presence",
          (e) => e.user === "alice" && !e.online,
          30_000,
        );
        const search = await watcher.request("search", { user: "bob" });
        assert.equal(search.online, false);
        assert.notEqual(
          search.last_seen,
          null,
          "last seen stored by the sweep",
        );
        // alice may log in again at once, without --replace.
        await using back = await loggedIn(t1, "alice", PW);
        await watcher.event(
          "presence",
          (e) => e.user === "alice" && e.online,
        );
        assert.equal(back.session!.user, "alice");
      },
    );
    await alice2.close();
    await bob.close();

    await t.step(
      "an instance with another identity refuses to join",
      async () => {
        const home = await Deno.makeTempDir({ prefix: "chat-stranger-" });
        await assert.rejects(
          spawnRegistry({
            home,
            db: cluster.url,
            args: ["--state-dir", join(home, "own-state")],
          }),
          /this database's registry presents certificate sha256:[0-9a-f]{64}, not this instance's/,
        );
        await Deno.remove(home, { recursive: true });
      },
    );
  },
});
