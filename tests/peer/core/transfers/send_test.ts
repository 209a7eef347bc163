/**
 * Sending a file (peer/core/transfers/send.ts): two real Transfers over one
 * loopback link, or a sender facing a raw receiver — every byte verified,
 * corruption, cancellation, rejection, sources that change, framing and
 * pacing.
 */
import type { TransferResult } from "../../../../peer/core/transfers/mod.ts";
import {
  assert,
  assertEquals,
  assertIncludes,
} from "../../../helpers/assert.ts";
import { mulberry32, randBytes } from "../../../helpers/random.ts";
import { until } from "../../../helpers/registry.ts";
import {
  EMPTY_SHA256,
  heldSource,
  linkPair,
  listDir,
  partFiles,
  rawPeer,
  sha256,
  side,
  transferPair,
} from "./support.ts";

Deno.test("two Transfers move a file across with every byte verified", async (t) => {
  const rand = mulberry32(11);
  for (const size of [0, 1, 256 * 1024, 1024 * 1024 + 1]) {
    await t.step(`${size} bytes`, async () => {
      const { alice, bob } = await transferPair();
      await using _a = alice;
      await using _b = bob;
      const bytes = randBytes(rand, size);
      const src = heldSource();
      // Feed in odd pieces, as a pipe would.
      for (let at = 0; at < size; at += 100_003) {
        src.push(bytes.subarray(at, at + 100_003));
      }
      src.push(null);
      const sent = await alice.transfers.offer("bob", src, "data.bin", size);
      const offer = await bob.event("file_offer");
      assertEquals(offer.size, size);
      await bob.transfers.accept(offer.id);
      const r: TransferResult = await sent.result;
      assert(r.ok, JSON.stringify(r));
      assertEquals(r.sha256, size === 0 ? EMPTY_SHA256 : sha256(bytes));
      const got = await bob.event("file_received");
      assertEquals(got.sha256, r.sha256);
      assertEquals(got.size, size);
      assertEquals(await Deno.readFile(got.path), bytes);
      const done = await alice.event("file_sent");
      assertEquals(done.to, "bob");
      assertEquals(done.size, size);
      assertEquals(await partFiles(bob.downloads), []);
    });
  }
});

Deno.test("an injected corruption fails verification on both sides and the receiver keeps nothing", async () => {
  const { alice, bob } = await transferPair({ corruptAt: 300_000 });
  await using _a = alice;
  await using _b = bob;
  const src = heldSource();
  src.push(new Uint8Array(600_000).fill(7));
  src.push(null);
  const sent = await alice.transfers.offer("bob", src, "c.bin", 600_000);
  await bob.transfers.accept((await bob.event("file_offer")).id);
  const r = await sent.result;
  assert(!r.ok);
  assertIncludes(r.reason, "bob could not verify the file: SHA-256 mismatch");
  assertIncludes(
    (await bob.event("transfer_failed")).reason,
    "SHA-256 mismatch",
  );
  assertIncludes(
    (await alice.event("transfer_failed")).reason,
    "SHA-256 mismatch",
  );
  await until(
    async () => (await listDir(bob.downloads)).length === 0,
    "no files",
  );
});

Deno.test("a transfer cancelled midway fails on both sides and leaves no part file", async (t) => {
  for (const who of ["sender", "receiver"] as const) {
    await t.step(`cancelled by the ${who}`, async () => {
      const { alice, bob } = await transferPair();
      await using _a = alice;
      await using _b = bob;
      const src = heldSource();
      src.push(new Uint8Array(300_000).fill(1));
      const sent = await alice.transfers.offer("bob", src, "big.bin", 1e9);
      const offer = await bob.event("file_offer");
      await bob.transfers.accept(offer.id);
      await until(
        () => bob.transfers.list()[0]?.bytes === 300_000,
        "the first bytes to arrive",
      );
      assertEquals((await partFiles(bob.downloads)).length, 1);
      const reply = who === "sender"
        ? await alice.transfers.answer(sent.id, "cancel")
        : await bob.transfers.answer(offer.id, "cancel");
      assertEquals(reply, { id: sent.id, action: "cancel" });
      const canceller = who === "sender" ? "alice" : "bob";
      for (const s of [alice, bob]) {
        const failed = await s.event("transfer_failed");
        assertEquals(failed.id, sent.id);
        assertEquals(failed.reason, `cancelled by ${canceller}`);
      }
      const r = await sent.result;
      assert(!r.ok);
      await until(
        async () => (await listDir(bob.downloads)).length === 0,
        "no part file",
      );
      assertEquals(alice.transfers.list(), []);
      assertEquals(bob.transfers.list(), []);
    });
  }
});

