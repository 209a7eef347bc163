/**
 * `chat registry --db postgres://…` end to end: a real registry process on a
 * throwaway PostgreSQL server serves sign-up, login, search and a direct
 * chat between two real `chat peer --json` processes, and keeps its accounts
 * across a restart.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { ok, spawnPeer } from "../helpers/peer_process.ts";
import { sharedPostgres, skipNote } from "../helpers/postgres.ts";
import { spawnRegistry } from "../helpers/registry.ts";

Deno.test({
  name:
    `chat registry --db postgres:// serves sign-up, login, search and a chat${skipNote()}`,
  ignore: skipNote() !== "",
  fn: async (t) => {
    const pg = await sharedPostgres();
    await using db = await pg.createDatabase();
    const home = await Deno.makeTempDir({ prefix: "chat-pgreg-" });
    const url = db.url();
    let fingerprint = "";
    {
      await using reg = await spawnRegistry({ home, db: url });
      fingerprint = reg.fingerprint;
      await using alice = await spawnPeer(reg, { user: "alice" });
      await using bob = await spawnPeer(reg, { user: "bob" });

      await t.step(
        "both signed up and logged in; search finds bob online",
        async () => {
          const r = await ok(alice, "/search bob");
          assertEquals(r.online, true, JSON.stringify(r));
        },
      );

      await t.step("a direct chat carries a message both ways", async () => {
        await ok(alice, "/chat bob");
        await bob.waitFor(
          (l) => l.type === "chat_request" && l.from === "alice",
          "chat_request",
        );
        await ok(bob, "/accept alice");
        await ok(alice, "/msg bob hello over postgres");
        await bob.waitFor(
          (l) => l.type === "message" && l.text === "hello over postgres",
          "alice's message",
        );
        await ok(bob, "/msg alice hi back");
        await alice.waitFor(
          (l) => l.type === "message" && l.text === "hi back",
          "bob's message",
        );
      });

      assertEquals(await alice.quit(), 0);
      assertEquals(await bob.quit(), 0);
      assertEquals(await reg.stop(), 0);
    }

    await t.step(
      "restarted on the same database and state folder, the accounts remain",
      async () => {
        await using reg = await spawnRegistry({ home, db: url });
        assertEquals(reg.fingerprint, fingerprint, "same identity");
        await using carol = await spawnPeer(reg, { user: "carol" });
        const r = await ok(carol, "/search alice");
        assertEquals(r.online, false, JSON.stringify(r));
        await using _alice = await spawnPeer(reg, {
          user: "alice",
          signup: false,
        });
        const again = await ok(carol, "/search alice");
        assertEquals(again.online, true, JSON.stringify(again));
      },
    );
  },
});

Deno.test("chat registry --db with an unsupported URL is a usage error", async () => {
  const home = await Deno.makeTempDir({ prefix: "chat-pgreg-" });
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("../../main.ts", import.meta.url).pathname,
      "registry",
      "--port",
      "0",
      "--udp-port",
      "0",
      "--db",
      "mysql://u@h/db",
    ],
    env: { CHAT_HOME: home },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 2);
  const err = new TextDecoder().decode(out.stderr);
  assert(err.includes("mysql://… is not supported"), err);
});
