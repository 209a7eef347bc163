/**
 * R1: the registry under N logged-in sessions for a sustained period, with
 * churn, then killed and restarted under that load (SPEC §3, F3, F18).
 *
 * Built from P1's pieces (bench/registry_load.ts: the light TLS client, the
 * bench accounts with cheap password hashes written straight into the
 * database, the peer login material):
 *
 * 1. The registry runs as its own process with the V8 flags chat ships with,
 *    with bench/lag_probe.ts preloaded to sample its event-loop lag (a 10 ms
 *    timer) and append the samples to a file every second, so a registry
 *    killed with SIGKILL still leaves them.
 * 2. Load generators (up to 2,500 sessions each) log N peer sessions in,
 *    heartbeat each at 1 Hz over UDP, search a random user about once per
 *    10 s per session, and churn: a steady number of sessions per second log
 *    out, close and log in again on a new connection.
 * 3. Window 1 (2 minutes in the full run): registry CPU, RSS, event-loop lag,
 *    search latency, errors and churn.
 * 4. Restart: the registry is killed with SIGKILL and started again on the
 *    same ports and database. Every session notices its connection drop and
 *    reconnects the way a peer does (peer/backoff.ts DEFAULT_BACKOFF, refused
 *    attempts retried within 2 s, node:tls with RECONNECT_TIMEOUT_MS for the
 *    TCP connect and RECONNECT_HANDSHAKE_TIMEOUT_MS for TLS and hello once
 *    accepted, up to LOGIN_TIMEOUT_MS for the challenge and the login's
 *    reply). Measured: time from the restart until every session is logged
 *    in again, per-session time to be back, reconnect attempts, and sessions
 *    not back by the deadline (lost).
 * 5. Window 2 (1 minute): the same figures after the recovery.
 *
 * Sessions log in as peers on a device do: each bench account has a device
 * (one shared key pair) and every login and re-login signs the registry's
 * challenge, a signature check instead of scrypt (CHAT_BENCH_R1_AUTH=password
 * logs in by password instead). The bench accounts' password hashes use
 * cheap scrypt parameters (N=1024, as in P1); a real account costs about 16
 * times more per password login (see docs/reliability.md).
 *
 * Run alone: `deno run -A bench/reliability_load.ts [--quick]`; the full run
 * takes about 6 minutes. CHAT_BENCH_R1_N overrides N, CHAT_BENCH_R1_WINDOW_S the
 * length of the first window (the second is half as long).
 */
import { join } from "node:path";
import {
  Backoff,
  DEFAULT_BACKOFF,
  type Device,
  deviceLoginFields,
  LOGIN_TIMEOUT_MS,
  RECONNECT_HANDSHAKE_TIMEOUT_MS,
  RECONNECT_TIMEOUT_MS,
  type RegistryClient,
} from "../peer/mod.ts";
import { fromBase64url } from "../wire/mod.ts";
import {
  atMost,
  chatRunArgs,
  CpuMeter,
  type CpuShare,
  info,
  type Metric,
  mib,
  percentile,
  ProcessSampler,
  readProcMemory,
  type ReadyChild,
  type RunOptions,
  runStandalone,
  type Scenario,
  spawnUntilLine,
} from "./harness.ts";
import { HeartbeatWorker } from "./beat_worker.ts";
import { LAG_FILE_ENV, LAG_PROBE, lagIn, readLag } from "./lag_probe.ts";
import {
  benchDevice,
  benchUser,
  closeClient,
  countEvents,
  loadBenchDevice,
  LoadGenerator,
  openClient,
  PASSWORD,
  peerMaterial,
  pool,
  seedDatabase,
  stdinLines,
  TARGETS,
} from "./registry_load.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Sessions one load-generator process holds at most. */
const SESSIONS_PER_LOADER = 2_500;
/** Logins in flight per load generator during the first ramp. */
const RAMP_CONCURRENCY = 16;

/** Sizes of one run. */
export interface Plan {
  n: number;
  /** Steady window before the restart, and after the recovery. */
  window1Ms: number;
  window2Ms: number;
  settleMs: number;
  searchEveryMs: number;
  /** Sessions logging out and in again per second, over all loaders. */
  churnPerSecond: number;
  /** Sessions not back this long after the restart count as lost. */
  backDeadlineMs: number;
  /**
   * How sessions log in: "device" signs the registry's challenge with the
   * device key (what a peer does once its machine is a device), "password"
   * checks the cheap bench password with scrypt.
   */
  auth: "device" | "password";
  /** P8: device logins as fast as they go during window 1. */
  burst?: { workers: number; ms: number };
}

/** The plan of a full or a quick run (CHAT_BENCH_R1_* may override it). */
export function planFor(quick: boolean): Plan {
  const n = Number(Deno.env.get("CHAT_BENCH_R1_N") ?? "");
  const plan: Plan = quick
    ? {
      n: 300,
      window1Ms: 5_000,
      window2Ms: 3_000,
      settleMs: 500,
      searchEveryMs: 10_000,
      churnPerSecond: 5,
      backDeadlineMs: 60_000,
      auth: "device",
    }
    : {
      n: 10_000,
      window1Ms: 120_000,
      window2Ms: 60_000,
      settleMs: 3_000,
      searchEveryMs: 10_000,
      churnPerSecond: 20,
      backDeadlineMs: 300_000,
      auth: "device",
    };
  if (Deno.env.get("CHAT_BENCH_R1_AUTH") === "password") {
    plan.auth = "password";
  }
  const windowS = Number(Deno.env.get("CHAT_BENCH_R1_WINDOW_S") ?? "");
  if (windowS > 0) {
    plan.window1Ms = windowS * 1000;
    plan.window2Ms = windowS * 500;
  }
  return Number.isInteger(n) && n > 0 ? { ...plan, n } : plan;
}

