/**
 * R2: the soak — peers joining, chatting, using a room, sending files and
 * leaving, in a loop, for 10 minutes (1 with --quick), while the registry and
 * a few long-lived peers are watched for growth (SPEC §3; issue 9).
 *
 * Everything is a real process started with the flags chat ships with: one
 * `chat registry` and `chat peer --json` peers.
 *
 * - Three anchors live through the whole run: anchor0 and anchor1 keep a
 *   direct chat going, all three are in the room `lounge`, and they accept
 *   every chat request and file offer they get.
 * - Each cycle, two visitors (from a pool of eight accounts, so the database
 *   does not grow without end) start, join the lounge, talk in it, open a
 *   direct chat with anchor1, send anchor2 a 256 KiB file, leave the room and
 *   quit; the anchors talk meanwhile.
 * - Every few seconds the RSS and open file descriptors of the registry and
 *   of each anchor are sampled from /proc. Growth is the least-squares slope
 *   of RSS over time after a warm-up (MiB per minute); descriptors are
 *   compared between the end of the warm-up and the end of the run, with no
 *   visitor running.
 *
 * Run alone: `deno run -A bench/soak.ts [--quick]`. CHAT_BENCH_SOAK_MINUTES
 * overrides the length.
 */
import { join } from "node:path";
import {
  atMost,
  type BenchRegistry,
  chatRunArgs,
  info,
  type Metric,
  mib,
  readProcMemory,
  type RunOptions,
  runStandalone,
  type Scenario,
  spawnBenchRegistry,
} from "./harness.ts";
import { linesOf } from "./registry_load.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Growth beyond this many MiB per minute is a trend, not noise. */
const GROWTH_LIMIT_MIB_PER_MIN = 1;

interface Plan {
  minutes: number;
  sampleEveryMs: number;
  /** Samples before this are the warm-up. */
  warmupMs: number;
}

function planFor(quick: boolean): Plan {
  const minutes = Number(Deno.env.get("CHAT_BENCH_SOAK_MINUTES") ?? "");
  const plan = quick
    ? { minutes: 1, sampleEveryMs: 2_000, warmupMs: 15_000 }
    : { minutes: 10, sampleEveryMs: 5_000, warmupMs: 120_000 };
  return minutes > 0
    ? { ...plan, minutes, warmupMs: Math.min(plan.warmupMs, minutes * 12_000) }
    : plan;
}

// ------------------------------------------------------------ a JSON peer

type Line = Record<string, unknown> & { type: string };

/** A `chat peer --json` process driven line by line. */
class JsonPeer {
  readonly lines: Line[] = [];
  readonly child: Deno.ChildProcess;
  readonly exited: Promise<number>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #replies: ((l: Line) => void)[] = [];
  #onEvent: (l: Line) => void = () => {};

