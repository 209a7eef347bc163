/**
 * P5: `chat send` piped into `chat receive`, against a raw TCP copy of the
 * same bytes in the same run.
 *
 * Both runs have the same shape, four processes joined by kernel pipes
 * under sh, with nothing of this process in between:
 *
 *   gen | SENDER ==TCP==> RECEIVER | count
 *
 * `gen` writes the bytes (a seeded 4 MiB pseudo-random block, repeated) and
 * `count` counts what arrives and times its first and last byte; both are
 * this same file run with `--gen N` and `--count`. In the chat run a real
 * registry (its own process, TLS) introduces `chat send --user alice bob -`
 * to `chat receive --user bob -o -`: TLS between the peers, frames, SHA-256
 * on both sides. In the raw run the sender and receiver are this file with
 * `--raw-send` and `--raw-recv`: a plain Deno TCP copy, stdin → socket →
 * stdout, with 256 KiB buffers and no encryption, framing or hashing. Peak
 * RSS is sampled from /proc for the sender and receiver of each run.
 *
 * Throughput is bytes over the time from the first to the last byte at the
 * sink, so process start, login, offer and accept are left out (they are
 * reported on their own as the whole command's wall time). The ratio
 * chat / raw is the target (≥ 0.5, aim 0.8); each chat side's peak RSS
 * (VmHWM from /proc) must stay ≤ 150 MiB. 1 GiB in two interleaved rounds
 * (raw, TLS, chat, raw, TLS, chat), the best of each kind counting; 64 MiB
 * in one round with --quick.
 *
 * Needs `sh`; peak RSS needs Linux's /proc (elsewhere it is reported as n/a).
 *
 * Run alone: `deno run -A bench/pipe_throughput.ts [--quick]`.
 */
import { V8_FLAGS } from "../common/v8_flags.ts";
import { join } from "node:path";
import {
  atLeast,
  atMost,
  info,
  type Metric,
  mib,
  ProcessSampler,
  type RunOptions,
  runStandalone,
  type Scenario,
  spawnBenchRegistry,
} from "./harness.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
const MAIN = join(ROOT, "main.ts");

/** SPEC.md §4 P5 targets. */
export const RATIO_TARGET = 0.5;
/** Peak RSS of each chat process. */
export const RSS_TARGET_MIB = 150;

const MiB = 1024 * 1024;
const BLOCK_BYTES = 4 * MiB;
const COPY_BUFFER_BYTES = 256 * 1024;

// ------------------------------------------------------ helper processes

/** `--gen N`: writes N bytes (the seeded block, repeated) to stdout. */
async function generateMain(total: number): Promise<void> {
  const block = seededBlock(BLOCK_BYTES, 0x5eed);
  for (let left = total; left > 0;) {
    const n = Math.min(left, block.length);
    let off = 0;
    while (off < n) off += await Deno.stdout.write(block.subarray(off, n));
    left -= n;
  }
}

/**
 * `--count`: reads stdin to its end and prints one JSON line: the bytes,
 * and the ms from the first to the last byte.
 */
async function countMain(): Promise<void> {
  const buf = new Uint8Array(1024 * 1024);
  let bytes = 0;
  let first = NaN;
  let last = NaN;
  while (true) {
    const n = await Deno.stdin.read(buf);
    if (n === null) break;
    if (bytes === 0 && n > 0) first = performance.now();
    bytes += n;
    last = performance.now();
  }
  console.log(JSON.stringify({ bytes, ms: last - first }));
}

/** The name in the certificate of the TLS variant of the raw copy. */
const BENCH_CERT_NAME = "chat-bench";

/**
 * `--raw-recv MARKER [CERT_FILE]`: accepts one TCP connection and copies it
 * to stdout. With CERT_FILE it serves TLS with a fresh self-signed
 * certificate, whose PEM it writes there for the sender to trust.
 */