// ------------------------------------------------------ load-generator child

/** What a load generator is told on its command line. */
interface LoaderConfig {
  port: number;
  udpPort: number;
  certFile: string;
  first: number;
  count: number;
  total: number;
  searchEveryMs: number;
  churnPerSecond: number;
  /** Where the shared bench device is saved; absent: password logins. */
  deviceHome?: string;
}

/** One session slot of a load generator. */
interface Slot {
  i: number;
  conn: RegistryClient | null;
  /** Events pushed on the current connection, by type. */
  events: Map<string, number>;
  id: string;
  token: Uint8Array;
  seq: number;
  state: "online" | "churning" | "reconnecting" | "down";
  /** When it lost its connection to a registry restart (epoch ms). */
  lostAt: number;
  /** When it was logged in again after that (epoch ms), or 0. */
  backAt: number;
  /** When that last attempt began, and when its TLS and hello were done. */
  attemptAt: number;
  connectedAt: number;
  /** When its login request went out (after the challenge, for a device). */
  askedAt: number;
  attempts: number;
}

/** Races `p` against a timer; a late result is handed to `late`. */
function within<T>(
  p: Promise<T>,
  ms: number,
  late: (v: T) => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  return Promise.race([
    p.then((v) => {
      if (timedOut) late(v);
      return v;
    }),
    new Promise<never>((_, reject) =>
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error("timed out"));
      }, ms)
    ),
  ]).finally(() => clearTimeout(timer));
}

/**
 * A TLS connection to the registry with a reconnecting peer's limits:
 * `connectMs` for the TCP connect, then `handshakeMs` for the handshake.
 * A peer dials with node:tls (peer/net/tls_socket.ts), one process per
 * peer; a load generator holds 2,500 sessions in one event loop, where
 * 2,000 node:tls handshakes at once (node's stream layers over Deno's TLS)
 * made the generator the bottleneck of a restart's storm: its loop so
 * late that connects on loopback, accepted by the kernel at once, "timed
 * out" while the registry used a fifth of a core. Deno's TLS client speaks
 * the same TLS to the registry for much less of the generator's time: at
 * N=2,000 the sessions were back in 7.4 s instead of 53 s.
 */
async function dialTls(
  port: number,
  caCerts: string[],
  connectMs: number,
  handshakeMs: number,
): Promise<Deno.TlsConn> {
  // As peer/net/tls_socket.ts: a connect without an answer is ETIMEDOUT,
  // which the backoff counts as never having reached the registry.
  const tcp = await within(
    Deno.connect({ hostname: "127.0.0.1", port }),
    connectMs,
    (late) => late.close(),
  ).catch((err) => {
    throw err instanceof Error && err.message === "timed out"
      ? Object.assign(new Error("TCP connect timed out"), { code: "ETIMEDOUT" })
      : err;
  });
  let tls: Deno.TlsConn;
  try {
    tls = await Deno.startTls(tcp, { hostname: "127.0.0.1", caCerts });
  } catch (err) {
    try {
      tcp.close();
    } catch {
      // Taken over by startTls.
    }
    throw err;
  }
  try {
    await within(tls.handshake(), handshakeMs, () => {});
    return tls;
  } catch (err) {
    try {
      tls.close();
    } catch {
      // Closed by its failed handshake.
    }
    throw err;
  }
}

