/**
 * Accounts (registry/handlers/accounts.ts): sign-up, login and its
 * throttling on the manual clock, --replace, logout and status.
 */
import assert from "node:assert/strict";
import { verifyPassword } from "../../../registry/passwords.ts";
import {
  ADDRESS,
  Fixture,
  loginFields,
  P2P_PORT,
  PASSWORD,
  peerKeys,
} from "./support.ts";

Deno.test("sign-up", async (t) => {
  using fx = await Fixture.create();
  const c = await fx.greeted();

  await t.step(
    "creates the account lower-case with a scrypt hash",
    async () => {
      assert.deepEqual(
        await c.request("signup", { user: "Alice", password: PASSWORD }),
        { user: "alice" },
      );
      const record = await fx.store.getUser("alice");
      assert.ok(record);
      assert.equal(record.createdAt, fx.clock.now());
      assert.match(record.passwordHash, /^scrypt\$1024\$8\$1\$/);
      assert.ok(await verifyPassword(PASSWORD, record.passwordHash));
      assert.equal(fx.logsWith("signup user=alice").length, 1);
    },
  );

  await t.step("refuses a taken name in any case", async () => {
    await c.refused(
      "signup",
      { user: "ALICE", password: PASSWORD },
      "taken",
      /^username 'alice' is taken — choose another name$/,
    );
  });

  await t.step("refuses a password shorter than 8 characters", async () => {
    await c.refused(
      "signup",
      { user: "bob", password: "1234567" },
      "invalid",
      /^password is too short: use at least 8 characters$/,
    );
    assert.equal(await fx.store.getUser("bob"), null);
  });

  await t.step(
    "a sign-up whose client hung up is skipped without a reply",
    async () => {
      const gone = await fx.greeted();
      gone.link.hungUp = true;
      const before = fx.service.stats.abandoned;
      const { open, reply } = await gone.send("signup", {
        user: "carol",
        password: PASSWORD,
      });
      assert.equal(open, true);
      assert.equal(reply, undefined);
      assert.equal(fx.service.stats.abandoned, before + 1);
      assert.equal(await fx.store.getUser("carol"), null);
    },
  );
});

Deno.test("login", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob");

  await t.step(
    "a peer login answers its session, token, status and address",
    async () => {
      const c = await fx.greeted("203.0.113.5");
      const { key, fingerprint } = peerKeys("alice");
      const reply = await c.request("login", loginFields("ALICE"));
      assert.equal(reply.user, "alice");
      assert.match(reply.session, /^[0-9a-f]{32}$/);
      assert.match(reply.token, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(reply.status, "Hey there! I am using chat");
      assert.equal(reply.host, "203.0.113.5");
      const s = fx.service.sessions.byId(reply.session);
      assert.ok(s);
      assert.equal(s.kind, "peer");
      assert.equal(s.certFingerprint, fingerprint);
      assert.equal(s.key, key);
      assert.equal(s.p2pPort, P2P_PORT);
      assert.equal(s.loginAt, fx.clock.now());
      assert.equal(c.state.session, s);
      assert.equal(fx.service.sessions.online, 1);
      await c.refused(
        "login",
        loginFields("bob", { kind: "tool" }),
        "state",
        /^already logged in as alice$/,
      );
      await c.disconnect();
      assert.equal(fx.service.sessions.size, 0);
    },
  );

  await t.step("refuses a wrong password and an unknown user", async () => {
    const c = await fx.greeted();
    await c.refused(
      "login",
      { user: "alice", password: "wrong password", kind: "tool" },
      "auth",
      /^wrong password for alice$/,
    );
    await c.refused(
      "login",
      loginFields("zed", { kind: "tool" }),
      "not_found",
      /^no account named 'zed' — sign up first/,
    );
    assert.equal(fx.service.stats.loginFailures, 2);
    assert.equal(fx.logsWith("login failed").length, 2);
  });

  await t.step(
    "a peer or receive login needs p2p_port, cert and key",
    async () => {
      const c = await fx.greeted();
      for (const kind of ["peer", "receive"] as const) {
        await c.refused(
          "login",
          { user: "alice", password: PASSWORD, kind },
          "invalid",
          new RegExp(`^a ${kind} session needs p2p_port, cert and key$`),
        );
      }
      await c.refused(
        "login",
        { ...loginFields("alice"), cert: "not a certificate" },
        "invalid",
        /^cert is not a PEM certificate$/,
      );
    },
  );
});

