/**
 * Test registries: in-process (fast, with a manual clock if wanted) and as a
 * real `chat registry` process on port 0, each with its own temporary
 * CHAT_HOME and database.
 */
import { join } from "node:path";
import { Logger, type LogSink } from "../../common/log.ts";
import {
  loadIdentity,
  Registry,
  type RegistryOptions,
} from "../../registry/mod.ts";
import {
  RegistryClient,
  type RegistryTarget,
} from "../../peer/net/registry_client.ts";

/** Path of main.ts, for spawning real processes. */
export const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Cheap scrypt parameters for in-process tests (the real default is exercised elsewhere). */
export const FAST_SCRYPT = { N: 1024, r: 8, p: 1 };

/** An in-process registry with its temp folder and captured log lines. */
export interface TestRegistry extends AsyncDisposable {
  registry: Registry;
  dir: string;
  port: number;
  udpPort: number;
  fingerprint: string;
  logs: string[];
  /** Connects a client pinned to this registry. */
  client(): Promise<RegistryClient>;
  /** A RegistryTarget pinned to this registry, with its own CHAT_HOME. */
  target(): RegistryTarget;
  close(): Promise<void>;
}

/** Starts a registry in this process on 127.0.0.1 with free ports. */
export async function startRegistry(
  opts: Partial<RegistryOptions> & { dir?: string } = {},
): Promise<TestRegistry> {
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "chat-reg-" });
  const ownDir = opts.dir === undefined;
  const logs: string[] = [];
  const sink: LogSink = (line) => logs.push(line);
  const identity = opts.identity ?? await loadIdentity(dir);
  const registry = await Registry.start({
    host: "127.0.0.1",
    port: 0,
    udpPort: 0,
    dbPath: join(dir, "registry.db"),
    logger: new Logger("debug", sink, opts.now),
    scrypt: FAST_SCRYPT,
    ...opts,
    identity,
  });
  const target = (): RegistryTarget => ({
    host: "127.0.0.1",
    port: registry.port,
    home: join(dir, "client-home"),
    pin: registry.fingerprint,
  });
  const close = async () => {
    await registry.close();
    if (ownDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    registry,
    dir,
    port: registry.port,
    udpPort: registry.udpPort,
    fingerprint: registry.fingerprint,
    logs,
    client: () => RegistryClient.connect(target()),
    target,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A `chat registry` child process. */
export interface RegistryProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  home: string;
  dbPath: string;
  port: number;
  udpPort: number;
  fingerprint: string;
  /** Lines the registry wrote to stderr so far. */
  stderr: string[];
  target(home?: string): RegistryTarget;
  /** Sends a signal and waits for exit; returns the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
}

/** Starts `chat registry --port 0 --udp-port 0` as a real process. */
export async function spawnRegistry(
  opts: {
    home?: string;
    args?: string[];
    port?: number;
    udpPort?: number;
    /** Address to listen on (default 127.0.0.1). */
    host?: string;
    /** How to start the process (default: here; a network lab runs it in a namespace). */
    spawn?: (
      cmd: string,
      args: string[],
      o: Omit<Deno.CommandOptions, "args">,
    ) => Deno.ChildProcess;
    /** --db: a postgres:// URL, say; default registry.db in `home`. */
    db?: string;
  } = {},
): Promise<RegistryProcess> {
  const home = opts.home ?? await Deno.makeTempDir({ prefix: "chat-regp-" });
  const dbPath = opts.db ?? join(home, "registry.db");
  const spawn = opts.spawn ??
    ((cmd, args, o) => new Deno.Command(cmd, { ...o, args }).spawn());
  const child = spawn(Deno.execPath(), [
    "run",
    "--allow-all",
    MAIN,
    "registry",
    "--host",
    opts.host ?? "127.0.0.1",
    "--port",
    String(opts.port ?? 0),
    "--udp-port",
    String(opts.udpPort ?? 0),
    "--db",
    dbPath,
    // A restart on a fixed --port must not find the port after it taken.
    ...((opts.args ?? []).some((a) => a === "--relay-port" || a === "--relay")
      ? []
      : ["--relay-port", "0"]),
    ...(opts.args ?? []),
  ], {
    env: { CHAT_HOME: home, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const stderr: string[] = [];
  const stderrDone = collectLines(child.stderr, (l) => stderr.push(l));
  const lines = linesOf(child.stdout);
  const first = await nextLine(lines, 20_000);
  const m = first &&
    /^chat registry listening on [^ ]+:(\d+) \(udp (\d+)\) fingerprint sha256:([0-9a-f]{64})$/
      .exec(first);
  if (!m) {
    try {
      child.kill("SIGKILL");
    } catch {
      // It exited on its own (a refused start).
    }
    await child.status;
    // Everything it wrote to stderr before exiting.
    await stderrDone;
    throw new Error(`registry did not start: ${first}\n${stderr.join("\n")}`);
  }
  // Drain the rest of stdout so the child never blocks on a full pipe.
  (async () => {
    for await (const _ of lines) { /* discard */ }
  })();
  const port = Number(m[1]);
  const fingerprint = m[3]!;
  let exited: Promise<number> | null = null;
  const stop = (signal: Deno.Signal = "SIGTERM") => {
    if (!exited) {
      try {
        child.kill(signal);
      } catch {
        // Already gone.
      }
      exited = child.status.then((s) => s.code);
    }
    return exited;
  };
  return {
    child,
    home,
    dbPath,
    port,
    udpPort: Number(m[2]),
    fingerprint,
    stderr,
    target: (clientHome?: string) => ({
      host: "127.0.0.1",
      port,
      home: clientHome ?? join(home, "client-home"),
      pin: fingerprint,
    }),
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop("SIGKILL");
    },
  };
}

/** Async iterator of text lines from a byte stream. */
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
  if (buf) yield buf;
}

/** The next line, or null on end of stream or after `timeoutMs`. */
export async function nextLine(
  lines: AsyncGenerator<string>,
  timeoutMs: number,
): Promise<string | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((r) =>
    timer = setTimeout(() => r(null), timeoutMs)
  );
  try {
    const next = await Promise.race([lines.next(), timeout]);
    if (next === null || next.done) return null;
    return next.value;
  } finally {
    clearTimeout(timer);
  }
}

/** Feeds every line of a stream to `fn` in the background. */
export function collectLines(
  stream: ReadableStream<Uint8Array>,
  fn: (line: string) => void,
): Promise<void> {
  return (async () => {
    for await (const line of linesOf(stream)) fn(line);
  })().catch(() => {});
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function until<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
  everyMs = 20,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