  constructor(
    readonly user: string,
    readonly home: string,
    reg: BenchRegistry,
  ) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        ...chatRunArgs(),
        MAIN,
        "peer",
        "--json",
        "--signup",
        "--user",
        user,
        "--registry",
        `127.0.0.1:${reg.port}`,
      ],
      cwd: ROOT,
      env: {
        CHAT_HOME: home,
        CHAT_PASSWORD: `${user}-soak-password`,
        CHAT_REGISTRY_FINGERPRINT: reg.fingerprint,
        NO_COLOR: "1",
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.child = child;
    this.#writer = child.stdin.getWriter();
    const reading = (async () => {
      for await (const raw of linesOf(child.stdout)) {
        let l: Line;
        try {
          l = JSON.parse(raw);
        } catch {
          continue;
        }
        // Keep memory flat in a 10-minute run: only recent lines.
        this.lines.push(l);
        if (this.lines.length > 2_000) this.lines.splice(0, 1_000);
        if (l.type === "reply") this.#replies.shift()?.(l);
        else this.#onEvent(l);
      }
    })().catch(() => {});
    this.exited = child.status.then(async (s) => {
      await reading;
      for (const r of this.#replies.splice(0)) {
        r({ type: "reply", ok: false, error: "exited" });
      }
      return s.code;
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  onEvent(fn: (l: Line) => void): void {
    this.#onEvent = fn;
  }

  /** Sends a command and resolves with its reply. */
  async send(line: string, timeoutMs = 30_000): Promise<Line> {
    const reply = new Promise<Line>((r) => this.#replies.push(r));
    await this.#writer.write(new TextEncoder().encode(line + "\n"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        reply,
        new Promise<Line>((_, reject) =>
          timer = setTimeout(
            () => reject(new Error(`${this.user}: no reply to ${line}`)),
            timeoutMs,
          )
        ),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for a line matching `pred` (already printed or to come). */
  async waitFor(
    pred: (l: Line) => boolean,
    what: string,
    timeoutMs = 30_000,
  ): Promise<Line> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`${this.user}: no ${what}`);
  }

  /** Ends stdin (log out and exit); SIGKILL after `graceMs`. */
  async quit(graceMs = 15_000): Promise<number> {
    await this.#writer.close().catch(() => {});
    const code = await Promise.race([
      this.exited,
      new Promise<null>((r) => setTimeout(() => r(null), graceMs)),
    ]);
    if (code !== null) return code;
    try {
      this.child.kill("SIGKILL");
    } catch {
      // Gone meanwhile.
    }
    return await this.exited;
  }
}

// -------------------------------------------------------------- the soak

/** One sample of one process. */
interface Sample {
  t: number;
  rssMiB: number;
  fds: number;
}

function fdCount(pid: number): number {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
  } catch {
    return NaN;
  }
}

/** Least-squares slope of y over x. */
export function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return NaN;
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const d = n * sxx - sx * sx;
  return d === 0 ? NaN : (n * sxy - sx * sy) / d;
}

interface Counters {
  cycles: number;
  visits: number;
  direct: number;
  room: number;
  files: number;
  failures: number;
  firstFailures: string[];
}

interface Measured {
  plan: Plan;
  quick: boolean;
  seconds: number;
  counters: Counters;
  series: Record<string, Sample[]>;
  fdStart: Record<string, number>;
  fdEnd: Record<string, number>;
}

