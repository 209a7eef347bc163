/** `--db postgres://…` parsing: what is accepted, and one-line refusals. */
import assert from "node:assert/strict";
import {
  DEFAULT_CONNECT_TIMEOUT_S,
  parsePostgresUrl,
  type PostgresTarget,
} from "../../registry/postgres_url.ts";
import { StoreOpenError } from "../../registry/store.ts";

Deno.test("parsePostgresUrl accepts", async (t) => {
  const cases: [string, Partial<PostgresTarget>][] = [
    ["postgres://chat@db.example/chat", {
      host: "db.example",
      port: 5432,
      user: "chat",
      password: null,
      database: "chat",
      sslmode: "prefer",
      sslrootcert: null,
      connectTimeoutS: DEFAULT_CONNECT_TIMEOUT_S,
      display: "postgres://chat@db.example/chat",
    }],
    ["postgresql://chat:s3cret@10.0.0.5:6432/registry?sslmode=require", {
      host: "10.0.0.5",
      port: 6432,
      password: "s3cret",
      database: "registry",
      sslmode: "require",
      display: "postgresql://chat:***@10.0.0.5:6432/registry?sslmode=require",
    }],
    ["postgres://chat:p%40ss%3Aw%2Frd@h/db", { password: "p@ss:w/rd" }],
    ["postgres://chat@[::1]:5433/db", { host: "::1", port: 5433 }],
    ["postgres://chat@h/my%20db", { database: "my db" }],
    [
      "postgres://chat@h/db?sslmode=verify-full&sslrootcert=/etc/chat/ca.pem&connect_timeout=3",
      {
        sslmode: "verify-full",
        sslrootcert: "/etc/chat/ca.pem",
        connectTimeoutS: 3,
      },
    ],
    ["postgres://chat@h/db?sslmode=disable", { sslmode: "disable" }],
    ["postgres://chat@h/db?sslmode=verify-ca&sslrootcert=ca.pem", {
      sslmode: "verify-ca",
    }],
  ];
  for (const [url, want] of cases) {
    await t.step(url, () => {
      const got = parsePostgresUrl(url);
      for (const [k, v] of Object.entries(want)) {
        assert.deepEqual(got[k as keyof PostgresTarget], v, k);
      }
    });
  }
});

Deno.test("parsePostgresUrl refuses with one line and never shows the password", async (t) => {
  const cases: [string, RegExp][] = [
    ["postgres://chat:hunter2@/db", /is not a valid URL/],
    ["postgres://chat:hun/ter2@h/db", /is not a valid URL|names no user/],
    [
      "postgres://chat:hunter2@h:99999/db",
      /is not a valid URL \(ports are 1 to 65535/,
    ],
    ["postgres://chat:hunter2@h:0/db", /has port 0; use 1 to 65535$/],
    ["postgres://h/db", /names no user; the form is postgres:\/\/USER/],
    ["postgres://chat:hunter2@h", /must name one database after the host/],
    ["postgres://chat@h/a/b", /must name one database after the host/],
    ["postgres://chat:hunter2@h1,h2/db", /names several hosts; give one/],
    [
      "postgres://chat@h/db?sslmode=verify",
      /has sslmode 'verify'; use one of disable, prefer, require, verify-ca, verify-full$/,
    ],
    [
      "postgres://chat@h/db?ssl=true",
      /has unknown parameter 'ssl'; known: sslmode, sslrootcert, connect_timeout$/,
    ],
    [
      "postgres://chat@h/db?connect_timeout=0",
      /has connect_timeout '0'; use whole seconds from 1 to 3600$/,
    ],
    ["postgres://chat@h/db?connect_timeout=2.5", /has connect_timeout '2\.5'/],
    [
      "postgres://chat@h/db?sslrootcert=ca.pem",
      /sslrootcert with sslmode=prefer; a CA is only checked with sslmode=verify-ca or verify-full$/,
    ],
    [
      "postgres://chat:hunter2@h/a%ZZ",
      /has a badly escaped database name; write special characters as %XX$/,
    ],
    ["mysql://chat:hunter2@h/db", /is not a postgres:\/\/ URL/],
  ];
  for (const [url, want] of cases) {
    await t.step(url.replace(/hun\/?ter2/, "…"), () => {
      assert.throws(() => parsePostgresUrl(url), (err) => {
        assert.ok(err instanceof StoreOpenError);
        assert.equal(err.code, "url");
        assert.match(err.message, want);
        assert.match(err.message, /^--db '/);
        assert.doesNotMatch(err.message, /\n/);
        assert.doesNotMatch(err.message, /hunter2|hun\/ter2/);
        return true;
      });
    });
  }
});
