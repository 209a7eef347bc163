/**
 * The benchmark harness: what a scenario is, the statistics and process
 * measurements scenarios share, and the table they print.
 *
 * A scenario measures one row of the performance table in SPEC.md §4 and
 * returns metrics; each metric may carry a target and whether it was met.
 * Scenarios are registered in bench/scenarios.ts and run by bench/main.ts;
 * each scenario file can also run alone (`deno run -A bench/<file>.ts`).
 */
import { V8_FLAGS } from "../common/v8_flags.ts";

/** One measured number. */
export interface Metric {
  /** What was measured, e.g. "chat --help p99". */
  name: string;
  /** The measurement; NaN when it could not be measured (see `note`). */
  value: number;
  /** Unit of `value`: "ms", "MiB", "%", "msg/s", ... */
  unit: string;
  /** The target in words, e.g. "≤ 150 ms"; absent for information only. */
  target?: string;
  /** Whether the target was met; absent when there is no target. */
  ok?: boolean;
  /** Why a value is missing, or what it includes. */
  note?: string;
}

/** How a scenario should run. */
export interface RunOptions {
  /** Small sizes and few repetitions: checks the scenario works, fast. */
  quick: boolean;
}

/** One benchmark scenario, e.g. P6 "startup". */
export interface Scenario {
  /** The id from SPEC.md §4, e.g. "P6". */
  id: string;
  /** A short human name. */
  name: string;
  /** Runs the scenario and returns its metrics. */
  run(opts: RunOptions): Promise<Metric[]>;
}

// ---------------------------------------------------------------- statistics

/**
 * The p-th percentile (0..100) by nearest rank: always one of the values, so
 * p99 of 20 runs is the slowest run. NaN for no values.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  if (!(p >= 0 && p <= 100)) {
    throw new RangeError(`percentile must be within 0..100, got ${p}`);
  }
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** Summary of a sample. */
export interface Stats {
  n: number;
  min: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

/** Count, min, mean, p50, p99 and max of a sample (NaN fields when empty). */
export function stats(values: readonly number[]): Stats {
  const n = values.length;
  let sum = 0;
  for (const v of values) sum += v;
  return {
    n,
    min: n ? Math.min(...values) : NaN,
    mean: n ? sum / n : NaN,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: n ? Math.max(...values) : NaN,
  };
}

/** Runs `fn` and returns its result and how long it took in ms. */
export async function timed<T>(
  fn: () => Promise<T> | T,
): Promise<{ ms: number; result: T }> {
  const start = performance.now();
  const result = await fn();
  return { ms: performance.now() - start, result };
}

/** Runs `fn` `runs` times one after another and returns each duration in ms. */
export async function repeatTimed(
  runs: number,
  fn: (i: number) => Promise<unknown> | unknown,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn(i);
    out.push(performance.now() - start);
  }
  return out;
}

// ------------------------------------------------------------------- metrics

/** A metric whose target is an upper bound. */
export function atMost(
  name: string,
  value: number,
  unit: string,
  limit: number,
  note?: string,
): Metric {
  return {
    name,
    value,
    unit,
    target: `≤ ${limit} ${unit}`,
    ok: value <= limit,
    ...(note ? { note } : {}),
  };
}

/** A metric whose target is a lower bound. */
export function atLeast(
  name: string,
  value: number,
  unit: string,
  limit: number,
  note?: string,
): Metric {
  return {
    name,
    value,
    unit,
    target: `≥ ${limit} ${unit}`,
    ok: value >= limit,
    ...(note ? { note } : {}),
  };
}

/** A metric reported for information, with no target. */
export function info(
  name: string,
  value: number,
  unit: string,
  note?: string,
): Metric {
  return { name, value, unit, ...(note ? { note } : {}) };
}

/** A metric that could not be measured; `target` is kept so the gap shows. */
export function notMeasured(
  name: string,
  unit: string,
  note: string,
  target?: string,
): Metric {
  return {
    name,
    value: NaN,
    unit,
    ...(target ? { target, ok: false } : {}),
    note,
  };
}

// ---------------------------------------------------- processes and /proc

