/**
 * Throwaway PostgreSQL 15 servers for tests: initdb into a temp folder (as
 * the postgres user when running as root, since PostgreSQL refuses root),
 * pg_ctl on a free 127.0.0.1 port, a fresh database per test so tests share
 * one server, stop/start on the same data folder, and removal afterwards.
 *
 * initdb runs once per machine into a cached template folder; each server
 * copies it (about 0.1 s instead of 1.3 s). Servers left behind by a test
 * process that died are stopped and removed by the next one.
 */
import { join } from "node:path";
import postgres from "postgres";

/** Where Debian's postgresql-15 package puts the server programs. */
export const PG_BIN = "/usr/lib/postgresql/15/bin";

/** The superuser every test server has (trust authentication on 127.0.0.1). */
export const PG_SUPERUSER = "chat";

/** A role that must give its password (SCRAM), to test passwords in URLs. */
export const PG_PASSWORD_USER = { user: "chat_pw", password: "pw s3cret@:/" };

const TEMPLATE_VERSION = 2;
const DIR_PREFIX = "chat-pg-";
const STARTS = 5;

let counter = 0;

/** Why PostgreSQL tests cannot run on this machine, or null when they can. */
export function postgresUnavailable(): string | null {
  for (const tool of ["initdb", "pg_ctl", "postgres"]) {
    try {
      Deno.statSync(join(PG_BIN, tool));
    } catch {
      return `${PG_BIN}/${tool} is missing (Debian: apt-get install -y postgresql-15)`;
    }
  }
  if (Deno.uid() === 0 && postgresUid() === null) {
    return "running as root but there is no 'postgres' user to run the server as (Debian's postgresql package creates it)";
  }
  return null;
}

/** The reason, ready to append to the name of a test that was skipped. */
export function skipNote(): string {
  const why = postgresUnavailable();
  return why === null ? "" : ` (skipped: ${why})`;
}

/** A database of its own on a test server. */
export interface TestDatabase extends AsyncDisposable {
  name: string;
  /** A postgres:// URL for this database, with extra query parameters. */
  url(params?: Record<string, string>): string;
  /** Drops the database, ending any connection still open to it. */
  drop(): Promise<void>;
}

/** One PostgreSQL server in a temp folder; `await using` removes it. */
export class PostgresServer implements AsyncDisposable {
  readonly host = "127.0.0.1";
  /**
   * A second address of a TLS server, which its certificate does not name
   * (verify-full must refuse it, verify-ca accept it).
   */
  readonly otherHost = "127.0.0.2";
  #port = 0;
  #running = false;
  readonly dir: string;
  readonly dataDir: string;
  readonly tls: boolean;

  /** Whether a commit is on disk before it is acknowledged (as in production). */
  readonly durable: boolean;

  private constructor(dir: string, tls: boolean, durable: boolean) {
    this.dir = dir;
    this.dataDir = join(dir, "data");
    this.tls = tls;
    this.durable = durable;
  }

  /**
   * Creates and starts a server. With `tls`, it also serves TLS with a
   * certificate for 127.0.0.1 and localhost signed by `caFile`.
   */
  static async create(
    opts: { tls?: boolean; durable?: boolean } = {},
  ): Promise<PostgresServer> {
    const why = postgresUnavailable();
    if (why !== null) throw new Error(`cannot start PostgreSQL: ${why}`);
    await reapAbandoned();
    const dir = await Deno.makeTempDir({ prefix: DIR_PREFIX });
    const server = new PostgresServer(
      dir,
      opts.tls ?? false,
      opts.durable ?? false,
    );
    try {
      await Deno.writeTextFile(join(dir, "owner.pid"), String(Deno.pid));
      const template = await ensureTemplate();
      await run("cp", ["-a", template, server.dataDir]);
      if (server.tls) await server.#makeCertificates();
      await chownToPostgres(dir);
      await server.start();
    } catch (err) {
      await server.remove();
      throw err;
    }
    return server;
  }

