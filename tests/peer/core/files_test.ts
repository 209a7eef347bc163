/**
 * File transfers (F16). First the protocol in process: a real Transfers on
 * one end of a loopback TCP connection and, on the other, either another
 * Transfers or a raw, possibly hostile, peer that writes whatever frames a
 * test wants. Then end to end through real `chat peer --json` processes:
 * /send, /files, /file accept|reject|cancel, size limits, corruption, bad
 * input and a room send.
 */
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { FramedConn } from "../../../common/conn.ts";
import { silentLogger } from "../../../common/log.ts";
import type { PeerEvent } from "../../../peer/core/events.ts";
import type { P2PLink } from "../../../peer/net/p2p.ts";
import {
  type ChunkSource,
  removeStaleParts,
  STALE_PART_MS,
  type TransferResult,
  Transfers,
} from "../../../peer/core/transfers/mod.ts";
import {
  decodeP2P,
  encodeFrame,
  FrameDecoder,
  type P2PMessage,
} from "../../../wire/mod.ts";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { type JsonLine, spawnPeer } from "../../helpers/peer_process.ts";
import { mulberry32, randBytes } from "../../helpers/random.ts";
import { spawnRegistry, until } from "../../helpers/registry.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const EMPTY_SHA256 = sha256(new Uint8Array());

/** Names of the entries of a folder, sorted; [] when it does not exist. */
async function listDir(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out.sort();
}

/** Part files a receiver left in `dir`. */
async function partFiles(dir: string): Promise<string[]> {
  return (await listDir(dir)).filter((n) => n.endsWith(".chat-part"));
}

// ------------------------------------------------------------ in process

/** Two framed ends of one loopback TCP connection, as P2P file links. */
async function linkPair(
  senderName = "alice",
  receiverName = "bob",
): Promise<{ sending: P2PLink; receiving: P2PLink }> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [a, b] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  const limits = { readBufferBytes: 256 * 1024 };
  const fa = new FramedConn(a, limits);
  const fb = new FramedConn(b, limits);
  return {
    // The sender's link names the receiver and the other way round.
    sending: {
      user: receiverName,
      purpose: "file",
      inbound: false,
      conn: fa,
      frames: fa.frames(),
    },
    receiving: {
      user: senderName,
      purpose: "file",
      inbound: true,
      conn: fb,
      frames: fb.frames(),
    },
  };
}

