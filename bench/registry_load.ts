/**
 * P1 and P2: the registry under N logged-in peers (SPEC.md §4).
 *
 * One run per N does both:
 *
 * 1. N accounts are written straight into a fresh registry.db with
 *    node:sqlite before the registry starts. They share one password hash made
 *    once with cheap scrypt parameters (N=1024): this only skips the cost of
 *    N sign-ups (and makes the N logins of the ramp cheap); P2 below measures
 *    logins at the real default cost.
 * 2. The registry runs as its own process (`chat registry --log-level warn`,
 *    with the fd limit raised to the hard limit), with bench/lag_probe.ts
 *    preloaded to sample its event-loop lag from inside: a 10 ms timer
 *    records how late it fires.
 * 3. Load-generator processes (up to 2,500 sessions each) log in N peer
 *    sessions over TLS, heartbeat each at 1 Hz over UDP from one shared socket
 *    per process, and search a random user about once per 10 s per session.
 * 4. P1 steady window: registry CPU (% of one core, from /proc/<pid>/stat),
 *    peak RSS (VmHWM), search p50/p99 as the load generators saw them,
 *    event-loop lag, errors.
 * 5. P2: with the N sessions still heartbeating and searching, a batch of
 *    extra accounts whose hashes use the default scrypt cost log in as peers,
 *    a few at a time; logins per second and the registry's event-loop lag
 *    during that batch.
 *
 * The load generators share the machine's cores with the registry, so on a
 * small machine their work inflates the latencies they measure.
 *
 * What it took to hold N=10,000 on 2 cores (Deno 2.9.6): heartbeats are read
 * by a worker thread (registry/udp_worker.ts) so a busy main thread delays
 * them instead of the kernel dropping them; their MAC is a two-block
 * HMAC-SHA256 with per-session precomputed state (wire/heartbeat_mac.ts)
 * instead of node:crypto's createHmac (11 µs a call); a sweep that times out
 * many sessions writes their last-seen times in one transaction; and V8 runs
 * with a small young generation and --optimize-for-size (common/v8_flags.ts).
 * Each idle TLS connection still costs about 13 KiB inside Deno's TLS.
 *
 * Sizes and extra V8 flags for experiments: CHAT_BENCH_P1_SIZES=10000 and
 * CHAT_BENCH_V8_FLAGS=--prof (isolate logs for `node --prof-process`).
 *
 * Run alone: `deno run -A bench/registry_load.ts [--quick]`.
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, sign as signSync } from "node:crypto";
import dgram from "node:dgram";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { ByteConn } from "../common/conn.ts";
import { fingerprintPem } from "../common/fingerprint.ts";
import { createPeerIdentity, Device, RegistryClient } from "../peer/mod.ts";
import {
  DEFAULT_SCRYPT,
  DEFAULT_STATUS,
  hashPassword,
  SqliteStore,
} from "../registry/mod.ts";
import { base64url, encodeHeartbeat, fromBase64url } from "../wire/mod.ts";
import {
  atLeast,
  atMost,
  chatRunArgs,
  info,
  type Metric,
  mib,
  percentile,
  ProcessSampler,
  readProcMemory,
  type RunOptions,
  runStandalone,
  type Scenario,
  spawnUntilLine,
} from "./harness.ts";
import { LAG_FILE_ENV, LAG_PROBE, lagIn, readLag } from "./lag_probe.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** SPEC.md §4 P1 and P2 targets. */
export const TARGETS = {
  cpuPercent: 50,
  rssMiB: 300,
  searchP99Ms: 20,
  loginsPerSecond: 20,
  lagP99Ms: 20,
};

/** Sessions one load-generator process holds at most. */
const SESSIONS_PER_LOADER = 2_500;
/**
 * Logins in flight per load generator during the ramp. The ramp is not what
 * P1 measures: a gentle one keeps the registry's single thread free to read
 * the heartbeats of the sessions already logged in.
 */
const RAMP_CONCURRENCY = 16;
/** The password of every bench account. */
export const PASSWORD = "bench-password";
/** Cheap scrypt for the N ramp accounts only (see the module doc). */
const RAMP_SCRYPT = { N: 1024, r: 8, p: 1 };
/** How often the probe searches (the rate limit allows 50 a second). */
const PROBE_EVERY_MS = 25;

