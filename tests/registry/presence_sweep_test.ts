/**
 * Presence with a manual clock: an in-process registry on real sockets whose
 * sweep timer is off, so the test moves time and calls `sweep(now)` itself.
 * Heartbeats are real UDP datagrams built by hand, so the test controls
 * their counter and MAC. The rules alone (idle logout, throttles, pushes)
 * are tested without sockets in tests/registry/service/.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { ManualClock } from "../helpers/clock.ts";
import {
  startRegistry,
  type TestRegistry,
  until,
} from "../helpers/registry.ts";
import {
  bytesToHex,
  decodeHeartbeat,
  encodeHeartbeat,
  fromBase64url,
  MAX_DATAGRAM_BYTES,
} from "../../wire/mod.ts";
import { loggedIn, signup, type TestClient } from "./support.ts";
import { BAD_DATAGRAM_LOG_MS } from "../../registry/server.ts";
import {
  DEFAULT_SERVICE_CONFIG,
  HEARTBEAT_FLOOD_DATAGRAMS_PER_S,
} from "../../registry/service.ts";

const TTL = 3_000;
const START = Date.parse("2026-01-01T00:00:00.000Z");

/** A UDP socket that sends heartbeats for sessions as the test says. */
class Beats {
  readonly #sock = dgram.createSocket("udp4");
  constructor(readonly reg: TestRegistry) {}

  /**
   * Sends a datagram and waits until the registry has judged it as the test
   * expects: counted as bad, or accepted (the session's counter moved to it).
   */
  async send(bytes: Uint8Array, expect: "bad" | "accepted"): Promise<void> {
    const bad = this.reg.registry.badDatagrams;
    await new Promise<void>((resolve, reject) =>
      this.#sock.send(
        bytes,
        this.reg.udpPort,
        "127.0.0.1",
        (err) => (err ? reject(err) : resolve()),
      )
    );
    if (expect === "bad") {
      await until(
        () => this.reg.registry.badDatagrams === bad + 1,
        "the registry to count a bad datagram",
        5_000,
        1,
      );
      return;
    }
    const hb = decodeHeartbeat(bytes);
    assert.ok(hb.ok);
    await until(
      () =>
        this.reg.registry.service.sessions.byId(hb.msg.session)?.lastSeq ===
          hb.msg.seq,
      "the registry to accept a heartbeat",
      5_000,
      1,
    );
    assert.equal(this.reg.registry.badDatagrams, bad);
  }

  /** A correct heartbeat for `c`'s session with counter `seq`. */
  async beat(c: TestClient, seq: number): Promise<void> {
    await this.send(heartbeatOf(c, seq), "accepted");
  }

  /** Sends a datagram without waiting for the registry's judgement. */
  raw(bytes: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      this.#sock.send(
        bytes,
        this.reg.udpPort,
        "127.0.0.1",
        (err) => (err ? reject(err) : resolve()),
      )
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#sock.close(() => resolve()));
  }
}

function heartbeatOf(c: TestClient, seq: number, token?: Uint8Array) {
  return encodeHeartbeat(
    c.session!.session,
    seq,
    token ?? fromBase64url(c.session!.token)!,
  );
}

function sessionOf(reg: TestRegistry, c: TestClient) {
  return reg.registry.service.sessions.byId(c.session!.session);
}