/** The load-generator process: see the module doc, steps 2 and 4. */
async function loaderMain(config: LoaderConfig): Promise<void> {
  const caCerts = [await Deno.readTextFile(config.certFile)];
  const material = await peerMaterial();
  const device = config.deviceHome
    ? await loadBenchDevice(config.deviceHome)
    : null;
  const slots: Slot[] = Array.from({ length: config.count }, (_, k) => ({
    i: config.first + k,
    conn: null,
    events: new Map(),
    id: "",
    token: new Uint8Array(),
    seq: 0,
    state: "down",
    lostAt: 0,
    backAt: 0,
    attemptAt: 0,
    connectedAt: 0,
    askedAt: 0,
    attempts: 0,
  }));
  const fresh = () => ({
    beats: 0,
    beatErrors: 0,
    searchErrors: 0,
    churned: 0,
    churnFailures: 0,
    reconnectAttempts: 0,
    refused: 0,
    lostOutsideRestart: 0,
    timeouts: 0,
    loginFailures: 0,
  });
  let counts = fresh();
  const firstErrors: string[] = [];
  let errorKinds: Record<string, number> = {};
  const note = (what: string, err: unknown) => {
    if (firstErrors.length < 5) firstErrors.push(`${what}: ${err}`);
    const kind = `${what}: ${errorKind(err)}`;
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  };
  let restarting = false;
  let stopping = false;

  /**
   * Connects and logs slot `s` in: at most `timeoutMs` for the TCP connect,
   * `handshakeMs` for TLS and hello once accepted, then `loginMs` for the
   * challenge and the login's reply.
   */
  const login = async (
    s: Slot,
    timeoutMs: number,
    handshakeMs = timeoutMs,
    loginMs = timeoutMs,
  ): Promise<void> => {
    // With a peer's limits (peer/net/registry_client.ts), over the
    // native TLS client: see dialTls.
    const startedAt = Date.now();
    const conn = await within(
      openClient(
        config.port,
        caCerts,
        () => dialTls(config.port, caCerts, timeoutMs, handshakeMs),
      ),
      timeoutMs + handshakeMs,
      (late) => void closeClient(late),
    );
    const connectedAt = Date.now();
    const events = countEvents(conn);
    try {
      const fields = {
        user: benchUser(s.i),
        kind: "peer" as const,
        ...material,
      };
      // A peer's re-login (peer/net/registry_session.ts): the device key
      // signs a fresh challenge, or the password.
      let askedAt = 0;
      const r = await within(
        (async () => {
          const req = device
            ? await deviceLoginFields(conn, device, fields)
            : { ...fields, password: PASSWORD };
          askedAt = Date.now();
          return await conn.request("login", req);
        })(),
        loginMs,
        () => {},
      );
      s.conn = conn;
      s.events = events;
      s.attemptAt = startedAt;
      s.connectedAt = connectedAt;
      s.askedAt = askedAt;
      s.id = r.session;
      s.token = fromBase64url(r.token)!;
      s.seq = 0;
      s.state = "online";
      hb.on(s.i, s.id, s.token);
      watch(s, conn);
    } catch (err) {
      await closeClient(conn);
      throw err;
    }
  };

  /** Reconnects a slot whose connection dropped, as a peer would. */
  const reconnect = async (s: Slot): Promise<void> => {
    s.state = "reconnecting";
    hb.off(s.i);
    // As peer/net/registry_session.ts: only attempts that reached the
    // registry grow the delay.
    const backoff = new Backoff(DEFAULT_BACKOFF);
    for (;;) {
      await new Promise((r) => setTimeout(r, backoff.next(Math.random())));
      if (stopping) return;
      counts.reconnectAttempts++;
      s.attempts++;
      try {
        await login(
          s,
          RECONNECT_TIMEOUT_MS,
          RECONNECT_HANDSHAKE_TIMEOUT_MS,
          LOGIN_TIMEOUT_MS,
        );
        s.backAt = Date.now();
        return;
      } catch (err) {
        const code = (err as { code?: string }).code;
        const unreachable = err instanceof Deno.errors.ConnectionRefused ||
          code === "ECONNREFUSED" || code === "ETIMEDOUT";
        backoff.failed(unreachable);
        if (unreachable) counts.refused++;
        else note("reconnect", err);
      }
    }
  };

  /** Follows a live connection; a drop starts a reconnection. */
  const watch = (s: Slot, conn: RegistryClient) => {
    conn.closed.then(() => {
      if (s.conn !== conn || !conn.lost || stopping) return;
      s.conn = null;
      counts.timeouts += s.events.get("timeout") ?? 0;
      s.lostAt = Date.now();
      s.backAt = 0;
      if (!restarting) counts.lostOutsideRestart++;
      void reconnect(s);
    });
  };

  // From a thread of their own: see bench/beat_worker.ts.
  const hb = new HeartbeatWorker(config.udpPort, (beats, errors) => {
    counts.beats += beats;
    counts.beatErrors += errors;
  });

  // The first ramp.
  const rampStart = performance.now();
  await pool(slots, RAMP_CONCURRENCY, async (s) => {
    try {
      await login(s, 60_000);
    } catch (err) {
      counts.loginFailures++;
      note("login", err);
    }
  });
  const rampMs = performance.now() - rampStart;

  const online = () => slots.filter((s) => s.state === "online");
  // Searches: each session about once per searchEveryMs.
  const searches: [number, number][] = [];
  const TICK = 20;
  let carry = 0;
  const searchTimer = setInterval(() => {
    const live = online();
    if (live.length === 0) return;
    carry += (slots.length * TICK) / config.searchEveryMs;
    for (; carry >= 1; carry--) {
      const s = live[Math.floor(Math.random() * live.length)]!;
      const target = benchUser(Math.floor(Math.random() * config.total));
      const start = performance.now();
      s.conn!.request("search", { user: target }).then(
        () => searches.push([Date.now(), performance.now() - start]),
        (err) => {
          // A search cut off by the restart is not a search error.
          if (!restarting) {
            counts.searchErrors++;
            note("search", err);
          }
        },
      );
    }
  }, TICK);
  const expireTimer = setInterval(() => {
    for (const s of slots) s.conn?.expire(10_000);
  }, 1_000);

  // Churn: sessions log out, close, and log in again on a new connection.
  const churnLatency: number[] = [];
  let churnCarry = 0;
  const churnTimer = setInterval(() => {
    if (restarting) return;
    churnCarry += config.churnPerSecond / 10;
    for (; churnCarry >= 1; churnCarry--) {
      const live = online();
      if (live.length === 0) return;
      const s = live[Math.floor(Math.random() * live.length)]!;
      const conn = s.conn!;
      s.state = "churning";
      hb.off(s.i);
      s.conn = null;
      const start = performance.now();
      (async () => {
        try {
          await within(conn.request("logout", {}), 10_000, () => {});
        } catch (err) {
          note("logout", err);
        }
        await closeClient(conn);
        try {
          await login(s, 30_000);
          counts.churned++;
          churnLatency.push(performance.now() - start);
        } catch (err) {
          // A churn cut off by the restart reconnects like everyone else.
          if (!restarting) {
            counts.churnFailures++;
            note("churn login", err);
          }
          void reconnect(s);
        }
      })();
    }
  }, 100);

  say({ type: "ready", loggedIn: online().length, rampMs, ...counts });

  for await (const line of stdinLines()) {
    const [cmd, a, b] = line.trim().split(" ");
    if (cmd === "restarting") {
      restarting = true;
      say({ type: "ok" });
    } else if (cmd === "restarted") {
      say({ type: "ok" });
    } else if (cmd === "steady") {
      restarting = false;
      say({ type: "ok" });
    } else if (cmd === "status") {
      const states: Record<string, number> = {};
      for (const s of slots) states[s.state] = (states[s.state] ?? 0) + 1;
      say({
        type: "status",
        states,
        back: slots.filter((s) => s.backAt > 0).map((s) => s.backAt),
        lostAt: slots.filter((s) => s.lostAt > 0).map((s) => s.lostAt),
        phases: slots.filter((s) => s.backAt > 0 && s.lostAt > 0).map((
          s,
        ) => [s.lostAt, s.attemptAt, s.connectedAt, s.askedAt, s.backAt]),
        attempts: slots.map((s) => s.attempts),
      });
    } else if (cmd === "report") {
      const from = Number(a);
      const to = Number(b);
      say({
        type: "report",
        latencies: searches.filter(([t]) => t >= from && t <= to).map((
          [, l],
        ) => Math.round(l * 1000) / 1000),
        churnLatency: churnLatency.splice(0),
        // A churning session is between its logout and its next login on
        // purpose; one whose login fails counts in churnFailures instead.
        online: slots.filter((s) =>
          s.state === "online" || s.state === "churning"
        ).length,
        firstErrors: firstErrors.splice(0),
        errorKinds,
        ...counts,
      });
      errorKinds = {};
      // Each report covers what happened since the one before.
      counts = fresh();
    }
  }
  stopping = true;
  await hb.stop();
  clearInterval(searchTimer);
  clearInterval(expireTimer);
  clearInterval(churnTimer);
  await Promise.all(slots.map((s) => s.conn && closeClient(s.conn)));
}