/** Sizes of one run. */
interface Plan {
  sizes: number[];
  windowMs: number;
  settleMs: number;
  p2Logins: number;
  p2Concurrency: number;
  searchEveryMs: number;
}

function planFor(quick: boolean): Plan {
  // CHAT_BENCH_P1_SIZES=10000 runs only the sizes given (comma-separated).
  const sizes = Deno.env.get("CHAT_BENCH_P1_SIZES")?.split(",").map(Number);
  const plan = planForDefault(quick);
  return sizes && sizes.every((x) => x > 0) ? { ...plan, sizes } : plan;
}

function planForDefault(quick: boolean): Plan {
  return quick
    ? {
      sizes: [200],
      windowMs: 5_000,
      settleMs: 1_000,
      p2Logins: 20,
      p2Concurrency: 4,
      searchEveryMs: 10_000,
    }
    : {
      sizes: [1_000, 10_000],
      windowMs: 30_000,
      settleMs: 3_000,
      p2Logins: 200,
      p2Concurrency: 8,
      searchEveryMs: 10_000,
    };
}

// ------------------------------------------------------------ the clients

/** What a load generator tells its driver, one JSON object per line. */
export type ChildLine = Record<string, unknown>;

/**
 * A registry connection for load generation: the product's RegistryClient
 * over Deno's TLS (trusting only the registry's own certificate), or over
 * `connect` when given (R1 reconnects the way a peer does, over node:tls
 * with a timeout). Small read buffers and no timer per request — the
 * generator calls `expire` once a second — so one process holds thousands.
 */
export async function openClient(
  port: number,
  caCerts: string[],
  connect?: () => Promise<ByteConn>,
): Promise<RegistryClient> {
  const conn = connect ? await connect() : await Deno.connectTls({
    hostname: "127.0.0.1",
    port,
    caCerts,
  });
  return await RegistryClient.over(conn, {
    fingerprint: fingerprintPem(caCerts[0] ?? "") ?? "",
    timeoutMs: 0,
    readBufferBytes: 4096,
    client: "bench",
  });
}

/** Closes a client and waits until its connection is gone. */
export async function closeClient(client: RegistryClient): Promise<void> {
  client.close();
  await client.closed;
}

/** Counts a client's pushed events by type. */
export function countEvents(client: RegistryClient): Map<string, number> {
  const counts = new Map<string, number>();
  client.onEvent((ev) => counts.set(ev.type, (counts.get(ev.type) ?? 0) + 1));
  return counts;
}

/** What a peer login sends besides name and password. */
export interface PeerMaterial {
  p2p_port: number;
  cert: string;
  key: string;
}

/** Login material made the way a peer makes it. */
export async function peerMaterial(): Promise<PeerMaterial> {
  const id = await createPeerIdentity();
  return { p2p_port: 40_000, cert: id.certPem, key: id.publicKey };
}

/** A session a load generator heartbeats for. */
export interface Beating {
  id: string;
  seq: number;
  token: Uint8Array;
}

/**
 * Heartbeats for many sessions from one UDP socket: every 20 ms, the
 * fiftieth of them whose turn it is (and for which `beats` says yes), so
 * each beats once a second, on the wire's heartbeat codec. Returns its stop.
 */
