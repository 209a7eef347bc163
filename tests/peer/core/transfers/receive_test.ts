/**
 * Receiving a file (peer/core/transfers/receive.ts): a real Transfers takes
 * offers from a raw, possibly hostile, peer — names, sizes, hashes, limits
 * and protocol errors — and never keeps a byte it could not verify.
 */
import { basename, dirname } from "node:path";
import {
  assert,
  assertEquals,
  assertIncludes,
} from "../../../helpers/assert.ts";
import { until } from "../../../helpers/registry.ts";
import {
  linkPair,
  listDir,
  partFiles,
  rawOffer,
  rawPeer,
  sha256,
  side,
} from "./support.ts";

Deno.test("a hostile name in an offer becomes a plain file inside the downloads folder", async (t) => {
  const cases: [string, string][] = [
    ["../../etc/passwd", "passwd"],
    ["..\\..\\windows\\win.ini", "win.ini"],
    ["/abs/olute/path.txt", "path.txt"],
    ["nul\u0000byte.txt", "nulbyte.txt"],
    ["ctl\u0001\u001b[2J\n.txt", "ctl[2J.txt"],
    [".", "file"],
    ["..", "file"],
    ["......", "file"],
    ["", "file"],
    ["CON", "_CON"],
    ["lpt1.txt", "_lpt1.txt"],
    [".profile", "profile"],
    ["x".repeat(10_000) + ".txt", "x".repeat(196) + ".txt"],
  ];
  for (const [raw, want] of cases) {
    await t.step(JSON.stringify(raw.slice(0, 40)), async () => {
      await using recv = await side("bob");
      const { sending, receiving } = await linkPair();
      await using mallory = rawPeer(sending);
      recv.transfers.adoptInbound(receiving);
      const bytes = new TextEncoder().encode(`contents for ${want}`);
      const offer = await rawOffer(mallory, recv, raw, bytes);
      assertEquals(offer.name, want, "the offer shows the sanitised name");
      const ok = await mallory.waitFor("file_ok");
      assertEquals(ok.sha256, sha256(bytes));
      const got = await recv.event("file_received");
      assertEquals(dirname(got.path), recv.downloads);
      assertEquals(basename(got.path), want);
      assertEquals(await Deno.readFile(got.path), bytes);
      // Nothing was written anywhere else.
      assertEquals(await listDir(recv.dir), ["downloads"]);
      assertEquals(await listDir(recv.downloads), [want]);
    });
  }
});

Deno.test("a stream whose hash does not match fails on both ends and leaves no file", async () => {
  await using recv = await side("bob");
  const { sending, receiving } = await linkPair();
  await using mallory = rawPeer(sending);
  recv.transfers.adoptInbound(receiving);
  mallory.send({ type: "file_offer", id: "bad", name: "x.bin", size: 4 });
  await recv.event("file_offer");
  await recv.transfers.accept("bad");
  await mallory.waitFor("file_accept");
  await mallory.data(new Uint8Array([1, 2, 3, 4]));
  mallory.send({
    type: "file_end",
    id: "bad",
    size: 4,
    sha256: sha256(new Uint8Array([1, 2, 3, 5])),
  });
  const fail = await mallory.waitFor("file_fail");
  assertIncludes(fail.reason, "SHA-256 mismatch");
  const failed = await recv.event("transfer_failed");
  assertIncludes(failed.reason, "SHA-256 mismatch");
  await until(
    async () => (await listDir(recv.downloads)).length === 0,
    "no files",
  );
});

Deno.test("a sender that lies about the size is stopped and leaves no file", async (t) => {
  await t.step("more bytes than offered", async () => {
    await using recv = await side("bob");
    const { sending, receiving } = await linkPair();
    await using mallory = rawPeer(sending);
    recv.transfers.adoptInbound(receiving);
    mallory.send({ type: "file_offer", id: "big", name: "x.bin", size: 3 });
    await recv.event("file_offer");
    await recv.transfers.accept("big");
    await mallory.waitFor("file_accept");
    await mallory.data(new Uint8Array(4));
    const cancel = await mallory.waitFor("file_cancel");
    assertIncludes(cancel.reason, "more bytes than it offered");
    assertIncludes(
      (await recv.event("transfer_failed")).reason,
      "more bytes than it offered",
    );
    await until(
      async () => (await listDir(recv.downloads)).length === 0,
      "no files",
    );
  });
  await t.step("fewer bytes than it says at the end", async () => {
    await using recv = await side("bob");
    const { sending, receiving } = await linkPair();
    await using mallory = rawPeer(sending);
    recv.transfers.adoptInbound(receiving);
    mallory.send({ type: "file_offer", id: "short", name: "x", size: null });
    await recv.event("file_offer");
    await recv.transfers.accept("short");
    await mallory.waitFor("file_accept");
    await mallory.data(new Uint8Array(2));
    mallory.send({
      type: "file_end",
      id: "short",
      size: 3,
      sha256: sha256(new Uint8Array(3)),
    });
    assertIncludes(
      (await mallory.waitFor("file_fail")).reason,
      "size mismatch",
    );
    assertIncludes(
      (await recv.event("transfer_failed")).reason,
      "received 2 bytes, sender says 3",
    );
    await until(
      async () => (await listDir(recv.downloads)).length === 0,
      "no files",
    );
  });
});