  /** The port the server listens on (kept across stop and start). */
  get port(): number {
    return this.#port;
  }

  /** The certificate authority that signed the server's certificate. */
  get caFile(): string {
    return join(this.dir, "ca.crt");
  }

  /** A certificate authority that did not sign it, for refusal tests. */
  get otherCaFile(): string {
    return join(this.dir, "other-ca.crt");
  }

  /** A postgres:// URL for `database` as the superuser (or `user`). */
  url(
    database: string,
    params: Record<string, string> = {},
    user: { user: string; password?: string } = { user: PG_SUPERUSER },
    host: string = this.host,
  ): string {
    const auth = user.password === undefined
      ? encodeURIComponent(user.user)
      : `${encodeURIComponent(user.user)}:${encodeURIComponent(user.password)}`;
    const query = new URLSearchParams(params).toString();
    return `postgres://${auth}@${host}:${this.#port}/${database}${
      query === "" ? "" : `?${query}`
    }`;
  }

  /** Creates a database with a unique name; dispose of it to drop it. */
  async createDatabase(): Promise<TestDatabase> {
    const name = `t${Deno.pid}_${++counter}_${crypto.randomUUID().slice(0, 8)}`;
    await this.admin((sql) => sql.unsafe(`CREATE DATABASE "${name}"`));
    const drop = async () => {
      await this.admin((sql) =>
        sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      );
    };
    return {
      name,
      url: (params) => this.url(name, params),
      drop,
      [Symbol.asyncDispose]: async () => {
        // A stopped server takes its databases with it on remove().
        if (this.#running) await drop();
      },
    };
  }

  /** Creates PG_PASSWORD_USER (SCRAM) if it does not exist yet. */
  async ensurePasswordUser(): Promise<typeof PG_PASSWORD_USER> {
    const { user, password } = PG_PASSWORD_USER;
    await this.admin(async (sql) => {
      const [r] = await sql`SELECT 1 FROM pg_roles WHERE rolname = ${user}`;
      if (!r) {
        await sql.unsafe(
          `CREATE ROLE ${user} LOGIN SUPERUSER PASSWORD '${
            password.replaceAll("'", "''")
          }'`,
        );
      }
    });
    return PG_PASSWORD_USER;
  }

  /** Runs `fn` on a short-lived superuser connection to `postgres`. */
  async admin<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
    const sql = postgres({
      host: this.host,
      port: this.#port,
      user: PG_SUPERUSER,
      database: "postgres",
      max: 1,
      fetch_types: false,
      onnotice: () => {},
    });
    try {
      return await fn(sql);
    } finally {
      await sql.end({ timeout: 5 });
    }
  }