/** "0–2 s: 120, 2–4 s: 800, …": how many of `ms` fall in each bucket. */
function histogram(ms: number[], bucketMs: number): string {
  const counts = new Map<number, number>();
  for (const t of ms) {
    const k = Math.floor(t / bucketMs);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const s = (k: number) => (k * bucketMs) / 1000;
  return [...counts].sort((a, b) => a[0] - b[0])
    .map(([k, n]) => `${s(k)}–${s(k + 1)} s: ${n}`).join(", ");
}

/** An error's kind for counting: its class and the start of its message. */
function errorKind(err: unknown): string {
  if (!(err instanceof Error)) return String(err).slice(0, 60);
  const message = err.message.replace(/\s*\(os error \d+\)/, "");
  return `${err.name}: ${message.slice(0, 60)}`;
}

/** Adds up counts by kind. */
function tally(all: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const kinds of all) {
    for (const [k, n] of Object.entries(kinds)) out[k] = (out[k] ?? 0) + n;
  }
  return out;
}

function say(obj: object): void {
  console.log(JSON.stringify(obj));
}

// -------------------------------------------------------------- the driver

/** What a load generator reports for one window. */
export interface LoaderReport {
  latencies: number[];
  churnLatency: number[];
  /** Sessions logged in, or between a churn's logout and its login. */
  online: number;
  firstErrors: string[];
  /** Errors by kind ("reconnect: ConnectionReset"), counted. */
  errorKinds: Record<string, number>;
  beats: number;
  beatErrors: number;
  searchErrors: number;
  churned: number;
  churnFailures: number;
  reconnectAttempts: number;
  refused: number;
  lostOutsideRestart: number;
  timeouts: number;
  loginFailures: number;
}

interface LoaderStatus {
  states: Record<string, number>;
  back: number[];
  lostAt: number[];
  /**
   * Of each session back: drop seen, last attempt began, TLS and hello
   * done, login sent, logged in (epoch ms).
   */
  phases: number[][];
  attempts: number[];
}

/**
 * Starts the lag-sampling registry child on the given ports. Its stderr goes
 * to `stderrFile` (appended), so a registry that dies leaves its last words.
 */