Deno.test("login throttling follows the manual clock", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob");
  const c = await fx.greeted("198.51.100.1");
  const wrong = {
    user: "alice",
    password: "wrong password",
    kind: "tool",
  } as const;

  await t.step(
    "five failures, then the right password is throttled",
    async () => {
      for (let i = 0; i < 5; i++) {
        await c.refused("login", wrong, "auth");
        fx.clock.advance(1_000);
      }
      // The first failure leaves the window 55 s from now.
      await c.refused(
        "login",
        loginFields("alice", { kind: "tool" }),
        "throttled",
        /^too many attempts, retry in 55 s$/,
      );
      assert.equal(fx.logsWith("login throttled").length, 1);
    },
  );

  await t.step(
    "only the pair is locked: bob from the same address and alice from elsewhere log in",
    async () => {
      const bob = await fx.greeted("198.51.100.1");
      await bob.request("login", loginFields("bob", { kind: "tool" }));
      const elsewhere = await fx.greeted("198.51.100.2");
      await elsewhere.request("login", loginFields("alice", { kind: "tool" }));
    },
  );

  await t.step("once the window has passed, the login succeeds", async () => {
    fx.clock.advance(54_999);
    // c sat idle without a session past the timeout: it was closed.
    assert.equal(c.link.closedBy, "close");
    const again = await fx.greeted("198.51.100.1");
    await again.refused(
      "login",
      loginFields("alice", { kind: "tool" }),
      "throttled",
      /retry in 1 s$/,
    );
    fx.clock.advance(1);
    await again.request("login", loginFields("alice", { kind: "tool" }));
  });
});

Deno.test("one interactive session per user", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob");
  const first = await fx.login("alice");

  await t.step("a second peer login is refused as online", async () => {
    const second = await fx.greeted();
    await second.refused(
      "login",
      loginFields("alice"),
      "online",
      /^alice is already online — use --replace to end that session$/,
    );
    assert.equal(first.state.session?.user, "alice");
    assert.equal(fx.logsWith('reason="already online"').length, 1);
  });

  await t.step("tool sessions are beside it and never online", async () => {
    const tool = await fx.login("alice", { kind: "tool" });
    assert.equal(fx.service.sessions.online, 1);
    assert.equal(fx.service.sessions.of("alice").length, 2);
    const bob = await fx.login("bob");
    const who = await bob.request("who", {});
    assert.deepEqual(who, {
      users: [{ user: "alice" }, { user: "bob" }],
      total: 2,
    });
    await tool.disconnect();
    await bob.disconnect();
  });

  await t.step(
    "--replace ends the older session: told, closed after its queue, gone",
    async () => {
      first.take();
      const second = await fx.login("alice", { replace: true });
      assert.deepEqual(first.take(), [
        { type: "session_ended", reason: "replaced" },
      ]);
      assert.equal(first.link.closedBy, "closeAfterFlush");
      assert.equal(first.state.session, null);
      assert.equal(fx.service.sessions.online, 1);
      assert.equal(fx.service.sessions.peerOf("alice"), second.state.session);
      assert.equal(fx.logsWith("reason=replaced").length, 1);
      // The older connection, when its socket closes, ends nothing more.
      await first.disconnect();
      assert.equal(fx.service.sessions.peerOf("alice"), second.state.session);
    },
  );
});

Deno.test("logout, active and status", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob");
  const alice = await fx.login("alice");
  const bob = await fx.login("bob");
  await fx.befriend(alice, bob);

  await t.step("status sets and reads the status text", async () => {
    assert.deepEqual(await alice.request("status", { text: "busy" }), {
      status: "busy",
    });
    assert.deepEqual(await alice.request("status", {}), { status: "busy" });
    assert.equal((await fx.store.getUser("alice"))?.status, "busy");
  });

  await t.step("active counts as a user action", async () => {
    fx.clock.advance(2_000); // within the heartbeat TTL
    assert.deepEqual(await alice.request("active", {}), {});
    assert.equal(alice.state.session?.lastAction, fx.clock.now());
  });

  await t.step(
    "logout ends the session at once: friends told, last seen stored",
    async () => {
      bob.take();
      assert.deepEqual(await alice.request("logout", {}), {});
      assert.equal(alice.state.session, null);
      assert.deepEqual(bob.take(), [
        { type: "presence", user: "alice", online: false },
      ]);
      assert.equal((await fx.store.getUser("alice"))?.lastSeen, fx.clock.now());
      await alice.refused("who", {}, "auth", /^log in first$/);
      // Logged out, the connection may log in again.
      const again = await alice.request(
        "login",
        loginFields("alice", { kind: "tool" }),
      );
      assert.equal(again.host, ADDRESS);
    },
  );
});
