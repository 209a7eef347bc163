/**
 * Reachability at the registry (registry/handlers/introductions.ts): the
 * candidates an introduction names and their order, the probe's verdicts,
 * the dial-back request and its event, and relay tokens with every refusal.
 */
import assert from "node:assert/strict";
import {
  openRelayToken,
  openTicket,
  relayTokenTimeError,
  TICKET_TTL_MS,
} from "../../../wire/mod.ts";
import { Fixture, P2P_PORT, peerKeys, RELAY_PORT } from "./support.ts";

const HOME = "198.51.100.10";
const PUBLIC = "203.0.113.20";

Deno.test("introductions carry candidates and probe verdicts; reverse and relay reach the introduced session", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob", "carol", "dave");
  fx.unreachable.add(HOME);
  const alice = await fx.login("alice", {
    address: HOME,
    candidates: [{ host: "10.1.0.2", port: P2P_PORT }],
  });
  const carol = await fx.login("carol", {
    address: HOME,
    candidates: [{ host: "10.1.0.3", port: P2P_PORT }],
  });
  const dave = await fx.login("dave", { address: PUBLIC });
  const bob = await fx.login("bob", {
    address: "198.51.100.11",
    candidates: [{ host: "10.2.0.2", port: P2P_PORT }],
  });
  fx.unreachable.add("198.51.100.11");

  await t.step(
    "on one home network the LAN address comes first, then the public one",
    async () => {
      const intro = await alice.request("introduce", {
        user: "carol",
        purpose: "chat",
      });
      assert.deepEqual(intro.candidates, [
        { host: "10.1.0.3", port: P2P_PORT },
        { host: HOME, port: P2P_PORT },
      ]);
      assert.equal(intro.reachable, false);
      assert.equal(intro.you_reachable, false);
      assert.equal(intro.relay, true);
    },
  );

  await t.step(
    "across networks only the public address is named, never a LAN one",
    async () => {
      const intro = await alice.request("introduce", {
        user: "bob",
        purpose: "chat",
      });
      assert.deepEqual(intro.candidates, [{
        host: "198.51.100.11",
        port: P2P_PORT,
      }]);
      const toDave = await alice.request("introduce", {
        user: "dave",
        purpose: "chat",
      });
      assert.equal(toDave.reachable, true);
      assert.equal(toDave.you_reachable, false);
      assert.equal(fx.logsWith("probe").length >= 4, true);
    },
  );

  await t.step(
    "reverse asks the introduced target to dial back with its own ticket",
    async () => {
      const intro = await dave.request("introduce", {
        user: "alice",
        purpose: "file",
      });
      assert.equal(intro.reachable, false);
      assert.equal(intro.you_reachable, true);
      await dave.request("reverse", { ticket: intro.ticket });
      const [ev] = alice.events("reverse");
      assert.ok(ev, "alice is asked to dial back");
      const first = await openTicket(intro.ticket, fx.registryKey);
      assert.ok(first.ok);
      assert.equal(ev.from, "dave");
      assert.equal(ev.purpose, "file");
      assert.equal(ev.ref, first.msg.nonce);
      assert.equal(ev.cert, peerKeys("dave").cert);
      assert.deepEqual(ev.candidates, [{ host: PUBLIC, port: P2P_PORT }]);
      const back = await openTicket(ev.ticket, fx.registryKey);
      assert.ok(back.ok);
      assert.equal(back.msg.from, "alice");
      assert.equal(back.msg.from_key, peerKeys("alice").key);
      assert.equal(back.msg.to, "dave");
      assert.equal(back.msg.to_cert, peerKeys("dave").fingerprint);
      assert.equal(back.msg.purpose, "file");
    },
  );

  await t.step(
    "reverse is refused when the asker cannot be reached either",
    async () => {
      const intro = await alice.request("introduce", {
        user: "bob",
        purpose: "chat",
      });
      await alice.refused(
        "reverse",
        { ticket: intro.ticket },
        "state",
        /cannot be reached from outside either/,
      );
      assert.equal(bob.events("reverse").length, 0);
    },
  );

  await t.step(
    "relay signs a token bound to both sessions and tells the target",
    async () => {
      const intro = await alice.request("introduce", {
        user: "bob",
        purpose: "chat",
      });
      const grant = await alice.request("relay", { ticket: intro.ticket });
      assert.equal(grant.port, RELAY_PORT);
      const [ev] = bob.events("relay");
      assert.ok(ev);
      assert.deepEqual([ev.from, ev.purpose, ev.token, ev.port], [
        "alice",
        "chat",
        grant.token,
        RELAY_PORT,
      ]);
      const opened = await openRelayToken(grant.token, fx.registryKey);
      assert.ok(opened.ok);
      const c = opened.msg;
      assert.deepEqual([c.a, c.a_key, c.b, c.b_key, c.purpose], [
        "alice",
        peerKeys("alice").key,
        "bob",
        peerKeys("bob").key,
        "chat",
      ]);
      assert.equal(relayTokenTimeError(c, fx.clock.now()), null);
      assert.equal(fx.logsWith("relay issued").length, 1);
    },
  );

  await t.step(
    "the per-user cap refuses at issue, for either side",
    async () => {
      const intro = await alice.request("introduce", {
        user: "bob",
        purpose: "chat",
      });
      fx.relayLinks.set("bob", 8);
      await alice.refused(
        "relay",
        { ticket: intro.ticket },
        "limit",
        /bob already has 8 relayed links/,
      );
      fx.relayLinks.set("bob", 0);
      fx.relayLinks.set("alice", 8);
      await alice.refused(
        "relay",
        { ticket: intro.ticket },
        "limit",
        /you already have 8 relayed links/,
      );
      fx.relayLinks.clear();
    },
  );
  await t.step("a ticket only its own session may hand back", async () => {
    const intro = await alice.request("introduce", {
      user: "bob",
      purpose: "chat",
    });
    await carol.refused(
      "relay",
      { ticket: intro.ticket },
      "forbidden",
      /another session/,
    );
    await carol.refused("relay", { ticket: "a.b" }, "invalid");
    using _beats = fx.heartbeats(alice);
    fx.clock.advance(TICKET_TTL_MS + 60_000);
    await alice.refused(
      "relay",
      { ticket: intro.ticket },
      "invalid",
      /expired/,
    );
  });
});

Deno.test("a registry that does not relay says so in hello, introductions and refusals", async () => {
  using fx = await Fixture.create({}, { relay: false });
  await fx.signup("alice", "bob");
  const alice = await fx.login("alice", { address: HOME });
  await fx.login("bob", { address: PUBLIC });
  const hello = await (await fx.greeted()).hello();
  assert.equal(hello.relay_port, undefined);
  const intro = await alice.request("introduce", {
    user: "bob",
    purpose: "chat",
  });
  assert.equal(intro.relay, false);
  await alice.refused(
    "relay",
    { ticket: intro.ticket },
    "forbidden",
    /^the registry does not relay; bob cannot be reached directly$/,
  );
});
