/**
 * P6: how fast chat starts.
 *
 * Part one times `chat --help` as a fresh process. It is spawned as
 * `deno run --allow-all main.ts --help`, so every figure includes starting
 * Deno and loading the modules main.ts imports; a baseline run of an empty
 * module shows how much of that is Deno itself. A compiled binary is timed
 * too when one is found (CHAT_BIN, or dist/chat-<target>).
 *
 * Part two times `chat registry` from spawn to its "listening" line.
 *
 * Part three (bench/peer_startup.ts) times `chat peer --json` from spawn to
 * its `ready` line against a running registry.
 */
import { join } from "node:path";
import {
  atMost,
  chatRunArgs,
  info,
  type Metric,
  notMeasured,
  repeatTimed,
  type RunOptions,
  runStandalone,
  type Scenario,
  spawnBenchRegistry,
  stats,
} from "./harness.ts";
import { peerStartupMetrics } from "./peer_startup.ts";

/** The repository root (where main.ts lives). */
export const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = join(ROOT, "main.ts");

/** SPEC.md §4 P6 targets. */
export const HELP_TARGET_MS = 150;
/** SPEC.md §4 P6: registry start to listening. */
export const REGISTRY_TARGET_MS = 500;

/** Spawns a command to completion and fails if it did not exit 0. */
async function runOnce(command: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(command, {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().slice(-500);
    throw new Error(`${command} ${args.join(" ")} exited ${out.code}: ${err}`);
  }
}

/** Times `runs` spawns after `warmup` untimed ones (which fill Deno's caches). */
async function timeSpawns(
  command: string,
  args: string[],
  runs: number,
  warmup = 2,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await runOnce(command, args);
  return await repeatTimed(runs, () => runOnce(command, args));
}

/** A compiled chat binary to time, if there is one. */
async function findCompiledBinary(): Promise<string | null> {
  const candidates: string[] = [];
  try {
    const fromEnv = Deno.env.get("CHAT_BIN");
    if (fromEnv) candidates.push(fromEnv);
  } catch {
    // No env permission: only look in dist/.
  }
  const exe = Deno.build.os === "windows" ? ".exe" : "";
  candidates.push(join(ROOT, "dist", `chat-${Deno.build.target}${exe}`));
  for (const path of candidates) {
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch {
      // Not there: try the next.
    }
  }
  return null;
}

/**
 * P6 part one: `chat --help` wall time from spawn to exit, p50 and p99 over
 * 20 runs (5 with --quick), against the 150 ms target.
 */
export async function helpStartupMetrics(opts: RunOptions): Promise<Metric[]> {
  const runs = opts.quick ? 5 : 20;
  const deno = Deno.execPath();
  const metrics: Metric[] = [];

  const help = stats(
    await timeSpawns(deno, [...chatRunArgs(), MAIN, "--help"], runs),
  );
  const note = `deno run main.ts --help, ${runs} runs; includes Deno start-up`;
  metrics.push(
    atMost("chat --help p50", help.p50, "ms", HELP_TARGET_MS, note),
    atMost("chat --help p99", help.p99, "ms", HELP_TARGET_MS),
  );

  const dir = await Deno.makeTempDir({ prefix: "chat-bench-" });
  try {
    const empty = join(dir, "empty.ts");
    await Deno.writeTextFile(empty, "");
    const base = stats(await timeSpawns(deno, ["run", empty], runs));
    metrics.push(
      info(
        "deno run of an empty module p50",
        base.p50,
        "ms",
        "baseline: the part of chat --help that is Deno itself",
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }

  const binary = await findCompiledBinary();
  if (binary) {
    const compiled = stats(await timeSpawns(binary, ["--help"], runs));
    metrics.push(
      atMost(
        "compiled chat --help p50",
        compiled.p50,
        "ms",
        HELP_TARGET_MS,
        binary,
      ),
      atMost("compiled chat --help p99", compiled.p99, "ms", HELP_TARGET_MS),
    );
  }
  return metrics;
}

/** Starts `chat registry` on free ports with its state in `dir`; stops it; returns ms to listening. */
async function registryStartOnce(dir: string): Promise<number> {
  const ready = await spawnBenchRegistry(dir, 15_000);

  const status = await ready.stop();
  if (!status.success) {
    throw new Error(`chat registry exited ${status.code} after SIGTERM`);
  }
  return ready.ms;
}

/**
 * P6 part two: `chat registry` from spawn to its "listening" line, p50 and
 * p99 over 10 starts (3 with --quick) that reuse one state folder, against
 * the 500 ms target. The very first start, which also creates the TLS
 * certificate, signing key and database, is reported on its own.
 */
export async function registryStartupMetrics(
  opts: RunOptions,
): Promise<Metric[]> {
  const runs = opts.quick ? 3 : 10;
  const target = `≤ ${REGISTRY_TARGET_MS} ms`;
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-registry-" });
  try {
    let first: number;
    try {
      first = await registryStartOnce(dir);
    } catch (err) {
      return [
        notMeasured(
          "registry start to listening p50",
          "ms",
          `registry did not start: ${(err as Error).message}`,
          target,
        ),
      ];
    }
    const warm: number[] = [];
    for (let i = 0; i < runs; i++) warm.push(await registryStartOnce(dir));
    const s = stats(warm);
    return [
      atMost(
        "registry start to listening p50",
        s.p50,
        "ms",
        REGISTRY_TARGET_MS,
        `deno run main.ts registry, ${runs} starts with existing state; includes Deno start-up`,
      ),
      atMost(
        "registry start to listening p99",
        s.p99,
        "ms",
        REGISTRY_TARGET_MS,
      ),
      info(
        "registry first start",
        first,
        "ms",
        "creates certificate, signing key and database",
      ),
    ];
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** P6: start-up times. */
export const startupScenario: Scenario = {
  id: "P6",
  name: "start-up: chat --help; registry start to listening; peer to ready",
  async run(opts) {
    return [
      ...await helpStartupMetrics(opts),
      ...await registryStartupMetrics(opts),
      ...await peerStartupMetrics(opts),
    ];
  },
};

if (import.meta.main) await runStandalone(startupScenario);