/** Memory of a process from /proc/<pid>/status, in bytes. */
export interface ProcMemory {
  /** Resident set size now (VmRSS). */
  rssBytes: number;
  /** Peak resident set size so far (VmHWM, the "high water mark"). */
  hwmBytes: number;
}

/**
 * Reads VmRSS and VmHWM of a process; null when /proc is unavailable (not
 * Linux) or the process is gone.
 */
export function readProcMemory(pid: number): ProcMemory | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return null;
  }
  const kib = (key: string): number | null => {
    const m = text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) * 1024 : null;
  };
  const rss = kib("VmRSS");
  const hwm = kib("VmHWM");
  if (rss === null || hwm === null) return null; // A zombie has no memory lines.
  return { rssBytes: rss, hwmBytes: hwm };
}

let ticksPerSecond: number | null = null;

/** The kernel's clock ticks per second (CLK_TCK), used by /proc/<pid>/stat. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond !== null) return ticksPerSecond;
  ticksPerSecond = 100; // The value on every common Linux build.
  try {
    const out = new Deno.Command("getconf", {
      args: ["CLK_TCK"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    if (out.success && Number.isInteger(n) && n > 0) ticksPerSecond = n;
  } catch {
    // No getconf: keep the usual value.
  }
  return ticksPerSecond;
}

/**
 * CPU time (user + system) a process has used so far, in ms, from
 * /proc/<pid>/stat; null when unavailable.
 */
export function readProcCpuMs(pid: number): number | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces, so
  // count fields after its closing parenthesis: state is field 3, utime 14,
  // stime 15.
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const fields = text.slice(close + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return ((utime + stime) * 1000) / clockTicksPerSecond();
}

/** What a ProcessSampler saw. */
export interface ProcessSample {
  /** Highest resident set size seen, in bytes (VmHWM where available). */
  peakRssBytes: number;
  /** CPU time the process used between start and stop, in ms. */
  cpuMs: number;
  /** Wall-clock time between start and stop, in ms. */
  wallMs: number;
  /** cpuMs as a percentage of one core over wallMs. */
  cpuPercent: number;
  /** Number of successful /proc readings. */
  samples: number;
}

/**
 * Samples a child process's memory and CPU from /proc every `intervalMs`
 * until stopped. Peak RSS comes from VmHWM, which the kernel keeps, so a
 * spike between samples is not missed while the process is alive; sampling
 * keeps the last reading for a process that exits before `stop()`.
 */
export class ProcessSampler {
  readonly #pid: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #peak = 0;
  #cpuStart: number | null = null;
  #cpuLast: number | null = null;
  #wallStart = 0;
  #samples = 0;

  constructor(pid: number, readonly intervalMs = 100) {
    this.#pid = pid;
  }

  /** Starts sampling; takes a first reading at once. */
  start(): this {
    this.#wallStart = performance.now();
    this.#cpuStart = readProcCpuMs(this.#pid);
    this.#read();
    this.#timer = setInterval(() => this.#read(), this.intervalMs);
    return this;
  }

  /** Takes a reading now (for callers that sample at their own moments). */
  sample(): void {
    this.#read();
  }

  /** Stops sampling and reports. */
  stop(): ProcessSample {
    this.#read();
    clearInterval(this.#timer);
    this.#timer = undefined;
    const wallMs = performance.now() - this.#wallStart;
    const cpuMs = this.#cpuStart !== null && this.#cpuLast !== null
      ? this.#cpuLast - this.#cpuStart
      : NaN;
    return {
      peakRssBytes: this.#samples ? this.#peak : NaN,
      cpuMs,
      wallMs,
      cpuPercent: (cpuMs / wallMs) * 100,
      samples: this.#samples,
    };
  }

  #read(): void {
    const mem = readProcMemory(this.#pid);
    const cpu = readProcCpuMs(this.#pid);
    if (mem) {
      this.#peak = Math.max(this.#peak, mem.hwmBytes, mem.rssBytes);
      this.#samples++;
    }
    if (cpu !== null) this.#cpuLast = cpu;
  }
}

/** The machine's CPU time so far, busy and in all, in clock ticks (Linux). */
function readMachineTicks(): { busy: number; total: number } | null {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest is in user)
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - f[3]! - f[4]!, total };
  } catch {
    return null;
  }
}

