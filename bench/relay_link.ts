/**
 * P7: relayed links (F22) against direct ones, in the same run (SPEC.md §4).
 *
 * One `chat registry` process (relay on, on a free port) serves every part:
 *
 * 1. Pipe throughput: `chat send bob -` into `chat receive -o -`, real
 *    processes, once direct and once relayed. A receiver listening on
 *    127.0.0.2 cannot be reached at the 127.0.0.1 the registry sees it at,
 *    which is what a home router does, and `chat send` does not listen, so
 *    that link goes through the relay; the other is direct. Rate = bytes
 *    over the time from the sender's start to the receiver's exit (both
 *    include a login). Target: relayed ≥ 50 % of direct.
 * 2. Message → delivered: two Peer cores in this process, `/msg` one at a
 *    time, from the call to the `delivered` event; direct (listening on
 *    127.0.0.1) and relayed (both on 127.0.0.2). Target: relayed p99 ≤ 10 ms.
 * 3. Load: P1's load (N peer sessions heartbeating at 1 Hz and searching,
 *    bench/registry_load.ts's load generators; N = 10,000, 500 with
 *    --quick, CHAT_BENCH_P7_PEERS to change it), the registry's CPU and
 *    RSS over a window; then 100 relayed links at once (20 with --quick),
 *    each carrying 64 KiB/s, opened by a child process through the
 *    product's own Links.open, and the same window again. Target: within
 *    P1's CPU (≤ 50 % of one core) and RSS (≤ 300 MiB).
 *
 * Run alone: `deno run -A bench/relay_link.ts [--quick]`.
 */
import { join } from "node:path";
import { Logger } from "../common/log.ts";
import { Endpoint, isReply, Peer, type PeerEvent } from "../peer/mod.ts";
import {
  atLeast,
  atMost,
  chatRunArgs,
  info,
  type Metric,
  mib,
  ProcessSampler,
  readProcMemory,
  type RunOptions,
  runStandalone,
  type Scenario,
  spawnUntilLine,
  stats,
} from "./harness.ts";
import {
  benchUser,
  LoadGenerator,
  PASSWORD,
  seedDatabase,
  TARGETS,
} from "./registry_load.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
const MAIN = join(ROOT, "main.ts");
const LOADER = new URL("./registry_load.ts", import.meta.url).pathname;

/** SPEC.md §4 P7 targets. */
export const RATIO_TARGET = 0.5;
export const RELAYED_P99_TARGET_MS = 10;

/** Bytes per second each relayed link carries during the load window. */
const LINK_RATE = 64 * 1024;
const SESSIONS_PER_LOADER = 2_500;
/** Where a peer cannot be reached: the registry sees it at 127.0.0.1. */
const HIDDEN = "127.0.0.2";

interface Plan {
  pipeBytes: number;
  messages: number;
  peers: number;
  links: number;
  windowMs: number;
}

function planFor(quick: boolean): Plan {
  const env = Number(Deno.env.get("CHAT_BENCH_P7_PEERS"));
  return {
    pipeBytes: (quick ? 32 : 256) * 1024 * 1024,
    messages: quick ? 200 : 2000,
    peers: Number.isInteger(env) && env > 0 ? env : quick ? 500 : 10_000,
    links: quick ? 20 : 100,
    windowMs: quick ? 5_000 : 20_000,
  };
}

/** The registry process and how to reach it. */
interface Reg {
  port: number;
  udpPort: number;
  fingerprint: string;
  pid: number;
  dir: string;
  stop(): Promise<unknown>;
}

async function startRegistry(dir: string, dbPath: string): Promise<Reg> {
  const r = await spawnUntilLine(
    "sh",
    [
      "-c",
      'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"',
      Deno.execPath(),
      ...chatRunArgs(),
      MAIN,
      "registry",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--udp-port",
      "0",
      "--relay-port",
      "0",
      "--relay-per-user",
      "4",
      "--db",
      dbPath,
      "--log-level",
      "warn",
    ],
    /^chat registry listening on /,
    { cwd: ROOT, timeoutMs: 30_000 },
  );
  const m = /:(\d+) \(udp (\d+)\) fingerprint sha256:([0-9a-f]{64})/.exec(
    r.line,
  )!;
  return {
    port: Number(m[1]),
    udpPort: Number(m[2]),
    fingerprint: m[3]!,
    pid: r.child.pid,
    dir,
    stop: () => r.stop(),
  };
}

// ------------------------------------------------------------------ 1. pipes

