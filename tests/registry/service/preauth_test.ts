/**
 * What a connection without a session may do (registry/service.ts):
 * connections per address, the idle timeout before login, and the log
 * lines one source may cause.
 */
import assert from "node:assert/strict";
import { Fixture, loginFields, TRUSTED_ADDRESS } from "./support.ts";

Deno.test("connections per address are capped", async (t) => {
  using fx = await Fixture.create({ maxConnectionsPerAddress: 3 });

  await t.step("the fourth from one address is refused, naming the cap", () => {
    for (let i = 0; i < 3; i++) {
      assert.equal(fx.service.admit("198.51.100.1"), null);
      fx.connect("198.51.100.1");
    }
    assert.equal(
      fx.service.admit("198.51.100.1"),
      "too many connections from 198.51.100.1 (3, the limit per address) — close some and retry",
    );
    assert.equal(fx.service.admit("198.51.100.2"), null);
    assert.equal(fx.logsWith("connection refused").length, 1);
  });

  await t.step("a closed connection frees its place", async () => {
    await fx.conns[0]!.disconnect();
    assert.equal(fx.service.admit("198.51.100.1"), null);
  });

  await t.step("an IPv6 /64 is one address", () => {
    for (let i = 1; i <= 3; i++) fx.connect(`2001:db8:5:6::${i}`);
    assert.match(
      fx.service.admit("2001:db8:5:6:ffff::1") ?? "",
      /^too many connections from 2001:db8:5:6::\/64 \(3, the limit/,
    );
  });

  await t.step("trusted addresses are not counted", () => {
    for (let i = 0; i < 10; i++) fx.connect(TRUSTED_ADDRESS);
    assert.equal(fx.service.admit(TRUSTED_ADDRESS), null);
  });
});

Deno.test("a connection idle without a session is closed", async (t) => {
  using fx = await Fixture.create({
    unauthenticatedIdleMs: 5_000,
    handshakeTimeoutMs: 1_000,
  });
  await fx.signup("alice");

  await t.step(
    "after hello, no request for the timeout closes it",
    async () => {
      const idle = await fx.greeted("198.51.100.3");
      fx.clock.advance(4_000);
      // A request restarts the wait.
      await idle.request("hello", { v: 1 });
      fx.clock.advance(4_999);
      assert.equal(idle.link.closedBy, null);
      fx.clock.advance(1);
      assert.equal(idle.link.closedBy, "close");
      const drop = fx.logsWith('reason="idle before login"');
      assert.equal(drop.length, 1);
      assert.match(drop[0]!, /addr=198\.51\.100\.3/);
    },
  );

  await t.step("a logged-in connection is left to its heartbeats", async () => {
    const alice = await fx.login("alice");
    using _beats = fx.heartbeats(alice);
    fx.clock.advance(60_000);
    assert.equal(alice.link.closedBy, null);
  });

  await t.step("logging out starts the wait again", async () => {
    const c = await fx.greeted("198.51.100.4");
    await c.request("login", loginFields("alice", { kind: "tool" }));
    await c.request("logout", {});
    fx.clock.advance(5_000);
    assert.equal(c.link.closedBy, "close");
  });
});

Deno.test("log lines are limited per source", async (t) => {
  using fx = await Fixture.create({
    logLinesPerSource: 3,
    logWindowMs: 10_000,
  });
  await fx.signup("alice");
  const wrong = {
    user: "alice",
    password: "wrong password",
    kind: "tool",
  } as const;

  await t.step(
    "past N lines a window, one summary says how many were suppressed",
    async () => {
      const c = await fx.greeted("198.51.100.9");
      for (let i = 0; i < 10; i++) await c.send("login", wrong);
      // 5 failures, then 5 throttled: 10 lines, 3 of them written.
      assert.equal(
        fx.logsWith("addr=198.51.100.9").filter((l) => / warn /.test(l)).length,
        3,
      );
      fx.clock.advance(10_000);
      await fx.service.sweep(fx.clock.now());
      const summary = fx.logsWith("log suppressed");
      assert.equal(summary.length, 1);
      assert.match(summary[0]!, /source=198\.51\.100\.9 lines=7 window_s=10/);
    },
  );

  await t.step("another source has its own lines", async () => {
    const other = await fx.greeted("198.51.100.10");
    await other.send("login", wrong);
    assert.equal(fx.logsWith("addr=198.51.100.10").length, 1);
  });

  await t.step("an IPv6 /64 is one source", async () => {
    for (let i = 1; i <= 5; i++) {
      const c = await fx.greeted(`2001:db8:9:9::${i}`);
      await c.send("login", { ...wrong, user: `nobody${i}` });
    }
    assert.equal(fx.logsWith("addr=2001:db8:9:9::").length, 3);
  });
});