function startRegistry(
  dir: string,
  lagFile: string,
  port: number,
  udpPort: number,
  stderrFile: string,
): Promise<ReadyChild> {
  return spawnUntilLine(
    "sh",
    [
      "-c",
      'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@" 2>>"$R1_STDERR"',
      Deno.execPath(),
      ...chatRunArgs(),
      `--preload=${LAG_PROBE}`,
      MAIN,
      "registry",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--udp-port",
      String(udpPort),
      "--db",
      join(dir, "registry.db"),
      "--log-level",
      "warn",
      // Not measured here; and on a restart its port (the one after
      // --port) may have been taken meanwhile by one of the machine's
      // thousands of client sockets.
      "--relay",
      "off",
    ],
    /^chat registry listening on /,
    {
      cwd: ROOT,
      env: {
        CHAT_HOME: dir,
        NO_COLOR: "1",
        R1_STDERR: stderrFile,
        [LAG_FILE_ENV]: lagFile,
      },
      timeoutMs: 60_000,
    },
  );
}

/** Figures of one steady window. */
export interface Window {
  seconds: number;
  cpuPercent: number;
  peakRssMiB: number;
  rssMiB: number;
  lag: number[];
  search: number[];
  reports: LoaderReport[];
}

/** What P8's burst of device logins measured. */
export interface Burst {
  logins: number;
  failed: number;
  seconds: number;
  perLoginMs: number[];
  /** The same on a new TLS connection each (connect, TLS, hello, login). */
  fresh: { logins: number; failed: number; seconds: number };
  firstError: string | null;
  /**
   * CPU over the burst: the load generators together and the bench's own
   * process (the burst's clients), in % of one core, and the machine's
   * busy share of all its cores.
   */
  cpu?: {
    loadersPercent: number;
    benchPercent: number;
    machinePercent: number;
  };
}

/**
 * Device logins as fast as `workers` clients go for `ms`, while the N
 * sessions heartbeat and search: each worker keeps one connection and
 * repeats challenge, signed login (a tool session, as a one-shot command
 * makes) and logout, at most LOGINS_PER_CONNECTION a second (three
 * requests each, within the registry's 50 requests a second per
 * connection); then, for a quarter as long, each login on a new TLS
 * connection.
 */
const LOGINS_PER_CONNECTION = 15;