/** What a CpuMeter saw. */
export interface CpuShare {
  /** CPU of the watched processes together, in % of one core. */
  processesPercent: number;
  /** Busy time of the whole machine, in % of all its cores. */
  machinePercent: number;
}

/**
 * The CPU of a group of processes (a bench's load generators, itself) and
 * of the whole machine from `start` to `stop`: whether a figure measures
 * the process under test or a saturated generator or machine.
 */
export class CpuMeter {
  #pids: number[];
  #start = 0;
  #cpu = new Map<number, number>();
  #machine: { busy: number; total: number } | null = null;

  constructor(pids: number[]) {
    this.#pids = pids;
  }

  start(): this {
    this.#start = performance.now();
    for (const pid of this.#pids) {
      const ms = readProcCpuMs(pid);
      if (ms !== null) this.#cpu.set(pid, ms);
    }
    this.#machine = readMachineTicks();
    return this;
  }

  stop(): CpuShare {
    const wallMs = performance.now() - this.#start;
    let used = 0;
    for (const [pid, from] of this.#cpu) {
      const to = readProcCpuMs(pid);
      if (to !== null) used += to - from;
    }
    const m = readMachineTicks();
    const before = this.#machine;
    return {
      processesPercent: (used / wallMs) * 100,
      machinePercent: m && before && m.total > before.total
        ? ((m.busy - before.busy) / (m.total - before.total)) * 100
        : NaN,
    };
  }
}

/** Bytes to MiB, for metrics. */
export function mib(bytes: number): number {
  return bytes / (1024 * 1024);
}

// ----------------------------------------------------------- event-loop lag

/** A running event-loop lag measurement. */
export interface LagMonitor {
  /** Stops measuring and returns every lag sample in ms. */
  stop(): number[];
}

/**
 * Measures this process's event-loop lag: a timer asks to run every
 * `intervalMs`, and each sample is how late it actually ran. Work that
 * blocks the loop shows up as lag. For another process's loop, run this
 * inside that process.
 */
export function startLagMonitor(intervalMs = 10): LagMonitor {
  const samples: number[] = [];
  let expected = performance.now() + intervalMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = () => {
    const now = performance.now();
    samples.push(Math.max(0, now - expected));
    expected = now + intervalMs;
    timer = setTimeout(tick, intervalMs);
  };
  timer = setTimeout(tick, intervalMs);
  return {
    stop() {
      clearTimeout(timer);
      return samples;
    },
  };
}

// --------------------------------------------------------- child processes

/** A child process that printed the line we waited for. */
export interface ReadyChild {
  child: Deno.ChildProcess;
  /** Milliseconds from spawn to the line. */
  ms: number;
  /** The matching line. */
  line: string;
  /** Ends the child (SIGTERM, then SIGKILL after `graceMs`) and waits for it. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
}

/**
 * Spawns a command and resolves when a line of its stdout matches `pattern`,
 * measuring spawn-to-line time. Fails with the end of its stderr when it
 * exits first or takes longer than `timeoutMs`. stdout is drained after the
 * match so the child never blocks on a full pipe.
 */
export async function spawnUntilLine(
  command: string,
  args: string[],
  pattern: RegExp,
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<ReadyChild> {
  const start = performance.now();
  const child = new Deno.Command(command, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderrTail = drainTail(child.stderr, 2000);
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `no line matching ${pattern} after ${opts.timeoutMs ?? 10_000} ms`,
          ),
        ),
      opts.timeoutMs ?? 10_000,
    );
  });
  const stop = async (graceMs = 5_000): Promise<Deno.CommandStatus> => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      child.status,
      new Promise<null>((resolve) =>
        killTimer = setTimeout(() => resolve(null), graceMs)
      ),
    ]);
    clearTimeout(killTimer);
    if (!status) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited at the last moment.
      }
    }
    const final = status ?? await child.status;
    await stderrTail;
    return final;
  };
  try {
    const found = await Promise.race([
      findLine(lines, pattern),
      timeout,
    ]);
    const ms = performance.now() - start;
    if (found === null) {
      const status = await child.status;
      throw new Error(
        `exited with code ${status.code} before printing a line matching ${pattern}: ${
          (await stderrTail).trim() || "(no output on stderr)"
        }`,
      );
    }
    // Keep reading stdout so the child never blocks on it.
    void (async () => {
      try {
        while (!(await lines.read()).done) { /* discard */ }
      } catch {
        // The child went away: nothing more to read.
      }
    })();
    return { child, ms, line: found, stop };
  } catch (err) {
    await lines.cancel().catch(() => {});
    await stop(1_000);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function findLine(
  reader: ReadableStreamDefaultReader<string>,
  pattern: RegExp,
): Promise<string | null> {
  let buffered = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) return null;
    buffered += value;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl).replace(/\r$/, "");
      buffered = buffered.slice(nl + 1);
      if (pattern.test(line)) return line;
    }
    if (buffered.length > 64 * 1024) buffered = buffered.slice(-1024);
  }
}