export function beatAll<S extends Beating>(
  sock: dgram.Socket,
  udpPort: number,
  sessions: S[],
  beats: (s: S) => boolean,
  sent: (err: Error | null) => void,
): () => void {
  const SLOTS = 50;
  let slot = 0;
  const timer = setInterval(() => {
    for (let i = slot; i < sessions.length; i += SLOTS) {
      const s = sessions[i]!;
      if (!beats(s)) continue;
      sock.send(
        encodeHeartbeat(s.id, ++s.seq, s.token),
        udpPort,
        "127.0.0.1",
        (err) => sent(err),
      );
    }
    slot = (slot + 1) % SLOTS;
  }, 1000 / SLOTS);
  return () => clearInterval(timer);
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function pool<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

/**
 * One lightly loaded session in the bench's own process that searches every
 * `everyMs` and heartbeats like a peer, until `stop` resolves: the search
 * latency a real peer sees. The load generators time their own searches
 * too, but each packs 2,500 sessions into one event loop on a saturated
 * machine, so theirs include their own queueing.
 */
export async function probeSearches(
  port: number,
  udpPort: number,
  caCerts: string[],
  user: string,
  total: number,
  everyMs: number,
  stop: Promise<void>,
): Promise<{ latencies: number[]; errors: number }> {
  const conn = await openClient(port, caCerts);
  const sock = dgram.createSocket("udp4");
  try {
    const r = await conn.request("login", {
      user,
      password: PASSWORD,
      kind: "peer",
      ...(await peerMaterial()),
    });
    const token = fromBase64url(r.token)!;
    let seq = 0;
    const beat = () =>
      sock.send(
        encodeHeartbeat(r.session, ++seq, token),
        udpPort,
        "127.0.0.1",
      );
    beat();
    const beats = setInterval(beat, 1000);
    const latencies: number[] = [];
    let errors = 0;
    let stopped = false;
    stop.then(() => stopped = true);
    try {
      while (!stopped) {
        const start = performance.now();
        try {
          await conn.request("search", {
            user: benchUser(Math.floor(Math.random() * total)),
          });
          latencies.push(performance.now() - start);
        } catch {
          errors++;
        }
        await new Promise((r) => setTimeout(r, everyMs));
      }
    } finally {
      clearInterval(beats);
    }
    return { latencies, errors };
  } finally {
    sock.close();
    await closeClient(conn);
  }
}

// ------------------------------------------------------ load-generator child

/** What a load generator is told on its command line. */
interface LoaderConfig {
  port: number;
  udpPort: number;
  certFile: string;
  /** First user index and how many sessions this process holds. */
  first: number;
  count: number;
  /** Total bench users, for picking search targets. */
  total: number;
  searchEveryMs: number;
}

interface LiveSession {
  conn: RegistryClient;
  events: Map<string, number>;
  id: string;
  token: Uint8Array;
  seq: number;
}

/** The load-generator process: see the module doc, step 3. */
async function loaderMain(config: LoaderConfig): Promise<void> {
  const caCerts = [await Deno.readTextFile(config.certFile)];
  const material = await peerMaterial();
  const live: LiveSession[] = [];
  const sock = dgram.createSocket("udp4");
  sock.on("error", () => {});
  let beats = 0;
  let beatErrors = 0;

  const stopBeats = beatAll(
    sock,
    config.udpPort,
    live,
    () => true,
    (err) => (err ? beatErrors++ : beats++),
  );

  // The ramp: log every session in, a few at a time per process.
  const rampStart = performance.now();
  let loginFailures = 0;
  const indices = Array.from(
    { length: config.count },
    (_, i) => config.first + i,
  );
  await pool(indices, RAMP_CONCURRENCY, async (i) => {
    try {
      const conn = await openClient(config.port, caCerts);
      try {
        const events = countEvents(conn);
        const r = await conn.request("login", {
          user: benchUser(i),
          password: PASSWORD,
          kind: "peer",
          ...material,
        });
        live.push({
          conn,
          events,
          id: r.session,
          token: fromBase64url(r.token)!,
          seq: 0,
        });
      } catch (err) {
        await closeClient(conn);
        throw err;
      }
    } catch (err) {
      if (loginFailures++ < 3) console.error(`loader: login failed: ${err}`);
    }
  });
  const rampMs = performance.now() - rampStart;

  // Searches: each session about once per searchEveryMs, at random.
  const searches: [number, number][] = []; // [epoch ms, latency ms]
  let searchErrors = 0;
  const TICK = 20;
  const perTick = (live.length * TICK) / config.searchEveryMs;
  let carry = 0;
  const searchTimer = setInterval(() => {
    carry += perTick;
    for (; carry >= 1; carry--) {
      const s = live[Math.floor(Math.random() * live.length)]!;
      const target = benchUser(Math.floor(Math.random() * config.total));
      const start = performance.now();
      s.conn.request("search", { user: target }).then(
        () => searches.push([Date.now(), performance.now() - start]),
        () => searchErrors++,
      );
    }
  }, TICK);
  const expireTimer = setInterval(() => {
    for (const s of live) s.conn.expire(10_000);
  }, 1_000);

  say({
    type: "ready",
    loggedIn: live.length,
    loginFailures,
    rampMs,
  });

  for await (const line of stdinLines()) {
    const [cmd, a, b] = line.trim().split(" ");
    if (cmd !== "report") continue;
    const from = Number(a);
    const to = Number(b);
    const events: Record<string, number> = {};
    let lost = 0;
    for (const s of live) {
      if (s.conn.lost) lost++;
      for (const [k, v] of s.events) events[k] = (events[k] ?? 0) + v;
    }
    say({
      type: "report",
      latencies: searches.filter(([t]) => t >= from && t <= to).map(([, l]) =>
        Math.round(l * 1000) / 1000
      ),
      searchErrors,
      beats,
      beatErrors,
      lost,
      timeouts: events.timeout ?? 0,
      events,
    });
  }
  stopBeats();
  clearInterval(searchTimer);
  clearInterval(expireTimer);
  await Promise.all(live.map((s) => closeClient(s.conn)));
  sock.close();
}

/** Name of bench account number i. */
export function benchUser(i: number): string {
  return `bench${String(i).padStart(5, "0")}`;
}

function slowUser(i: number): string {
  return `slow${String(i).padStart(4, "0")}`;
}

function say(obj: object): void {
  console.log(JSON.stringify(obj));
}

/** Lines of this process's stdin. */
export async function* stdinLines(): AsyncGenerator<string> {
  let buf = "";
  for await (
    const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
  ) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
}

// -------------------------------------------------------------- the driver

/**
 * A running load-generator process (`script --load-child CONFIG`, with the
 * descriptor limit raised), seen from its driver: JSON lines out, commands
 * in. Shared by P1/P2 and R1.
 */
const LOADER_NICE = Number(Deno.env.get("CHAT_BENCH_LOADER_NICE") ?? 0) | 0;

export class LoadGenerator {
  readonly child: Deno.ChildProcess;
  readonly #lines: AsyncGenerator<string>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;

  constructor(script: string, config: object) {
    this.child = new Deno.Command("sh", {
      args: [
        "-c",
        `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec ${
          LOADER_NICE ? `nice -n ${LOADER_NICE} ` : ""
        }"$0" "$@"`,
        Deno.execPath(),
        "run",
        "--allow-all",
        script,
        "--load-child",
        JSON.stringify(config),
      ],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = linesOf(this.child.stdout);
    this.#writer = this.child.stdin.getWriter();
  }

  /** The next line of `type`, skipping others; fails after `timeoutMs`. */
  async next<T = ChildLine>(type: string, timeoutMs: number): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) =>
      timer = setTimeout(
        () => reject(new Error(`load generator sent no ${type} line`)),
        timeoutMs,
      )
    );
    try {
      while (true) {
        const r = await Promise.race([this.#lines.next(), timeout]);
        if (r.done) throw new Error(`load generator exited before ${type}`);
        const msg = JSON.parse(r.value);
        if (msg.type === type) return msg as T;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends a command line and waits for its answer of `type`. */
  async ask<T = ChildLine>(
    line: string,
    type: string,
    timeoutMs = 60_000,
  ): Promise<T> {
    await this.#writer.write(new TextEncoder().encode(line + "\n"));
    return await this.next<T>(type, timeoutMs);
  }

  /** Closes its stdin, waits (30 s at most, then SIGKILL) and drains it. */
  async stop(): Promise<void> {
    await this.#writer.close().catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      this.child.status,
      new Promise<null>((r) => timer = setTimeout(() => r(null), 30_000)),
    ]);
    clearTimeout(timer);
    if (!status) {
      this.child.kill("SIGKILL");
      await this.child.status;
    }
    for await (const _ of this.#lines) { /* drain */ }
  }
}

/** What a P1 load generator counted between `from` and `to`. */
function report(l: LoadGenerator, from: number, to: number) {
  return l.ask<LoaderReport>(`report ${from} ${to}`, "report");
}

interface LoaderReport {
  latencies: number[];
  searchErrors: number;
  beats: number;
  beatErrors: number;
  lost: number;
  timeouts: number;
  events: Record<string, number>;
}

/** Lines of a byte stream. */
export async function* linesOf(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
}

/** The user name the shared bench device is filed under. */
const BENCH_DEVICE_USER = "bench";

/**
 * The one device key pair every bench account shares (each account gets a
 * device record with its public keys): made and saved in `dir`, where the
 * load generators load it with `loadBenchDevice`.
 */
export async function benchDevice(dir: string): Promise<Device> {
  const device = await Device.create(
    dir,
    BENCH_DEVICE_USER,
    BENCH_DEVICE_USER,
    "bench-device",
  );
  await device.save("");
  return device;
}

/**
 * The shared bench device saved in `dir` by `benchDevice`, for a load
 * generator: it signs with node:crypto's synchronous Ed25519, which gives
 * the same signature as a peer's WebCrypto signing (Ed25519 is
 * deterministic). WebCrypto's sign runs on Deno's blocking-thread pool; in
 * a generator carrying thousands of reconnecting sessions each sign waited
 * about 5 s after a restart (the challenge itself was answered in 0.1 s),
 * so the bench measured its generators instead of the registry: at N =
 * 2,000 every session was back 6.4 s after a restart with WebCrypto
 * signing and 1.3 s with this. A peer signs once per login, in its own
 * process.
 */
export async function loadBenchDevice(dir: string): Promise<Device> {
  const d = await Device.load(dir, BENCH_DEVICE_USER, BENCH_DEVICE_USER);
  if (!d) throw new Error(`no bench device in ${dir}`);
  const file = JSON.parse(await Deno.readTextFile(d.path));
  const key = createPrivateKey({
    key: Buffer.from(fromBase64url(file.sign.private)!),
    format: "der",
    type: "pkcs8",
  });
  const probe = new TextEncoder().encode("bench device");
  const expected = base64url(await d.sign(probe));
  d.sign = (data) => Promise.resolve(new Uint8Array(signSync(null, data, key)));
  if (base64url(await d.sign(probe)) !== expected) {
    throw new Error(
      "node:crypto and WebCrypto disagree on the bench device's signature",
    );
  }
  return d;
}

/**
 * Writes the bench accounts into a fresh, migrated database; with `device`,
 * each account also has that device, so it can log in with the device key.
 */
export async function seedDatabase(
  dbPath: string,
  n: number,
  slow: number,
  device?: Device,
): Promise<void> {
  SqliteStore.open(dbPath).close(); // creates and migrates
  const cheap = await hashPassword(PASSWORD, RAMP_SCRYPT);
  const real = await hashPassword(PASSWORD, DEFAULT_SCRYPT);
  const db = new DatabaseSync(dbPath);
  try {
    const insert = db.prepare(
      "INSERT INTO users (name, password_hash, status, created_at) VALUES (?, ?, ?, ?)",
    );
    const now = Date.now();
    db.exec("BEGIN");
    for (let i = 0; i < n; i++) {
      insert.run(benchUser(i), cheap, DEFAULT_STATUS, now);
    }
    for (let i = 0; i < slow; i++) {
      insert.run(slowUser(i), real, DEFAULT_STATUS, now);
    }
    if (device) {
      const add = db.prepare(
        "INSERT INTO devices (user, name, sign_key, dh_key, created_at) VALUES (?, ?, ?, ?, ?)",
      );
      for (let i = 0; i < n; i++) {
        add.run(
          benchUser(i),
          device.name,
          device.signPublic,
          device.dhPublic,
          now,
        );
      }
    }
    db.exec("COMMIT");
  } finally {
    db.close();
  }
}

/** Everything one N measured. */
interface Measured {
  n: number;
  online: number;
  rampSeconds: number;
  cpuPercent: number;
  peakRssMiB: number;
  /** VmHWM after P2's logins. */
  p2PeakRssMiB: number;
  steadyRssMiB: number;
  search: number[];
  /** The probe's searches (see probeSearches). */
  probe: { latencies: number[]; errors: number };
  lagP1: number[];
  errors: { logins: number; searches: number; lost: number; timeouts: number };
  p2: {
    ok: number;
    failed: number;
    seconds: number;
    perLoginMs: number[];
    lag: number[];
    search: number[];
    cpuPercent: number;
  };
}

async function measureOne(n: number, plan: Plan): Promise<Measured> {
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-registry-" });
  const dbPath = join(dir, "registry.db");
  const lagFile = join(dir, "lag.txt");
  const loaders: LoadGenerator[] = [];
  let registry: Awaited<ReturnType<typeof spawnUntilLine>> | null = null;
  try {
    const hard = Number(
      new TextDecoder().decode(
        (await new Deno.Command("sh", { args: ["-c", "ulimit -Hn"] }).output())
          .stdout,
      ).trim(),
    );
    if (Number.isFinite(hard) && hard < n + 1_000) {
      throw new Error(
        `the hard limit on open files is ${hard}; ${n} sessions need about ${
          n + 1_000
        } — raise it (ulimit -Hn) and run again`,
      );
    }
    // The P2 accounts, and one more for the search probe.
    await seedDatabase(dbPath, n, plan.p2Logins + 1);
    registry = await spawnUntilLine(
      "sh",
      [
        "-c",
        'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"',
        Deno.execPath(),
        ...chatRunArgs(),
        `--preload=${LAG_PROBE}`,
        MAIN,
        "registry",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--udp-port",
        "0",
        "--db",
        dbPath,
        "--log-level",
        "warn",
      ],
      /^chat registry listening on /,
      { cwd: ROOT, env: { [LAG_FILE_ENV]: lagFile }, timeoutMs: 30_000 },
    );
    const m = /:(\d+) \(udp (\d+)\)/.exec(registry.line)!;
    const port = Number(m[1]);
    const udpPort = Number(m[2]);
    const pid = registry.child.pid;
    const certFile = join(dir, "registry-cert.pem");

    // Ramp: the load generators log in their sessions.
    const rampStart = performance.now();
    for (let first = 0; first < n; first += SESSIONS_PER_LOADER) {
      loaders.push(
        new LoadGenerator(SELF, {
          port,
          udpPort,
          certFile,
          first,
          count: Math.min(SESSIONS_PER_LOADER, n - first),
          total: n,
          searchEveryMs: plan.searchEveryMs,
        }),
      );
    }
    const ready = await Promise.all(
      loaders.map((l) =>
        l.next<{ loggedIn: number; loginFailures: number }>("ready", 600_000)
      ),
    );
    const rampSeconds = (performance.now() - rampStart) / 1000;
    const online = ready.reduce((a, r) => a + r.loggedIn, 0);
    progress(n, `ramp done in ${rampSeconds.toFixed(1)} s`, pid);
    const loginFailures = ready.reduce((a, r) => a + r.loginFailures, 0);
    await new Promise((r) => setTimeout(r, plan.settleMs));

    // P1: the steady window, with the probe searching throughout.
    const caCerts = [await Deno.readTextFile(certFile)];
    const p1From = Date.now();
    const sampler = new ProcessSampler(pid, 250).start();
    const windowOver = new Promise<void>((r) => setTimeout(r, plan.windowMs));
    const probe = await probeSearches(
      port,
      udpPort,
      caCerts,
      slowUser(plan.p2Logins),
      n,
      PROBE_EVERY_MS,
      windowOver,
    );
    const p1 = sampler.stop();
    const p1To = Date.now();
    const steadyRss = readProcMemory(pid)?.rssBytes ?? NaN;
    // P1's peak is taken before P2's real-cost logins, whose scrypt memory
    // (16 MiB per hash in flight) is reported with P2.
    const p1Peak = readProcMemory(pid)?.hwmBytes ?? p1.peakRssBytes;
    progress(n, "steady window done", pid);

    // P2: real-cost logins while the N sessions carry on.
    const p2From = Date.now();
    const p2Sampler = new ProcessSampler(pid, 250).start();
    const material = await peerMaterial();
    const perLoginMs: number[] = [];
    let p2Failed = 0;
    const p2Start = performance.now();
    await pool(
      Array.from({ length: plan.p2Logins }, (_, i) => i),
      plan.p2Concurrency,
      async (i) => {
        const start = performance.now();
        let conn: RegistryClient | null = null;
        try {
          conn = await openClient(port, caCerts);
          await conn.request("login", {
            user: slowUser(i),
            password: PASSWORD,
            kind: "peer",
            ...material,
          });
          perLoginMs.push(performance.now() - start);
        } catch (err) {
          if (p2Failed++ < 3) console.error(`bench: P2 login failed: ${err}`);
        } finally {
          if (conn) await closeClient(conn);
        }
      },
    );
    const p2Seconds = (performance.now() - p2Start) / 1000;
    const p2Cpu = p2Sampler.stop();
    const p2To = Date.now();
    progress(n, `${plan.p2Logins} real-cost logins done`, pid);

    const reportsP1: LoaderReport[] = [];
    const reportsP2: LoaderReport[] = [];
    for (const l of loaders) {
      reportsP1.push(await report(l, p1From, p1To));
      reportsP2.push(await report(l, p2From, p2To));
    }
    const peakRss = readProcMemory(pid)?.hwmBytes ?? p1.peakRssBytes;
    for (const l of loaders) await l.stop();
    loaders.length = 0;
    progress(n, "load generators stopped", pid);
    const status = await registry.stop(30_000);
    registry = null;
    if (status.code !== 0) {
      throw new Error(`the registry exited with code ${status.code}`);
    }
    const lag = await readLag(lagFile);
    const sum = (f: (r: LoaderReport) => number) =>
      reportsP2.reduce((a, r) => a + f(r), 0);
    return {
      n,
      online,
      rampSeconds,
      cpuPercent: p1.cpuPercent,
      peakRssMiB: mib(Math.max(p1Peak, p1.peakRssBytes)),
      p2PeakRssMiB: mib(peakRss),
      steadyRssMiB: mib(steadyRss),
      search: reportsP1.flatMap((r) => r.latencies),
      probe,
      lagP1: lagIn(lag, p1From, p1To),
      errors: {
        logins: Math.max(loginFailures, n - online),
        searches: sum((r) => r.searchErrors),
        lost: sum((r) => r.lost),
        timeouts: sum((r) => r.timeouts),
      },
      p2: {
        ok: perLoginMs.length,
        failed: p2Failed,
        seconds: p2Seconds,
        perLoginMs,
        lag: lagIn(lag, p2From, p2To),
        search: reportsP2.flatMap((r) => r.latencies),
        cpuPercent: p2Cpu.cpuPercent,
      },
    };
  } finally {
    for (const l of loaders) await l.stop().catch(() => {});
    if (registry) await registry.stop(5_000).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** A progress line on stderr with the registry's memory. */
function progress(n: number, what: string, pid: number): void {
  const mem = readProcMemory(pid);
  console.error(
    `  N=${n}: ${what}; registry RSS ${
      mem ? mib(mem.rssBytes).toFixed(0) : "?"
    } MiB (peak ${mem ? mib(mem.hwmBytes).toFixed(0) : "?"} MiB)`,
  );
}

let runs: Promise<Measured[]> | null = null;
let runsQuick: boolean | null = null;
let done: Measured[] | null = null;

/**
 * P1's figures of the single instance, when P1 ran in this process (P9
 * compares with them); null otherwise.
 */
export function singleInstanceResults():
  | { n: number; cpuPercent: number; peakRssMiB: number }[]
  | null {
  return done;
}

/** Measures every size once per process; P1 and P2 share the runs. */
function measureAll(quick: boolean): Promise<Measured[]> {
  if (!runs || runsQuick !== quick) {
    runsQuick = quick;
    const plan = planFor(quick);
    runs = (async () => {
      const out: Measured[] = [];
      for (const n of plan.sizes) {
        console.error(`  registry load: ${n} sessions…`);
        out.push(await measureOne(n, plan));
      }
      done = out;
      return out;
    })();
  }
  return runs;
}

function p1Metrics(m: Measured, plan: Plan): Metric[] {
  const tag = `N=${m.n}`;
  const errors = m.errors.logins + m.errors.searches + m.errors.lost +
    m.errors.timeouts + m.probe.errors;
  return [
    info(
      `${tag} sessions online`,
      m.online,
      "sessions",
      `peer sessions logged in over TLS in ${
        m.rampSeconds.toFixed(1)
      } s, each heartbeating at 1 Hz over UDP`,
    ),
    atMost(
      `${tag} registry CPU`,
      m.cpuPercent,
      "%",
      TARGETS.cpuPercent,
      `% of one core over a ${plan.windowMs / 1000} s steady window`,
    ),
    atMost(
      `${tag} registry peak RSS`,
      m.peakRssMiB,
      "MiB",
      TARGETS.rssMiB,
      `VmHWM, including the login ramp; ${
        m.steadyRssMiB.toFixed(0)
      } MiB resident in the steady window`,
    ),
    info(
      `${tag} search p50`,
      percentile(m.probe.latencies, 50),
      "ms",
      `${m.probe.latencies.length} searches by one more peer session, one every ${PROBE_EVERY_MS} ms, ` +
        `while the N sessions search too; ${m.probe.errors} failed`,
    ),
    atMost(
      `${tag} search p99`,
      percentile(m.probe.latencies, 99),
      "ms",
      TARGETS.searchP99Ms,
    ),
    info(
      `${tag} search p99 inside the load generators`,
      percentile(m.search, 99),
      "ms",
      `${m.search.length} searches (about one per session per ${
        plan.searchEveryMs / 1000
      } s); p50 ${
        percentile(m.search, 50).toFixed(2)
      } ms; includes the queueing of 2,500 sessions in one event loop`,
    ),
    info(
      `${tag} registry event-loop lag p99`,
      percentile(m.lagP1, 99),
      "ms",
      `steady window; max ${percentile(m.lagP1, 100).toFixed(1)} ms`,
    ),
    info(
      `${tag} errors`,
      errors,
      "count",
      `failed logins ${m.errors.logins}, failed searches ${m.errors.searches}, ` +
        `connections lost ${m.errors.lost}, heartbeat timeouts ${m.errors.timeouts}`,
    ),
  ];
}

function p2Metrics(m: Measured): Metric[] {
  const tag = `N=${m.n}`;
  const rate = m.p2.ok / m.p2.seconds;
  return [
    atLeast(
      `${tag} logins/s`,
      rate,
      "logins/s",
      TARGETS.loginsPerSecond,
      `${m.p2.ok} peer logins at the default scrypt cost (N=${DEFAULT_SCRYPT.N}) ` +
        `in ${m.p2.seconds.toFixed(1)} s, a few at a time, each on a new TLS ` +
        `connection, while ${m.online} sessions heartbeat; ${m.p2.failed} failed`,
    ),
    info(
      `${tag} login p50`,
      percentile(m.p2.perLoginMs, 50),
      "ms",
      "connect, TLS, hello and login",
    ),
    atMost(
      `${tag} event-loop lag p99 during logins`,
      percentile(m.p2.lag, 99),
      "ms",
      TARGETS.lagP99Ms,
      `registry's own loop, 10 ms timer, ${m.p2.lag.length} samples; max ${
        percentile(m.p2.lag, 100).toFixed(1)
      } ms`,
    ),
    info(
      `${tag} search p99 during logins`,
      percentile(m.p2.search, 99),
      "ms",
    ),
    info(`${tag} registry CPU during logins`, m.p2.cpuPercent, "%"),
    info(
      `${tag} registry peak RSS after logins`,
      m.p2PeakRssMiB,
      "MiB",
      "VmHWM; scrypt holds 16 MiB per hash in flight",
    ),
  ];
}

/** P1: N peers heartbeating at 1 Hz. */
export const registryLoadScenario: Scenario = {
  id: "P1",
  name: "registry with N logged-in peers heartbeating at 1 Hz",
  async run(opts: RunOptions): Promise<Metric[]> {
    const plan = planFor(opts.quick);
    return (await measureAll(opts.quick)).flatMap((m) => p1Metrics(m, plan));
  },
};

/** P2: logins per second while P1 runs. */
export const registryLoginScenario: Scenario = {
  id: "P2",
  name: "logins per second while P1 runs",
  async run(opts: RunOptions): Promise<Metric[]> {
    return (await measureAll(opts.quick)).flatMap(p2Metrics);
  },
};

/** Both registry scenarios, for bench/scenarios.ts. */
export const registryLoadScenarios: Scenario[] = [
  registryLoadScenario,
  registryLoginScenario,
];

if (import.meta.main) {
  const [mode, arg] = Deno.args;
  if (mode === "--load-child") {
    await loaderMain(JSON.parse(arg!));
    Deno.exit(0);
  } else {
    await runStandalone(registryLoadScenario);
    await runStandalone(registryLoginScenario);
  }
}
