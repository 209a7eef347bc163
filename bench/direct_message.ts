/**
 * P3: a direct message from A to B, and the delivered event back at A.
 *
 * The registry runs in this process (it only introduces the two peers; no
 * message passes through it). Each peer is its own process running the Peer
 * core (peer/core.ts) through a small driver, this same file with `--driver`:
 * commands go in as `peer.run("/msg bob …")` exactly as the shell and JSON
 * mode pass them, events come out of the core's event sink. Between the two
 * processes every message crosses a real TLS connection on 127.0.0.1.
 *
 * 1. Latency: alice sends messages one at a time; each sample is from the
 *    call of `run("/msg bob …")` to the `delivered` event for its id, timed
 *    inside alice's process (p50/p99 over 2,000; 200 with --quick).
 * 2. Throughput: alice sends a burst of 20,000 messages (2,000 with --quick)
 *    as fast as `run` returns; bob counts them. Messages per second one way
 *    is the burst size over the time from alice's first send to bob's last
 *    message event (both read from the machine's wall clock at microsecond
 *    resolution, `performance.timeOrigin + performance.now()`).
 * 3. The same latency through the JSON front end (`chat peer --json`
 *    processes, timed by this process from writing the line to reading the
 *    delivered line), for information: it adds two pipe hops and JSON.
 *
 * Run alone: `deno run -A bench/direct_message.ts [--quick]`.
 */
import { join } from "node:path";
import { Logger } from "../common/log.ts";
import { loadIdentity, Registry } from "../registry/mod.ts";
import { isReply, Peer, type PeerEvent } from "../peer/mod.ts";
import {
  atLeast,
  atMost,
  chatRunArgs,
  info,
  type Metric,
  type RunOptions,
  runStandalone,
  type Scenario,
  stats,
} from "./harness.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
const MAIN = join(ROOT, "main.ts");

/** SPEC.md §4 P3 targets. */
export const P50_TARGET_MS = 1;
export const P99_TARGET_MS = 5;
export const RATE_TARGET = 20_000;

/** A 40-byte message body, about the size of a short chat line. */
const TEXT = "the quick brown fox jumps over the dog";

/** What a driver is told on its command line. */
interface DriverArgs {
  user: string;
  port: number;
  pin: string;
  home: string;
}

/** Microseconds-precise wall clock, comparable between processes. */
function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

// ----------------------------------------------------------------- driver

/**
 * One peer process. Reads commands from stdin, one per line, and answers
 * with one JSON line each on stdout:
 *   `chat NAME`          → {"ok":true} once the chat is open
 *   `latency N`          → {"samples":[ms…]}
 *   `burst N`            → {"start":wallMs,"delivered":wallMs}
 *   `expect N`           → {"ok":true} now; {"received":N,"end":wallMs} when
 *                          the N-th message of the burst arrives
 * A chat request is accepted at once.
 */
