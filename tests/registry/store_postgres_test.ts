/**
 * The PostgreSQL store against a real PostgreSQL 15 server (one per test
 * process, a fresh database per test): the shared table of Store cases, its
 * migrations, two stores racing on one database, TLS, connection errors and
 * LISTEN/NOTIFY across a server restart.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { MIGRATIONS } from "../../registry/migrations.ts";
import { PostgresStore } from "../../registry/postgres_store.ts";
import { parsePostgresUrl } from "../../registry/postgres_url.ts";
import { StoreError, StoreOpenError } from "../../registry/store.ts";
import {
  PostgresServer,
  postgresUnavailable,
  sharedPostgres,
  skipNote,
  type TestDatabase,
} from "../helpers/postgres.ts";
import {
  addUsers,
  defineStoreTests,
  OWNED,
  PENDING,
  room,
} from "./store_cases.ts";

const SKIP = postgresUnavailable() ?? undefined;
if (SKIP !== undefined) {
  console.warn(`store_postgres_test: skipped: ${SKIP}`);
}

/** A migrated store on a fresh database of the shared server. */
async function freshStore(): Promise<
  { store: PostgresStore; db: TestDatabase } & AsyncDisposable
> {
  const pg = await sharedPostgres();
  const db = await pg.createDatabase();
  const store = await PostgresStore.open(parsePostgresUrl(db.url()));
  return {
    store,
    db,
    [Symbol.asyncDispose]: async () => {
      await store.close();
      await db.drop();
    },
  };
}

defineStoreTests({ name: "PostgresStore", skip: SKIP, open: freshStore });

/** Bounded polling: resolves once `cond()` holds, fails after `ms`. */
async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Expects opening `url` to fail with one StoreOpenError line. */
async function openFails(
  url: string,
  code: StoreOpenError["code"],
  text: RegExp,
): Promise<string> {
  let message = "";
  await assert.rejects(PostgresStore.open(parsePostgresUrl(url)), (err) => {
    assert.ok(err instanceof StoreOpenError, `expected StoreOpenError: ${err}`);
    assert.equal(err.code, code);
    assert.match(err.message, text);
    assert.doesNotMatch(err.message, /\n/, "one line");
    message = err.message;
    return true;
  });
  return message;
}

const TABLES = [
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
  "schema_version",
  "users",
];

function test(
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
): void {
  Deno.test({ name: name + skipNote(), ignore: SKIP !== undefined, fn });
}

