/**
 * Offline messages (registry/handlers/offline.ts): stored, announced to an
 * online recipient, fetched, deleted; refused for yourself and beyond the
 * recipient's box.
 */
import assert from "node:assert/strict";
import { Fixture, START } from "./support.ts";

Deno.test("offline messages", async (t) => {
  using fx = await Fixture.create({ maxOfflinePerRecipient: 3 });
  await fx.signup("alice", "bob", "carol");
  const alice = await fx.login("alice", { kind: "tool" });

  await t.step(
    "a message for an offline user is stored with its time",
    async () => {
      assert.deepEqual(
        await alice.request("offline_send", { to: "Bob", text: "hello bob" }),
        { to: "bob", sent_at: new Date(START).toISOString() },
      );
      assert.equal(await fx.store.countOffline("bob"), 1);
      assert.equal(fx.logsWith("offline stored user=alice to=bob").length, 1);
    },
  );

  const bob = await fx.login("bob");

  await t.step("an online recipient is told how many wait", async () => {
    bob.take();
    fx.clock.advance(1_000);
    await alice.request("offline_send", { to: "bob", text: "are you there?" });
    assert.deepEqual(bob.take(), [{ type: "offline_waiting", count: 2 }]);
  });

  await t.step("the recipient fetches them, oldest first", async () => {
    const { messages } = await bob.request("offline_fetch", {});
    assert.deepEqual(messages.map((m) => [m.from, m.text, m.sent_at]), [
      ["alice", "hello bob", new Date(START).toISOString()],
      ["alice", "are you there?", new Date(START + 1_000).toISOString()],
    ]);
  });

  await t.step("a box holds maxOfflinePerRecipient messages", async () => {
    await alice.request("offline_send", { to: "bob", text: "third" });
    await alice.refused(
      "offline_send",
      { to: "bob", text: "fourth" },
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
      { to: "alice", text: "note to self" },
      "invalid",
      /^you cannot message yourself$/,
    );
    await alice.refused(
      "offline_send",
      { to: "zed", text: "hi" },
      "not_found",
      /^no such user 'zed'$/,
    );
  });
});
