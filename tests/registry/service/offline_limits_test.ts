/**
 * The offline inbox under attack: a box of long messages is fetched in
 * pages that fit the frame and drained completely; one sender cannot fill
 * the box for everyone; a blocked sender is answered as any other.
 */
import assert from "node:assert/strict";
import {
  encodeJson,
  MAX_FRAME_BYTES,
  MAX_SEALED_BOX_CHARS,
} from "../../../wire/mod.ts";
import { DEVICE, Fixture, sealedFields, unsealed } from "./support.ts";

Deno.test("a box of 130 sealed messages of the longest size is delivered whole", async () => {
  using fx = await Fixture.create({
    maxOfflinePerPair: 1000,
    requestBurst: 1000,
  });
  await fx.signup("alice", "bob");
  await fx.addDevices("alice", "bob");
  const alice = await fx.login("alice", { kind: "tool", device: true });
  for (let i = 0; i < 130; i++) {
    const f = sealedFields("bob", `${i} `);
    const box = f.boxes[0]!.box;
    f.boxes = [{
      device: DEVICE,
      box: box.padEnd(MAX_SEALED_BOX_CHARS, "A"),
    }];
    await alice.request("offline_send", f);
  }
  const bob = await fx.login("bob", { device: true });
  const got: number[] = [];
  // As the peer does: fetch, acknowledge, and fetch again when told more wait.
  let rounds = 0;
  while (true) {
    const page = await bob.request("offline_fetch", {});
    const bytes =
      encodeJson({ type: "reply", id: 1, ok: true, data: page }).length;
    assert.ok(bytes < MAX_FRAME_BYTES, `${bytes} bytes`);
    if (page.messages.length === 0) break;
    got.push(
      ...page.messages.map((m) => Number(unsealed(m).split(" ")[0])),
    );
    bob.take();
    await bob.request("offline_ack", { ids: page.messages.map((m) => m.id) });
    const waiting = bob.take().filter((m) => m.type === "offline_waiting");
    rounds++;
    if (waiting.length === 0) break;
    assert.ok(rounds < 100);
  }
  assert.deepEqual(got, Array.from({ length: 130 }, (_, i) => i));
  assert.ok(rounds > 1, "several pages");
  assert.equal(await fx.store.countOffline("bob"), 0);
});

Deno.test("offline_fetch pages with after and limit", async () => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob");
  await fx.addDevices("alice", "bob");
  const alice = await fx.login("alice", { kind: "tool", device: true });
  for (let i = 0; i < 5; i++) {
    await alice.request("offline_send", sealedFields("bob", `m${i}`));
  }
  const bob = await fx.login("bob", { kind: "tool", device: true });
  const first = await bob.request("offline_fetch", { limit: 2 });
  assert.deepEqual(first.messages.map((m) => unsealed(m)), ["m0", "m1"]);
  assert.equal(first.total, 5);
  assert.equal(first.next_after, first.messages[1]!.id);
  const next = await bob.request("offline_fetch", { after: first.next_after });
  assert.deepEqual(next.messages.map((m) => unsealed(m)), ["m2", "m3", "m4"]);
  assert.equal(next.next_after, undefined);
});

Deno.test("one sender cannot fill another's inbox", async (t) => {
  using fx = await Fixture.create({
    maxOfflinePerPair: 3,
    maxOfflinePerRecipient: 5,
  });
  await fx.signup("mallory", "carol", "dave", "bob");
  await fx.addDevices("mallory", "carol", "dave", "bob");
  const mallory = await fx.login("mallory", { kind: "tool", device: true });

  await t.step("a sender's share of a box is capped", async () => {
    for (let i = 0; i < 3; i++) {
      await mallory.request("offline_send", sealedFields("bob", "spam"));
    }
    await mallory.refused(
      "offline_send",
      sealedFields("bob", "spam"),
      "limit",
      /^bob has 3 undelivered messages from you \(the limit is 3 per sender\); try again after bob reads them$/,
    );
  });

  await t.step("others still reach the box until it is full", async () => {
    const carol = await fx.login("carol", { kind: "tool", device: true });
    await carol.request("offline_send", sealedFields("bob", "hi bob"));
    await carol.request("offline_send", sealedFields("bob", "hi again"));
    const dave = await fx.login("dave", { kind: "tool", device: true });
    await dave.refused(
      "offline_send",
      sealedFields("bob", "hello"),
      "limit",
      /^bob's offline inbox is full \(5 messages, the limit is 5\); try again after bob logs in$/,
    );
  });
});

Deno.test("a blocked sender cannot tell it is blocked", async (t) => {
  using fx = await Fixture.create({ maxOfflinePerPair: 2 });
  await fx.signup("alice", "bob", "carol");
  await fx.addDevices("alice", "bob", "carol");
  const alice = await fx.login("alice", { kind: "tool", device: true });
  const carol = await fx.login("carol", { kind: "tool", device: true });
  const bob = await fx.login("bob", { device: true });
  await bob.request("block", { user: "alice" });
  bob.take();

  await t.step("offline_send is answered as for carol", async () => {
    const fromAlice = await alice.request(
      "offline_send",
      sealedFields("bob", "hi"),
    );
    const fromCarol = await carol.request(
      "offline_send",
      sealedFields("bob", "hi"),
    );
    assert.deepEqual(fromAlice, fromCarol);
    // Only carol's was kept, and only carol's was announced.
    assert.deepEqual(bob.take(), [{ type: "offline_waiting", count: 1 }]);
    const { messages } = await bob.request("offline_fetch", {});
    assert.deepEqual(messages.map((m) => m.from), ["carol"]);
  });

  await t.step("even the caps answer alike", async () => {
    await carol.request("offline_send", sealedFields("bob", "again"));
    const carolRefused = await carol.refused(
      "offline_send",
      sealedFields("bob", "more"),
      "limit",
    );
    // Alice's messages are not kept, so her share never fills: she is
    // answered as a sender whose messages were delivered.
    await alice.request("offline_send", sealedFields("bob", "again"));
    assert.match(carolRefused, /^bob has 2 undelivered messages from you/);
  });

  await t.step(
    "room_members does not show the blocker online to the blocked",
    async () => {
      await bob.request("room_create", { room: "den" });
      const seenByAlice = await alice.request("room_members", { room: "den" });
      assert.deepEqual(seenByAlice.members, [
        { user: "bob", online: false, role: "owner" },
      ]);
      const seenByCarol = await carol.request("room_members", { room: "den" });
      assert.equal(seenByCarol.members[0]!.online, true);
    },
  );
});
