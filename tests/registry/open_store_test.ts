/** `--db VALUE` → engine: paths open SQLite, postgres:// URLs PostgreSQL. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { chooseDb, describeDb, openStore } from "../../registry/open_store.ts";
import { PostgresStore } from "../../registry/postgres_store.ts";
import { SqliteStore } from "../../registry/sqlite_store.ts";
import { StoreOpenError } from "../../registry/store.ts";
import {
  postgresUnavailable,
  sharedPostgres,
  skipNote,
} from "../helpers/postgres.ts";

Deno.test("chooseDb picks the engine from the --db value", async (t) => {
  for (
    const path of [
      "registry.db",
      "/srv/chat/registry.db",
      "./postgres.db",
      "postgres",
      ":memory:",
      "C:\\chat\\registry.db",
    ]
  ) {
    await t.step(`${path} → SQLite`, () => {
      assert.deepEqual(chooseDb(path), { engine: "sqlite", path });
      assert.equal(describeDb(chooseDb(path)), path);
    });
  }
  for (
    const url of [
      "postgres://chat:pw@db.example:5433/chat?sslmode=verify-full",
      "postgresql://chat:pw@db.example:5433/chat?sslmode=verify-full",
      "POSTGRES://chat:pw@db.example:5433/chat?sslmode=verify-full",
    ]
  ) {
    await t.step(`${url.split(":")[0]}:// → PostgreSQL`, () => {
      const choice = chooseDb(url);
      assert.equal(choice.engine, "postgres");
      if (choice.engine !== "postgres") return;
      assert.equal(choice.target.host, "db.example");
      assert.equal(choice.target.port, 5433);
      assert.equal(choice.target.user, "chat");
      assert.equal(choice.target.password, "pw");
      assert.equal(choice.target.database, "chat");
      assert.equal(choice.target.sslmode, "verify-full");
      assert.doesNotMatch(describeDb(choice), /pw@/, "logs carry no password");
      assert.match(describeDb(choice), /chat:\*\*\*@db\.example:5433\/chat/);
    });
  }
});

Deno.test("chooseDb refuses unusable values with one line", async (t) => {
  const cases: [string, RegExp][] = [
    ["", /^--db is empty; give a file path for SQLite or a postgres:\/\/ URL$/],
    [
      "mysql://chat:secret@h/db",
      /^--db mysql:\/\/… is not supported; give a file path for SQLite or a postgres:\/\/ URL$/,
    ],
    ["sqlite://registry.db", /^--db sqlite:\/\/… is not supported/],
    [
      "postgres://chat:secret@h:0/db",
      /^--db 'postgres:\/\/chat:\*\*\*@h:0\/db' has port 0/,
    ],
    ["postgres://h/db", /names no user/],
  ];
  for (const [value, want] of cases) {
    await t.step(value === "" ? "(empty)" : value, () => {
      assert.throws(() => chooseDb(value), (err) => {
        assert.ok(err instanceof StoreOpenError);
        assert.equal(err.code, "url");
        assert.match(err.message, want);
        assert.doesNotMatch(err.message, /\n|secret/);
        return true;
      });
    });
  }
});

Deno.test("openStore opens SQLite for a path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-open-store-" });
  try {
    const store = await openStore(join(dir, "registry.db"));
    try {
      assert.ok(store instanceof SqliteStore);
      await store.createUser("alice", "h", 1);
      assert.equal((await store.getUser("alice"))?.name, "alice");
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: `openStore opens PostgreSQL for a postgres:// URL${skipNote()}`,
  ignore: postgresUnavailable() !== null,
  fn: async () => {
    const pg = await sharedPostgres();
    await using db = await pg.createDatabase();
    const store = await openStore(db.url());
    try {
      assert.ok(store instanceof PostgresStore);
      await store.createUser("alice", "h", 1);
      assert.equal((await store.getUser("ALICE"))?.name, "alice");
    } finally {
      await store.close();
    }
  },
});

Deno.test("openStore names host and port when PostgreSQL is not there", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await assert.rejects(
    openStore(`postgres://chat:secret@127.0.0.1:${port}/chat`),
    (err) => {
      assert.ok(err instanceof StoreOpenError);
      assert.equal(err.code, "connect");
      assert.equal(
        err.message,
        `cannot open the PostgreSQL database 'chat' at 127.0.0.1:${port} as chat: connection refused; check that PostgreSQL runs there and --db names the right host and port`,
      );
      return true;
    },
  );
});

Deno.test("openStore says which environment names the driver needs when they are not allowed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-open-store-" });
  try {
    const script = join(dir, "open.ts");
    const module = new URL("../../registry/open_store.ts", import.meta.url);
    await Deno.writeTextFile(
      script,
      `import { openStore } from ${JSON.stringify(module.href)};
       try { await openStore("postgres://chat@127.0.0.1:1/chat"); }
       catch (err) { console.log(err.code + ": " + err.message); }`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        `--config=${new URL("../../deno.json", import.meta.url).pathname}`,
        "--allow-net",
        "--allow-read",
        "--allow-env=HOME",
        script,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      new TextDecoder().decode(out.stdout).trim(),
      "permission: the PostgreSQL driver reads PGAPPNAME and PGTARGETSESSIONATTRS; allow them with --allow-env",
      new TextDecoder().decode(out.stderr),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
