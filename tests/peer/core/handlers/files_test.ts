/**
 * The file commands end to end (peer/core/handlers/files.ts) through real
 * `chat peer --json` processes: /send, /files, /file accept|reject|cancel,
 * size limits, corruption, cancellation and a room send.
 */
import { basename, dirname, join } from "node:path";
import {
  assert,
  assertEquals,
  assertIncludes,
} from "../../../helpers/assert.ts";
import { type JsonLine, spawnPeer } from "../../../helpers/peer_process.ts";
import { mulberry32, randBytes } from "../../../helpers/random.ts";
import { spawnRegistry, until } from "../../../helpers/registry.ts";
import {
  afterIndex,
  EMPTY_SHA256,
  isEvent,
  listDir,
  partFiles,
  sha256,
  sparseFile,
  tempFile,
} from "../transfers/support.ts";

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