/** A Transfers with its events recorded and a temporary downloads folder. */
async function side(
  self: string,
  o: { maxBytes?: number; corruptAt?: number; dial?: () => P2PLink } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: `chat-files-${self}-` });
  const downloads = join(dir, "downloads");
  const events: PeerEvent[] = [];
  const transfers = new Transfers({
    self: () => self,
    dial: () =>
      o.dial
        ? Promise.resolve(o.dial())
        : Promise.reject(new Error("no dialing in this test")),
    emit: (ev) => events.push(ev),
    downloads,
    maxBytes: o.maxBytes ?? 0,
    logger: silentLogger,
    ...(o.corruptAt !== undefined ? { corruptAt: o.corruptAt } : {}),
  });
  const event = <K extends PeerEvent["type"]>(type: K, what = type) =>
    until(
      () =>
        events.find((e) => e.type === type) as
          | Extract<PeerEvent, { type: K }>
          | undefined,
      `${self}: ${what} (events: ${JSON.stringify(events)})`,
    );
  return {
    dir,
    downloads,
    events,
    transfers,
    event,
    async [Symbol.asyncDispose]() {
      await transfers.closeAll("test over");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** A peer that speaks the file protocol by hand, to send what Transfers never would. */
function rawPeer(link: P2PLink) {
  const msgs: P2PMessage[] = [];
  /** Sizes of the data frames received, in order. */
  const dataFrames: number[] = [];
  const reading = (async () => {
    try {
      for await (const f of link.frames) {
        if (f.kind !== "control") {
          dataFrames.push(f.payload.length);
          continue;
        }
        const d = decodeP2P(f.payload);
        if (d.ok) msgs.push(d.msg);
      }
    } catch {
      // The other side broke the framing or went away: the test decides.
    }
  })();
  return {
    msgs,
    dataFrames,
    send: (msg: P2PMessage) => link.conn.send(msg),
    data: (bytes: Uint8Array) => link.conn.sendData(bytes),
    waitFor: <K extends P2PMessage["type"]>(type: K) =>
      until(
        () =>
          msgs.find((m) => m.type === type) as
            | Extract<P2PMessage, { type: K }>
            | undefined,
        `raw peer: ${type} (got ${JSON.stringify(msgs)})`,
      ),
    closed: () => until(() => link.conn.closed, "the link to close"),
    async [Symbol.asyncDispose]() {
      link.conn.close();
      await reading;
    },
  };
}

/** Offers `bytes` under `name` from a raw peer; resolves with the receiver's answer. */
async function rawOffer(
  raw: ReturnType<typeof rawPeer>,
  recv: Awaited<ReturnType<typeof side>>,
  name: string,
  bytes: Uint8Array,
  id = "t1",
) {
  raw.send({ type: "file_offer", id, name, size: bytes.length });
  const offer = await until(
    () =>
      recv.events.find((e) => e.type === "file_offer" && e.id === id) as
        | Extract<PeerEvent, { type: "file_offer" }>
        | undefined,
    `offer ${id}`,
  );
  await recv.transfers.accept(id);
  await raw.waitFor("file_accept");
  if (bytes.length > 0) await raw.data(bytes);
  raw.send({
    type: "file_end",
    id,
    size: bytes.length,
    sha256: sha256(bytes),
  });
  return offer;
}

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

Deno.test("a received file never overwrites: the same name becomes name (1).ext, then name (2).ext", async () => {
  await using recv = await side("bob");
  await Deno.mkdir(recv.downloads, { recursive: true });
  const original = join(recv.downloads, "report.pdf");
  await Deno.writeTextFile(original, "the original");
  for (const n of [1, 2]) {
    const { sending, receiving } = await linkPair();
    await using mallory = rawPeer(sending);
    recv.transfers.adoptInbound(receiving);
    const bytes = new TextEncoder().encode(`copy ${n}`);
    await rawOffer(mallory, recv, "../report.pdf", bytes, `t${n}`);
    await mallory.waitFor("file_ok");
    const got = await until(
      () =>
        recv.events.find((e) => e.type === "file_received" && e.id === `t${n}`),
      `file ${n}`,
    );
    assert(got.type === "file_received");
    assertEquals(basename(got.path), `report (${n}).pdf`);
    assertEquals(await Deno.readTextFile(got.path), `copy ${n}`);
  }
  assertEquals(await Deno.readTextFile(original), "the original");
  assertEquals(await listDir(recv.downloads), [
    "report (1).pdf",
    "report (2).pdf",
    "report.pdf",
  ]);
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

/** A source the test feeds by hand, so a transfer can be held midway. */
function heldSource(): ChunkSource & {
  push(b: Uint8Array | null): void;
  reads: number;
} {
  const queue: (Uint8Array | null)[] = [];
  let wake: (() => void) | null = null;
  const src = {
    reads: 0,
    push(b: Uint8Array | null) {
      queue.push(b);
      wake?.();
    },
    async read(p: Uint8Array): Promise<number | null> {
      src.reads++;
      while (queue.length === 0) {
        await new Promise<void>((r) => wake = r);
        wake = null;
      }
      const next = queue[0]!;
      if (next === null) return null;
      const n = Math.min(p.length, next.length);
      p.set(next.subarray(0, n));
      if (n === next.length) queue.shift();
      else queue[0] = next.subarray(n);
      return n;
    },
  };
  return src;
}

/** A real sender and a real receiver over one loopback link. */
async function transferPair(o: { corruptAt?: number } = {}) {
  const { sending, receiving } = await linkPair();
  const alice = await side("alice", { dial: () => sending, ...o });
  const bob = await side("bob");
  bob.transfers.adoptInbound(receiving);
  return { alice, bob };
}

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

Deno.test("accepting or answering an unknown transfer is a clear error", async () => {
  await using recv = await side("bob");
  for (const action of ["accept", "reject", "cancel"] as const) {
    let message = "";
    try {
      await recv.transfers.answer("nosuchid", action);
    } catch (err) {
      message = (err as Error).message;
    }
    assertEquals(message, "no transfer with id nosuchid — /files lists them");
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

Deno.test("a decoder that reuses its buffer still gives every frame its own bytes", () => {
  // FramedConn lets the decoder assemble every frame in one buffer; a frame
  // completed and a new one begun in the same chunk must not share it.
  const sizes = [300, 5, 70_000, 70_001, 1, 0, 65_536, 200_000, 100];
  const frames = sizes.map((n, i) =>
    encodeFrame(i % 2 ? "control" : "data", new Uint8Array(n).fill(i + 1))
  );
  const all = new Uint8Array(frames.reduce((a, f) => a + f.length, 0));
  let at = 0;
  for (const f of frames) {
    all.set(f, at);
    at += f.length;
  }
  for (const step of [1, 7, 1000, 65_536, 100_000, all.length]) {
    const dec = new FrameDecoder(1024 * 1024, { reuseBuffers: true });
    const seen: string[] = [];
    for (let i = 0; i < all.length; i += step) {
      const { frames: out, error } = dec.push(all.subarray(i, i + step));
      assertEquals(error, undefined);
      // Check each payload before the next push, as FramedConn's owner does.
      for (const f of out) {
        const first = f.payload[0] ?? 0;
        assert(f.payload.every((b) => b === first), `step ${step}`);
        seen.push(`${f.kind}:${f.payload.length}:${first}`);
      }
    }
    assertEquals(seen, [
      "data:300:1",
      "control:5:2",
      "data:70000:3",
      "control:70001:4",
      "data:1:5",
      "control:0:0",
      "data:65536:7",
      "control:200000:8",
      "data:100:9",
    ]);
  }
});

// ------------------------------------------------------------ end to end

/** Writes `bytes` to a new file in a fresh temporary folder. */
async function tempFile(name: string, bytes: Uint8Array): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "chat-files-src-" });
  const path = join(dir, name);
  await Deno.writeFile(path, bytes);
  return path;
}

const isEvent = (type: string, id?: unknown) => (l: JsonLine) =>
  l.type === type && (id === undefined || l.id === id);

/** Waits for a line matching `pred` that appears after the reply `since`. */
function afterIndex(lines: JsonLine[]): number {
  return lines.length;
}

Deno.test("peers send files with /send, list them with /files and answer with /file", async (t) => {
  await using reg = await spawnRegistry();
  await using alice = await spawnPeer(reg, { user: "alice" });
  await using bob = await spawnPeer(reg, { user: "bob" });
  const downloads = join(bob.home, "downloads");
  const rand = mulberry32(2024);

  /** Alice offers `path`; bob accepts; both sides report the same hash. */
  const roundTrip = async (path: string) => {
    const from = afterIndex(bob.lines);
    const sent = await alice.send(`/send bob ${path}`);
    assertEquals(sent.ok, true, JSON.stringify(sent));
    assertEquals(sent.to, "bob");
    const offer = await bob.waitFor(
      isEvent("file_offer", sent.id),
      "file_offer",
      15_000,
      from,
    );
    assertEquals(offer.from, "alice");
    assertEquals(offer.name, sent.name);
    assertEquals(offer.size, sent.size);
    const accepted = await bob.send(`/file accept ${sent.id}`);
    assertEquals(accepted.ok, true, JSON.stringify(accepted));
    const got = await bob.waitFor(
      isEvent("file_received", sent.id),
      "received",
    );
    const done = await alice.waitFor(isEvent("file_sent", sent.id), "sent");
    assertEquals(got.from, "alice");
    assertEquals(done.to, "bob");
    assertEquals(done.sha256, got.sha256);
    assertEquals(done.size, got.size);
    return { sent, got };
  };

  await t.step("1 MiB + 1 arrives byte for byte with its SHA-256", async () => {
    const bytes = randBytes(rand, 1024 * 1024 + 1);
    const { sent, got } = await roundTrip(await tempFile("photo.jpg", bytes));
    assertEquals(sent.name, "photo.jpg");
    assertEquals(sent.size, bytes.length);
    assertEquals(got.path, join(downloads, "photo.jpg"));
    assertEquals(got.size, bytes.length);
    assertEquals(got.sha256, sha256(bytes));
    assertEquals(await Deno.readFile(join(downloads, "photo.jpg")), bytes);
  });

  await t.step(
    "the same name again becomes 'photo (1).jpg' and the first is kept",
    async () => {
      const bytes = randBytes(rand, 1000);
      const { got } = await roundTrip(await tempFile("photo.jpg", bytes));
      assertEquals(got.path, join(downloads, "photo (1).jpg"));
      assertEquals(await Deno.readFile(String(got.path)), bytes);
      assertEquals(
        (await Deno.stat(join(downloads, "photo.jpg"))).size,
        1024 * 1024 + 1,
      );
    },
  );

  await t.step("an empty file and a 1-byte file arrive", async () => {
    const empty = await roundTrip(await tempFile("empty", new Uint8Array()));
    assertEquals(empty.got.size, 0);
    assertEquals(empty.got.sha256, EMPTY_SHA256);
    assertEquals((await Deno.readFile(String(empty.got.path))).length, 0);
    const one = await roundTrip(await tempFile("one", new Uint8Array([0xff])));
    assertEquals(
      await Deno.readFile(String(one.got.path)),
      new Uint8Array([0xff]),
    );
  });

  await t.step(
    "hostile file names on disk land as plain names inside downloads",
    async () => {
      const dots = await roundTrip(await tempFile("...", new Uint8Array([1])));
      assertEquals(dots.sent.name, "file");
      assertEquals(dirname(String(dots.got.path)), downloads);
      const ctl = await roundTrip(
        await tempFile("ctl\u0001\u001b[0m.txt", new Uint8Array([2])),
      );
      assertEquals(basename(String(ctl.got.path)), "ctl[0m.txt");
      const dev = await roundTrip(
        await tempFile("aux.log", new Uint8Array([3])),
      );
      assertEquals(basename(String(dev.got.path)), "_aux.log");
      const long = await roundTrip(
        await tempFile("é".repeat(120) + ".txt", new Uint8Array([4])),
      );
      const name = basename(String(long.got.path));
      assert(new TextEncoder().encode(name).length <= 200, name);
      assert(name.endsWith(".txt"));
      for (const entry of await listDir(downloads)) {
        assert(!entry.startsWith("."), `no hidden or part file: ${entry}`);
      }
    },
  );

  await t.step(
    "/files lists a waiting offer on both sides and /file reject tells the sender",
    async () => {
      const path = await tempFile(
        "unwanted.txt",
        new TextEncoder().encode("no"),
      );
      const from = afterIndex(bob.lines);
      const sent = await alice.send(`/send bob ${path}`);
      await bob.waitFor(isEvent("file_offer", sent.id), "offer", 15_000, from);
      const theirs = await bob.send("/files");
      assertEquals(theirs.transfers, [{
        id: sent.id,
        direction: "in",
        peer: "alice",
        name: "unwanted.txt",
        size: 2,
        state: "offered",
        bytes: 0,
      }]);
      const mine = await alice.send("/files");
      assertEquals(mine.transfers, [{
        id: sent.id,
        direction: "out",
        peer: "bob",
        name: "unwanted.txt",
        size: 2,
        state: "offered",
        bytes: 0,
      }]);
      const rejected = await bob.send(`/file reject ${sent.id}`);
      assertEquals(rejected.ok, true);
      const failed = await alice.waitFor(
        isEvent("transfer_failed", sent.id),
        "transfer_failed",
      );
      assertEquals(failed.reason, "bob declined the file");
      assertEquals((await bob.send("/files")).transfers, []);
      assertEquals((await alice.send("/files")).transfers, []);
      assert(!(await listDir(downloads)).includes("unwanted.txt"));
    },
  );

  await t.step(
    "bad input gets one clear error and changes nothing",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "chat-files-dir-" });
      const cases: [JsonLine, string][] = [
        [
          await alice.send(`/send bob ${join(dir, "missing.txt")}`),
          "no such file",
        ],
        [await alice.send(`/send bob ${dir}`), "is not a regular file"],
        [await bob.send("/file accept abc123"), "no transfer with id abc123"],
        [await bob.send("/file cancel abc123"), "no transfer with id abc123"],
        [await bob.send("/file accept ../x"), "is not a transfer id"],
        [await bob.send("/file explode abc"), "/file accept|reject|cancel ID"],
        [await alice.send("/send bob"), "/send NAME|#ROOM FILE"],
      ];
      for (const [reply, want] of cases) {
        assertEquals(reply.ok, false, JSON.stringify(reply));
        assertIncludes(String(reply.error), want);
        assert(!String(reply.error).includes("\n"), "one line");
      }
      const file = await tempFile("x.txt", new Uint8Array([1]));
      const unknown = await alice.send(`/send nosuchuser ${file}`);
      assertEquals(unknown.ok, false);
      assertIncludes(String(unknown.error), "nosuchuser");
      assertEquals((await alice.send("/files")).transfers, []);
      assertEquals((await bob.send("/files")).transfers, []);
    },
  );

  await t.step("accepting twice is refused the second time", async () => {
    const path = await tempFile("twice.txt", new Uint8Array([9]));
    const from = afterIndex(bob.lines);
    const sent = await alice.send(`/send bob ${path}`);
    await bob.waitFor(isEvent("file_offer", sent.id), "offer", 15_000, from);
    assertEquals((await bob.send(`/file accept ${sent.id}`)).ok, true);
    const again = await bob.send(`/file accept ${sent.id}`);
    assertEquals(again.ok, false, JSON.stringify(again));
    // Either still running ("already accepted") or already done (unknown id).
    assert(
      /already accepted|no transfer with id/.test(String(again.error)),
      String(again.error),
    );
    await bob.waitFor(isEvent("file_received", sent.id), "received");
  });
});

Deno.test("CHAT_MAX_FILE_BYTES refuses a bigger offer and lets one at the limit through", async () => {
  await using reg = await spawnRegistry();
  await using alice = await spawnPeer(reg, { user: "alice" });
  await using bob = await spawnPeer(reg, {
    user: "bob",
    env: { CHAT_MAX_FILE_BYTES: "1000" },
  });
  const big = await alice.send(
    `/send bob ${await tempFile("big.bin", new Uint8Array(1001))}`,
  );
  assertEquals(big.ok, true);
  const failed = await alice.waitFor(
    isEvent("transfer_failed", big.id),
    "transfer_failed",
  );
  assertEquals(
    failed.reason,
    "bob declined the file: larger than the receiver's 1000-byte limit",
  );
  const err = await bob.waitFor(isEvent("error"), "error");
  assertIncludes(String(err.message), "big.bin from alice: 1001 bytes");
  assertEquals(bob.events("file_offer"), []);
  assertEquals((await bob.send("/files")).transfers, []);

  const fits = await alice.send(
    `/send bob ${await tempFile("fits.bin", new Uint8Array(1000))}`,
  );
  await bob.waitFor(isEvent("file_offer", fits.id), "offer");
  await bob.send(`/file accept ${fits.id}`);
  const got = await bob.waitFor(isEvent("file_received", fits.id), "received");
  assertEquals(got.size, 1000);
  assertEquals(await listDir(join(bob.home, "downloads")), ["fits.bin"]);
});

Deno.test("an injected corruption ends in transfer_failed on both peers and no file", async () => {
  await using reg = await spawnRegistry();
  await using alice = await spawnPeer(reg, {
    user: "alice",
    env: { CHAT_FAULT_CORRUPT_AT: "70000" },
  });
  await using bob = await spawnPeer(reg, { user: "bob" });
  const bytes = randBytes(mulberry32(5), 300_000);
  const sent = await alice.send(
    `/send bob ${await tempFile("c.bin", bytes)}`,
  );
  await bob.waitFor(isEvent("file_offer", sent.id), "offer");
  await bob.send(`/file accept ${sent.id}`);
  const theirs = await bob.waitFor(
    isEvent("transfer_failed", sent.id),
    "transfer_failed at bob",
  );
  assertEquals(
    theirs.reason,
    "SHA-256 mismatch: the data was corrupted in transit",
  );
  const mine = await alice.waitFor(
    isEvent("transfer_failed", sent.id),
    "transfer_failed at alice",
  );
  assertEquals(
    mine.reason,
    "bob could not verify the file: SHA-256 mismatch: the data was corrupted in transit",
  );
  assertEquals(bob.events("file_received"), []);
  assertEquals(alice.events("file_sent"), []);
  await until(
    async () => (await listDir(join(bob.home, "downloads"))).length === 0,
    "no file and no part file",
  );
});

/** A sparse file of `size` bytes: instant to make, slow enough to send. */
async function sparseFile(name: string, size: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "chat-files-sparse-" });
  const path = join(dir, name);
  using f = await Deno.open(path, { write: true, createNew: true });
  await f.truncate(size);
  return path;
}