Deno.test("data before the offer is accepted is a protocol error that leaves nothing", async () => {
  await using recv = await side("bob");
  const { sending, receiving } = await linkPair();
  await using mallory = rawPeer(sending);
  recv.transfers.adoptInbound(receiving);
  mallory.send({ type: "file_offer", id: "early", name: "x", size: 10 });
  await recv.event("file_offer");
  await mallory.data(new Uint8Array(10));
  const cancel = await mallory.waitFor("file_cancel");
  assertIncludes(cancel.reason, "data before accept");
  assertIncludes(
    (await recv.event("transfer_failed")).reason,
    "protocol error",
  );
  await mallory.closed();
  assertEquals(recv.transfers.list(), []);
  assertEquals(await listDir(recv.downloads), []);
});

Deno.test("a malformed message during a transfer gets an error reply and the transfer goes on", async () => {
  await using recv = await side("bob");
  const { sending, receiving } = await linkPair();
  await using mallory = rawPeer(sending);
  recv.transfers.adoptInbound(receiving);
  const bytes = new TextEncoder().encode("still fine");
  mallory.send({ type: "file_offer", id: "m", name: "ok.txt", size: 10 });
  await recv.event("file_offer");
  sending.conn.send({ type: "file_end", id: "m", size: -1, sha256: "nope" });
  const err = await mallory.waitFor("error");
  assert(err.reason.length > 0);
  await recv.transfers.accept("m");
  await mallory.waitFor("file_accept");
  await mallory.data(bytes);
  mallory.send({ type: "file_end", id: "m", size: 10, sha256: sha256(bytes) });
  await mallory.waitFor("file_ok");
  assertEquals(
    await Deno.readFile((await recv.event("file_received")).path),
    bytes,
  );
});

Deno.test("an offer over the receiver's size limit is refused at once without asking", async () => {
  await using recv = await side("bob", { maxBytes: 1000 });
  const { sending, receiving } = await linkPair();
  await using mallory = rawPeer(sending);
  recv.transfers.adoptInbound(receiving);
  mallory.send({ type: "file_offer", id: "huge", name: "x", size: 1001 });
  const reject = await mallory.waitFor("file_reject");
  assertIncludes(reject.reason ?? "", "1000-byte limit");
  const err = await recv.event("error");
  assertIncludes(err.message, "over the 1000-byte limit");
  assertEquals(recv.events.filter((e) => e.type === "file_offer"), []);
  assertEquals(recv.transfers.list(), []);
});

Deno.test("a stream of unknown size is cut off at the receiver's size limit and leaves no file", async () => {
  await using recv = await side("bob", { maxBytes: 1000 });
  const { sending, receiving } = await linkPair();
  await using mallory = rawPeer(sending);
  recv.transfers.adoptInbound(receiving);
  mallory.send({ type: "file_offer", id: "s", name: "x", size: null });
  await recv.event("file_offer");
  await recv.transfers.accept("s");
  await mallory.waitFor("file_accept");
  await mallory.data(new Uint8Array(600));
  await mallory.data(new Uint8Array(600));
  assertIncludes(
    (await mallory.waitFor("file_cancel")).reason,
    "1000-byte limit",
  );
  assertIncludes(
    (await recv.event("transfer_failed")).reason,
    "1000-byte limit",
  );
  await until(
    async () => (await listDir(recv.downloads)).length === 0,
    "no files",
  );
});

Deno.test("a sender that disconnects midway leaves no part file", async () => {
  await using recv = await side("bob");
  const { sending, receiving } = await linkPair();
  await using mallory = rawPeer(sending);
  recv.transfers.adoptInbound(receiving);
  mallory.send({ type: "file_offer", id: "gone", name: "x.bin", size: 1000 });
  await recv.event("file_offer");
  await recv.transfers.accept("gone");
  await mallory.waitFor("file_accept");
  await mallory.data(new Uint8Array(500));
  await until(
    () => recv.transfers.list()[0]?.bytes === 500,
    "the first half to arrive",
  );
  assertEquals((await partFiles(recv.downloads)).length, 1);
  sending.conn.close();
  const failed = await recv.event("transfer_failed");
  assertEquals(failed.reason, "lost the connection to alice");
  await until(
    async () => (await listDir(recv.downloads)).length === 0,
    "no part file",
  );
});

