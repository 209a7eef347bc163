/** The throwaway PostgreSQL servers of tests/helpers/postgres.ts. */
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  PG_SUPERUSER,
  PostgresServer,
  postgresUnavailable,
  skipNote,
} from "./postgres.ts";

/** Runs `fn` on one connection to `url`, as the test superuser. */
async function query<T>(
  server: PostgresServer,
  database: string,
  fn: (sql: postgres.Sql) => Promise<T>,
): Promise<T> {
  const sql = postgres({
    host: server.host,
    port: server.port,
    user: PG_SUPERUSER,
    database,
    max: 1,
    onnotice: () => {},
  });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function refused(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return false;
  } catch (err) {
    return err instanceof Deno.errors.ConnectionRefused;
  }
}

Deno.test({
  name:
    `PostgresServer keeps its data and port across restarts and removes everything at the end${skipNote()}`,
  ignore: postgresUnavailable() !== null,
  fn: async () => {
    const server = await PostgresServer.create();
    const { port, dir } = server;
    try {
      const a = await server.createDatabase();
      const b = await server.createDatabase();
      assert.notEqual(a.name, b.name, "every test gets its own database");
      assert.equal(
        a.url(),
        `postgres://${PG_SUPERUSER}@127.0.0.1:${port}/${a.name}`,
      );
      await query(server, a.name, async (sql) => {
        await sql`CREATE TABLE kept (n int)`;
        await sql`INSERT INTO kept VALUES (1), (2)`;
      });

      for (const mode of ["fast", "immediate"] as const) {
        await server.restart(mode);
        assert.equal(server.port, port, `same port after a ${mode} restart`);
        const [r] = await query(
          server,
          a.name,
          (sql) => sql`SELECT count(*)::int AS n FROM kept`,
        );
        assert.equal(r?.n, 2, `rows survive a ${mode} restart`);
      }

      await server.stop();
      assert.ok(await refused(port), "a stopped server listens no more");
      await server.start();
      await b.drop();
      const names = await query(
        server,
        "postgres",
        (sql) => sql`SELECT datname FROM pg_database`,
      );
      assert.ok(names.some((r) => r.datname === a.name));
      assert.ok(!names.some((r) => r.datname === b.name), "dropped");
    } finally {
      await server.remove();
    }
    assert.ok(await refused(port), "removed servers are stopped");
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
  },
});