Deno.test("/file cancel midway from either side fails the transfer on both and leaves no part file", async (t) => {
  await using reg = await spawnRegistry();
  await using alice = await spawnPeer(reg, { user: "alice" });
  await using bob = await spawnPeer(reg, { user: "bob" });
  const downloads = join(bob.home, "downloads");
  // 8 GiB (sparse): no run reaches the end before the cancel.
  const path = await sparseFile("huge.img", 8 * 1024 ** 3);
  for (const who of ["alice", "bob"] as const) {
    await t.step(`${who} cancels`, async () => {
      const sent = await alice.send(`/send bob ${path}`);
      await bob.waitFor(isEvent("file_offer", sent.id), "offer");
      await bob.send(`/file accept ${sent.id}`);
      const canceller = who === "alice" ? alice : bob;
      // Midway: some bytes have arrived, far from all of them.
      await until(async () => {
        const r = await canceller.send("/files");
        const row = (r.transfers as { bytes: number }[])[0];
        return row !== undefined && row.bytes > 0;
      }, "the first bytes to move");
      assertEquals((await partFiles(downloads)).length, 1);
      const cancelled = await canceller.send(`/file cancel ${sent.id}`);
      assertEquals(cancelled.ok, true, JSON.stringify(cancelled));
      for (const p of [alice, bob]) {
        const failed = await p.waitFor(
          isEvent("transfer_failed", sent.id),
          `transfer_failed at ${p.user}`,
        );
        assertEquals(failed.reason, `cancelled by ${who}`);
      }
      await until(
        async () => (await listDir(downloads)).length === 0,
        "no part file",
      );
      assertEquals((await alice.send("/files")).transfers, []);
      assertEquals((await bob.send("/files")).transfers, []);
    });
  }
  await Deno.remove(dirname(path), { recursive: true });
});