async function rawReceive(certFile?: string): Promise<void> {
  let listener: Deno.Listener;
  if (certFile) {
    const { createSelfSigned } = await import("../common/tls.ts");
    const cert = await createSelfSigned({
      commonName: BENCH_CERT_NAME,
      dnsNames: [BENCH_CERT_NAME],
      validDays: 1,
    });
    await Deno.writeTextFile(certFile, cert.certPem);
    listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: cert.certPem,
      key: cert.keyPem,
    });
  } else {
    listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  }
  console.error(`listening ${(listener.addr as Deno.NetAddr).port}`);
  using conn = await listener.accept();
  listener.close();
  const buf = new Uint8Array(COPY_BUFFER_BYTES);
  while (true) {
    const n = await conn.read(buf);
    if (n === null) break;
    let off = 0;
    while (off < n) off += await Deno.stdout.write(buf.subarray(off, n));
  }
}

/** `--raw-send PORT MARKER [CERT_FILE]`: copies stdin to a TCP (or TLS) connection. */
async function rawSend(port: number, certFile?: string): Promise<void> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  using conn = certFile
    ? await Deno.startTls(tcp, {
      hostname: BENCH_CERT_NAME,
      caCerts: [await Deno.readTextFile(certFile)],
    })
    : tcp;
  const buf = new Uint8Array(COPY_BUFFER_BYTES);
  while (true) {
    const n = await Deno.stdin.read(buf);
    if (n === null) break;
    let off = 0;
    while (off < n) off += await conn.write(buf.subarray(off, n));
  }
}

/** A seeded pseudo-random block (xorshift32), the same on every run. */
function seededBlock(bytes: number, seed: number): Uint8Array {
  const words = new Uint32Array(bytes / 4);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer);
}

// ------------------------------------------------------------- plumbing

/** A shell pipeline `left | right`, both `deno run --allow-all ARGS`. */
interface Pipeline {
  child: Deno.ChildProcess;
  /** Exit code of the pipeline's last command, its stdout and stderr. */
  done: Promise<{ code: number; stdout: string; stderr: string }>;
  /** Lines of stderr so far. */
  stderr: string[];
}

/**
 * Runs `deno run -A LEFT… | deno run -A RIGHT…` under sh, so the bytes go
 * straight from one process to the other through a kernel pipe, with
 * nothing of this process in between.
 */