/** A 1 MiB block of pseudo-random bytes (incompressible enough for TLS). */
function block(): Uint8Array {
  const b = new Uint8Array(1024 * 1024);
  let x = 0x2545f491;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

async function pipeOnce(
  reg: Reg,
  from: string,
  to: string,
  bytes: number,
  listen: string,
): Promise<{ mbps: number; line: string }> {
  const envFor = async (user: string) => ({
    CHAT_HOME: await Deno.makeTempDir({ dir: reg.dir, prefix: `${user}-` }),
    CHAT_USER: user,
    CHAT_PASSWORD: PASSWORD,
    CHAT_REGISTRY: `127.0.0.1:${reg.port}`,
    CHAT_REGISTRY_FINGERPRINT: reg.fingerprint,
    NO_COLOR: "1",
  });
  const recv = new Deno.Command(Deno.execPath(), {
    args: [
      ...chatRunArgs(),
      MAIN,
      "receive",
      "--from",
      from,
      "-o",
      "-",
      "--listen",
      listen,
    ],
    env: await envFor(to),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const recvErr = new Response(recv.stderr).text();
  const counted = (async () => {
    let n = 0;
    for await (const c of recv.stdout) n += c.length;
    return n;
  })();
  const data = block();
  const sendEnv = await envFor(from);
  for (let attempt = 0;; attempt++) {
    const start = performance.now();
    const send = new Deno.Command(Deno.execPath(), {
      args: [...chatRunArgs(), MAIN, "send", to, "-"],
      env: sendEnv,
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const sendErr = new Response(send.stderr).text();
    const feeding = (async () => {
      const w = send.stdin.getWriter();
      try {
        for (let off = 0; off < bytes; off += data.length) {
          await w.write(data.subarray(0, Math.min(data.length, bytes - off)));
        }
        await w.close();
      } catch {
        // The sender exited (the receiver was not logged in yet): retried.
      }
    })();
    const status = await send.status;
    await feeding;
    const err = (await sendErr).trim();
    if (status.code !== 0) {
      if (/offline/.test(err) && attempt < 100) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      recv.kill("SIGKILL");
      await recv.status;
      throw new Error(`chat send failed: ${err}`);
    }
    const r = await recv.status;
    const got = await counted;
    const ms = performance.now() - start;
    if (r.code !== 0 || got !== bytes) {
      throw new Error(
        `chat receive got ${got} of ${bytes} bytes: ${await recvErr}`,
      );
    }
    await recvErr;
    return { mbps: mib(bytes) / (ms / 1000), line: err.split("\n").at(-1)! };
  }
}

// --------------------------------------------------------------- 2. messages

async function latencies(
  reg: Reg,
  a: string,
  b: string,
  host: string,
  n: number,
): Promise<{ samples: number[]; path: string }> {
  const logger = new Logger("error", () => {});
  const target = (home: string) => ({
    host: "127.0.0.1",
    port: reg.port,
    home,
    pin: reg.fingerprint,
  });
  const waiters = new Map<number, (at: number) => void>();
  /** Deliveries that came before their reply was read, and when. */
  const early = new Map<number, number>();
  let started: (path: string) => void;
  const open = new Promise<string>((r) => started = r);
  let bobPeer: Peer | null = null;
  const homeA = await Deno.makeTempDir({ dir: reg.dir, prefix: `${a}-` });
  const homeB = await Deno.makeTempDir({ dir: reg.dir, prefix: `${b}-` });
  const bob = await Peer.start({
    target: target(homeB),
    credentials: { user: b, password: PASSWORD },
    home: homeB,
    port: 0,
    listenHost: host,
    logger,
  }, (ev: PeerEvent) => {
    if (ev.type === "chat_request") void bobPeer?.run(`/accept ${ev.from}`);
  });
  bobPeer = bob;
  const alice = await Peer.start({
    target: target(homeA),
    credentials: { user: a, password: PASSWORD },
    home: homeA,
    port: 0,
    listenHost: host,
    logger,
  }, (ev: PeerEvent) => {
    if (ev.type === "chat_started") started(ev.path);
    if (ev.type === "delivered") {
      const at = performance.now();
      const w = waiters.get(ev.id);
      if (w) w(at);
      else early.set(ev.id, at);
    }
  });
  try {
    await alice.run(`/chat ${b}`);
    const path = await open;
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      let done!: (at: number) => void;
      const delivered = new Promise<number>((r) => done = r);
      const reply = await alice.run(`/msg ${b} the quick brown fox ${i}`);
      if (
        !isReply(reply, "msg") || !("id" in reply.data) ||
        reply.data.id === undefined
      ) {
        throw new Error(JSON.stringify(reply));
      }
      const id = reply.data.id;
      const came = early.get(id);
      if (came !== undefined) {
        early.delete(id);
        done(came);
      } else waiters.set(id, done);
      const at = await delivered;
      waiters.delete(id);
      samples.push(at - t0);
    }
    return { samples, path };
  } finally {
    await alice.stop();
    await bob.stop();
  }
}

// ------------------------------------------------------------- 3. the links

/** What the links child is told. */
interface LinksConfig {
  port: number;
  fingerprint: string;
  dir: string;
  /** First bench user index; pairs are (first + 2j, first + 2j + 1). */
  first: number;
  links: number;
  rate: number;
}

/** The links child: opens the relayed links, then keeps each busy. */
async function linksMain(c: LinksConfig): Promise<void> {
  const say = (o: object) => console.log(JSON.stringify(o));
  const logger = new Logger("error", () => {});
  const target = { host: "127.0.0.1", port: c.port, pin: c.fingerprint };
  const endpoints: Endpoint[] = [];
  let received = 0;
  const links: { send: (b: Uint8Array) => Promise<void>; path: string }[] = [];
  let retries = 0;
  /** A login cut off on a loaded machine is tried again (up to 5 times). */
  const retried = async <T>(open: () => Promise<T>): Promise<T> => {
    for (let attempt = 1;; attempt++) {
      try {
        return await open();
      } catch (err) {
        if (attempt >= 5) throw err;
        retries++;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  };
  for (let j = 0; j < c.links; j++) {
    const home = await Deno.makeTempDir({ dir: c.dir, prefix: `link${j}-` });
    const [ua, ub] = [
      benchUser(c.first + 2 * j),
      benchUser(c.first + 2 * j + 1),
    ];
    const b = await retried(() =>
      Endpoint.open({
        target: { ...target, home: join(home, "b") },
        credentials: { user: ub, password: PASSWORD },
        kind: "peer",
        listen: { port: 0, host: HIDDEN },
        home: join(home, "b"),
        logger,
        onInbound: (link) => {
          void (async () => {
            for await (const f of link.frames) received += f.payload.length;
          })().catch(() => {});
        },
      })
    );
    const a = await retried(() =>
      Endpoint.open({
        target: { ...target, home: join(home, "a") },
        credentials: { user: ua, password: PASSWORD },
        kind: "tool",
        home: join(home, "a"),
        logger,
      })
    );
    endpoints.push(a, b);
    // On a loaded machine a dial can miss its deadline: tried again, counted.
    for (let attempt = 1;; attempt++) {
      try {
        const { link, path } = await a.links.open(ub, "chat");
        links.push({ send: (bytes) => link.conn.sendData(bytes), path });
        break;
      } catch (err) {
        if (attempt >= 5) throw err;
        retries++;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
  const relayed = links.filter((l) => l.path === "relayed").length;
  say({ type: "ready", links: links.length, relayed, retries });
  const chunk = new Uint8Array(Math.max(1, Math.round(c.rate / 10)));
  const timer = setInterval(() => {
    for (const l of links) l.send(chunk).catch(() => {});
  }, 100);
  for await (const _ of Deno.stdin.readable) { /* until stdin closes */ }
  clearInterval(timer);
  say({ type: "done", received });
  await Promise.all(endpoints.map((e) => e.close()));
}

async function window(pid: number, ms: number) {
  const s = new ProcessSampler(pid, 250).start();
  await new Promise((r) => setTimeout(r, ms));
  const out = s.stop();
  const now = readProcMemory(pid);
  return { cpu: out.cpuPercent, rss: mib(now?.rssBytes ?? out.peakRssBytes) };
}

// ---------------------------------------------------------------- scenario

/** Runs P7 and returns its metrics. */
export async function relayMetrics(opts: RunOptions): Promise<Metric[]> {
  const plan = planFor(opts.quick);
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-p7-" });
  const dbPath = join(dir, "registry.db");
  const extra = plan.peers + 2 * plan.links;
  const user = (k: number) => benchUser(extra + k);
  await seedDatabase(dbPath, extra + 8, 0);
  const reg = await startRegistry(dir, dbPath);
  const loaders: LoadGenerator[] = [];
  let linksChild: Deno.ChildProcess | null = null;
  const out: Metric[] = [];
  try {
    // 1. Pipes, direct then relayed, the same bytes.
    const direct = await pipeOnce(
      reg,
      user(0),
      user(1),
      plan.pipeBytes,
      "0.0.0.0",
    );
    const relayed = await pipeOnce(
      reg,
      user(2),
      user(3),
      plan.pipeBytes,
      HIDDEN,
    );
    if (!/\(direct\)$/.test(direct.line)) throw new Error(direct.line);
    if (!/relayed through the registry\)$/.test(relayed.line)) {
      throw new Error(relayed.line);
    }
    const ratio = relayed.mbps / direct.mbps;
    const size = `${mib(plan.pipeBytes)} MiB`;
    out.push(
      info("direct pipe", direct.mbps, "MiB/s", size),
      info("relayed pipe", relayed.mbps, "MiB/s", size),
      atLeast("relayed / direct pipe", ratio * 100, "%", RATIO_TARGET * 100),
    );

    // 2. Message → delivered, direct and relayed.
    const d = await latencies(
      reg,
      user(4),
      user(5),
      "127.0.0.1",
      plan.messages,
    );
    const r = await latencies(reg, user(6), user(7), HIDDEN, plan.messages);
    if (d.path !== "direct" || r.path !== "relayed") {
      throw new Error(`paths were ${d.path} and ${r.path}`);
    }
    const ds = stats(d.samples);
    const rs = stats(r.samples);
    out.push(
      info("direct message p99", ds.p99, "ms", `p50 ${ds.p50.toFixed(2)} ms`),
      info("relayed message p50", rs.p50, "ms"),
      atMost(
        "relayed message p99",
        rs.p99,
        "ms",
        RELAYED_P99_TARGET_MS,
        `${rs.n} messages`,
      ),
    );

    // 3. P1's load, then 100 relayed links on top of it.
    const certFile = join(dir, "registry-cert.pem");
    for (let first = 0; first < plan.peers; first += SESSIONS_PER_LOADER) {
      loaders.push(
        new LoadGenerator(LOADER, {
          port: reg.port,
          udpPort: reg.udpPort,
          certFile,
          first,
          count: Math.min(SESSIONS_PER_LOADER, plan.peers - first),
          total: plan.peers,
          searchEveryMs: 10_000,
        }),
      );
    }
    const ready = await Promise.all(
      loaders.map((l) => l.next<{ loggedIn: number }>("ready", 900_000)),
    );
    const online = ready.reduce((a, x) => a + x.loggedIn, 0);
    await new Promise((res) => setTimeout(res, 3_000));
    const base = await window(reg.pid, plan.windowMs);
    const config: LinksConfig = {
      port: reg.port,
      fingerprint: reg.fingerprint,
      dir,
      first: plan.peers,
      links: plan.links,
      rate: LINK_RATE,
    };
    linksChild = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        SELF,
        "--links-child",
        JSON.stringify(config),
      ],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = linksChild.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let buf = "";
    const nextLine = async () => {
      while (!buf.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) throw new Error("the links child exited");
        buf += value;
      }
      const line = buf.slice(0, buf.indexOf("\n"));
      buf = buf.slice(buf.indexOf("\n") + 1);
      return JSON.parse(line);
    };
    const linksReady = await nextLine();
    if (linksReady.relayed !== plan.links) {
      throw new Error(
        `only ${linksReady.relayed} of ${plan.links} links relayed`,
      );
    }
    await new Promise((res) => setTimeout(res, 2_000));
    const loaded = await window(reg.pid, plan.windowMs);
    await linksChild.stdin.close();
    const done = await nextLine();
    await lines.cancel();
    await linksChild.status;
    linksChild = null;
    const note = `${online} peer sessions; ${plan.links} relayed links × ${
      LINK_RATE / 1024
    } KiB/s${
      linksReady.retries > 0 ? `; ${linksReady.retries} dials retried` : ""
    }`;
    out.push(
      info(
        "registry CPU, P1 load alone",
        base.cpu,
        "%",
        `${online} peer sessions`,
      ),
      atMost(
        "registry CPU, relaying too",
        loaded.cpu,
        "%",
        TARGETS.cpuPercent,
        note,
      ),
      info("registry RSS, P1 load alone", base.rss, "MiB"),
      atMost(
        "registry RSS, relaying too",
        loaded.rss,
        "MiB",
        TARGETS.rssMiB,
        note,
      ),
      info(
        "bytes relayed in the window",
        mib(done.received),
        "MiB",
        "received by the links' far ends",
      ),
    );
    return out;
  } finally {
    if (linksChild) {
      try {
        linksChild.kill("SIGKILL");
      } catch {
        // Exited.
      }
      await linksChild.status;
    }
    await Promise.all(loaders.map((l) => l.stop()));
    await reg.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** P7 for bench/scenarios.ts. */
export const relayScenario: Scenario = {
  id: "P7",
  name: "relayed link vs direct",
  run: relayMetrics,
};

if (import.meta.main) {
  const [mode, arg] = Deno.args;
  if (mode === "--links-child") await linksMain(JSON.parse(arg!));
  else await runStandalone(relayScenario);
}
