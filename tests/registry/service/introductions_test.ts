/**
 * Introductions (registry/handlers/introductions.ts): the ticket's claims
 * and signature, where files go, and every refusal.
 */
import assert from "node:assert/strict";
import { openTicket, TICKET_TTL_MS } from "../../../wire/mod.ts";
import { Fixture, P2P_PORT, peerKeys } from "./support.ts";

Deno.test("introductions", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob", "carol");
  const alice = await fx.login("alice");
  const bob = await fx.login("bob", { address: "203.0.113.20" });
  fx.clock.advance(1_234);

  await t.step(
    "a chat introduction names the target's address and certificate, with a signed ticket",
    async () => {
      const intro = await alice.request("introduce", {
        user: "Bob",
        purpose: "chat",
      });
      assert.equal(intro.user, "bob");
      assert.equal(intro.host, "203.0.113.20");
      assert.equal(intro.port, P2P_PORT);
      assert.equal(intro.cert, peerKeys("bob").cert);
      const opened = await openTicket(intro.ticket, fx.registryKey);
      assert.ok(opened.ok, opened.ok ? "" : opened.reason);
      const { nonce, ...claims } = opened.msg;
      assert.deepEqual(claims, {
        v: 1,
        from: "alice",
        from_key: peerKeys("alice").key,
        to: "bob",
        to_cert: peerKeys("bob").fingerprint,
        purpose: "chat",
        iat: fx.clock.now(),
        exp: fx.clock.now() + TICKET_TTL_MS,
      });
      const again = await alice.request("introduce", {
        user: "bob",
        purpose: "chat",
      });
      const second = await openTicket(again.ticket, fx.registryKey);
      assert.ok(second.ok);
      assert.notEqual(second.msg.nonce, nonce, "every ticket has its nonce");
    },
  );

  await t.step(
    "a file introduction goes to the newest `chat receive`, else the peer",
    async () => {
      const file = await alice.request("introduce", {
        user: "bob",
        purpose: "file",
      });
      assert.equal(file.host, "203.0.113.20");
      await fx.login("bob", { kind: "receive", address: "198.51.100.1" });
      fx.clock.advance(1);
      await fx.login("bob", { kind: "receive", address: "198.51.100.2" });
      const newest = await alice.request("introduce", {
        user: "bob",
        purpose: "file",
      });
      assert.equal(newest.host, "198.51.100.2");
      // A chat still goes to the peer.
      const chat = await alice.request("introduce", {
        user: "bob",
        purpose: "chat",
      });
      assert.equal(chat.host, "203.0.113.20");
    },
  );

  await t.step("sending a file to your own receiver is allowed", async () => {
    await fx.login("alice", { kind: "receive", address: "198.51.100.9" });
    const self = await alice.request("introduce", {
      user: "alice",
      purpose: "file",
    });
    assert.equal(self.host, "198.51.100.9");
  });

  await t.step("a chat with yourself is refused", async () => {
    await alice.refused(
      "introduce",
      { user: "alice", purpose: "chat" },
      "invalid",
      /^you cannot chat with yourself$/,
    );
  });

  await t.step("an offline or unknown user is refused", async () => {
    await alice.refused(
      "introduce",
      { user: "carol", purpose: "chat" },
      "offline",
      /^carol is offline$/,
    );
    await alice.refused(
      "introduce",
      { user: "carol", purpose: "file" },
      "offline",
    );
    await alice.refused(
      "introduce",
      { user: "zed", purpose: "chat" },
      "not_found",
    );
  });

  await t.step("a tool session has no key to introduce", async () => {
    const tool = await fx.login("alice", { kind: "tool" });
    await tool.refused(
      "introduce",
      { user: "bob", purpose: "chat" },
      "invalid",
      /^this session has no key to introduce itself with$/,
    );
  });

  await t.step("a user who blocked you is not available", async () => {
    await bob.request("block", { user: "alice" });
    await alice.refused(
      "introduce",
      { user: "bob", purpose: "chat" },
      "unavailable",
      /^bob is not available$/,
    );
    // The blocker may still reach the blocked.
    await bob.request("introduce", { user: "alice", purpose: "chat" });
  });

  await t.step(
    "an offline user who blocked you is offline, as to anyone",
    async () => {
      const carol = await fx.login("carol");
      await carol.request("block", { user: "alice" });
      await carol.disconnect();
      await alice.refused(
        "introduce",
        { user: "carol", purpose: "chat" },
        "offline",
        /^carol is offline$/,
      );
    },
  );
});
