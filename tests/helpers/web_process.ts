/**
 * Real `chat web` processes for end-to-end tests: its own temporary
 * CHAT_HOME, `--port 0 --no-open`, the URL read from its first line.
 */
import { collectLines, linesOf, MAIN, nextLine } from "./registry.ts";
import type { RegistryRef } from "./peer_process.ts";

/** A running `chat web`. */
export interface WebProcess extends AsyncDisposable {
  user: string;
  home: string;
  child: Deno.ChildProcess;
  /** The printed URL, with its token. */
  url: string;
  /** http://127.0.0.1:PORT without the token. */
  origin: string;
  port: number;
  token: string;
  stderr: string[];
  stdout: string[];
  exited: Promise<number>;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
}

/** Options of spawnWeb. */
export interface SpawnWebOptions {
  user: string;
  /** Null: no CHAT_PASSWORD, so the page asks. */
  password?: string | null;
  signup?: boolean;
  home?: string;
  env?: Record<string, string>;
  args?: string[];
  /** Leave out --no-open, so chat web tries to open a browser. */
  open?: boolean;
  /** Wait for the "logged in as" line (default: when a password is given). */
  waitReady?: boolean;
}

/** Starts `chat web` against a registry and waits for its URL. */
export async function spawnWeb(
  reg: RegistryRef,
  o: SpawnWebOptions,
): Promise<WebProcess> {
  const home = o.home ??
    await Deno.makeTempDir({ prefix: `chat-web-${o.user}-` });
  const password = o.password === undefined ? `${o.user}-password` : o.password;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      MAIN,
      "web",
      "--port",
      "0",
      ...(o.open ? [] : ["--no-open"]),
      "--user",
      o.user,
      "--registry",
      `127.0.0.1:${reg.port}`,
      ...(o.signup === false ? [] : ["--signup"]),
      ...(o.args ?? []),
    ],
    env: {
      CHAT_HOME: home,
      ...(password !== null ? { CHAT_PASSWORD: password } : {}),
      CHAT_REGISTRY_FINGERPRINT: reg.fingerprint,
      NO_COLOR: "1",
      CHAT_LOG_LEVEL: "debug",
      ...o.env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  const stdout: string[] = [];
  collectLines(child.stderr, (l) => stderr.push(l));
  const lines = linesOf(child.stdout);
  const first = await nextLine(lines, 30_000);
  const m = first &&
    /^chat web listening on (http:\/\/127\.0\.0\.1:(\d+))\/\?token=([A-Za-z0-9_-]+)$/
      .exec(first);
  if (!m) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`chat web did not start: ${first}\n${stderr.join("\n")}`);
  }
  if (o.waitReady ?? password !== null) {
    const next = await nextLine(lines, 30_000);
    if (next !== `logged in as ${o.user}`) {
      child.kill("SIGKILL");
      await child.status;
      throw new Error(`chat web did not log in: ${next}\n${stderr.join("\n")}`);
    }
  }
  (async () => {
    for await (const l of lines) stdout.push(l);
  })().catch(() => {});
  const exited = child.status.then((s) => s.code);
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
    const code = await Promise.race([
      exited,
      new Promise<null>((r) => setTimeout(() => r(null), 10_000)),
    ]);
    if (code !== null) return code;
    try {
      child.kill("SIGKILL");
    } catch {
      // Gone meanwhile.
    }
    return await exited;
  };
  return {
    user: o.user,
    home,
    child,
    url: first!.slice("chat web listening on ".length),
    origin: m[1]!,
    port: Number(m[2]),
    token: m[3]!,
    stderr,
    stdout,
    exited,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
      if (!o.home) await Deno.remove(home, { recursive: true }).catch(() => {});
    },
  };
}
