/**
 * Registry clusters for tests: two or three real `chat registry` processes
 * on one throwaway PostgreSQL database, sharing one state folder (the
 * certificate and ticket key), each with a home of its own.
 */
import { join } from "node:path";
import { sharedPostgres, type TestDatabase } from "./postgres.ts";
import { type RegistryProcess, spawnRegistry } from "./registry.ts";

/** A running cluster; `await using` stops every instance and drops the database. */
export interface TestCluster extends AsyncDisposable {
  db: TestDatabase;
  url: string;
  stateDir: string;
  instances: RegistryProcess[];
  fingerprint: string;
  /** Starts one more instance (or again on given ports). */
  spawn(o?: { port?: number; udpPort?: number }): Promise<RegistryProcess>;
  /** --registry for every instance: 127.0.0.1:P1,127.0.0.1:P2,… */
  addresses(): string;
}

/** Extra registry flags every instance gets. */
export interface ClusterOptions {
  args?: string[];
  /** A database of an existing server instead of the shared one. */
  db?: TestDatabase;
}

/** Starts `n` instances one after another (the first creates the identity). */
export async function startCluster(
  n: number,
  o: ClusterOptions = {},
): Promise<TestCluster> {
  const pg = await sharedPostgres();
  const db = o.db ?? await pg.createDatabase();
  const url = db.url();
  const root = await Deno.makeTempDir({ prefix: "chat-cluster-" });
  const stateDir = join(root, "state");
  const instances: RegistryProcess[] = [];
  let count = 0;
  const spawn = async (p: { port?: number; udpPort?: number } = {}) => {
    const home = join(root, `instance-${++count}`);
    await Deno.mkdir(home, { recursive: true });
    const reg = await spawnRegistry({
      home,
      db: url,
      ...p,
      args: ["--state-dir", stateDir, ...(o.args ?? [])],
    });
    instances.push(reg);
    return reg;
  };
  for (let i = 0; i < n; i++) await spawn();
  return {
    db,
    url,
    stateDir,
    instances,
    fingerprint: instances[0]!.fingerprint,
    spawn,
    addresses: () => instances.map((r) => `127.0.0.1:${r.port}`).join(","),
    [Symbol.asyncDispose]: async () => {
      for (const r of instances) await r.stop("SIGKILL");
      if (!o.db) await db[Symbol.asyncDispose]();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}