function pipeline(
  left: string[],
  right: string[],
  env: Record<string, string>,
): Pipeline {
  const q = (args: string[]) =>
    args.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  // The V8 flags chat is shipped with (common/v8_flags.ts), for both sides.
  const deno = q([
    Deno.execPath(),
    "run",
    "--allow-all",
    `--v8-flags=${
      [...V8_FLAGS, Deno.env.get("CHAT_BENCH_V8_FLAGS") ?? ""].filter(Boolean)
        .join(",")
    }`,
  ]);
  const child = new Deno.Command("sh", {
    args: ["-c", `${deno} ${q(left)} | ${deno} ${q(right)}`],
    env,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  const reading = (async () => {
    let buf = "";
    for await (
      const text of child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      buf += text;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        stderr.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
    if (buf) stderr.push(buf);
  })();
  const stdout = new Response(child.stdout).text();
  const done = child.status.then(async (s) => {
    await reading;
    return { code: s.code, stdout: await stdout, stderr: stderr.join("\n") };
  });
  return { child, done, stderr };
}

/** The pid of the process whose argv contains all of `parts`, once it exists. */
async function findPid(parts: string[], timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      let argv: string[];
      try {
        argv = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      } catch {
        continue; // Gone meanwhile.
      }
      if (parts.every((p) => argv.includes(p))) return Number(e.name);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no process with ${parts.join(" ")} appeared`);
}

/**
 * Samples the peak RSS (VmHWM) of the process with `parts` in its argv;
 * the returned function stops and reports it, NaN where there is no /proc.
 */
async function watchRss(parts: string[]): Promise<() => number> {
  if (Deno.build.os !== "linux") return () => NaN;
  const sampler = new ProcessSampler(await findPid(parts)).start();
  return () => sampler.stop().peakRssBytes;
}

async function expectExit0(
  what: string,
  p: Pipeline,
): Promise<{ stdout: string; stderr: string }> {
  const r = await p.done;
  if (r.code !== 0) {
    throw new Error(`${what} exited ${r.code}: ${r.stderr.slice(-500)}`);
  }
  return r;
}

/** MiB per second from the counting sink's report. */
function rateOf(stdout: string, total: number): number {
  const { bytes, ms } = JSON.parse(stdout.trim()) as {
    bytes: number;
    ms: number;
  };
  if (bytes !== total) {
    throw new Error(`the sink counted ${bytes} of ${total} bytes`);
  }
  return mib(bytes) / (ms / 1000);
}

// ------------------------------------------------------------- the runs

/** One raw TCP copy of `total` bytes; MiB/s and each side's peak RSS. */
async function rawRun(total: number, marker: string, certFile?: string) {
  const tls = certFile ? [certFile] : [];
  const recv = pipeline(
    [SELF, "--raw-recv", marker, ...tls],
    [SELF, "--count"],
    {},
  );
  const port = await until(
    () =>
      recv.stderr.map((l) => /^listening (\d+)$/.exec(l)?.[1]).find(Boolean),
    "the raw receiver to listen",
    recv.done,
  );
  const recvRss = await watchRss([SELF, "--raw-recv", marker]);
  const send = pipeline(
    [SELF, "--gen", String(total)],
    [SELF, "--raw-send", port, marker, ...tls],
    {},
  );
  const sendRss = await watchRss([SELF, "--raw-send", port, marker]);
  await expectExit0("raw sender", send);
  const { stdout } = await expectExit0("raw receiver", recv);
  return {
    mibps: rateOf(stdout, total),
    recvRss: recvRss(),
    sendRss: sendRss(),
  };
}

/** Polls `check` every 10 ms until it yields a value; fails if `ended` settles first. */
async function until<T>(
  check: () => T | undefined,
  what: string,
  ended: Promise<unknown>,
  timeoutMs = 30_000,
): Promise<T> {
  let over = false;
  ended.then(() => over = true, () => over = true);
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const v = check();
    if (v !== undefined) return v;
    if (over || Date.now() > deadline) throw new Error(`no sign of ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A registry with alice and bob signed up; the env for chat commands. */
async function chatWorld(dir: string) {
  const registry = await spawnBenchRegistry(dir);
  const address = `127.0.0.1:${registry.port}`;
  const env = (user: string): Record<string, string> => ({
    CHAT_HOME: join(dir, user),
    CHAT_PASSWORD: "bench-password",
    CHAT_REGISTRY_FINGERPRINT: registry.fingerprint,
    NO_COLOR: "1",
  });
  try {
    for (const user of ["alice", "bob"]) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          MAIN,
          "signup",
          "--registry",
          address,
          "--user",
          user,
        ],
        env: env(user),
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!out.success) {
        throw new Error(
          `chat signup ${user}: ${new TextDecoder().decode(out.stderr)}`,
        );
      }
    }
  } catch (err) {
    await registry.stop();
    throw err;
  }
  return { registry, address, env };
}

/** One `gen | chat send` into `chat receive -o - | count` of `total` bytes. */
async function chatRun(
  total: number,
  world: Awaited<ReturnType<typeof chatWorld>>,
) {
  const start = performance.now();
  const reg = ["--registry", world.address];
  const receiveArgs = [
    MAIN,
    "receive",
    ...reg,
    "--user",
    "bob",
    "--from",
    "alice",
    "-o",
    "-",
  ];
  const recv = pipeline(receiveArgs, [SELF, "--count"], world.env("bob"));
  const recvRss = await watchRss(receiveArgs);
  // The receiver must be logged in before the sender looks bob up: retry
  // the send while the registry still calls bob offline.
  const sendArgs = [MAIN, "send", ...reg, "--user", "alice", "bob", "-"];
  let sendRss = NaN;
  for (let attempt = 0;; attempt++) {
    const send = pipeline(
      [SELF, "--gen", String(total)],
      sendArgs,
      world.env("alice"),
    );
    const stopRss = await watchRss(sendArgs);
    const result = await send.done;
    sendRss = stopRss();
    if (result.code === 0) break;
    if (!/offline/.test(result.stderr) || attempt > 100) {
      recv.child.kill("SIGKILL");
      await recv.done;
      throw new Error(`chat send exited ${result.code}: ${result.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const { stdout } = await expectExit0("chat receive", recv);
  return {
    mibps: rateOf(stdout, total),
    wallMs: performance.now() - start,
    recvRss: recvRss(),
    sendRss,
  };
}

/** P5: runs the raw copy, then chat, and compares. */
export async function pipeThroughputMetrics(
  opts: RunOptions,
): Promise<Metric[]> {
  const total = opts.quick ? 64 * MiB : 1024 * MiB;
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-pipe-" });
  try {
    const world = await chatWorld(dir);
    try {
      // Interleaved rounds, best of each: a busy moment on the machine hits
      // one run, not one kind of run.
      const rounds = opts.quick ? 1 : 2;
      type Run = { mibps: number; sendRss: number; recvRss: number };
      const best = <T extends Run>(runs: T[]): T => {
        const top = runs.reduce((a, b) => (b.mibps > a.mibps ? b : a));
        return {
          ...top,
          sendRss: Math.max(...runs.map((r) => r.sendRss)),
          recvRss: Math.max(...runs.map((r) => r.recvRss)),
        };
      };
      const raws: Run[] = [];
      const tlss: Run[] = [];
      const chats: Awaited<ReturnType<typeof chatRun>>[] = [];
      for (let i = 0; i < rounds; i++) {
        raws.push(await rawRun(total, crypto.randomUUID()));
        tlss.push(
          await rawRun(total, crypto.randomUUID(), join(dir, `cert${i}.pem`)),
        );
        chats.push(await chatRun(total, world));
      }
      const raw = best(raws);
      const rawTls = best(tlss);
      const chat = best(chats);
      const size = `${mib(total)} MiB, best of ${rounds} round${
        rounds > 1 ? "s" : ""
      }`;
      return [
        atLeast(
          "chat / raw TCP throughput",
          chat.mibps / raw.mibps,
          "ratio",
          RATIO_TARGET,
          `${size}; first to last byte at the sink; aim 0.8`,
        ),
        info("chat send | chat receive", chat.mibps, "MiB/s"),
        info("raw TCP copy (plain Deno)", raw.mibps, "MiB/s"),
        info(
          "raw TLS copy (plain Deno)",
          rawTls.mibps,
          "MiB/s",
          "the same copy over TLS, as chat's peers use: no framing, no SHA-256",
        ),
        atMost(
          "chat send peak RSS",
          mib(chat.sendRss),
          "MiB",
          RSS_TARGET_MIB,
          "VmHWM",
        ),
        atMost(
          "chat receive peak RSS",
          mib(chat.recvRss),
          "MiB",
          RSS_TARGET_MIB,
          "VmHWM",
        ),
        info(
          "raw sender / receiver peak RSS",
          mib(raw.sendRss),
          "MiB",
          `receiver ${mib(raw.recvRss).toFixed(0)} MiB`,
        ),
        info(
          "chat send | chat receive wall time",
          chat.wallMs,
          "ms",
          "whole commands: start, login, offer, accept, stream, verify, exit",
        ),
      ];
    } finally {
      await world.registry.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** P5: pipe throughput. */
export const pipeThroughputScenario: Scenario = {
  id: "P5",
  name: "chat send | chat receive vs raw TCP",
  run: pipeThroughputMetrics,
};

if (import.meta.main) {
  if (Deno.args[0] === "--gen") await generateMain(Number(Deno.args[1]));
  else if (Deno.args[0] === "--count") await countMain();
  else if (Deno.args[0] === "--raw-recv") await rawReceive(Deno.args[2]);
  else if (Deno.args[0] === "--raw-send") {
    await rawSend(Number(Deno.args[1]), Deno.args[3]);
  } else await runStandalone(pipeThroughputScenario);
}