test("PostgresStore migrations", async (t) => {
  const pg = await sharedPostgres();

  await t.step("migrate an empty database to the latest version", async () => {
    await using s = await freshStore();
    assert.equal(await s.store.schemaVersion(), MIGRATIONS.length);
    const tables = await s.store.sql`
      SELECT table_name FROM information_schema.tables
      WHERE table_schema = 'public' ORDER BY table_name`;
    assert.deepEqual(tables.map((r) => r.table_name), TABLES);
    const steps = await s.store.sql`
      SELECT version, what FROM schema_version ORDER BY version`;
    assert.deepEqual(
      steps.map((r) => [r.version, r.what]),
      MIGRATIONS.map((m, i) => [i + 1, m.what]),
    );
  });

  await t.step("reopening is idempotent and keeps the data", async () => {
    await using db = await pg.createDatabase();
    const first = await PostgresStore.open(parsePostgresUrl(db.url()));
    await first.createUser("alice", "h", 1);
    await first.createRoom(room("lobby", "alice"), OWNED);
    await first.close();
    for (let i = 0; i < 3; i++) {
      await using again = await PostgresStore.open(parsePostgresUrl(db.url()));
      assert.equal(await again.schemaVersion(), MIGRATIONS.length);
      assert.equal((await again.getUser("alice"))?.passwordHash, "h");
      assert.equal((await again.getRoom("lobby"))?.owner, "alice");
      const [n] = await again
        .sql`SELECT count(*)::int AS n FROM schema_version`;
      assert.equal(n?.n, MIGRATIONS.length, "each step recorded once");
    }
  });

  await t.step(
    "registries starting together on an empty database take turns",
    async () => {
      await using db = await pg.createDatabase();
      const opened = await Promise.allSettled(
        [1, 2, 3].map(() => PostgresStore.open(parsePostgresUrl(db.url()))),
      );
      const stores = opened.flatMap((o) =>
        o.status === "fulfilled" ? [o.value] : []
      );
      try {
        for (const o of opened) {
          if (o.status === "rejected") throw o.reason;
        }
        for (const s of stores) {
          assert.equal(await s.schemaVersion(), MIGRATIONS.length);
        }
        const [n] = await stores[0]!.sql`
          SELECT count(*)::int AS n FROM schema_version`;
        assert.equal(n?.n, MIGRATIONS.length);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    },
  );

  await t.step(
    "a database from a newer chat is refused, not downgraded",
    async () => {
      await using db = await pg.createDatabase();
      const s = await PostgresStore.open(parsePostgresUrl(db.url()));
      await s.sql`INSERT INTO schema_version (version, what)
                  VALUES (${MIGRATIONS.length + 1}, 'from the future')`;
      await s.close();
      await openFails(
        db.url(),
        "schema",
        new RegExp(
          `^the database postgres://chat@127\\.0\\.0\\.1:${pg.port}/${db.name} is at schema version ${
            MIGRATIONS.length + 1
          } but this chat knows only ${MIGRATIONS.length}; run a newer chat$`,
        ),
      );
    },
  );
});

/** Two stores (two registries) on one fresh database. */
async function twoStores(): Promise<
  { a: PostgresStore; b: PostgresStore } & AsyncDisposable
> {
  const pg = await sharedPostgres();
  const db = await pg.createDatabase();
  const a = await PostgresStore.open(parsePostgresUrl(db.url()));
  const b = await PostgresStore.open(parsePostgresUrl(db.url()));
  return {
    a,
    b,
    [Symbol.asyncDispose]: async () => {
      await Promise.all([a.close(), b.close()]);
      await db.drop();
    },
  };
}

/** The invariants rooms keep however their changes interleave. */
async function assertRoomsSound(store: PostgresStore): Promise<void> {
  const broken = await store.sql`
    SELECT r.name, r.owner, r.capacity,
      (SELECT count(*)::int FROM room_members m WHERE m.room = r.name) AS n,
      (SELECT count(DISTINCT seq)::int FROM room_members m WHERE m.room = r.name) AS seqs,
      EXISTS (SELECT 1 FROM room_members m
              WHERE m.room = r.name AND m.member = r.owner) AS owner_in
    FROM rooms r`;
  for (const r of broken) {
    assert.ok(r.owner_in, `room ${r.name}: owner ${r.owner} is a member`);
    assert.ok(r.n >= 1 && r.n <= r.capacity, `room ${r.name}: ${r.n} members`);
    assert.equal(r.seqs, r.n, `room ${r.name}: join order is unique`);
  }
}

/** Settles all of `ps`; counts fulfilled ones and StoreError codes. */
async function outcomes(ps: Promise<unknown>[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const r of await Promise.allSettled(ps)) {
    const key = r.status === "fulfilled"
      ? "ok"
      : r.reason instanceof StoreError
      ? r.reason.code
      : `error: ${r.reason}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

const ROUNDS = 12;

test("PostgresStore keeps its rules under two registries racing on one database", async (t) => {
  await using s = await twoStores();
  const { a, b } = s;
  const pick = (i: number) => (i % 2 === 0 ? a : b);
  const users = Array.from({ length: 12 }, (_, i) => `u${i}`);
  await addUsers(a, users);

  await t.step("joins beyond the capacity are refused as full", async () => {
    await a.createRoom(room("hall", "u0", 4), OWNED);
    const got = await outcomes(
      users.slice(1).map((u, i) => pick(i).addMember("hall", u, 6_000)),
    );
    assert.deepEqual(Object.fromEntries(got), { ok: 3, full: 8 });
    assert.equal((await b.members("hall")).length, 4);
    await assertRoomsSound(a);
  });

  await t.step("two joins for the last seat: exactly one gets it", async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const name = `pair${i}`;
      await a.createRoom(room(name, "u0", 2), OWNED);
      const got = await outcomes([
        a.addMember(name, "u1", 7_000),
        b.addMember(name, "u2", 7_000),
      ]);
      assert.deepEqual(Object.fromEntries(got), { ok: 1, full: 1 }, name);
    }
    await assertRoomsSound(b);
  });

  await t.step(
    "owner and next in line leaving at once hand the room to the third",
    async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const name = `hand${i}`;
        await a.createRoom(room(name, "u0"), OWNED);
        await a.addMember(name, "u1", 8_000);
        await b.addMember(name, "u2", 8_001);
        await b.addMember(name, "u3", 8_002);
        const [x, y] = await Promise.all([
          a.removeMember(name, "u0"),
          b.removeMember(name, "u1"),
        ]);
        assert.ok(x.removed && y.removed);
        assert.equal((await a.getRoom(name))?.owner, "u2", name);
        assert.deepEqual(
          (await b.members(name)).map((m) => m.user),
          ["u2", "u3"],
        );
      }
      await assertRoomsSound(a);
    },
  );

  await t.step(
    "a join racing the last member's leave: the room is gone or the joiner owns it",
    async () => {
      const seen = new Set<string>();
      for (let i = 0; i < ROUNDS; i++) {
        const name = `last${i}`;
        await a.createRoom(room(name, "u0"), OWNED);
        const [left, joined] = await Promise.allSettled([
          a.removeMember(name, "u0"),
          b.addMember(name, "u5", 9_000),
        ]);
        assert.equal(left.status, "fulfilled");
        const r = await a.getRoom(name);
        if (joined.status === "fulfilled") {
          seen.add("joined");
          assert.equal(r?.owner, "u5", name);
          assert.deepEqual((await a.members(name)).map((m) => m.user), ["u5"]);
        } else {
          seen.add("gone");
          assert.ok(joined.reason instanceof StoreError);
          assert.equal(joined.reason.code, "not_found");
          assert.equal(r, null);
          assert.deepEqual(await a.members(name), []);
        }
      }
      await assertRoomsSound(b);
    },
  );

  await t.step("crossing friend requests become one friendship", async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const [x, y] = [`f${i}x`, `f${i}y`];
      await addUsers(a, [x, y]);
      const got = await Promise.all([
        a.requestFriend(x, y, 10, PENDING),
        b.requestFriend(y, x, 10, PENDING),
      ]);
      assert.deepEqual(got.sort(), ["friends", "pending"]);
      assert.equal(await a.relation(x, y), "friends");
      const [n] = await a.sql`
        SELECT count(*)::int AS n FROM friendships
        WHERE requester IN (${x}, ${y}) OR addressee IN (${x}, ${y})`;
      assert.equal(n?.n, 1, "one row, not one per side");
    }
  });

  await t.step("the offline-mail limit holds across registries", async () => {
    for (const to of ["u0", "u1", "u2", "u3"]) {
      const got = await outcomes(
        Array.from(
          { length: 30 },
          (_, i) =>
            pick(i).storeOffline(users[(i % 7) + 5]!, to, `m${i}`, 20, {
              perRecipient: 3,
              perPair: 3,
            }),
        ),
      );
      assert.deepEqual(Object.fromEntries(got), { ok: 3, limit: 27 }, to);
      assert.equal(await b.countOffline(to), 3);
    }
  });

  await t.step(
    "the per-sender offline limit holds across registries",
    async () => {
      const limits = { perRecipient: 100, perPair: 2 };
      const got = await outcomes(
        Array.from(
          { length: 20 },
          (_, i) => pick(i).storeOffline("u6", "u7", `p${i}`, 21, limits),
        ),
      );
      assert.deepEqual(Object.fromEntries(got), { ok: 2, limit: 18 });
    },
  );

  await t.step("rooms owned stay within the cap", async () => {
    const got = await outcomes(
      Array.from(
        { length: 20 },
        (_, i) => pick(i).createRoom(room(`own${i}`, "u8"), 3),
      ),
    );
    assert.deepEqual(Object.fromEntries(got), { ok: 3, limit: 17 });
    assert.equal(await a.countRoomsOwned("u8"), 3);
  });

  await t.step(
    "pending friend requests and invitations stay within their caps",
    async () => {
      const limits = { perSender: 100, perRecipient: 4 };
      const senders = users.filter((u) => u !== "u9");
      const requests = await outcomes(
        senders.map((u, i) => pick(i).requestFriend(u, "u9", 30, limits)),
      );
      assert.deepEqual(Object.fromEntries(requests), { ok: 4, limit: 7 });
      assert.equal(
        (await b.requestsOf("u9", { offset: 0, limit: 50 }))
          .incomingTotal,
        4,
      );
      const rooms = Array.from({ length: 10 }, (_, i) => `inv${i}`);
      for (const r of rooms) await a.createRoom(room(r, "u10"), OWNED);
      const invites = await outcomes(
        rooms.map((r, i) =>
          pick(i).invite(r, "u11", "u10", 40, {
            perSender: 3,
            perRecipient: 100,
          })
        ),
      );
      assert.deepEqual(Object.fromEntries(invites), { ok: 3, limit: 7 });
      assert.equal(
        (await a.invitesFor("u11", { offset: 0, limit: 50 })).total,
        3,
      );
    },
  );

  await t.step("one name signed up twice at once in two cases", async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const got = await outcomes([
        a.createUser(`zed${i}`, "a", 1),
        b.createUser(`ZED${i}`, "b", 1),
      ]);
      assert.deepEqual(Object.fromEntries(got), { ok: 1, taken: 1 });
    }
  });
});

test("PostgresStore --db errors are one line naming host and port", async (t) => {
  const pg = await sharedPostgres();

  await t.step("nothing listening on the port", async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const msg = await openFails(
      `postgres://chat@127.0.0.1:${port}/chat`,
      "connect",
      /connection refused; check that PostgreSQL runs there/,
    );
    assert.match(
      msg,
      new RegExp(
        `^cannot open the PostgreSQL database 'chat' at 127\\.0\\.0\\.1:${port} as chat: `,
      ),
    );
  });

  await t.step(
    "a server that never answers, within connect_timeout",
    async () => {
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (l.addr as Deno.NetAddr).port;
      const held: Deno.Conn[] = [];
      const accepting = (async () => {
        for await (const c of l) held.push(c);
      })();
      try {
        await openFails(
          `postgres://chat@127.0.0.1:${port}/chat?connect_timeout=1`,
          "connect",
          new RegExp(
            `at 127\\.0\\.0\\.1:${port} as chat: no answer within 1 s`,
          ),
        );
      } finally {
        l.close();
        for (const c of held) c.close();
        await accepting.catch(() => {
          // The listener was closed on purpose.
        });
      }
    },
  );

  await t.step("a database that does not exist", async () => {
    await openFails(
      pg.url("nowhere"),
      "connect",
      new RegExp(
        `^cannot open the PostgreSQL database 'nowhere' at 127\\.0\\.0\\.1:${pg.port} as chat: database "nowhere" does not exist; create it first`,
      ),
    );
  });

  await t.step(
    "passwords: the right one (SCRAM) opens, a wrong one is refused",
    async () => {
      const pw = await pg.ensurePasswordUser();
      await using db = await pg.createDatabase();
      await using store = await PostgresStore.open(
        parsePostgresUrl(pg.url(db.name, {}, pw)),
      );
      assert.equal(await store.schemaVersion(), MIGRATIONS.length);
      const msg = await openFails(
        pg.url(db.name, {}, { user: pw.user, password: "not-it" }),
        "connect",
        /password authentication failed for user "chat_pw"; check the user and password in --db$/,
      );
      assert.doesNotMatch(msg, /not-it/, "the password is never shown");
    },
  );

  await t.step("TLS demanded of a server without it", async () => {
    await openFails(
      pg.url("postgres", { sslmode: "require" }),
      "connect",
      /hung up on the TLS handshake; turn on ssl/,
    );
  });

  await t.step("an unreadable sslrootcert", async () => {
    await openFails(
      pg.url("postgres", {
        sslmode: "verify-full",
        sslrootcert: "/nonexistent/ca.pem",
      }),
      "url",
      /^cannot read sslrootcert \/nonexistent\/ca\.pem of --db postgres:\/\/chat@/,
    );
  });
});