  /** Starts the server on its data folder (on a new free port the first time). */
  async start(): Promise<void> {
    if (this.#running) return;
    for (let attempt = 1;; attempt++) {
      const port = this.#port === 0 ? freePort() : this.#port;
      const ok = await pgCtl([
        "-D",
        this.dataDir,
        "-w",
        "-t",
        "60",
        "-l",
        join(this.dir, "server.log"),
        "-o",
        this.#serverOptions(port).join(" "),
        "start",
      ]);
      if (ok.success) {
        this.#port = port;
        this.#running = true;
        return;
      }
      // Another process may have taken the port between probe and bind.
      if (attempt >= STARTS || this.#port !== 0) {
        throw new Error(
          `pg_ctl start failed (port ${port}): ${ok.output}\n${await this
            .log()}`,
        );
      }
    }
  }

  /** Stops the server; "immediate" is a crash as far as clients can tell. */
  async stop(mode: "fast" | "immediate" = "fast"): Promise<void> {
    if (!this.#running) return;
    const res = await pgCtl(["-D", this.dataDir, "-w", "-m", mode, "stop"]);
    if (!res.success) throw new Error(`pg_ctl stop failed: ${res.output}`);
    this.#running = false;
  }

  /** Stops and starts again on the same data folder and port. */
  async restart(mode: "fast" | "immediate" = "fast"): Promise<void> {
    await this.stop(mode);
    await this.start();
  }

  /** The server's log so far, for failure messages. */
  async log(): Promise<string> {
    try {
      return await Deno.readTextFile(join(this.dir, "server.log"));
    } catch {
      return "(no server log)";
    }
  }

  /** Stops the server if it runs and deletes its folder. */
  async remove(): Promise<void> {
    try {
      await this.stop("immediate");
    } finally {
      await Deno.remove(this.dir, { recursive: true }).catch(() => {
        // Already gone: nothing is left to clean.
      });
    }
  }

  /** The same as remove(), without awaiting, for process exit. */
  removeSync(): void {
    if (this.#running) {
      commandSync(join(PG_BIN, "pg_ctl"), [
        "-D",
        this.dataDir,
        "-w",
        "-m",
        "immediate",
        "stop",
      ]);
      this.#running = false;
    }
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch {
      // Already gone: nothing is left to clean.
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.remove();
  }

  #serverOptions(port: number): string[] {
    const o = [
      `-p ${port}`,
      `-k ${this.dir}`,
      `-c listen_addresses=${
        this.tls ? `${this.host},${this.otherHost}` : this.host
      }`,
      "-c max_connections=200",
      // Test data need not survive a power cut; a crash of the server is
      // still recovered from the WAL, which "restart immediate" relies on.
      "-c fsync=off",
      "-c full_page_writes=off",
    ];
    // Without synchronous commits, a crash loses what was acknowledged in
    // the last few hundred milliseconds; `durable` keeps every commit.
    if (!this.durable) o.push("-c synchronous_commit=off");
    if (this.tls) {
      o.push(
        "-c ssl=on",
        `-c ssl_cert_file=${join(this.dir, "server.crt")}`,
        `-c ssl_key_file=${join(this.dir, "server.key")}`,
      );
    }
    return o;
  }

  async #makeCertificates(): Promise<void> {
    const d = this.dir;
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    for (const name of ["ca", "other-ca"]) {
      await run("openssl", [
        "req",
        "-x509",
        ...ec,
        "-nodes",
        "-keyout",
        join(d, `${name}.key`),
        "-out",
        join(d, `${name}.crt`),
        "-days",
        "2",
        "-subj",
        `/CN=chat test ${name}`,
      ]);
    }
    await run("openssl", [
      "req",
      ...ec,
      "-nodes",
      "-keyout",
      join(d, "server.key"),
      "-out",
      join(d, "server.csr"),
      "-subj",
      "/CN=localhost",
    ]);
    await Deno.writeTextFile(
      join(d, "server.ext"),
      `subjectAltName=DNS:localhost,IP:${this.host}\nbasicConstraints=CA:FALSE\n`,
    );
    await run("openssl", [
      "x509",
      "-req",
      "-in",
      join(d, "server.csr"),
      "-CA",
      join(d, "ca.crt"),
      "-CAkey",
      join(d, "ca.key"),
      "-CAcreateserial",
      "-out",
      join(d, "server.crt"),
      "-days",
      "2",
      "-extfile",
      join(d, "server.ext"),
    ]);
    await Deno.chmod(join(d, "server.key"), 0o600);
  }
}

let shared: Promise<PostgresServer> | null = null;

/**
 * One server for the whole test process, created on first use and removed
 * when the process exits (also after failed tests).
 */
export function sharedPostgres(): Promise<PostgresServer> {
  shared ??= PostgresServer.create().then((server) => {
    globalThis.addEventListener("unload", () => server.removeSync());
    return server;
  });
  return shared;
}

/** The initdb'd data folder every server copies, made once per machine. */
async function ensureTemplate(): Promise<string> {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  const template = join(
    tmp,
    `chat-pg15-template-v${TEMPLATE_VERSION}-uid${Deno.uid()}`,
  );
  try {
    await Deno.stat(join(template, "PG_VERSION"));
    return template;
  } catch {
    // Not made yet: make it below.
  }
  const building = await Deno.makeTempDir({ prefix: "chat-pg15-building-" });
  try {
    await chownToPostgres(building);
    const data = join(building, "data");
    const res = await asPostgres(join(PG_BIN, "initdb"), [
      "-D",
      data,
      "-A",
      "trust",
      "-U",
      PG_SUPERUSER,
      "-E",
      "UTF8",
      "--no-locale",
      "--no-sync",
    ]);
    if (!res.success) throw new Error(`initdb failed: ${res.output}`);
    // The password role must prove its password; everyone else is trusted.
    const hba = join(data, "pg_hba.conf");
    await Deno.writeTextFile(
      hba,
      `host all ${PG_PASSWORD_USER.user} 127.0.0.0/8 scram-sha-256\n` +
        `host all all 127.0.0.0/8 trust\n` +
        (await Deno.readTextFile(hba)),
    );
    try {
      await Deno.rename(data, template);
    } catch (err) {
      // Another process made it first: use theirs.
      const theirs = await Deno.stat(join(template, "PG_VERSION")).then(
        () => true,
        () => false,
      );
      if (!theirs) throw err;
    }
  } finally {
    await Deno.remove(building, { recursive: true }).catch(() => {
      // Best effort: a leftover build folder is only disk space.
    });
  }
  return template;
}

/** Stops and deletes servers whose test process is gone. */
async function reapAbandoned(): Promise<void> {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(tmp));
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.isDirectory || !e.name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmp, e.name);
    let pid: number;
    try {
      pid = Number(await Deno.readTextFile(join(dir, "owner.pid")));
    } catch {
      continue; // Being created right now, or not ours.
    }
    if (!(pid > 0) || processAlive(pid)) continue;
    await pgCtl(["-D", join(dir, "data"), "-w", "-m", "immediate", "stop"]);
    await Deno.remove(dir, { recursive: true }).catch(() => {
      // Another process reaped it at the same time.
    });
  }
}