Deno.test("/send #room offers the file to every online member, who each get it", async () => {
  await using reg = await spawnRegistry();
  await using alice = await spawnPeer(reg, { user: "alice" });
  await using bob = await spawnPeer(reg, { user: "bob" });
  await using carol = await spawnPeer(reg, { user: "carol" });
  assertEquals((await alice.send("/room create crew")).ok, true);
  for (const p of [bob, carol]) {
    assertEquals((await p.send("/join crew")).ok, true);
  }
  await until(async () => {
    const m = await alice.send("/members crew");
    return JSON.stringify(m).includes("carol") &&
      JSON.stringify(m).includes("bob");
  }, "alice to see both members");
  const bytes = randBytes(mulberry32(3), 200_000);
  const path = await tempFile("notes.pdf", bytes);
  const sent = await alice.send(`/send #crew ${path}`);
  assertEquals(sent.ok, true, JSON.stringify(sent));
  const offers = sent.offers as { to: string; id: string }[];
  assertEquals(offers.map((o) => o.to).sort(), ["bob", "carol"]);
  assertEquals(sent.unreached, []);
  for (const p of [bob, carol]) {
    const id = offers.find((o) => o.to === p.user)!.id;
    const offer = await p.waitFor(isEvent("file_offer", id), "room offer");
    assertEquals(offer.room, "crew");
    assertEquals(offer.from, "alice");
    assertEquals(offer.name, "notes.pdf");
    assertEquals((await p.send(`/file accept ${id}`)).ok, true);
    const got = await p.waitFor(isEvent("file_received", id), "received");
    assertEquals(got.sha256, sha256(bytes));
    assertEquals(await Deno.readFile(String(got.path)), bytes);
    await alice.waitFor(isEvent("file_sent", id), `file_sent to ${p.user}`);
  }
  const outside = await bob.send(`/send #elsewhere ${path}`);
  assertEquals(outside.ok, false);
  assertIncludes(String(outside.error), "you are not in room 'elsewhere'");
});

Deno.test("part files a killed receiver left behind are removed once stale, live ones never", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-parts-" });
  try {
    const now = Date.now();
    const old = new Date(now - STALE_PART_MS - 60_000);
    const files = {
      stale: ".a1b2c3.chat-part",
      live: ".d4e5f6.chat-part",
      // Not ours, however old: only .ID.chat-part names are touched.
      mine: "notes.chat-part",
      hidden: ".profile",
    };
    for (const name of Object.values(files)) {
      await Deno.writeTextFile(join(dir, name), "x");
      if (name !== files.live) await Deno.utime(join(dir, name), old, old);
    }
    await removeStaleParts(dir, now);
    const left = [];
    for await (const e of Deno.readDir(dir)) left.push(e.name);
    assertEquals(left.sort(), [files.hidden, files.live, files.mine].sort());
    // A folder that cannot be read is left to the open that follows.
    await removeStaleParts(join(dir, "missing"), now);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