test("PostgresStore over TLS follows sslmode", async (t) => {
  await using pg = await PostgresServer.create({ tls: true });
  await using db = await pg.createDatabase();

  /** Whether the store's own connection is encrypted. */
  async function encrypted(url: string): Promise<boolean> {
    await using store = await PostgresStore.open(parsePostgresUrl(url));
    const [r] = await store.sql`
      SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`;
    return r?.ssl === true;
  }

  await t.step("disable, prefer and require", async () => {
    assert.equal(await encrypted(db.url({ sslmode: "disable" })), false);
    assert.equal(await encrypted(db.url()), true, "prefer is the default");
    assert.equal(await encrypted(db.url({ sslmode: "require" })), true);
  });

  await t.step(
    "verify-full with the CA that signed the certificate",
    async () => {
      assert.equal(
        await encrypted(
          db.url({ sslmode: "verify-full", sslrootcert: pg.caFile }),
        ),
        true,
      );
    },
  );

  await t.step(
    "verify-full refuses a certificate another CA signed",
    async () => {
      await openFails(
        db.url({ sslmode: "verify-full", sslrootcert: pg.otherCaFile }),
        "connect",
        new RegExp(
          `at 127\\.0\\.0\\.1:${pg.port} as chat: its TLS certificate was refused \\(.+\\); name the CA that signed it with \\?sslrootcert=FILE`,
        ),
      );
      await openFails(
        db.url({ sslmode: "verify-full" }),
        "connect",
        /its TLS certificate was refused/,
      );
    },
  );

  await t.step(
    "verify-full checks the host name; verify-ca only the signature",
    async () => {
      const params = { sslrootcert: pg.caFile };
      await openFails(
        pg.url(
          db.name,
          { ...params, sslmode: "verify-full" },
          undefined,
          pg.otherHost,
        ),
        "connect",
        new RegExp(
          `at 127\\.0\\.0\\.2:${pg.port} as chat: its TLS certificate was refused`,
        ),
      );
      assert.equal(
        await encrypted(
          pg.url(
            db.name,
            { ...params, sslmode: "verify-ca" },
            undefined,
            pg.otherHost,
          ),
        ),
        true,
      );
    },
  );
});