Deno.test("presence sweep with a manual clock", async (t) => {
  const clock = new ManualClock(START);
  await using reg = await startRegistry({
    now: () => clock.now(),
    sweepEveryMs: 0,
    heartbeatTtlMs: TTL,
  });
  const target = reg.target();
  const beats = new Beats(reg);
  for (const u of ["alice", "bob", "carol", "dave"]) {
    await signup(target, u, "password-" + u);
  }
  const bob = await loggedIn(target, "bob", "password-bob", { beat: false });
  const clients: TestClient[] = [bob];
  const login = async (user: string) => {
    const c = await loggedIn(target, user, "password-" + user, {
      beat: false,
    });
    clients.push(c);
    return c;
  };
  // bob befriends everyone so he is pushed their presence.
  for (const u of ["alice", "carol", "dave"]) {
    await bob.request("friend_request", { user: u });
    const other = await login(u);
    await other.request("friend_accept", { user: "bob" });
    await other.close();
  }
  /** Sweeps now, after a fresh heartbeat from bob, who must stay on. */
  const sweep = async () => {
    await beats.beat(bob, sessionOf(reg, bob)!.lastSeq + 1);
    return await reg.registry.service.sweep(clock.now());
  };

  try {
    await t.step(
      "a session whose heartbeats stop is ended after the TTL and told timeout",
      async () => {
        const alice = await login("alice");
        clock.advance(1_000);
        await beats.beat(alice, 1);
        assert.equal(sessionOf(reg, alice)!.lastBeat, clock.now());

        clock.advance(TTL);
        assert.equal(await sweep(), 0);
        assert.ok(
          sessionOf(reg, alice),
          "silent for exactly the TTL: still on",
        );

        clock.advance(1);
        assert.equal(await sweep(), 1);
        assert.equal(sessionOf(reg, alice), undefined);
        assert.deepEqual(await alice.event("timeout"), {
          type: "timeout",
          reason: "heartbeat",
        });
        await alice.client.closed;
        assert.ok(alice.client.isClosed, "the registry closed the connection");
        await bob.event("presence", (e) => e.user === "alice" && !e.online);
        const found = await bob.request("search", { user: "alice" });
        assert.equal(found.online, false);
        assert.equal(found.last_seen, new Date(clock.now()).toISOString());
        assert.ok(
          reg.logs.some((l) =>
            / timeout user=alice .*reason=heartbeat/.test(l)
          ),
          "the timeout is logged",
        );
      },
    );

    await t.step(
      "a closed TCP connection is offline at once, without a sweep",
      async () => {
        const carol = await login("carol");
        await bob.event("presence", (e) => e.user === "carol" && e.online);
        await carol.close();
        await bob.event("presence", (e) => e.user === "carol" && !e.online);
        assert.equal(
          (await bob.request("search", { user: "carol" })).online,
          false,
        );
      },
    );

    await t.step("heartbeats keep a session on across many TTLs", async () => {
      const dave = await login("dave");
      for (let i = 1; i <= 10; i++) {
        clock.advance(TTL - 1);
        await beats.beat(dave, i);
        assert.equal(await sweep(), 0);
      }
      assert.ok(sessionOf(reg, dave));
      await dave.close();
    });

    await t.step("a heartbeat with a wrong MAC is ignored", async () => {
      const alice = await login("alice");
      const before = sessionOf(reg, alice)!.lastBeat;
      const bad = reg.registry.badDatagrams;
      clock.advance(1_000);
      const wrongToken = crypto.getRandomValues(new Uint8Array(32));
      await beats.send(heartbeatOf(alice, 1, wrongToken), "bad");
      // A flipped bit in the MAC of an otherwise right datagram.
      const flipped = heartbeatOf(alice, 2);
      flipped[43]! ^= 1;
      await beats.send(flipped, "bad");
      assert.equal(reg.registry.badDatagrams, bad + 2);
      assert.equal(sessionOf(reg, alice)!.lastBeat, before);
      assert.equal(sessionOf(reg, alice)!.lastSeq, 0);

      clock.advance(TTL);
      assert.equal(await sweep(), 1);
      await alice.event("timeout");
    });

    await t.step("a replayed or older counter is ignored", async () => {
      const alice = await login("alice");
      clock.advance(500);
      await beats.beat(alice, 5);
      const at = clock.now();
      assert.equal(sessionOf(reg, alice)!.lastBeat, at);
      const bad = reg.registry.badDatagrams;
      clock.advance(500);
      await beats.send(heartbeatOf(alice, 5), "bad"); // the same again
      await beats.send(heartbeatOf(alice, 3), "bad");
      assert.equal(reg.registry.badDatagrams, bad + 2);
      assert.equal(sessionOf(reg, alice)!.lastBeat, at);
      assert.equal(sessionOf(reg, alice)!.lastSeq, 5);
      await beats.beat(alice, 6);
      assert.equal(sessionOf(reg, alice)!.lastBeat, clock.now());
      await alice.close();
    });

    await t.step(
      "an oversize datagram is refused even when it starts with a good heartbeat",
      async () => {
        const alice = await login("alice");
        for (const size of [MAX_DATAGRAM_BYTES + 1, 1_500, 9_000]) {
          const big = new Uint8Array(size);
          big.set(heartbeatOf(alice, 1));
          await beats.send(big, "bad");
        }
        assert.equal(sessionOf(reg, alice)!.lastSeq, 0);
        await beats.beat(alice, 1);
        await alice.close();
      },
    );

    await t.step(
      "a heartbeat for an unknown or ended session is ignored",
      async () => {
        const bad = reg.registry.badDatagrams;
        const token = crypto.getRandomValues(new Uint8Array(32));
        const unknown = bytesToHex(crypto.getRandomValues(new Uint8Array(16)));
        await beats.send(encodeHeartbeat(unknown, 1, token), "bad");
        // An ended session's real heartbeat.
        const carol = await login("carol");
        const old = heartbeatOf(carol, 1);
        await carol.close();
        await until(() => !sessionOf(reg, carol), "carol's session to end");
        await beats.send(old, "bad");
        assert.equal(reg.registry.badDatagrams, bad + 2);
      },
    );

    await t.step(
      "the service refuses the same heartbeats when called directly",
      async () => {
        const alice = await login("alice");
        const svc = reg.registry.service;
        const decode = (b: Uint8Array) => {
          const d = decodeHeartbeat(b);
          assert.ok(d.ok);
          return d.msg;
        };
        const wrong = crypto.getRandomValues(new Uint8Array(32));
        assert.equal(
          svc.heartbeat(decode(heartbeatOf(alice, 1, wrong)), 1),
          false,
        );
        assert.equal(svc.heartbeat(decode(heartbeatOf(alice, 1)), 2), true);
        assert.equal(svc.heartbeat(decode(heartbeatOf(alice, 1)), 3), false);
        assert.equal(sessionOf(reg, alice)!.lastBeat, 2);
        // The raw form the UDP path uses: the same rules, and bad layouts.
        assert.equal(
          svc.heartbeatBytes(heartbeatOf(alice, 2, wrong), 4),
          false,
        );
        assert.equal(svc.heartbeatBytes(heartbeatOf(alice, 2), 5), true);
        assert.equal(svc.heartbeatBytes(heartbeatOf(alice, 2), 6), false);
        assert.equal(
          svc.heartbeatBytes(heartbeatOf(alice, 3).slice(1), 7),
          false,
        );
        const noMagic = heartbeatOf(alice, 3);
        noMagic[0] = 0;
        assert.equal(svc.heartbeatBytes(noMagic, 8), false);
        assert.equal(sessionOf(reg, alice)!.lastBeat, 5);
        await alice.close();
      },
    );

    await t.step(
      "while the heartbeat port is flooded, silence times out only after the flood TTL; the log has one line per window",
      async () => {
        /** 1,200 bad datagrams, sent 100 at a time, each counted. */
        const flood = async () => {
          for (let chunk = 0; chunk < 12; chunk++) {
            const bad = reg.registry.badDatagrams;
            const junk = new Uint8Array(44); // the wrong magic
            for (let i = 0; i < 100; i++) await beats.raw(junk);
            await until(
              () => reg.registry.badDatagrams === bad + 100,
              "100 bad datagrams counted",
              5_000,
              1,
            );
          }
          assert.ok(1_200 >= HEARTBEAT_FLOOD_DATAGRAMS_PER_S);
        };
        const logged = () =>
          reg.logs.filter((l) => l.includes("bad datagrams at the heartbeat"))
            .length;
        const dave = await login("dave");
        // A quiet window first: the next bad datagram starts a log line.
        clock.advance(BAD_DATAGRAM_LOG_MS);
        const lines = logged();
        clock.advance(2_000);
        await flood();
        assert.equal(logged(), lines + 1, "one line for the whole flood");
        clock.advance(2_000); // 4 s silent, over the TTL, within a flood
        assert.equal(await sweep(), 0);
        assert.ok(sessionOf(reg, dave), "not timed out during a flood");
        // A flood that goes on does not keep a silent session for good.
        const floodTtl = DEFAULT_SERVICE_CONFIG.heartbeatFloodTtlMs;
        while (clock.now() - sessionOf(reg, dave)!.lastBeat <= floodTtl) {
          await flood();
          assert.equal(await sweep(), 0);
          clock.advance(2_500);
        }
        await flood();
        assert.equal(await sweep(), 1);
        await dave.event("timeout");
        assert.ok(logged() <= lines + 5, "a line per window, not per datagram");
        // Once the flood has stopped for a TTL the usual TTL holds again.
        const erin = await login("carol");
        await flood();
        clock.advance(TTL + 1);
        assert.equal(await sweep(), 1);
        await erin.event("timeout");
      },
    );
  } finally {
    for (const c of clients) await c.close();
    await beats.close();
  }
});