async function deviceLoginBurst(
  port: number,
  caCerts: string[],
  device: Device,
  n: number,
  o: { workers: number; ms: number },
): Promise<Burst> {
  const perLoginMs: number[] = [];
  let failed = 0;
  let firstError: string | null = null;
  const fail = (err: unknown) => {
    failed++;
    firstError ??= String(err);
  };
  const start = performance.now();
  const until = start + o.ms;
  await Promise.all(Array.from({ length: o.workers }, async (_, w) => {
    // A worker whose connection fails (a starved registry may close it
    // before hello) counts a failure; the run goes on.
    const conn = await openClient(port, caCerts).catch((err) => {
      fail(err);
      return null;
    });
    if (!conn) return;
    try {
      const paced = performance.now();
      for (let k = 0; performance.now() < until; k++) {
        const due = paced + (k * 1000) / LOGINS_PER_CONNECTION;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const user = benchUser((w * 7919 + k) % n);
        const t0 = performance.now();
        try {
          await conn.request(
            "login",
            await deviceLoginFields(conn, device, { user, kind: "tool" }),
          );
          perLoginMs.push(performance.now() - t0);
          await conn.request("logout", {});
        } catch (err) {
          fail(err);
          if (conn.isClosed) return;
        }
      }
    } finally {
      await closeClient(conn);
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  let freshLogins = 0;
  let freshFailed = 0;
  const freshStart = performance.now();
  const freshUntil = freshStart + o.ms / 4;
  await Promise.all(Array.from({ length: o.workers }, async (_, w) => {
    for (let k = 0; performance.now() < freshUntil; k++) {
      let conn: RegistryClient | null = null;
      try {
        conn = await openClient(port, caCerts);
        await conn.request(
          "login",
          await deviceLoginFields(conn, device, {
            user: benchUser((w * 104_729 + k) % n),
            kind: "tool",
          }),
        );
        freshLogins++;
      } catch (err) {
        freshFailed++;
        firstError ??= String(err);
      } finally {
        if (conn) await closeClient(conn);
      }
    }
  }));
  return {
    logins: perLoginMs.length,
    failed,
    seconds,
    perLoginMs,
    fresh: {
      logins: freshLogins,
      failed: freshFailed,
      seconds: (performance.now() - freshStart) / 1000,
    },
    firstError,
  };
}

/** Everything one run measured. */
export interface Measured {
  n: number;
  auth: Plan["auth"];
  online: number;
  rampSeconds: number;
  w1: Window;
  w2: Window;
  burst: Burst | null;
  restart: {
    downMs: number;
    allBackMs: number;
    backTimes: number[];
    notBack: number;
    attempts: number;
    /** Attempts that never reached it: refused, or the TCP connect unanswered. */
    refused: number;
    lagDuring: number[];
    peakRssMiB: number;
    cpuPercent: number;
    /** The load generators' CPU together, and the machine's. */
    loaders: CpuShare;
    /** The first reconnect errors the load generators saw. */
    firstErrors: string[];
    /** The attempts that reached the registry and failed, by kind. */
    errorKinds: Record<string, number>;
    /**
     * Connections the kernel dropped because a listener's accept queue was
     * full while they came back (machine-wide TcpExtListenOverflows), or
     * null where the counter cannot be read.
     */
    listenOverflows: number | null;
  };
  exitCode: number;
}

/** The machine's TcpExtListenOverflows counter, or null off Linux. */
async function listenOverflows(): Promise<number | null> {
  try {
    const lines = (await Deno.readTextFile("/proc/net/netstat")).split("\n");
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const head = lines[i]!.split(/\s+/);
      const vals = lines[i + 1]!.split(/\s+/);
      const k = head.indexOf("ListenOverflows");
      if (head[0] === "TcpExt:" && k > 0) return Number(vals[k]);
    }
  } catch {
    // Not Linux, or no procfs: the figure is left out.
  }
  return null;
}

/** Runs R1 once with `plan` (tests/reliability/load_test.ts uses a tiny one). */
export async function measure(plan: Plan): Promise<Measured> {
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-r1-" });
  const dbPath = join(dir, "registry.db");
  const loaders: LoadGenerator[] = [];
  let registry: ReadyChild | null = null;
  const progress = (what: string) => {
    const mem = registry ? readProcMemory(registry.child.pid) : null;
    console.error(
      `  R1 N=${plan.n}: ${what}${
        mem ? `; registry RSS ${mib(mem.rssBytes).toFixed(0)} MiB` : ""
      }`,
    );
  };
  try {
    const hard = Number(
      new TextDecoder().decode(
        (await new Deno.Command("sh", { args: ["-c", "ulimit -Hn"] }).output())
          .stdout,
      ).trim(),
    );
    if (Number.isFinite(hard) && hard < plan.n + 1_000) {
      throw new Error(
        `the hard limit on open files is ${hard}; ${plan.n} sessions need about ${
          plan.n + 1_000
        } — raise it (ulimit -Hn) and run again`,
      );
    }
    const device = plan.auth === "device" ? await benchDevice(dir) : undefined;
    await seedDatabase(dbPath, plan.n, 0, device);
    const stderrFile = join(dir, "registry-stderr.txt");
    const registryDied = async (what: string) => {
      const tail = (await Deno.readTextFile(stderrFile).catch(() => ""))
        .trim().split("\n").slice(-15).join("\n");
      throw new Error(`the registry exited ${what}:\n${tail}`);
    };
    registry = await startRegistry(
      dir,
      join(dir, "lag-1.txt"),
      0,
      0,
      stderrFile,
    );
    const m = /:(\d+) \(udp (\d+)\)/.exec(registry.line)!;
    const port = Number(m[1]);
    const udpPort = Number(m[2]);
    const certFile = join(dir, "registry-cert.pem");

    // Ramp.
    const rampStart = performance.now();
    const perLoader = Math.ceil(plan.n / SESSIONS_PER_LOADER);
    for (let first = 0; first < plan.n; first += SESSIONS_PER_LOADER) {
      loaders.push(
        new LoadGenerator(SELF, {
          port,
          udpPort,
          certFile,
          first,
          count: Math.min(SESSIONS_PER_LOADER, plan.n - first),
          total: plan.n,
          searchEveryMs: plan.searchEveryMs,
          churnPerSecond: plan.churnPerSecond / perLoader,
          ...(device ? { deviceHome: dir } : {}),
        }),
      );
    }
    const ready = await Promise.all(
      loaders.map((l) => l.next<{ loggedIn: number }>("ready", 600_000)),
    );
    const rampSeconds = (performance.now() - rampStart) / 1000;
    const online = ready.reduce((a, r) => a + r.loggedIn, 0);
    progress(`${online} sessions online after ${rampSeconds.toFixed(1)} s`);
    await new Promise((r) => setTimeout(r, plan.settleMs));

    const steadyWindow = async (
      ms: number,
      lagFile: string,
      pid: number,
    ): Promise<Window> => {
      const from = Date.now();
      const sampler = new ProcessSampler(pid, 250).start();
      // VmHWM is the peak of the whole life (a ramp, a storm): the window's
      // peak comes from its own RSS readings.
      let peak = 0;
      const rss = setInterval(() => {
        peak = Math.max(peak, readProcMemory(pid)?.rssBytes ?? 0);
      }, 250);
      await new Promise((r) => setTimeout(r, ms));
      clearInterval(rss);
      const s = sampler.stop();
      const to = Date.now();
      const reports = await Promise.all(
        loaders.map((l) =>
          l.ask<LoaderReport>(
            `report ${from} ${to}`,
            "report",
            plan.backDeadlineMs,
          )
        ),
      );
      return {
        seconds: ms / 1000,
        cpuPercent: s.cpuPercent,
        peakRssMiB: mib(peak || s.peakRssBytes),
        rssMiB: mib(readProcMemory(pid)?.rssBytes ?? NaN),
        lag: lagIn(await readLag(lagFile), from, to),
        search: reports.flatMap((r) => r.latencies),
        reports,
      };
    };

    // Window 1, with P8's burst of device logins in its middle.
    const caCerts = [await Deno.readTextFile(certFile)];
    const windowDone = steadyWindow(
      plan.window1Ms,
      join(dir, "lag-1.txt"),
      registry.child.pid,
    );
    let burst: Burst | null = null;
    if (plan.burst && device) {
      const lead = Math.max(0, (plan.window1Ms - plan.burst.ms) / 2);
      await new Promise((r) => setTimeout(r, lead));
      const meter = new CpuMeter(loaders.map((l) => l.child.pid)).start();
      const self = new CpuMeter([Deno.pid]).start();
      burst = await deviceLoginBurst(
        port,
        caCerts,
        device,
        plan.n,
        plan.burst,
      );
      const loadersCpu = meter.stop();
      burst.cpu = {
        loadersPercent: loadersCpu.processesPercent,
        benchPercent: self.stop().processesPercent,
        machinePercent: loadersCpu.machinePercent,
      };
      progress(
        `${burst.logins} device logins in ${burst.seconds.toFixed(1)} s`,
      );
    }
    const w1 = await windowDone;
    progress(`window 1 done (${plan.window1Ms / 1000} s)`);

    // Restart under load.
    for (const l of loaders) await l.ask("restarting", "ok");
    const killedAt = Date.now();
    registry.child.kill("SIGKILL");
    await registry.child.status;
    registry = null;
    registry = await startRegistry(
      dir,
      join(dir, "lag-2.txt"),
      port,
      udpPort,
      stderrFile,
    ).catch(() => registryDied("before it listened again"));
    let exited: number | null = null;
    registry.child.status.then((s) => exited = s.code);
    const restartedAt = Date.now();
    const overflowsBefore = await listenOverflows();
    const pid = registry.child.pid;
    for (const l of loaders) await l.ask("restarted", "ok");
    progress(`restarted after ${restartedAt - killedAt} ms down`);
    const recovery = new ProcessSampler(pid, 250).start();
    const recoveryCpu = new CpuMeter(loaders.map((l) => l.child.pid)).start();
    const deadline = restartedAt + plan.backDeadlineMs;
    let statuses: LoaderStatus[] = [];
    while (true) {
      statuses = await Promise.all(
        // A generator carrying 2,500 reconnections on a saturated machine
        // may answer late (twice at N=10,000 it took over a minute): wait
        // for it as long as the sessions themselves are waited for.
        loaders.map((l) =>
          l.ask<LoaderStatus>("status", "status", plan.backDeadlineMs)
        ),
      );
      const onlineNow = statuses.reduce(
        (a, s) => a + (s.states.online ?? 0) + (s.states.churning ?? 0),
        0,
      );
      if (onlineNow >= online || Date.now() > deadline) break;
      if (exited !== null) {
        await registryDied(`with ${exited} while they came back`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const rec = recovery.stop();
    const recCpu = recoveryCpu.stop();
    const overflowsAfter = await listenOverflows();
    const backTimes = statuses.flatMap((s) => s.back).map((t) =>
      t - restartedAt
    );
    progress(`back, per 2 s after the restart: ${histogram(backTimes, 2_000)}`);
    const phases = statuses.flatMap((s) => s.phases);
    const phaseMs = [0, 1, 2, 3, 4].map((k) =>
      [50, 99].map((q) =>
        Math.round(percentile(phases.map((p) => p[k]! - restartedAt), q))
      )
    );
    progress(
      `after the restart, p50/p99 ms: drop seen ${
        phaseMs[0]!.join("/")
      }, last attempt began ${phaseMs[1]!.join("/")}, TLS and hello done ${
        phaseMs[2]!.join("/")
      }, login sent ${phaseMs[3]!.join("/")}, logged in ${
        phaseMs[4]!.join("/")
      }`,
    );
    const notBack = online - backTimes.length;
    const allBackMs = notBack > 0 ? NaN : Math.max(0, ...backTimes);
    progress(
      `${backTimes.length} of ${online} back; last after ${
        (allBackMs / 1000).toFixed(1)
      } s`,
    );
    const lagDuring = lagIn(
      await readLag(join(dir, "lag-2.txt")),
      restartedAt,
      restartedAt + Math.max(1, ...backTimes),
    );
    for (const l of loaders) await l.ask("steady", "ok");
    await new Promise((r) => setTimeout(r, plan.settleMs));

    // Window 2.
    const w2 = await steadyWindow(plan.window2Ms, join(dir, "lag-2.txt"), pid);
    progress(`window 2 done (${plan.window2Ms / 1000} s)`);

    await Promise.all(loaders.map((l) => l.stop()));
    loaders.length = 0;
    progress("load generators stopped");
    const status = await registry.stop(30_000);
    registry = null;
    progress(`registry stopped with ${status.code}`);
    const reportsAll = w2.reports;
    return {
      n: plan.n,
      auth: plan.auth,
      online,
      rampSeconds,
      w1,
      w2,
      burst,
      restart: {
        downMs: restartedAt - killedAt,
        allBackMs,
        backTimes,
        notBack,
        attempts: reportsAll.reduce((a, r) => a + r.reconnectAttempts, 0),
        refused: reportsAll.reduce((a, r) => a + r.refused, 0),
        lagDuring,
        peakRssMiB: mib(rec.peakRssBytes),
        cpuPercent: rec.cpuPercent,
        loaders: recCpu,
        firstErrors: reportsAll.flatMap((r) => r.firstErrors).slice(0, 3),
        errorKinds: tally(reportsAll.map((r) => r.errorKinds)),
        listenOverflows: overflowsBefore === null || overflowsAfter === null
          ? null
          : overflowsAfter - overflowsBefore,
      },
      exitCode: status.code,
    };
  } finally {
    for (const l of loaders) await l.stop().catch(() => {});
    if (registry) await registry.stop(5_000).catch(() => {});
    // CHAT_BENCH_KEEP=1 keeps the run's folder (database, the registry's
    // stderr with its warnings) for a look afterwards.
    if (Deno.env.get("CHAT_BENCH_KEEP") === "1") {
      console.error(`  kept ${dir}`);
    } else {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
}

function windowMetrics(tag: string, w: Window, n: number): Metric[] {
  const sum = (f: (r: LoaderReport) => number) =>
    w.reports.reduce((a, r) => a + f(r), 0);
  const errors = sum((r) => r.searchErrors) +
    sum((r) => r.churnFailures) + sum((r) => r.lostOutsideRestart) +
    sum((r) => r.timeouts);
  const online = sum((r) => r.online);
  const firstErrors = w.reports.flatMap((r) => r.firstErrors).slice(0, 3);
  return [
    info(`${tag} sessions online at the end`, online, "sessions", `of ${n}`),
    atMost(
      `${tag} registry CPU`,
      w.cpuPercent,
      "%",
      TARGETS.cpuPercent,
      `% of one core over ${w.seconds} s with heartbeats, searches and churn`,
    ),
    atMost(
      `${tag} registry peak RSS`,
      w.peakRssMiB,
      "MiB",
      TARGETS.rssMiB,
      `highest VmRSS reading in the window (every 250 ms); ${
        w.rssMiB.toFixed(0)
      } MiB at its end`,
    ),
    info(
      `${tag} event-loop lag p99`,
      percentile(w.lag, 99),
      "ms",
      `registry's own loop, 10 ms timer, ${w.lag.length} samples; max ${
        percentile(w.lag, 100).toFixed(1)
      } ms`,
    ),
    info(`${tag} search p50`, percentile(w.search, 50), "ms"),
    info(
      `${tag} search p99`,
      percentile(w.search, 99),
      "ms",
      `${w.search.length} searches, timed by the load generators`,
    ),
    info(
      `${tag} churn`,
      sum((r) => r.churned),
      "re-logins",
      `logout, new TLS connection, login; p50 ${
        percentile(w.reports.flatMap((r) => r.churnLatency), 50).toFixed(0)
      } ms`,
    ),
    atMost(
      `${tag} errors`,
      errors,
      "count",
      0,
      `failed searches ${sum((r) => r.searchErrors)}, failed churn logins ${
        sum((r) => r.churnFailures)
      }, connections lost outside the restart ${
        sum((r) => r.lostOutsideRestart)
      }, heartbeat timeouts ${sum((r) => r.timeouts)}${
        firstErrors.length ? `; first: ${firstErrors.join(" | ")}` : ""
      }`,
    ),
  ];
}

function metrics(m: Measured): Metric[] {
  const r = m.restart;
  return [
    info(
      "sessions logged in",
      m.online,
      "sessions",
      `of ${m.n}, over TLS in ${m.rampSeconds.toFixed(1)} s, ${
        m.auth === "device"
          ? "by device key (every re-login too)"
          : "by password (cheap scrypt)"
      }`,
    ),
    ...windowMetrics("before restart:", m.w1, m.n),
    info(
      "restart: down for",
      r.downMs,
      "ms",
      "SIGKILL to the new registry's listening line, same ports and database",
    ),
    info(
      "restart: every session back after",
      r.allBackMs / 1000,
      "s",
      `from the new registry listening to the last session logged in again; p50 ${
        (percentile(r.backTimes, 50) / 1000).toFixed(1)
      } s, p99 ${(percentile(r.backTimes, 99) / 1000).toFixed(1)} s`,
    ),
    atMost(
      "restart: sessions lost",
      r.notBack,
      "sessions",
      0,
      `not logged in again within the deadline; ${r.attempts} reconnect attempts in all, ${r.refused} never reached it (refused while it was down, or a TCP connect unanswered)`,
    ),
    info(
      "restart: registry CPU while they came back",
      r.cpuPercent,
      "%",
      `peak RSS ${r.peakRssMiB.toFixed(0)} MiB`,
    ),
    info(
      "restart: event-loop lag p99 while they came back",
      percentile(r.lagDuring, 99),
      "ms",
      `max ${percentile(r.lagDuring, 100).toFixed(1)} ms`,
    ),
    ...windowMetrics("after restart:", m.w2, m.n),
    atMost(
      "registry exit code on SIGTERM",
      m.exitCode,
      "code",
      0,
    ),
  ];
}

/** R1: the registry under load for a sustained period, with churn and a restart. */
export const reliabilityLoadScenario: Scenario = {
  id: "R1",
  name:
    "registry under N sessions with churn for a sustained period, killed and restarted under load",
  async run(opts: RunOptions): Promise<Metric[]> {
    return metrics(await measure(planFor(opts.quick)));
  },
};

if (import.meta.main) {
  const [mode, arg] = Deno.args;
  if (mode === "--load-child") {
    await loaderMain(JSON.parse(arg!));
    Deno.exit(0);
  } else {
    await runStandalone(reliabilityLoadScenario);
  }
}
