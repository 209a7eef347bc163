/**
 * Real `chat peer --json` processes for end-to-end tests, and a runner for the
 * one-shot commands. Each peer gets its own temporary CHAT_HOME.
 */
import { collectLines, linesOf, MAIN, until } from "./registry.ts";

/** Where a test registry is and how it is pinned. */
export interface RegistryRef {
  port: number;
  fingerprint: string;
  /** Its address (default 127.0.0.1). */
  host?: string;
}

/** Starts a process; a network lab passes one that runs it in a namespace. */
export type Spawner = (
  cmd: string,
  args: string[],
  opts: Omit<Deno.CommandOptions, "args">,
) => Deno.ChildProcess;

/** Deno.Command on this machine. */
export const LOCAL: Spawner = (cmd, args, opts) =>
  new Deno.Command(cmd, { ...opts, args }).spawn();

/** A JSON object a peer printed. */
export type JsonLine = Record<string, unknown> & { type: string };

/** A running `chat peer --json`. */
export interface JsonPeer extends AsyncDisposable {
  user: string;
  home: string;
  child: Deno.ChildProcess;
  /** Every line printed so far, in order. */
  lines: JsonLine[];
  stderr: string[];
  /** The P2P port from the ready event. */
  port: number;
  /** Sends one command line and resolves with its reply. */
  send(line: string, timeoutMs?: number): Promise<JsonLine>;
  /** Resolves with the first line (from index `from`) matching `pred`. */
  waitFor(
    pred: (l: JsonLine) => boolean,
    what: string,
    timeoutMs?: number,
    from?: number,
  ): Promise<JsonLine>;
  /** Events (non-replies) of one type seen so far. */
  events(type: string): JsonLine[];
  /** Closes stdin and waits for the exit code. */
  quit(): Promise<number>;
  /** Sends a signal and waits for the exit code. */
  kill(signal?: Deno.Signal): Promise<number>;
  exited: Promise<number>;
}

/** Options of spawnPeer. */
export interface SpawnPeerOptions {
  user: string;
  password?: string;
  signup?: boolean;
  home?: string;
  env?: Record<string, string>;
  args?: string[];
  /** Wait for the ready event (default true). */
  waitReady?: boolean;
  /** How to start the process (default: here). */
  spawn?: Spawner;
  /** --registry: default 127.0.0.1 and the registry's port. */
  registry?: string;
}

