/**
 * The SQLite store: the shared table of Store cases on an in-memory
 * database, plus what only SQLite has (its file, WAL, PRAGMA user_version).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { SqliteStore } from "../../registry/sqlite_store.ts";
import { MIGRATIONS } from "../../registry/migrations.ts";
import { StoreOpenError } from "../../registry/store.ts";
import { defineStoreTests, OWNED, room } from "./store_cases.ts";

defineStoreTests({
  name: "SqliteStore",
  open: () => {
    const store = SqliteStore.open(":memory:");
    return Promise.resolve({
      store,
      [Symbol.asyncDispose]: () => Promise.resolve(store.close()),
    });
  },
});

/** Runs `fn` with a fresh temp folder, removed afterwards. */
async function withTempDir(
  fn: (dir: string) => void | Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat-store-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("SqliteStore migrations", async (t) => {
  await t.step("migrate an empty database to the latest version", async () => {
    await withTempDir((dir) => {
      const store = SqliteStore.open(join(dir, "registry.db"));
      try {
        assert.equal(store.schemaVersion, MIGRATIONS.length);
      } finally {
        store.close();
      }
      const db = new DatabaseSync(join(dir, "registry.db"));
      try {
        const tables = db.prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        ).all().map((r) => r.name);
        assert.deepEqual(tables, [
          "backlog_drops",
          "blocks",
          "devices",
          "friendships",
          "invitations",
          "offline_messages",
          "offline_receipts",
          "room_bans",
          "room_members",
          "rooms",
          "users",
        ]);
        const mode = db.prepare("PRAGMA journal_mode").get();
        assert.equal(mode?.journal_mode, "wal");
      } finally {
        db.close();
      }
    });
  });

  await t.step("reopening is idempotent and keeps the data", async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "registry.db");
      const first = SqliteStore.open(path);
      await first.createUser("alice", "h", 1);
      await first.createRoom(room("lobby", "alice"), OWNED);
      first.close();
      for (let i = 0; i < 3; i++) {
        const again = SqliteStore.open(path);
        try {
          assert.equal(again.schemaVersion, MIGRATIONS.length);
          assert.equal((await again.getUser("alice"))?.passwordHash, "h");
          assert.equal((await again.getRoom("lobby"))?.owner, "alice");
        } finally {
          again.close();
        }
      }
    });
  });

  await t.step(
    "a database made before devices keeps its accounts and gains devices",
    async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, "registry.db");
        // The database as the program before devices left it: steps 1 and 2.
        const db = new DatabaseSync(path);
        db.exec("PRAGMA foreign_keys = ON");
        for (const m of MIGRATIONS.slice(0, 2)) db.exec(m.sqlite);
        db.exec("PRAGMA user_version = 2");
        db.prepare(
          "INSERT INTO users (name, password_hash, status, created_at) VALUES ('alice', 'h', 's', 1)",
        ).run();
        db.close();
        const store = SqliteStore.open(path);
        try {
          assert.equal(store.schemaVersion, MIGRATIONS.length);
          assert.equal((await store.getUser("alice"))?.passwordHash, "h");
          assert.deepEqual(await store.devicesOf("alice"), []);
          await store.addDevice(
            {
              user: "alice",
              name: "laptop",
              signKey: "k".repeat(43),
              dhKey: "d".repeat(43),
            },
            5,
            OWNED,
          );
          assert.equal((await store.devicesOf("alice")).length, 1);
        } finally {
          store.close();
        }
      });
    },
  );

  await t.step("an in-memory database migrates too", () => {
    const store = SqliteStore.open(":memory:");
    try {
      assert.equal(store.schemaVersion, MIGRATIONS.length);
    } finally {
      store.close();
    }
  });

  await t.step(
    "a database from a newer chat is refused, not downgraded",
    async () => {
      await withTempDir((dir) => {
        const path = join(dir, "registry.db");
        SqliteStore.open(path).close();
        const db = new DatabaseSync(path);
        db.exec(`PRAGMA user_version = ${MIGRATIONS.length + 1}`);
        db.close();
        assert.throws(() => SqliteStore.open(path), (err) => {
          assert.ok(err instanceof StoreOpenError);
          assert.equal(err.code, "schema");
          assert.equal(
            err.message,
            `the database is at schema version ${
              MIGRATIONS.length + 1
            } but this chat knows only ${MIGRATIONS.length}; run a newer chat`,
          );
          return true;
        });
      });
    },
  );
});

Deno.test("a delivered offline message is gone from the database file and its WAL", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "registry.db");
    const store = SqliteStore.open(path);
    const marker = "MARKER-of-a-secret-offline-message-7f3a9c";
    /** Whether the marker's bytes are anywhere in the file or the WAL. */
    const onDisk = (): boolean => {
      const needle = new TextEncoder().encode(marker);
      for (const file of [path, `${path}-wal`]) {
        let bytes: Uint8Array;
        try {
          bytes = Deno.readFileSync(file);
        } catch {
          continue;
        }
        outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
          for (let j = 0; j < needle.length; j++) {
            if (bytes[i + j] !== needle[j]) continue outer;
          }
          return true;
        }
      }
      return false;
    };
    try {
      await store.createUser("alice", "h", 1);
      await store.createUser("bob", "h", 1);
      const limits = { perRecipient: 10, perPair: 10 };
      await store.storeOffline("alice", "bob", `${marker} one`, 2, limits);
      const keep = await store.storeOffline("alice", "bob", "kept", 3, limits);
      assert.ok(onDisk(), "the marker is written before delivery");
      const [first] = await store.offlineFor("bob", 1);
      assert.equal(await store.deleteOffline("bob", [first!.id]), 1);
      assert.ok(!onDisk(), "the marker is still on disk after delivery");
      // What was not delivered is still there.
      assert.deepEqual(
        (await store.offlineFor("bob", 10)).map((m) => m.id),
        [keep.id],
      );
    } finally {
      store.close();
    }
    assert.ok(!onDisk());
  });
});
