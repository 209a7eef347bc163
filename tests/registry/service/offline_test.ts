/**
 * Offline messages (registry/handlers/offline.ts): stored, announced to an
 * online recipient, fetched, deleted; refused for yourself and beyond the
 * recipient's box.
 */
import assert from "node:assert/strict";
import { Fixture, sealedFields, START, unsealed } from "./support.ts";

Deno.test("offline messages", async (t) => {
  using fx = await Fixture.create({ maxOfflinePerRecipient: 3 });
  await fx.signup("alice", "bob", "carol", "dan");
  await fx.addDevices("alice", "bob", "carol");
  const alice = await fx.login("alice", { kind: "tool", device: true });

  await t.step(
    "a message for an offline user is stored with its time",
    async () => {
      assert.deepEqual(
        await alice.request("offline_send", sealedFields("Bob", "hello bob")),
        { to: "bob", sent_at: new Date(START).toISOString(), devices: 1 },
      );
      assert.equal(await fx.store.countOffline("bob"), 1);
      assert.equal(fx.logsWith("offline stored user=alice to=bob").length, 1);
    },
  );

  const bob = await fx.login("bob", { device: true });

  await t.step("an online recipient is told how many wait", async () => {
    bob.take();
    fx.clock.advance(1_000);
    await alice.request("offline_send", sealedFields("bob", "are you there?"));
    assert.deepEqual(bob.take(), [{ type: "offline_waiting", count: 2 }]);
  });

  await t.step("the recipient fetches them, oldest first", async () => {
    const { messages } = await bob.request("offline_fetch", {});
    assert.deepEqual(messages.map((m) => [m.from, unsealed(m), m.sent_at]), [
      ["alice", "hello bob", new Date(START).toISOString()],
      ["alice", "are you there?", new Date(START + 1_000).toISOString()],
    ]);
  });

  await t.step("a box holds maxOfflinePerRecipient messages", async () => {
    await alice.request("offline_send", sealedFields("bob", "third"));
    await alice.refused(
      "offline_send",
      sealedFields("bob", "fourth"),
      "limit",
    );
  });

  await t.step(
    "acknowledged messages are deleted, and only the owner's",
    async () => {
      const ids = (await bob.request("offline_fetch", {})).messages.map((m) =>
        m.id
      );
      assert.equal(ids.length, 3);
      // Another user cannot delete bob's messages.
      assert.deepEqual(await alice.request("offline_ack", { ids }), {
        deleted: 0,
      });
      assert.deepEqual(await bob.request("offline_ack", { ids }), {
        deleted: 3,
      });
      assert.deepEqual(await bob.request("offline_fetch", {}), {
        messages: [],
      });
    },
  );

  await t.step("yourself and unknown users are refused", async () => {
    await alice.refused(
      "offline_send",
      sealedFields("alice", "note to self"),
      "invalid",
      /^you cannot message yourself$/,
    );
    await alice.refused(
      "offline_send",
      sealedFields("zed", "hi"),
      "not_found",
      /^no such user 'zed'$/,
    );
  });

  await t.step(
    "a recipient with no device yet, or a box missing, is refused",
    async () => {
      await alice.refused(
        "offline_send",
        sealedFields("dan", "hi"),
        "not_found",
        /^dan has not logged in from any device yet, so a message cannot be sealed for dan — try again once dan has$/,
      );
      await fx.store.addDevice(
        {
          user: "carol",
          name: "laptop",
          signKey: "A".repeat(43),
          dhKey: "A".repeat(43),
        },
        fx.clock.now(),
        20,
      );
      await alice.refused(
        "offline_send",
        sealedFields("carol", "only one of two"),
        "invalid",
        /^carol's devices changed while the message was sealed; send it again$/,
      );
      const carol = await fx.login("carol", { kind: "tool" });
      await carol.refused(
        "offline_send",
        sealedFields("bob", "not my device"),
        "invalid",
        /^an offline message is sealed by the device of the session sending it$/,
      );
    },
  );

  await t.step(
    "a delivery notice waits for the sender and is shown until acknowledged",
    async () => {
      fx.clock.advance(1_000);
      const sent = await alice.request(
        "offline_send",
        sealedFields("bob", "ack me"),
      );
      bob.take();
      const { messages } = await bob.request("offline_fetch", {});
      assert.equal(messages.length, 1);
      assert.deepEqual(
        await bob.request("offline_ack", { ids: [messages[0]!.id] }),
        { deleted: 1 },
      );
      // alice's tool session gets no events; a fetch shows the notice.
      const page = await alice.request("offline_fetch", {});
      // The three acknowledged earlier, then this one.
      const at = (ms: number) => new Date(START + ms).toISOString();
      assert.deepEqual(page.delivered?.map((d) => [d.to, d.sent_at]), [
        ["bob", at(0)],
        ["bob", at(1_000)],
        ["bob", at(1_000)],
        ["bob", sent.sent_at],
      ]);
      assert.equal(sent.sent_at, at(2_000));
      assert.equal(
        page.delivered?.at(-1)?.delivered_at,
        new Date(fx.clock.now()).toISOString(),
      );
      const receipts = page.delivered!.map((d) => d.id);
      assert.equal(await fx.store.countReceipts("alice"), 4);
      await alice.request("offline_ack", { ids: [], receipts });
      assert.equal(await fx.store.countReceipts("alice"), 0);
      assert.deepEqual(await alice.request("offline_fetch", {}), {
        messages: [],
      });
    },
  );
});
