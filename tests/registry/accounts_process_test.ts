/**
 * Accounts, sessions and queries against a real `chat registry` process,
 * driven over TLS with the pinned RegistryClient (SPEC F1, F2, F4, F5, F6).
 */
import assert from "node:assert/strict";
import { DEFAULT_STATUS } from "../../registry/store.ts";
import { until } from "../helpers/registry.ts";
import {
  loggedIn,
  P2P_PORT,
  refused,
  signup,
  TestClient,
  withRegistryProcess,
} from "./support.ts";

const PW = "correct horse";

Deno.test("registry process: accounts and sessions", async (t) => {
  await withRegistryProcess([], async (reg) => {
    const target = reg.target();
    const open: TestClient[] = [];
    const keep = (c: TestClient) => (open.push(c), c);
    try {
      await t.step("signs up a new user, stored lower-case", async () => {
        await using c = await TestClient.connect(target);
        assert.deepEqual(
          await c.request("signup", { user: "Alice", password: PW }),
          { user: "alice" },
        );
        assert.ok(
          reg.stderr.some((l) =>
            / info signup user=alice addr=127\.0\.0\.1/.test(l)
          ),
        );
      });

      await t.step("refuses a taken name in any case", async () => {
        await using c = await TestClient.connect(target);
        for (const name of ["alice", "ALICE", "aLiCe"]) {
          await refused(
            c.request("signup", { user: name, password: PW }),
            "taken",
            /^username 'alice' is taken/,
          );
        }
      });

      await t.step(
        "lets exactly one of two racing sign-ups of one name win",
        async () => {
          await using a = await TestClient.connect(target);
          await using b = await TestClient.connect(target);
          const results = await Promise.allSettled([
            a.request("signup", { user: "carol", password: PW }),
            b.request("signup", { user: "CAROL", password: PW }),
          ]);
          const won = results.filter((r) => r.status === "fulfilled");
          const lost = results.filter((r) => r.status === "rejected");
          assert.equal(won.length, 1);
          assert.equal(lost.length, 1);
          await refused(
            Promise.reject((lost[0] as PromiseRejectedResult).reason),
            "taken",
            /^username 'carol' is taken/,
          );
        },
      );

      await t.step("refuses a password shorter than 8 characters", async () => {
        await using c = await TestClient.connect(target);
        await refused(
          c.request("signup", { user: "shorty", password: "1234567" }),
          "invalid",
          /^password is too short: use at least 8 characters$/,
        );
        // Eight characters, counted as characters, not bytes.
        await c.request("signup", { user: "shorty", password: "pässwörd" });
      });

      await t.step("refuses a name outside [a-z0-9_.-]{1,32}", async () => {
        await using c = await TestClient.connect(target);
        for (const user of ["al ice", "a".repeat(33), "bob!"]) {
          await refused(
            c.request("signup", { user, password: PW }),
            "invalid",
            /^signup: "user" (is not a valid name|must be at most 32)/,
          );
        }
      });

      await t.step("refuses a wrong password and an unknown user", async () => {
        await using c = await TestClient.connect(target);
        await refused(
          c.login("alice", "wrong password", { beat: false }),
          "auth",
          /^wrong password for alice$/,
        );
        await refused(
          c.login("nobody", PW, { beat: false }),
          "not_found",
          /^no account named 'nobody' — sign up first/,
        );
        assert.ok(
          reg.stderr.some((l) =>
            / warn login failed user=alice .*reason="wrong password"/.test(l)
          ),
        );
      });

      let alice!: TestClient;
      await t.step(
        "logs a peer in, case-insensitively, with a session token",
        async () => {
          alice = keep(await loggedIn(target, "ALICE", PW));
          assert.equal(alice.session?.user, "alice");
          assert.match(alice.session!.session, /^[0-9a-f]{32}$/);
          assert.equal(alice.session!.host, "127.0.0.1");
          assert.equal(alice.session!.status, DEFAULT_STATUS);
        },
      );

      await t.step(
        "refuses a second peer login: 'alice is already online'",
        async () => {
          await using c = await TestClient.connect(target);
          await refused(
            c.login("alice", PW),
            "online",
            /^alice is already online — use --replace to end that session$/,
          );
          assert.equal(
            alice.client.isClosed,
            false,
            "the first session is untouched",
          );
        },
      );

      await t.step(
        "lets a tool session in beside the peer session",
        async () => {
          await using c = await loggedIn(target, "alice", PW, { kind: "tool" });
          assert.equal(c.session?.user, "alice");
        },
      );

      await t.step(
        "--replace ends the older session, which is told so",
        async () => {
          const newer = keep(
            await loggedIn(target, "alice", PW, { replace: true }),
          );
          assert.deepEqual(await alice.event("session_ended"), {
            type: "session_ended",
            reason: "replaced",
          });
          await alice.client.closed;
          assert.ok(alice.client.isClosed);
          const found = await newer.request("search", { user: "alice" });
          assert.equal(found.online, true);
          alice = newer;
        },
      );

      let bob!: TestClient;
      await t.step(
        "search: an online user with address and P2P port",
        async () => {
          await signup(target, "bob", PW);
          bob = keep(await loggedIn(target, "bob", PW));
          assert.deepEqual(await alice.request("search", { user: "BOB" }), {
            user: "bob",
            online: true,
            host: "127.0.0.1",
            port: P2P_PORT,
            last_seen: null,
            status: DEFAULT_STATUS,
          });
        },
      );

      await t.step("search: an offline user with last-seen time", async () => {
        const before = Date.now();
        await bob.close();
        // The registry sees the TCP close a moment later: offline at once.
        const found = await until(
          async () => {
            const r = await alice.request("search", { user: "bob" });
            return r.online ? null : r;
          },
          "bob to go offline",
          2_000,
        );
        assert.equal(found.host, undefined);
        assert.equal(found.port, undefined);
        const seen = Date.parse(found.last_seen!);
        assert.ok(
          seen >= before - 1000 && seen <= Date.now() + 1000,
          `last_seen ${found.last_seen} is about now`,
        );
      });

      await t.step(
        "search: a user who never logged in has no last-seen",
        async () => {
          const found = await alice.request("search", { user: "carol" });
          assert.equal(found.online, false);
          assert.equal(found.last_seen, null);
        },
      );

      await t.step("search: no such user", async () => {
        await refused(
          alice.request("search", { user: "zed" }),
          "not_found",
          /^no such user 'zed'$/,
        );
      });

      await t.step("who lists online peers, short and detailed", async () => {
        bob = keep(await loggedIn(target, "bob", PW));
        await using tool = await loggedIn(target, "carol", PW, {
          kind: "tool",
        });
        const short = await tool.request("who", {});
        assert.deepEqual(short, {
          users: [{ user: "alice" }, { user: "bob" }],
          total: 2,
        });
        const detailed = await tool.request("who", { detailed: true });
        assert.deepEqual(detailed.users, [
          {
            user: "alice",
            host: "127.0.0.1",
            port: P2P_PORT,
            status: DEFAULT_STATUS,
          },
          {
            user: "bob",
            host: "127.0.0.1",
            port: P2P_PORT,
            status: DEFAULT_STATUS,
          },
        ]);
      });

      await t.step(
        "status: set your own, read it back, others see it",
        async () => {
          assert.deepEqual(
            await bob.request("status", { text: "out for lunch" }),
            { status: "out for lunch" },
          );
          assert.deepEqual(await bob.request("status", {}), {
            status: "out for lunch",
          });
          assert.equal(
            (await alice.request("search", { user: "bob" })).status,
            "out for lunch",
          );
          const profile = await alice.request("profile", { user: "bob" });
          assert.equal(profile.status, "out for lunch");
          assert.equal(profile.online, true);
          const who = await alice.request("who", { detailed: true });
          assert.equal(
            who.users.find((u) => u.user === "bob")?.status,
            "out for lunch",
          );
        },
      );

      await t.step(
        "a request before login is refused, the connection stays",
        async () => {
          await using c = await TestClient.connect(target);
          await refused(c.request("who", {}), "auth", /^log in first$/);
          await c.request("signup", { user: "dave", password: PW });
        },
      );

      await t.step("logout ends the session: offline at once", async () => {
        await bob.request("logout", {});
        assert.equal(
          (await alice.request("search", { user: "bob" })).online,
          false,
        );
        await refused(bob.request("who", {}), "auth", /^log in first$/);
      });
    } finally {
      for (const c of open) await c.close();
    }
  });
});

Deno.test("registry process: login throttling", async (t) => {
  await withRegistryProcess([], async (reg) => {
    const target = reg.target();
    await signup(target, "alice", PW);
    await signup(target, "bob", PW);
    await using c = await TestClient.connect(target);

    await t.step("five wrong passwords are each refused as wrong", async () => {
      for (let i = 0; i < 5; i++) {
        await refused(
          c.login("alice", `wrong ${i}`, { kind: "tool" }),
          "auth",
          /^wrong password for alice$/,
        );
      }
    });

    await t.step(
      "the sixth attempt is throttled, even with the right password",
      async () => {
        const err = await refused(
          c.login("alice", PW, { kind: "tool" }),
          "throttled",
          /^too many attempts, retry in \d+ s$/,
        );
        const n = Number(/retry in (\d+) s/.exec(err.message)![1]);
        assert.ok(n >= 50 && n <= 60, `retry in ${n} s is about a minute`);
        assert.ok(
          reg.stderr.some((l) => / warn login throttled user=alice/.test(l)),
        );
      },
    );

    await t.step(
      "only alice from this address is locked: bob from it logs in",
      async () => {
        await using other = await TestClient.connect(target);
        await other.login("bob", PW, { kind: "tool" });
      },
    );
  });
});