async function driver(args: DriverArgs): Promise<void> {
  const out = (obj: object) => console.log(JSON.stringify(obj));
  const delivered = new Map<number, () => void>();
  const done = new Set<number>();
  let started: (() => void) | null = null;
  let expect = 0;
  let received = 0;
  let lastDelivered = 0;
  let peer: Peer | null = null;
  const onEvent = (ev: PeerEvent) => {
    switch (ev.type) {
      case "delivered": {
        lastDelivered = wallMs();
        const wake = delivered.get(ev.id);
        if (wake) {
          delivered.delete(ev.id);
          wake();
        } else done.add(ev.id);
        return;
      }
      case "message":
        if (expect > 0 && ++received === expect) {
          out({ received, end: wallMs() });
          expect = 0;
        }
        return;
      case "chat_request":
        queueMicrotask(() => void peer?.run(`/accept ${ev.from}`));
        return;
      case "chat_started":
        started?.();
        return;
      case "chat_closed":
      case "error":
        console.error(JSON.stringify(ev));
        return;
    }
  };
  peer = await Peer.start({
    target: {
      host: "127.0.0.1",
      port: args.port,
      home: args.home,
      pin: args.pin,
    },
    credentials: { user: args.user, password: `${args.user}-bench-pw` },
    home: args.home,
    port: 0,
    listenHost: "127.0.0.1",
    signup: true,
    logger: new Logger("warn", (line) => console.error(line)),
  }, onEvent);
  const send = async (to: string, text: string): Promise<number> => {
    const r = await peer!.run(`/msg ${to} ${text}`);
    if (!r.ok) throw new Error(r.error);
    if (!isReply(r, "msg") || r.data.state !== "sent") {
      throw new Error(`/msg ${to} was not sent: ${JSON.stringify(r)}`);
    }
    return r.data.id;
  };
  const waitDelivered = (id: number) =>
    done.delete(id) ? Promise.resolve() : new Promise<void>((resolve) => {
      delivered.set(id, resolve);
    });
  out({ ready: true });
  const decoder = new TextDecoderStream();
  let buf = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(decoder)) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const [cmd, arg = ""] = buf.slice(0, nl).split(" ");
      buf = buf.slice(nl + 1);
      switch (cmd) {
        case "chat": {
          const open = new Promise<void>((resolve) => started = resolve);
          const r = await peer.run(`/chat ${arg}`);
          if (!r.ok) throw new Error(r.error);
          await open;
          out({ ok: true });
          break;
        }
        case "latency": {
          const samples: number[] = [];
          for (let i = 0; i < Number(arg); i++) {
            const t0 = performance.now();
            await waitDelivered(await send("bob", `${TEXT} ${i}`));
            samples.push(performance.now() - t0);
          }
          out({ samples });
          break;
        }
        case "burst": {
          const n = Number(arg);
          const start = wallMs();
          let last = 0;
          for (let i = 0; i < n; i++) last = await send("bob", `${TEXT} ${i}`);
          await waitDelivered(last);
          out({ start, sent: wallMs(), delivered: lastDelivered });
          break;
        }
        case "expect":
          received = 0;
          expect = Number(arg);
          out({ ok: true });
          break;
        case "quit":
          await peer.stop();
          return;
      }
    }
  }
  await peer.stop();
}

// ------------------------------------------------------------ the scenario

/** A child process spoken to in lines of JSON. */
interface LineChild {
  child: Deno.ChildProcess;
  /** Writes one line. */
  write(line: string): Promise<void>;
  /** The next JSON line from its stdout matching `pred`. */
  next<T = Record<string, unknown>>(
    pred?: (v: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<T>;
  stderr: string[];
  close(): Promise<void>;
}

function spawnLines(args: string[], env: Record<string, string>): LineChild {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  (async () => {
    for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr.push(c);
      if (stderr.length > 50) stderr.shift();
    }
  })().catch(() => {});
  const queue: Record<string, unknown>[] = [];
  let wake = null as (() => void) | null;
  let ended = false;
  (async () => {
    let buf = "";
    for await (const c of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += c;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          queue.push(JSON.parse(line));
        } catch {
          // Not ours.
        }
      }
      wake?.();
    }
  })().catch(() => {}).finally(() => {
    ended = true;
    wake?.();
  });
  const writer = child.stdin.getWriter();
  const enc = new TextEncoder();
  return {
    child,
    stderr,
    write: (line) => writer.write(enc.encode(line + "\n")),
    async next(pred = () => true, timeoutMs = 120_000) {
      const deadline = performance.now() + timeoutMs;
      while (true) {
        const i = queue.findIndex(pred);
        if (i >= 0) return queue.splice(0, i + 1)[i] as never;
        if (ended) {
          throw new Error(`child ended: ${stderr.join("").slice(-500)}`);
        }
        const left = deadline - performance.now();
        if (left <= 0) {
          throw new Error(`no answer: ${stderr.join("").slice(-500)}`);
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, left);
        });
        clearTimeout(timer);
        wake = null;
      }
    },
    async close() {
      await writer.close().catch(() => {});
      let timer: ReturnType<typeof setTimeout> | undefined;
      const status = await Promise.race([
        child.status,
        new Promise<null>((r) => timer = setTimeout(() => r(null), 10_000)),
      ]);
      clearTimeout(timer);
      if (!status) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Gone.
        }
        await child.status;
      }
    },
  };
}