Deno.test("a rejected offer tells the sender who declined and why", async () => {
  const { alice, bob } = await transferPair();
  await using _a = alice;
  await using _b = bob;
  const src = heldSource();
  src.push(null);
  const sent = await alice.transfers.offer("bob", src, "x.txt", 0);
  const offer = await bob.event("file_offer");
  assertEquals(await bob.transfers.answer(offer.id, "reject", "not now"), {
    id: offer.id,
    action: "reject",
  });
  const r = await sent.result;
  assert(!r.ok);
  assertEquals(r.reason, "bob declined the file: not now");
  assertEquals(src.reads, 0, "nothing was read from the source");
  assertEquals(bob.events.filter((e) => e.type === "transfer_failed"), []);
});

Deno.test("a source that grows or shrinks while it is sent fails the transfer", async (t) => {
  for (
    const [offered, actual, want] of [
      [10, 11, "grew"],
      [10, 9, "changed while it was being sent (9 of 10 bytes)"],
    ] as const
  ) {
    await t.step(want, async () => {
      const { alice, bob } = await transferPair();
      await using _a = alice;
      await using _b = bob;
      const src = heldSource();
      src.push(new Uint8Array(actual));
      src.push(null);
      const sent = await alice.transfers.offer("bob", src, "x", offered);
      await bob.transfers.accept((await bob.event("file_offer")).id);
      const r = await sent.result;
      assert(!r.ok);
      assertIncludes(r.reason, want);
      assertIncludes((await bob.event("transfer_failed")).reason, want);
      await until(
        async () => (await listDir(bob.downloads)).length === 0,
        "no files",
      );
    });
  }
});

Deno.test("a fast source goes out in full frames and a slow one is never held back", async () => {
  const { sending, receiving } = await linkPair();
  await using alice = await side("alice", { dial: () => sending });
  await using bob = rawPeer(receiving);
  const src = heldSource();
  // A pipe that keeps up: every read comes back with a full 64 KiB.
  for (let i = 0; i < 8; i++) src.push(new Uint8Array(64 * 1024).fill(i));
  const sent = await alice.transfers.offer("bob", src, "s.bin", null);
  await bob.waitFor("file_offer");
  bob.send({ type: "file_accept", id: sent.id });
  await until(() => bob.dataFrames.length === 2, "two full frames");
  assertEquals(bob.dataFrames, [256 * 1024, 256 * 1024]);
  // Then a trickle: ten bytes go out at once, though the source stays open.
  src.push(new Uint8Array(10));
  await until(() => bob.dataFrames.length === 3, "the short frame");
  assertEquals(bob.dataFrames[2], 10);
  src.push(null);
  const end = await bob.waitFor("file_end");
  assertEquals(end.size, 512 * 1024 + 10);
  bob.send({ type: "file_ok", id: sent.id, sha256: end.sha256 });
  const r = await sent.result;
  assert(r.ok);
});

Deno.test("a receiver that sends data back gets a file_cancel and the send fails", async () => {
  const { sending, receiving } = await linkPair();
  await using alice = await side("alice", { dial: () => sending });
  await using bob = rawPeer(receiving);
  const src = heldSource();
  const sent = await alice.transfers.offer("bob", src, "x.bin", null);
  await bob.waitFor("file_offer");
  await bob.data(new Uint8Array([1, 2, 3]));
  const cancel = await bob.waitFor("file_cancel");
  assertEquals(cancel.reason, "protocol error: data from the receiver");
  const r = await sent.result;
  assert(!r.ok);
  assertEquals(r.reason, "protocol error: data from the receiver");
  await bob.closed();
});