test("PostgresStore LISTEN/NOTIFY and queries survive a server restart", async () => {
  await using pg = await PostgresServer.create();
  await using db = await pg.createDatabase();
  await using a = await PostgresStore.open(parsePostgresUrl(db.url()));
  await using b = await PostgresStore.open(parsePostgresUrl(db.url()));
  const got: string[] = [];
  const also: string[] = [];
  let listens = 0;
  const sub = await a.listen("chat_test", (p) => got.push(p), () => listens++);
  assert.equal(listens, 1);
  const second = await a.listen("chat_test", (p) => also.push(p));

  await b.notify("chat_test", "before");
  await until(() => got.length === 1, "the first notification");
  assert.deepEqual(got, ["before"]);

  await a.createUser("alice", "h", 1);
  await pg.restart("fast");
  // The driver re-listens on its own and says so: that is where a cluster
  // re-reads what it may have missed.
  await until(() => listens === 2, "the listener to be renewed");
  await b.notify("chat_test", "after");
  await until(() => got.length === 2, "a notification after the restart");
  assert.deepEqual(got, ["before", "after"]);
  assert.equal((await a.getUser("alice"))?.name, "alice");
  assert.equal((await b.getUser("alice"))?.name, "alice");

  assert.deepEqual(also, ["before", "after"], "every subscriber hears");

  await sub.unlisten();
  await b.notify("chat_test", "only the second");
  await until(() => also.length === 3, "the second subscriber");
  await second.unlisten();
  await b.notify("chat_test", "unheard");
  await b.notify("chat_test_other", "x");
  // Sent after the others: once it arrives, so would they have.
  const last: string[] = [];
  const third = await a.listen("chat_test_last", (p) => last.push(p));
  await b.notify("chat_test_last", "done");
  await until(() => last.length === 1, "the last notification");
  await third.unlisten();
  assert.deepEqual(got, ["before", "after"], "unlisten stops delivery");
  assert.deepEqual(also, ["before", "after", "only the second"]);
});

