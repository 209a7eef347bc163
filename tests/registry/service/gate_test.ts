/**
 * The gate (registry/service.ts): hello first, login before anything else,
 * the rate bucket, the hello deadline, refusals and shutdown — on a manual
 * clock with fake connections.
 */
import assert from "node:assert/strict";
import { base64url, PROTOCOL_VERSION, REQUESTS } from "../../../wire/mod.ts";
import { DOMAINS, ROUTES } from "../../../registry/handlers/mod.ts";
import { Fixture, RELAY_PORT, SAMPLE_REQUESTS } from "./support.ts";

Deno.test("the gate", async (t) => {
  await t.step(
    "a request before hello is refused with version and closes the connection",
    async () => {
      using fx = await Fixture.create();
      const c = fx.connect();
      const { open, reply } = await c.send("search", { user: "alice" });
      assert.equal(open, false);
      assert.deepEqual(reply, {
        type: "reply",
        id: 1,
        ok: false,
        code: "version",
        error: "the first message must be hello with a protocol version",
      });
    },
  );

  await t.step(
    "hello with another protocol version is refused and closes the connection",
    async () => {
      using fx = await Fixture.create();
      const c = fx.connect();
      const { open, reply } = await c.send("hello", {
        v: PROTOCOL_VERSION + 1,
      });
      assert.equal(open, false);
      assert.ok(reply?.type === "reply" && !reply.ok);
      assert.equal(reply.code, "version");
      assert.equal(
        reply.error,
        `protocol version ${
          PROTOCOL_VERSION + 1
        } is not supported (this registry speaks ${PROTOCOL_VERSION}) — use a matching chat`,
      );
      assert.equal(c.state.greeted, false);
    },
  );

  await t.step(
    "hello is answered with the signing key, UDP port, heartbeat timing and relay port",
    async () => {
      using fx = await Fixture.create({
        heartbeatIntervalMs: 700,
        heartbeatTtlMs: 2100,
        udpPort: 4242,
      });
      const c = fx.connect();
      const hello = await c.hello();
      const raw = new Uint8Array(
        await crypto.subtle.exportKey("raw", fx.registryKey),
      );
      assert.deepEqual(hello, {
        v: PROTOCOL_VERSION,
        server: "chat-registry",
        signing_key: base64url(raw),
        udp_port: 4242,
        heartbeat_interval_ms: 700,
        heartbeat_ttl_ms: 2100,
        relay_port: RELAY_PORT,
      });
      assert.equal(c.state.greeted, true);
    },
  );

  await t.step(
    "every request but sign-up, challenge and login is refused with auth before login, and the connection stays",
    async () => {
      using fx = await Fixture.create();
      const c = await fx.greeted();
      const open: string[] = [];
      for (const [type, fields] of Object.entries(SAMPLE_REQUESTS)) {
        const sent = await c.send(type as "who", fields);
        assert.equal(sent.open, true, type);
        assert.ok(sent.reply?.type === "reply", type);
        if (sent.reply.ok || sent.reply.code !== "auth") open.push(type);
        else assert.equal(sent.reply.error, "log in first", type);
      }
      // Sign-up and challenge succeed; login fails for its unknown user
      // with not_found.
      assert.deepEqual(open.sort(), ["challenge", "login", "signup"]);
    },
  );

  await t.step(
    "the domains' routes are disjoint and cover every request type but hello",
    () => {
      const seen = new Map<string, string>();
      for (const [domain, routes] of Object.entries(DOMAINS)) {
        for (const type of Object.keys(routes)) {
          assert.ok(
            !seen.has(type),
            `${type} is routed by ${seen.get(type)} and ${domain}`,
          );
          seen.set(type, domain);
        }
      }
      const all = Object.keys(REQUESTS).filter((t) => t !== "hello").sort();
      assert.deepEqual([...seen.keys()].sort(), all);
      assert.deepEqual(Object.keys(ROUTES).sort(), all);
    },
  );

  await t.step(
    "requests beyond the burst get limit until the bucket refills on the clock",
    async () => {
      using fx = await Fixture.create({ requestRate: 10, requestBurst: 5 });
      await fx.signup("alice");
      const c = await fx.login("alice"); // hello and login: 2 of 5
      for (let i = 0; i < 3; i++) await c.request("active", {});
      await c.refused("active", {}, "limit", /^too many requests — slow down$/);
      assert.equal(fx.service.stats.refusedForRate, 1);
      fx.clock.advance(100); // one token at 10 per second
      await c.request("active", {});
      await c.refused("active", {}, "limit");
      fx.clock.advance(1_000); // refilled, but never beyond the burst
      for (let i = 0; i < 5; i++) await c.request("active", {});
      await c.refused("active", {}, "limit");
    },
  );

  await t.step(
    "a flood beyond the burst of refusals closes the connection",
    async () => {
      using fx = await Fixture.create({ requestRate: 10, requestBurst: 5 });
      const c = await fx.greeted();
      for (let i = 0; i < 4; i++) await c.send("who", {});
      const outcomes: boolean[] = [];
      for (let i = 0; i < 6; i++) {
        outcomes.push((await c.send("who", {})).open);
      }
      // Five refusals are answered; the sixth in a row drops the client.
      assert.deepEqual(outcomes, [true, true, true, true, true, false]);
      assert.equal(fx.logsWith('reason="request flood"').length, 1);
    },
  );

  await t.step(
    "a connection silent past the hello deadline is closed; a greeted one is not",
    async () => {
      using fx = await Fixture.create({ handshakeTimeoutMs: 5_000 });
      const silent = fx.connect("198.51.100.7");
      const greeted = await fx.greeted();
      fx.clock.advance(4_999);
      assert.equal(silent.link.closedBy, null);
      fx.clock.advance(1);
      assert.equal(silent.link.closedBy, "close");
      assert.equal(greeted.link.closedBy, null);
      const drop = fx.logsWith("no hello in time");
      assert.equal(drop.length, 1);
      assert.match(drop[0]!, /addr=198\.51\.100\.7/);
    },
  );

  await t.step(
    "in a storm of connections without a session, the hello deadline stretches up to its bound",
    async () => {
      using fx = await Fixture.create({
        handshakeTimeoutMs: 5_000,
        loginStormConnections: 3,
        loginStormWaitMs: 12_000,
      });
      // Four without a session: more than the storm's three.
      const waiting = [1, 2, 3, 4].map((i) => fx.connect(`198.51.100.${i}`));
      fx.clock.advance(5_000);
      assert.ok(
        waiting.every((c) => c.link.closedBy === null),
        "past the deadline, but the registry is the one behind",
      );
      fx.clock.advance(6_999);
      assert.ok(waiting.every((c) => c.link.closedBy === null));
      // 12 s after they came, silence is theirs: closed.
      fx.clock.advance(1);
      assert.ok(waiting.every((c) => c.link.closedBy === "close"));
      assert.equal(fx.logsWith("no hello in time").length, 4);
    },
  );

  await t.step(
    "in a storm, a connection past hello that has not asked for its login yet gets more time too",
    async () => {
      using fx = await Fixture.create({
        unauthenticatedIdleMs: 5_000,
        loginStormConnections: 3,
        loginStormWaitMs: 12_000,
      });
      const greeted = await Promise.all(
        [1, 2, 3, 4].map((i) => fx.greeted(`198.51.100.${i}`)),
      );
      fx.clock.advance(11_999);
      assert.ok(greeted.every((c) => c.link.closedBy === null));
      fx.clock.advance(1);
      assert.ok(greeted.every((c) => c.link.closedBy === "close"));
      assert.equal(fx.logsWith("idle before login").length, 4);
    },
  );

  await t.step(
    "once the storm is over, the plain deadlines apply again",
    async () => {
      using fx = await Fixture.create({
        handshakeTimeoutMs: 5_000,
        loginStormConnections: 3,
        loginStormWaitMs: 60_000,
      });
      const waiting = [1, 2, 3, 4].map((i) => fx.connect(`198.51.100.${i}`));
      // Three of them hang up: one left without a session, no storm.
      for (const c of waiting.slice(0, 3)) await c.disconnect();
      fx.clock.advance(5_000);
      assert.equal(waiting[3]!.link.closedBy, "close");
    },
  );

  await t.step(
    "a request before login moves the deadline without a timer of its own",
    async () => {
      using fx = await Fixture.create({
        handshakeTimeoutMs: 5_000,
        unauthenticatedIdleMs: 5_000,
        sweepEveryMs: 0,
      });
      const c = await fx.greeted("198.51.100.9");
      fx.clock.advance(3_000);
      await c.request("challenge", {});
      assert.equal(fx.clock.pending, 1, "the first timer stays");
      // The first timer fires 5 s after hello and waits for the rest.
      fx.clock.advance(4_999);
      assert.equal(c.link.closedBy, null);
      assert.equal(fx.clock.pending, 1);
      fx.clock.advance(1);
      assert.equal(c.link.closedBy, "close");
      assert.equal(fx.logsWith("idle before login").length, 1);
    },
  );

  await t.step("disconnect cancels the hello deadline", async () => {
    using fx = await Fixture.create({ sweepEveryMs: 0 });
    const c = fx.connect();
    assert.equal(fx.clock.pending, 1);
    await c.disconnect();
    assert.equal(fx.clock.pending, 0);
    assert.equal(fx.service.connections, 0);
  });

  await t.step(
    "an unexpected failure is logged and answered internal; the connection stays",
    async () => {
      using fx = await Fixture.create();
      await fx.signup("alice");
      const c = await fx.login("alice");
      fx.store.getUserSeenBy = () => Promise.reject(new Error("disk on fire"));
      await c.refused(
        "search",
        { user: "bob" },
        "internal",
        /^internal error — please retry$/,
      );
      const logged = fx.logsWith("request failed");
      assert.equal(logged.length, 1);
      assert.match(logged[0]!, /type=search user=alice error="disk on fire"/);
      assert.deepEqual(await c.request("active", {}), {});
    },
  );

  await t.step(
    "a refusal by the store keeps its code",
    async () => {
      using fx = await Fixture.create();
      await fx.signup("alice", "bob");
      const c = await fx.login("alice");
      // No request from bob to accept: the store refuses with "state".
      await c.refused("friend_accept", { user: "bob" }, "state");
    },
  );

  await t.step(
    "shutdown tells every connection and stops every timer",
    async () => {
      using fx = await Fixture.create();
      await fx.signup("alice");
      const alice = await fx.login("alice");
      const waiting = fx.connect();
      assert.ok(fx.clock.pending >= 2, "the sweep and a hello deadline");
      fx.service.shutdown();
      assert.equal(fx.clock.pending, 0);
      for (const c of [alice, waiting]) {
        assert.deepEqual(c.events("session_ended"), [
          { type: "session_ended", reason: "shutdown" },
        ]);
      }
    },
  );
});
