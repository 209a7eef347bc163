/**
 * P6, part three: `chat peer --json` from spawn to its `ready` line against a
 * registry that is already running (issue 4).
 *
 * Each run starts a fresh process (`deno run --allow-all main.ts peer --json`),
 * so the figure includes starting Deno, loading the peer's modules, creating
 * the session's P2P key and certificate, the TLS handshake with the pinned
 * registry, the login (scrypt at the registry's real cost) and the first
 * queries the core makes before it says `ready`. stdin is closed, so each peer
 * logs out and exits by itself right after `ready`.
 */
import { join } from "node:path";
import {
  type BenchRegistry,
  chatRunArgs,
  info,
  type Metric,
  notMeasured,
  type RunOptions,
  runStandalone,
  type Scenario,
  spawnBenchRegistry,
  spawnUntilLine,
  stats,
} from "./harness.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = join(ROOT, "main.ts");
const READY = /^\{"type":"ready"/;
const USER = "bench";
const PASSWORD = "bench-password";

/** Runs `chat ARGS` to completion; throws unless it exits 0. */
async function chat(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...chatRunArgs(), MAIN, ...args],
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().slice(-500);
    throw new Error(`chat ${args.join(" ")} exited ${out.code}: ${err}`);
  }
}

/** Spawns one peer and returns ms from spawn to its ready line. */
async function peerReadyOnce(env: Record<string, string>): Promise<number> {
  const ready = await spawnUntilLine(
    Deno.execPath(),
    [...chatRunArgs(), MAIN, "peer", "--json", "--user", USER],
    READY,
    { cwd: ROOT, env, timeoutMs: 30_000 },
  );
  const status = await ready.stop();
  if (!status.success) {
    throw new Error(`chat peer --json exited ${status.code} after ready`);
  }
  return ready.ms;
}

/**
 * Peer start to `ready`: p50 and p99 over 10 runs (3 with --quick) after one
 * untimed warm-up, against one registry on loopback.
 */
export async function peerStartupMetrics(opts: RunOptions): Promise<Metric[]> {
  const runs = opts.quick ? 3 : 10;
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-peer-" });
  let registry: BenchRegistry | null = null;
  try {
    registry = await spawnBenchRegistry(dir, 15_000);

    const env = {
      CHAT_HOME: join(dir, "peer-home"),
      CHAT_REGISTRY: `127.0.0.1:${registry.port}`,
      CHAT_REGISTRY_FINGERPRINT: registry.fingerprint,
      CHAT_USER: USER,
      CHAT_PASSWORD: PASSWORD,
      NO_COLOR: "1",
    };
    await chat(["signup"], env);
    await peerReadyOnce(env);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) times.push(await peerReadyOnce(env));
    const s = stats(times);
    return [
      info(
        "peer start to ready p50",
        s.p50,
        "ms",
        `deno run main.ts peer --json, ${runs} runs against a running registry; ` +
          "includes Deno start-up, TLS and the login's scrypt",
      ),
      info("peer start to ready p99", s.p99, "ms"),
    ];
  } catch (err) {
    return [
      notMeasured(
        "peer start to ready p50",
        "ms",
        `could not measure: ${(err as Error).message}`,
      ),
    ];
  } finally {
    await registry?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Peer start-up alone; the full P6 scenario (bench/startup.ts) includes it. */
export const peerStartupScenario: Scenario = {
  id: "P6",
  name: "start-up: peer start to ready",
  run: peerStartupMetrics,
};

if (import.meta.main) await runStandalone(peerStartupScenario);
