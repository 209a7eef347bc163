/**
 * A room's backlog, with a real registry and real peer processes: what is
 * said while a member is away is sealed to their device, kept as
 * ciphertext only (never in the database file or its WAL in clear),
 * bounded per member with the oldest dropped, and delivered once, in order
 * and marked as backlog, with a notice of what was dropped; the sender
 * hears who has it now and who will get it later.
 */
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../../helpers/assert.ts";
import { fileHas } from "../../helpers/bytes.ts";
import { spawnPeer } from "../../helpers/peer_process.ts";
import { spawnRegistry, until } from "../../helpers/registry.ts";

/** The room rows of offline_messages and the drop counts, read beside the registry. */
function stored(dbPath: string): { rows: number; drops: number } {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const rows = db.prepare(
      "SELECT COUNT(*) AS n FROM offline_messages WHERE room IS NOT NULL",
    ).get() as { n: number };
    const drops = db.prepare(
      "SELECT COALESCE(SUM(dropped), 0) AS n FROM backlog_drops",
    ).get() as { n: number };
    return { rows: Number(rows.n), drops: Number(drops.n) };
  } finally {
    db.close();
  }
}

Deno.test("a room's backlog reaches a member who was away, sealed and bounded", async (t) => {
  await using reg = await spawnRegistry({ args: ["--room-backlog", "3"] });
  const bobHome = await Deno.makeTempDir({ prefix: "chat-backlog-bob-" });
  const secret = (i: number) => `backlog-secret-${i}-marmalade`;
  const device = { signup: false, env: { CHAT_PASSWORD: "" } };
  try {
    await using alice = await spawnPeer(reg, { user: "alice" });
    await using carol = await spawnPeer(reg, { user: "carol" });
    // bob's first login makes his machine a device; then he goes away.
    const bob0 = await spawnPeer(reg, { user: "bob", home: bobHome });
    assertEquals((await alice.send("/room create lobby")).ok, true);
    for (const m of [bob0, carol]) {
      const r = await m.send("/join lobby");
      assertEquals(r.ok, true, JSON.stringify(r));
    }
    assertEquals(await bob0.quit(), 0);
    await alice.waitFor(
      (l) => l.type === "presence" && l.user === "bob" && l.online === false,
      "bob shown away",
    );

    await t.step("the sender hears who has it now and who later", async () => {
      for (let i = 1; i <= 5; i++) {
        const r = await alice.send(`/say lobby ${secret(i)}`);
        assertEquals(r.ok, true, JSON.stringify(r));
        assertEquals(
          [r.recipients, r.later, r.unreached],
          [["carol"], ["bob"], []],
        );
      }
      await until(
        () => carol.events("message").length >= 5,
        "carol's five messages",
      );
      assert(
        carol.events("message").every((m) => m.backlog === undefined),
        "carol had them live",
      );
    });

    await t.step("kept as ciphertext, bounded per member", async () => {
      assertEquals(stored(reg.dbPath), { rows: 3, drops: 2 });
      for (const f of [reg.dbPath, `${reg.dbPath}-wal`]) {
        for (let i = 1; i <= 5; i++) {
          assertEquals(await fileHas(f, secret(i)), false, `${f} holds ${i}`);
        }
        assertEquals(await fileHas(f, "marmalade"), false, f);
      }
    });

    await t.step(
      "bob gets the latest three in order, marked, once",
      async () => {
        const bob = await spawnPeer(reg, {
          user: "bob",
          home: bobHome,
          ...device,
        });
        const dropped = await bob.waitFor(
          (l) => l.type === "backlog_dropped",
          "the notice of what was dropped",
        );
        assertEquals([dropped.room, dropped.count], ["lobby", 2]);
        await until(
          () => bob.events("message").length >= 3,
          `three backlog messages (${bob.events("message").length})`,
        );
        const got = bob.events("message");
        assertEquals(got.map((m) => m.text), [secret(3), secret(4), secret(5)]);
        for (const m of got) {
          assertEquals([m.from, m.room, m.backlog], ["alice", "lobby", true]);
          assert(typeof m.at === "string" && m.at.endsWith("Z"), String(m.at));
        }
        // The notice came before what was kept.
        const lines = bob.events("backlog_dropped").concat(got);
        assertEquals(lines[0]!.type, "backlog_dropped");
        await until(
          () => stored(reg.dbPath).rows === 0 && stored(reg.dbPath).drops === 0,
          "the backlog acknowledged and deleted",
        );
        // Live again: a new message comes the ordinary way.
        await alice.waitFor(
          (l) => l.type === "presence" && l.user === "bob" && l.online === true,
          "bob back",
        );
        const r = await alice.send("/say lobby welcome back");
        assertEquals([r.later, (r.recipients as string[]).sort()], [
          [],
          ["bob", "carol"],
        ]);
        const live = await bob.waitFor(
          (l) => l.type === "message" && l.text === "welcome back",
          "the live message",
        );
        assertEquals(live.backlog, undefined);
        assertEquals(await bob.quit(), 0);
        for (const f of [reg.dbPath, `${reg.dbPath}-wal`]) {
          assertEquals(await fileHas(f, "marmalade"), false, f);
        }
        const again = await spawnPeer(reg, {
          user: "bob",
          home: bobHome,
          ...device,
        });
        await again.send("/rooms");
        assertEquals(again.events("message").length, 0, "shown once");
        assertEquals(again.events("backlog_dropped").length, 0);
        assertEquals(await again.quit(), 0);
      },
    );
  } finally {
    await Deno.remove(bobHome, { recursive: true }).catch(() => {});
  }
});