Deno.test("an offer for a room that does not exist or the sender is not in is refused with its reason", async (t) => {
  // bob is in #crew with alice; #lonely has only bob.
  const members: Record<string, string[]> = {
    crew: ["alice", "bob"],
    lonely: ["bob"],
  };
  const checkRoom = (room: string, user: string) =>
    !members[room]
      ? `bob is not in #${room}`
      : members[room]!.includes(user)
      ? null
      : `${user} is not a member of #${room}`;
  for (
    const [room, reason] of [
      ["nowhere", "bob is not in #nowhere"],
      ["lonely", "alice is not a member of #lonely"],
    ]
  ) {
    await t.step(`#${room}`, async () => {
      await using recv = await side("bob", { checkRoom });
      const { sending, receiving } = await linkPair();
      await using alice = rawPeer(sending);
      recv.transfers.adoptInbound(receiving);
      alice.send({ type: "file_offer", id: "r1", name: "x", size: 1, room });
      const reject = await alice.waitFor("file_reject");
      assertEquals(reject.reason, `refused: ${reason}`);
      assert(!reject.reason!.includes("\n"));
      await alice.closed();
      assertEquals(recv.events.filter((e) => e.type === "file_offer"), []);
    });
  }
  await t.step(
    "a receiver with no way to check refuses every room offer",
    async () => {
      await using recv = await side("bob");
      const { sending, receiving } = await linkPair();
      await using alice = rawPeer(sending);
      recv.transfers.adoptInbound(receiving);
      alice.send({
        type: "file_offer",
        id: "r1",
        name: "x",
        size: 1,
        room: "crew",
      });
      assertIncludes(
        (await alice.waitFor("file_reject")).reason ?? "",
        "no files for rooms",
      );
    },
  );
  await t.step(
    "a member's offer for the room is shown with the room",
    async () => {
      await using recv = await side("bob", { checkRoom });
      const { sending, receiving } = await linkPair();
      await using alice = rawPeer(sending);
      recv.transfers.adoptInbound(receiving);
      alice.send({
        type: "file_offer",
        id: "r3",
        name: "x",
        size: 1,
        room: "crew",
      });
      const offer = await recv.event("file_offer");
      assertEquals(offer.room, "crew");
      assertEquals(alice.msgs.filter((m) => m.type === "file_reject"), []);
    },
  );
});

Deno.test("offers in flight from one sender are capped, each refusal naming the limit", async () => {
  await using recv = await side("bob", { maxOffersPerSender: 3 });
  const links = await Promise.all(
    Array.from({ length: 5 }, () => linkPair("mallory")),
  );
  const raws = links.map(({ sending }) => rawPeer(sending));
  try {
    for (const [i, { receiving }] of links.entries()) {
      recv.transfers.adoptInbound(receiving);
      raws[i]!.send({ type: "file_offer", id: `m${i}`, name: "x", size: 1 });
      if (i < 3) {
        await until(
          () => recv.transfers.list().length === i + 1,
          `offer ${i} to be waiting`,
        );
      }
    }
    for (const raw of raws.slice(3)) {
      const reject = await raw.waitFor("file_reject");
      assertEquals(
        reject.reason,
        "bob has 3 offers from mallory waiting already (the limit is 3); wait for an answer",
      );
    }
    assertEquals(recv.transfers.list().length, 3);
    // Another sender is not held back by mallory's.
    const { sending, receiving } = await linkPair("alice");
    await using alice = rawPeer(sending);
    recv.transfers.adoptInbound(receiving);
    await rawOffer(alice, recv, "fine.txt", new Uint8Array([7]), "a1");
    await until(
      () => recv.events.some((e) => e.type === "file_received"),
      "alice's file",
    );
    // An answered offer frees its place.
    await recv.transfers.answer("m0", "reject");
    const { sending: s2, receiving: r2 } = await linkPair("mallory");
    await using again = rawPeer(s2);
    recv.transfers.adoptInbound(r2);
    again.send({ type: "file_offer", id: "m9", name: "x", size: 1 });
    await until(
      () => recv.transfers.list().some((x) => x.id === "m9"),
      "mallory's next offer once one was answered",
    );
  } finally {
    for (const raw of raws) await raw[Symbol.asyncDispose]();
  }
});
