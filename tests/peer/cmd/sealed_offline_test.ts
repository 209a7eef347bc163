/**
 * Offline messages sealed end to end, with a real registry and real peer
 * processes: the registry's database file and WAL never hold the text,
 * the recipient reads it exactly once, the sender hears it was delivered
 * at the next login, the delivered copy is gone from the file, and a box
 * altered in the database is refused by the recipient.
 */
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../../helpers/assert.ts";
import { spawnPeer } from "../../helpers/peer_process.ts";
import { spawnRegistry } from "../../helpers/registry.ts";
import { fileHas } from "../../helpers/bytes.ts";

/** The stored rows of offline_messages, read beside the running registry. */
function rows(dbPath: string): { id: number; text: string }[] {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    return db.prepare("SELECT id, text FROM offline_messages ORDER BY id")
      .all() as { id: number; text: string }[];
  } finally {
    db.close();
  }
}

Deno.test("offline messages are sealed to the recipient's devices", async (t) => {
  await using reg = await spawnRegistry();
  const aliceHome = await Deno.makeTempDir({ prefix: "chat-sealed-alice-" });
  const bobHome = await Deno.makeTempDir({ prefix: "chat-sealed-bob-" });
  const secret = "the-launch-code-is-7731-octopus";
  try {
    // Each first login makes the machine a device.
    const bob0 = await spawnPeer(reg, { user: "bob", home: bobHome });
    assertEquals(await bob0.quit(), 0);
    let alice = await spawnPeer(reg, { user: "alice", home: aliceHome });
    let box = "";
    let stored = "";

    await t.step("stored as ciphertext only, in the file and WAL", async () => {
      const r = await alice.send(`/msg bob ${secret}`);
      assertEquals([r.ok, r.state], [true, "stored"], JSON.stringify(r));
      stored = String(r.sent_at);
      const got = rows(reg.dbPath);
      assertEquals(got.length, 1);
      const sealed = JSON.parse(got[0]!.text);
      box = Object.values(sealed.boxes as Record<string, string>)[0]!;
      assert(box.length > 100, "a box");
      assert(!got[0]!.text.includes(secret), "the row is not in clear");
      for (const f of [reg.dbPath, `${reg.dbPath}-wal`]) {
        assertEquals(await fileHas(f, secret), false, `${f} holds the text`);
        assertEquals(await fileHas(f, "launch-code"), false, f);
      }
      assertEquals(alice.events("offline_delivered").length, 0);
      assertEquals(await alice.quit(), 0);
    });

    await t.step("bob reads it exactly once", async () => {
      const bob = await spawnPeer(reg, {
        user: "bob",
        home: bobHome,
        signup: false,
        env: { CHAT_PASSWORD: "" },
      });
      const m = await bob.waitFor(
        (l) => l.type === "offline_message",
        "the offline message",
      );
      assertEquals([m.from, m.text], ["alice", secret]);
      // The acknowledgement deleted it: gone from the table and the file.
      for (let i = 0; i < 100 && rows(reg.dbPath).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assertEquals(rows(reg.dbPath).length, 0);
      const inbox = await bob.send("/inbox");
      assertEquals((inbox.messages as unknown[]).length, 1);
      assertEquals(bob.events("offline_message").length, 1);
      assertEquals(await bob.quit(), 0);
      for (const f of [reg.dbPath, `${reg.dbPath}-wal`]) {
        assertEquals(await fileHas(f, box.slice(40, 120)), false, f);
      }
      const again = await spawnPeer(reg, {
        user: "bob",
        home: bobHome,
        signup: false,
        env: { CHAT_PASSWORD: "" },
      });
      assertEquals((await again.send("/inbox")).messages, []);
      assertEquals(again.events("offline_message").length, 0);
      assertEquals(await again.quit(), 0);
    });

    await t.step("alice hears it was delivered at her next login", async () => {
      alice = await spawnPeer(reg, {
        user: "alice",
        home: aliceHome,
        signup: false,
        env: { CHAT_PASSWORD: "" },
      });
      const d = await alice.waitFor(
        (l) => l.type === "offline_delivered",
        "the delivery notice",
      );
      assertEquals([d.to, d.sent_at], ["bob", stored]);
      await alice.send("/inbox");
      assertEquals(alice.events("offline_delivered").length, 1);
      assertEquals(await alice.quit(), 0);
      // Shown once: the notice was acknowledged and deleted.
      const later = await spawnPeer(reg, {
        user: "alice",
        home: aliceHome,
        signup: false,
        env: { CHAT_PASSWORD: "" },
      });
      await later.send("/inbox");
      assertEquals(later.events("offline_delivered").length, 0);
      assertEquals(await later.quit(), 0);
    });

    await t.step("a box altered in the database is refused", async () => {
      alice = await spawnPeer(reg, {
        user: "alice",
        home: aliceHome,
        signup: false,
        env: { CHAT_PASSWORD: "" },
      });
      const r = await alice.send("/msg bob do not trust a changed box");
      assertEquals(r.state, "stored");
      assertEquals(await alice.quit(), 0);
      const [row] = rows(reg.dbPath);
      const sealed = JSON.parse(row!.text);
      const dev = Object.keys(sealed.boxes)[0]!;
      const b: string = sealed.boxes[dev];
      const at = b.length - 10;
      sealed.boxes[dev] = b.slice(0, at) + (b[at] === "A" ? "B" : "A") +
        b.slice(at + 1);
      const db = new DatabaseSync(reg.dbPath);
      db.exec("PRAGMA busy_timeout = 5000");
      db.prepare("UPDATE offline_messages SET text = ? WHERE id = ?").run(
        JSON.stringify(sealed),
        row!.id,
      );
      db.close();
      const bob = await spawnPeer(reg, {
        user: "bob",
        home: bobHome,
        signup: false,
        env: { CHAT_PASSWORD: "" },
      });
      const refused = await bob.waitFor(
        (l) => l.type === "offline_refused",
        "the refusal",
      );
      assertEquals(refused.from, "alice");
      assertEquals(bob.events("offline_message").length, 0);
      assertEquals(await bob.quit(), 0);
    });
  } finally {
    await Deno.remove(aliceHome, { recursive: true }).catch(() => {});
    await Deno.remove(bobHome, { recursive: true }).catch(() => {});
  }
});