/** Part 1 and 2: Peer cores in two processes. */
async function coreMetrics(
  registry: Registry,
  dir: string,
  opts: RunOptions,
): Promise<Metric[]> {
  const driverFor = (user: string) =>
    spawnLines([
      ...chatRunArgs(),
      SELF,
      "--driver",
      JSON.stringify(
        {
          user,
          port: registry.port,
          pin: registry.fingerprint,
          home: join(dir, user),
        } satisfies DriverArgs,
      ),
    ], {});
  const alice = driverFor("alice");
  const bob = driverFor("bob");
  try {
    await alice.next((v) => v.ready === true);
    await bob.next((v) => v.ready === true);
    await alice.write("chat bob");
    await alice.next((v) => v.ok === true);

    const count = opts.quick ? 200 : 2000;
    await alice.write(`latency 100`); // warm-up: JIT, buffers
    await alice.next((v) => Array.isArray(v.samples));
    await alice.write(`latency ${count}`);
    const { samples } = await alice.next<{ samples: number[] }>((v) =>
      Array.isArray(v.samples)
    );
    const lat = stats(samples);

    const burst = opts.quick ? 2000 : 20_000;
    await bob.write(`expect ${burst}`);
    await bob.next((v) => v.ok === true);
    await alice.write(`burst ${burst}`);
    const sent = await alice.next<
      { start: number; sent: number; delivered: number }
    >((v) => typeof v.start === "number");
    const got = await bob.next<{ received: number; end: number }>((v) =>
      typeof v.received === "number"
    );
    const oneWay = burst / ((got.end - sent.start) / 1000);
    const acked = burst / ((sent.delivered - sent.start) / 1000);
    const note =
      `Peer core per process over TLS, ${count} messages one at a time`;
    return [
      atMost("message → delivered p50", lat.p50, "ms", P50_TARGET_MS, note),
      atMost("message → delivered p99", lat.p99, "ms", P99_TARGET_MS),
      info("message → delivered max", lat.max, "ms"),
      atLeast(
        "one-way throughput",
        oneWay,
        "msg/s",
        RATE_TARGET,
        `burst of ${burst}, first send at alice to last message at bob`,
      ),
      info(
        "throughput with every delivery back",
        acked,
        "msg/s",
        "first send to the last delivered event at alice",
      ),
    ];
  } finally {
    await alice.write("quit").catch(() => {});
    await bob.write("quit").catch(() => {});
    await alice.close();
    await bob.close();
  }
}

/** Part 3: the same latency through `chat peer --json`, for information. */
async function jsonModeMetrics(
  registry: Registry,
  dir: string,
  opts: RunOptions,
): Promise<Metric[]> {
  const peerFor = (user: string) =>
    spawnLines([
      ...chatRunArgs(),
      MAIN,
      "peer",
      "--json",
      "--signup",
      "--user",
      user,
      "--registry",
      `127.0.0.1:${registry.port}`,
    ], {
      CHAT_HOME: join(dir, `json-${user}`),
      CHAT_PASSWORD: `${user}-bench-pw`,
      CHAT_REGISTRY_FINGERPRINT: registry.fingerprint,
    });
  const alice = peerFor("alice2");
  const bob = peerFor("bob2");
  try {
    await alice.next((v) => v.type === "ready");
    await bob.next((v) => v.type === "ready");
    await alice.write("/chat bob2");
    await bob.next((v) => v.type === "chat_request");
    await bob.write("/accept alice2");
    await alice.next((v) => v.type === "chat_started");
    const count = opts.quick ? 100 : 1000;
    const samples: number[] = [];
    for (let i = 0; i < count + 50; i++) {
      const t0 = performance.now();
      await alice.write(`/msg bob2 ${TEXT} ${i}`);
      const r = await alice.next((v) => v.type === "reply");
      await alice.next((v) => v.type === "delivered" && v.id === r.id);
      if (i >= 50) samples.push(performance.now() - t0);
    }
    const s = stats(samples);
    const note =
      `chat peer --json processes, timed by the bench through their pipes, ${count} messages`;
    return [
      info("JSON mode line → delivered line p50", s.p50, "ms", note),
      info("JSON mode line → delivered line p99", s.p99, "ms"),
    ];
  } finally {
    await alice.close();
    await bob.close();
  }
}

/** P3: direct messages. */
export const directMessageScenario: Scenario = {
  id: "P3",
  name: "direct message A→B, delivered back at A; one-way throughput",
  async run(opts) {
    const dir = await Deno.makeTempDir({ prefix: "chat-bench-p3-" });
    const registry = await Registry.start({
      host: "127.0.0.1",
      port: 0,
      udpPort: 0,
      dbPath: join(dir, "registry.db"),
      identity: await loadIdentity(dir),
      logger: new Logger("error", () => {}),
    });
    try {
      return [
        ...await coreMetrics(registry, dir, opts),
        ...await jsonModeMetrics(registry, dir, opts),
      ];
    } finally {
      await registry.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
};

if (import.meta.main) {
  const i = Deno.args.indexOf("--driver");
  if (i >= 0) await driver(JSON.parse(Deno.args[i + 1]!));
  else await runStandalone(directMessageScenario);
}
