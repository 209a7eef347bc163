/**
 * Where received files go (peer/core/transfers/sink.ts): never over an
 * existing file, and part files of a receiver that died are swept once
 * stale.
 */
import { basename, join } from "node:path";
import {
  removeStaleParts,
  STALE_PART_MS,
} from "../../../../peer/core/transfers/mod.ts";
import { assert, assertEquals } from "../../../helpers/assert.ts";
import { until } from "../../../helpers/registry.ts";
import { linkPair, listDir, rawOffer, rawPeer, side } from "./support.ts";

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