/** Starts `chat peer --json` against a registry and waits until it is ready. */
export async function spawnPeer(
  reg: RegistryRef,
  o: SpawnPeerOptions,
): Promise<JsonPeer> {
  const home = o.home ?? await Deno.makeTempDir({ prefix: `chat-${o.user}-` });
  const child = (o.spawn ?? LOCAL)(Deno.execPath(), [
    "run",
    "--allow-all",
    MAIN,
    "peer",
    "--json",
    "--user",
    o.user,
    "--registry",
    o.registry ?? `${reg.host ?? "127.0.0.1"}:${reg.port}`,
    ...(o.signup === false ? [] : ["--signup"]),
    ...(o.args ?? []),
  ], {
    env: {
      CHAT_HOME: home,
      CHAT_PASSWORD: o.password ?? `${o.user}-password`,
      CHAT_REGISTRY_FINGERPRINT: reg.fingerprint,
      NO_COLOR: "1",
      CHAT_LOG_LEVEL: "debug",
      ...o.env,
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const lines: JsonLine[] = [];
  const stderr: string[] = [];
  const waiters: {
    resolve: (l: JsonLine) => void;
    reject: (e: Error) => void;
  }[] = [];
  collectLines(child.stderr, (l) => stderr.push(l));
  const reading = (async () => {
    for await (const raw of linesOf(child.stdout)) {
      let parsed: JsonLine;
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = { type: "unparsable", raw };
      }
      lines.push(parsed);
      if (parsed.type === "reply") waiters.shift()?.resolve(parsed);
    }
  })().catch(() => {});
  const exited = child.status.then(async (s) => {
    await reading;
    for (const w of waiters.splice(0)) {
      w.reject(new Error(`${o.user} exited with ${s.code}`));
    }
    return s.code;
  });
  const writer = child.stdin.getWriter();
  const enc = new TextEncoder();
  let stdinOpen = true;
  const waitFor = async (
    pred: (l: JsonLine) => boolean,
    what: string,
    timeoutMs = 15_000,
    from = 0,
  ) =>
    await until(
      () => lines.slice(from).find(pred),
      `${o.user}: ${what}\nlines: ${
        JSON.stringify(lines.slice(-15))
      }\nstderr: ${stderr.slice(-5).join("\n")}`,
      timeoutMs,
    );
  const kill = async (signal: Deno.Signal = "SIGKILL") => {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
    return await exited;
  };
  const quit = async () => {
    if (stdinOpen) {
      stdinOpen = false;
      await writer.close().catch(() => {});
    }
    const code = await Promise.race([
      exited,
      new Promise<null>((r) => setTimeout(() => r(null), 10_000)),
    ]);
    return code ?? await kill();
  };
  const peer: JsonPeer = {
    user: o.user,
    home,
    child,
    lines,
    stderr,
    port: 0,
    send: async (line, timeoutMs = 20_000) => {
      const reply = new Promise<JsonLine>((resolve, reject) =>
        waiters.push({ resolve, reject })
      );
      await writer.write(enc.encode(line + "\n"));
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        return await Promise.race([
          reply,
          new Promise<never>((_, reject) =>
            timer = setTimeout(
              () =>
                reject(
                  new Error(
                    `${o.user}: no reply to ${line}\n${
                      stderr.slice(-5).join("\n")
                    }`,
                  ),
                ),
              timeoutMs,
            )
          ),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    waitFor,
    events: (type) => lines.filter((l) => l.type === type),
    quit,
    kill,
    exited,
    [Symbol.asyncDispose]: async () => {
      await quit();
      if (!o.home) await Deno.remove(home, { recursive: true }).catch(() => {});
    },
  };
  if (o.waitReady !== false) {
    const ready = await Promise.race([
      waitFor((l) => l.type === "ready", "ready", 30_000),
      exited.then((code) => {
        throw new Error(
          `${o.user} exited with ${code} before ready:\n${
            JSON.stringify(lines)
          }\n${stderr.join("\n")}`,
        );
      }),
    ]);
    peer.port = Number(ready.port);
  }
  return peer;
}

/** The outcome of a one-shot `chat` command. */
export interface ChatRun {
  code: number;
  stdout: Uint8Array;
  stderr: string;
  text: string;
}

/** Runs `chat ARGS` to completion with optional stdin bytes. */
export async function runChat(
  args: string[],
  o: {
    env?: Record<string, string>;
    stdin?: Uint8Array | ReadableStream<Uint8Array>;
    timeoutMs?: number;
  } = {},
): Promise<ChatRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    env: { NO_COLOR: "1", ...o.env },
    stdin: o.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const feeding = (async () => {
    if (o.stdin === undefined) return;
    if (o.stdin instanceof Uint8Array) {
      const w = child.stdin.getWriter();
      await w.write(o.stdin).catch(() => {});
      await w.close().catch(() => {});
    } else {
      await o.stdin.pipeTo(child.stdin).catch(() => {});
    }
  })();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Finished meanwhile.
    }
  }, o.timeoutMs ?? 60_000);
  const out = await child.output().catch(async () => {
    const status = await child.status;
    return {
      code: status.code,
      stdout: new Uint8Array(),
      stderr: new Uint8Array(),
    };
  });
  clearTimeout(timer);
  await feeding;
  return {
    code: out.code,
    stdout: out.stdout,
    stderr: new TextDecoder().decode(out.stderr),
    text: new TextDecoder().decode(out.stdout),
  };
}

/** Sends a command line and insists on an ok reply. */
export async function ok(
  p: JsonPeer,
  line: string,
): Promise<Record<string, unknown>> {
  const r = await p.send(line);
  if (r.ok !== true) {
    throw new Error(`${p.user}: ${line} → ${JSON.stringify(r)}`);
  }
  return r;
}

/** Index of the next line a peer will print, to wait for events after it. */
export const mark = (p: JsonPeer): number => p.lines.length;