/** Reads a stream to its end, keeping only its last `keep` characters. */
async function drainTail(
  stream: ReadableStream<Uint8Array>,
  keep: number,
): Promise<string> {
  let tail = "";
  try {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      tail = (tail + text).slice(-keep);
    }
  } catch {
    // The child was killed mid-write: what we have is enough.
  }
  return tail;
}

// ------------------------------------------------------------- reporting

/** The machine a run happened on. */
export interface MachineInfo {
  deno: string;
  v8: string;
  typescript: string;
  os: string;
  arch: string;
  osRelease: string;
  cpus: number;
  cpuModel: string;
  memoryMiB: number;
  date: string;
}

/** Describes this machine; fields that need a missing permission read "unknown". */
export function machineInfo(): MachineInfo {
  const attempt = <T>(fn: () => T, fallback: T): T => {
    try {
      return fn();
    } catch {
      return fallback;
    }
  };
  const cpuModel = attempt(() => {
    const text = Deno.readTextFileSync("/proc/cpuinfo");
    return text.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown";
  }, "unknown");
  return {
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    os: Deno.build.os,
    arch: Deno.build.arch,
    osRelease: attempt(() => Deno.osRelease(), "unknown"),
    cpus: navigator.hardwareConcurrency,
    cpuModel,
    memoryMiB: attempt(
      () => Math.round(mib(Deno.systemMemoryInfo().total)),
      NaN,
    ),
    date: new Date().toISOString(),
  };
}

/** A metric together with the scenario it belongs to, as a table row. */
export interface Row {
  scenario: string;
  metric: Metric;
}

/** A value as the table shows it: a few significant digits, "n/a" for NaN. */
export function formatValue(value: number): string {
  if (!Number.isFinite(value)) {
    return Number.isNaN(value) ? "n/a" : String(value);
  }
  const abs = Math.abs(value);
  if (abs >= 100 || Number.isInteger(value)) {
    return Math.round(value).toString();
  }
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** The results table: scenario, metric, value, unit, target, ok. */
export function formatTable(rows: readonly Row[]): string {
  const header = ["scenario", "metric", "value", "unit", "target", "ok"];
  const body = rows.map(({ scenario, metric: m }) => [
    scenario,
    m.name,
    formatValue(m.value),
    m.unit,
    m.target ?? "",
    m.ok === undefined ? "" : m.ok ? "yes" : "NO",
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...body.map((r) => r[i]!.length))
  );
  const right = new Set([2]); // numbers line up on the right
  const line = (cells: string[]) =>
    cells.map((c, i) =>
      right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)
    ).join("  ").trimEnd();
  const notes = rows.filter((r) => r.metric.note).map((r) =>
    `  ${r.scenario} ${r.metric.name}: ${r.metric.note}`
  );
  return [
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...body.map(line),
    ...(notes.length ? ["", "notes:", ...notes] : []),
  ].join("\n");
}

/** Command-line options of the bench runner and of a scenario run alone. */
export interface BenchArgs {
  quick: boolean;
  /** Scenario ids to run; null for all. */
  only: string[] | null;
  help: boolean;
}