test("PostgresStore: a call cut off by the server fails cleanly and the next reconnects", async () => {
  await using s = await freshStore();
  const pg = await sharedPostgres();
  const { store, db } = s;
  await addUsers(store, ["alice", "bob"]);
  await store.createRoom(room("lobby", "alice"), OWNED);
  // Hold the room's row from outside so addMember waits inside its statement.
  const blocker = postgres({
    host: pg.host,
    port: pg.port,
    user: "chat",
    database: db.name,
    max: 2, // one holds the lock in a transaction, one watches
    onnotice: () => {},
  });
  try {
    const releaseLock = Promise.withResolvers<void>();
    const locked = Promise.withResolvers<void>();
    const holding = blocker.begin(async (tx) => {
      await tx`SELECT 1 FROM rooms WHERE name = 'lobby' FOR UPDATE`;
      locked.resolve();
      await releaseLock.promise;
    });
    await locked.promise;
    try {
      const joining = store.addMember("lobby", "bob", 2).then(
        () => null,
        (err: unknown) => err,
      );
      await until(async () => {
        const [r] = await blocker`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = ${db.name} AND application_name = 'chat registry'
            AND wait_event_type = 'Lock'`;
        return r?.n === 1;
      }, "addMember to wait for the row lock");
      await blocker`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = ${db.name} AND application_name = 'chat registry'`;
      const err = await joining;
      assert.ok(err instanceof Error, `the cut-off call fails: ${err}`);
      assert.equal((err as { code?: string }).code, "CONNECTION_CLOSED");
    } finally {
      releaseLock.resolve();
      await holding;
    }
    await store.addMember("lobby", "bob", 3);
    assert.deepEqual(
      (await store.members("lobby")).map((m) => m.user),
      ["alice", "bob"],
    );
  } finally {
    await blocker.end({ timeout: 5 });
  }
});

test("PostgresStore.close ends the pool once; later calls are refused", async () => {
  const s = await freshStore();
  const { store } = s;
  await store.createUser("alice", "h", 1);
  await Promise.all([store.close(), store.close()]);
  await assert.rejects(store.getUser("alice"));
  await s.db.drop();
});