function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    // Without /proc (not Linux) we cannot tell: leave it alone.
    try {
      Deno.statSync("/proc/self");
      return false;
    } catch {
      return true;
    }
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

let pgUid: number | null | undefined;

function postgresUid(): number | null {
  if (pgUid !== undefined) return pgUid;
  pgUid = null;
  try {
    for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
      const f = line.split(":");
      if (f[0] === "postgres") pgUid = Number(f[2]);
    }
  } catch {
    // No passwd file: no postgres user.
  }
  return pgUid;
}

async function chownToPostgres(path: string): Promise<void> {
  if (Deno.uid() !== 0) return;
  await run("chown", ["-R", "postgres:", path]);
}

/** Runs a server program, as the postgres user when we are root. */
async function asPostgres(
  program: string,
  args: string[],
): Promise<{ success: boolean; output: string }> {
  const [cmd, argv] = Deno.uid() === 0
    ? ["runuser", ["-u", "postgres", "--", program, ...args]]
    : [program, args];
  const out = await new Deno.Command(cmd as string, {
    args: argv as string[],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  return { success: out.success, output: text.trim() };
}

function pgCtl(args: string[]): Promise<{ success: boolean; output: string }> {
  return asPostgres(join(PG_BIN, "pg_ctl"), args);
}

function commandSync(program: string, args: string[]): void {
  const [cmd, argv] = Deno.uid() === 0
    ? ["runuser", ["-u", "postgres", "--", program, ...args]]
    : [program, args];
  new Deno.Command(cmd as string, {
    args: argv as string[],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).outputSync();
}

async function run(program: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `${program} ${args.join(" ")} failed: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
}