/** Parses `--quick`, `--only ID[,ID]` (or `--only=...`) and `--help`. */
export function parseBenchArgs(args: readonly string[]): BenchArgs {
  const out: BenchArgs = { quick: false, only: null, help: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--quick") out.quick = true;
    else if (arg === "--help" || arg === "-h") out.help = true;
    else if (arg === "--only" || arg.startsWith("--only=")) {
      const value = arg === "--only" ? args[++i] : arg.slice("--only=".length);
      if (!value) {
        throw new BenchUsageError(
          "--only needs scenario ids, e.g. --only P1,P6",
        );
      }
      const ids = value.split(",").map((s) => s.trim().toUpperCase()).filter(
        Boolean,
      );
      out.only = [...(out.only ?? []), ...ids];
    } else {
      throw new BenchUsageError(`unknown argument "${arg}"`);
    }
  }
  return out;
}

/** A bad bench command line. */
export class BenchUsageError extends Error {
  override name = "BenchUsageError";
}

/**
 * Runs one scenario from its own file (`deno run -A bench/<file>.ts
 * [--quick]`) and prints its table. Does not touch bench/results.json.
 */
export async function runStandalone(
  scenario: Scenario,
  args: readonly string[] = Deno.args,
): Promise<void> {
  let parsed: BenchArgs;
  try {
    parsed = parseBenchArgs(args);
  } catch (err) {
    console.error(
      `bench: ${
        (err as Error).message
      }\nusage: deno run -A bench/<file>.ts [--quick]`,
    );
    Deno.exit(2);
  }
  if (parsed.help) {
    console.log(
      `${scenario.id} ${scenario.name}\nusage: deno run -A bench/<file>.ts [--quick]`,
    );
    return;
  }
  console.error(
    `running ${scenario.id} ${scenario.name}${parsed.quick ? " (quick)" : ""}…`,
  );
  const metrics = await scenario.run({ quick: parsed.quick });
  console.log(
    formatTable(metrics.map((metric) => ({ scenario: scenario.id, metric }))),
  );
}

/**
 * `deno run` arguments for a chat process in a benchmark: all permissions and
 * the V8 flags chat ships with (common/v8_flags.ts), plus CHAT_BENCH_V8_FLAGS
 * for experiments and CHAT_BENCH_DENO_FLAGS (space-separated `deno run`
 * flags, `--inspect=127.0.0.1:9229` say, to profile a registry under load).
 */
export function chatRunArgs(): string[] {
  const flags = [...V8_FLAGS, Deno.env.get("CHAT_BENCH_V8_FLAGS") ?? ""].filter(
    Boolean,
  );
  const deno = (Deno.env.get("CHAT_BENCH_DENO_FLAGS") ?? "").split(" ")
    .filter(Boolean);
  return ["run", "--allow-all", ...deno, `--v8-flags=${flags.join(",")}`];
}

/** A `chat registry` started for a benchmark, with what its first line says. */
export interface BenchRegistry extends ReadyChild {
  port: number;
  udpPort: number;
  /** `sha256:` + hex. */
  fingerprint: string;
}

const REGISTRY_LINE =
  /^chat registry listening on \S+:(\d+) \(udp (\d+)\) fingerprint (sha256:[0-9a-f]{64})$/;

/**
 * Starts `chat registry` on 127.0.0.1 with free ports, its state in `dir`,
 * warnings-only logs and the V8 flags chat ships with; resolves once it
 * listens.
 */
export async function spawnBenchRegistry(
  dir: string,
  timeoutMs = 20_000,
): Promise<BenchRegistry> {
  const main = new URL("../main.ts", import.meta.url).pathname;
  const ready = await spawnUntilLine(
    Deno.execPath(),
    [
      ...chatRunArgs(),
      main,
      "registry",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--udp-port",
      "0",
      "--db",
      `${dir}/registry.db`,
      "--log-level",
      "warn",
    ],
    REGISTRY_LINE,
    {
      cwd: new URL("..", import.meta.url).pathname,
      env: { CHAT_HOME: dir, NO_COLOR: "1" },
      timeoutMs,
    },
  );
  const m = REGISTRY_LINE.exec(ready.line)!;
  return Object.assign(ready, {
    port: Number(m[1]),
    udpPort: Number(m[2]),
    fingerprint: m[3]!,
  });
}