async function soak(plan: Plan): Promise<Measured> {
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-soak-" });
  const file = join(dir, "payload.bin");
  // 256 KiB of random bytes (getRandomValues fills 64 KiB at most).
  const payload = new Uint8Array(256 * 1024);
  for (let at = 0; at < payload.length; at += 65_536) {
    crypto.getRandomValues(payload.subarray(at, at + 65_536));
  }
  await Deno.writeFile(file, payload);
  let registry: BenchRegistry | null = null;
  const anchors: JsonPeer[] = [];
  const visitors = new Set<JsonPeer>();
  const c: Counters = {
    cycles: 0,
    visits: 0,
    direct: 0,
    room: 0,
    files: 0,
    failures: 0,
    firstFailures: [],
  };
  const fail = (what: string, err: unknown) => {
    c.failures++;
    if (c.firstFailures.length < 5) c.firstFailures.push(`${what}: ${err}`);
  };
  const series: Record<string, Sample[]> = {};
  let sampler: ReturnType<typeof setInterval> | undefined;
  try {
    registry = await spawnBenchRegistry(dir, 30_000);
    const reg = registry;
    for (let i = 0; i < 3; i++) {
      anchors.push(new JsonPeer(`anchor${i}`, join(dir, `anchor${i}`), reg));
    }
    await Promise.all(
      anchors.map((a) => a.waitFor((l) => l.type === "ready", "ready")),
    );
    // Anchors accept every chat and every file.
    for (const a of anchors) {
      a.onEvent((l) => {
        if (l.type === "chat_request") {
          void a.send(`/accept ${l.from}`).catch(() => {});
        } else if (l.type === "file_offer") {
          void a.send(`/file accept ${l.id}`).catch(() => {});
        }
      });
    }
    const [a0, a1, a2] = anchors as [JsonPeer, JsonPeer, JsonPeer];
    await a0.send("/room create lounge --capacity 100");
    await a1.send("/join lounge");
    await a2.send("/join lounge");
    await a0.send("/chat anchor1");
    await a0.waitFor(
      (l) => l.type === "chat_started" && l.with === "anchor1",
      "chat with anchor1",
    );

    const watched: [string, () => number][] = [
      ["registry", () => reg.child.pid],
      ...anchors.map((a) => [a.user, () => a.pid] as [string, () => number]),
    ];
    for (const [name] of watched) series[name] = [];
    const start = performance.now();
    const sample = () => {
      const t = performance.now() - start;
      for (const [name, pid] of watched) {
        const mem = readProcMemory(pid());
        if (!mem) continue;
        series[name]!.push({
          t,
          rssMiB: mib(mem.rssBytes),
          fds: fdCount(pid()),
        });
      }
    };
    sample();
    sampler = setInterval(sample, plan.sampleEveryMs);

    const visit = async (name: string) => {
      const v = new JsonPeer(name, join(dir, name), reg);
      visitors.add(v);
      try {
        await v.waitFor((l) => l.type === "ready", "ready", 60_000);
        c.visits++;
        const ok = async (line: string) => {
          const r = await v.send(line);
          if (r.ok !== true) throw new Error(`${line}: ${r.error}`);
          return r;
        };
        await ok("/join lounge");
        for (let i = 0; i < 3; i++) {
          await ok(`/say lounge ${name} says hi ${i}`);
          c.room++;
        }
        const first = await ok(`/msg anchor1 hello from ${name}`);
        await v.waitFor(
          (l) => l.type === "delivered" && l.id === first.id,
          "delivery of the first message",
        );
        c.direct++;
        for (let i = 0; i < 5; i++) {
          const r = await ok(`/msg anchor1 ${name} line ${i}`);
          await v.waitFor(
            (l) => l.type === "delivered" && l.id === r.id,
            "delivery",
          );
          c.direct++;
        }
        const sent = await ok(`/send anchor2 ${file}`);
        await v.waitFor(
          (l) =>
            (l.type === "file_sent" || l.type === "transfer_failed") &&
            l.id === sent.id,
          "the file's end",
          60_000,
        ).then((l) => {
          if (l.type !== "file_sent") throw new Error(`file: ${l.reason}`);
        });
        c.files++;
        await ok(`/close anchor1`);
        await ok("/leave lounge");
      } catch (err) {
        fail(name, err);
      } finally {
        const code = await v.quit();
        if (code !== 0) fail(name, `exited ${code}`);
        visitors.delete(v);
      }
    };

    const anchorsTalk = async () => {
      for (let i = 0; i < 10; i++) {
        try {
          const r = await a0.send(`/msg anchor1 keep-alive ${c.cycles}.${i}`);
          if (r.ok !== true) throw new Error(String(r.error));
          c.direct++;
          if (i % 2 === 0) {
            const s = await a2.send(`/say lounge anchor2 ${c.cycles}.${i}`);
            if (s.ok !== true) throw new Error(String(s.error));
            c.room++;
          }
        } catch (err) {
          fail("anchors", err);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    const endAt = start + plan.minutes * 60_000;
    let fdStart: Record<string, number> = {};
    let pool = 0;
    while (performance.now() < endAt) {
      await Promise.all([
        visit(`visitor${pool++ % 8}`),
        visit(`visitor${pool++ % 8}`),
        anchorsTalk(),
      ]);
      c.cycles++;
      // Files land in anchor2's downloads; the disk is not what we watch.
      await Deno.remove(join(dir, "anchor2", "downloads"), { recursive: true })
        .catch(() => {});
      if (
        Object.keys(fdStart).length === 0 &&
        performance.now() - start >= plan.warmupMs
      ) {
        fdStart = await quietFds(watched);
      }
      console.error(
        `  R2: ${
          ((performance.now() - start) / 60_000).toFixed(1)
        } min, ${c.cycles} cycles, ${c.visits} visits, ${c.failures} failures; registry ${
          series.registry!.at(-1)?.rssMiB.toFixed(0)
        } MiB`,
      );
    }
    clearInterval(sampler);
    sampler = undefined;
    sample();
    const fdEnd = await quietFds(watched);
    if (Object.keys(fdStart).length === 0) fdStart = fdEnd;
    const seconds = (performance.now() - start) / 1000;
    for (const a of anchors) {
      const code = await a.quit();
      if (code !== 0) fail(a.user, `exited ${code}`);
    }
    anchors.length = 0;
    return {
      plan,
      quick: plan.minutes < 5,
      seconds,
      counters: c,
      series,
      fdStart,
      fdEnd,
    };
  } finally {
    clearInterval(sampler);
    for (const v of visitors) await v.quit(1_000).catch(() => 0);
    for (const a of anchors) await a.quit(1_000).catch(() => 0);
    await registry?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Descriptor counts once they stop changing (a closing link takes a moment
 * to go): the lowest of a few readings over a second.
 */
async function quietFds(
  watched: [string, () => number][],
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < 5; i++) {
    for (const [name, pid] of watched) {
      const n = fdCount(pid());
      out[name] = Math.min(out[name] ?? Infinity, n);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return out;
}

function metrics(m: Measured): Metric[] {
  const c = m.counters;
  const out: Metric[] = [
    info(
      "soak length",
      m.seconds / 60,
      "min",
      `${c.cycles} cycles: ${c.visits} visitor sessions, ${c.direct} direct and ${c.room} room messages, ${c.files} files of 256 KiB`,
    ),
    atMost(
      "failures",
      c.failures,
      "count",
      0,
      c.firstFailures.length ? `first: ${c.firstFailures.join(" | ")}` : "",
    ),
  ];
  for (const [name, samples] of Object.entries(m.series)) {
    const after = samples.filter((s) => s.t >= m.plan.warmupMs);
    const points = (after.length >= 3 ? after : samples).map((
      s,
    ) => [s.t / 60_000, s.rssMiB] as [number, number]);
    const rss = points.map(([, y]) => y);
    // A minute is too short to tell a trend from the warm-up: a quick run
    // reports the slope without judging it.
    const growth = m.quick ? info : (
      name: string,
      value: number,
      unit: string,
      note: string,
    ) => atMost(name, value, unit, GROWTH_LIMIT_MIB_PER_MIN, note);
    out.push(
      growth(
        `${name} RSS growth`,
        slope(points),
        "MiB/min",
        `least-squares slope over ${points.length} samples after a ${
          m.plan.warmupMs / 1000
        } s warm-up; RSS ${Math.min(...rss).toFixed(1)}–${
          Math.max(...rss).toFixed(1)
        } MiB, ${rss.at(-1)?.toFixed(1)} MiB at the end`,
      ),
      atMost(
        `${name} descriptors gained`,
        (m.fdEnd[name] ?? NaN) - (m.fdStart[name] ?? NaN),
        "fds",
        0,
        `${m.fdStart[name]} after the warm-up, ${
          m.fdEnd[name]
        } at the end, no visitor running`,
      ),
    );
  }
  return out;
}

/** R2: the soak. */
export const soakScenario: Scenario = {
  id: "R2",
  name:
    "soak: peers join, chat, use a room, send files and leave for 10 minutes; growth of RSS and descriptors",
  async run(opts: RunOptions): Promise<Metric[]> {
    return metrics(await soak(planFor(opts.quick)));
  },
};

if (import.meta.main) await runStandalone(soakScenario);
