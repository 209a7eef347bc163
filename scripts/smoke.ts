/**
 * The smoke test: a user's first session against any build of chat.
 *
 *   deno run -A scripts/smoke.ts [PATH_TO_CHAT_BINARY]
 *
 * With no path it runs `deno run --no-prompt` with exactly the permissions
 * scripts/compile.ts bakes into the binaries, so a pass proves they suffice.
 * It starts a registry (port 0, temporary CHAT_HOME) and two `chat peer
 * --json` on free ports with their own temporary homes, then walks the
 * journey: version, sign-up, search, a direct chat with a delivered message,
 * a room message, and a file piped from `chat send` into `chat receive -o -`.
 * One line per step; on a failure, what failed and the last output of the
 * process involved, and exit code 1 (2 for a usage error).
 */
import { join, resolve } from "node:path";
import { PERMISSION_FLAGS, ROOT, UNSTABLE_FLAGS } from "./compile.ts";
import config from "../deno.json" with { type: "json" };

/** How to start chat: a program and the arguments before chat's own. */
export interface ChatCommand {
  program: string;
  prefix: string[];
  label: string;
}

/** The `deno run` command with the binaries' permissions, or a binary. */
export function chatCommand(binary?: string): ChatCommand {
  if (binary !== undefined) {
    const path = resolve(binary);
    return { program: path, prefix: [], label: path };
  }
  const prefix = [
    "run",
    // A compiled binary never prompts: a missing permission must fail here too.
    "--no-prompt",
    ...PERMISSION_FLAGS,
    ...UNSTABLE_FLAGS,
    join(ROOT, "main.ts"),
  ];
  return {
    program: Deno.execPath(),
    prefix,
    label: `deno ${prefix.join(" ")}`,
  };
}

/** A step failed: the message says what, `detail` shows the evidence. */
class StepError extends Error {
  constructor(message: string, readonly detail: string[] = []) {
    super(message);
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Text lines of a byte stream, each handed to `fn` as it arrives. */
async function eachLine(
  stream: ReadableStream<Uint8Array>,
  fn: (line: string) => void,
): Promise<void> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      fn(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) fn(buf);
}

/** Polls until `check` yields something, or fails the step after `ms`. */
async function until<T>(
  check: () => T | undefined | null | false,
  what: string,
  detail: () => string[],
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (true) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) {
      throw new StepError(
        `timed out after ${ms / 1000} s waiting for ${what}`,
        detail(),
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A port nobody listens on right now, for `chat peer --port N`. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Everything the journey starts, so one place can stop it. */
class Run {
  readonly children: Deno.ChildProcess[] = [];
  readonly dirs: string[] = [];
  readonly env: Record<string, string>;

  constructor(readonly chat: ChatCommand) {
    // Every name the binary may read is set, so the caller's environment
    // (a real CHAT_REGISTRY, CHAT_USER …) cannot leak into the journey.
    this.env = {
      NO_COLOR: "1",
      CHAT_LOG_LEVEL: "debug",
      CHAT_MAX_FILE_BYTES: "0",
    };
  }

  async tempDir(prefix: string): Promise<string> {
    const dir = await Deno.makeTempDir({ prefix: `chat-smoke-${prefix}-` });
    this.dirs.push(dir);
    return dir;
  }

  spawn(
    args: string[],
    env: Record<string, string>,
    stdin: "piped" | "null" = "null",
  ): Deno.ChildProcess {
    const child = new Deno.Command(this.chat.program, {
      args: [...this.chat.prefix, ...args],
      cwd: ROOT,
      env: { ...this.env, ...env },
      stdin,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.children.push(child);
    return child;
  }

  async cleanup(): Promise<void> {
    for (const child of this.children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await child.status;
    }
    for (const dir of this.dirs) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
}

/** A running `chat registry`. */
interface RegistryRef {
  port: number;
  fingerprint: string;
  child: Deno.ChildProcess;
  stderr: string[];
}

async function startRegistry(run: Run): Promise<RegistryRef> {
  const home = await run.tempDir("registry");
  const child = run.spawn(
    ["registry", "--host", "127.0.0.1", "--port", "0", "--udp-port", "0"],
    { CHAT_HOME: home },
  );
  const stdout: string[] = [];
  const stderr: string[] = [];
  void eachLine(child.stdout, (l) => stdout.push(l)).catch(() => {});
  void eachLine(child.stderr, (l) => stderr.push(l)).catch(() => {});
  let exited: number | null = null;
  void child.status.then((s) => exited = s.code);
  const first = await until(
    () => stdout[0] ?? (exited !== null ? `exited with ${exited}` : null),
    "the registry's first line",
    () => stderr.slice(-10),
    20_000,
  );
  const m =
    /^chat registry listening on 127\.0\.0\.1:(\d+) \(udp (\d+)\) fingerprint sha256:([0-9a-f]{64})$/
      .exec(first);
  if (!m) {
    throw new StepError(`unexpected first line: ${first}`, stderr.slice(-10));
  }
  const db = await until(
    () => stdout[1],
    "the database line",
    () => stdout,
  );
  if (db !== `database ${join(home, "registry.db")}`) {
    throw new StepError(
      `expected the database in CHAT_HOME, got: ${db}`,
      stdout,
    );
  }
  return {
    port: Number(m[1]),
    fingerprint: `sha256:${m[3]}`,
    child,
    stderr,
  };
}

/** A JSON object a peer printed. */
type Line = Record<string, unknown> & { type: string };

/** A `chat peer --json` process. */
class JsonPeer {
  readonly lines: Line[] = [];
  readonly stderr: string[] = [];
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly exited: Promise<number>;
  #replies = 0;

  constructor(readonly user: string, readonly child: Deno.ChildProcess) {
    this.#writer = child.stdin.getWriter();
    const reading = eachLine(child.stdout, (raw) => {
      try {
        this.lines.push(JSON.parse(raw));
      } catch {
        this.lines.push({ type: "unparsable", raw });
      }
    }).catch(() => {});
    void eachLine(child.stderr, (l) => this.stderr.push(l)).catch(() => {});
    this.exited = child.status.then(async (s) => {
      await reading;
      return s.code;
    });
  }

  detail = (): string[] => [
    ...this.lines.slice(-8).map((l) =>
      `${this.user} stdout: ${JSON.stringify(l)}`
    ),
    ...this.stderr.slice(-5).map((l) => `${this.user} stderr: ${l}`),
  ];

  /** The first line from the `from`-th on that matches. */
  waitFor(pred: (l: Line) => boolean, what: string, from = 0): Promise<Line> {
    return until(
      () => this.lines.slice(from).find(pred),
      `${this.user} to see ${what}`,
      this.detail,
    );
  }

  /** Sends a command and returns its reply; a failed reply fails the step. */
  async send(line: string): Promise<Line> {
    const n = this.#replies++;
    await this.#writer.write(enc.encode(line + "\n"));
    const reply = await until(
      () => this.lines.filter((l) => l.type === "reply")[n],
      `${this.user}'s reply to ${line}`,
      this.detail,
    );
    if (reply.ok !== true) {
      throw new StepError(
        `${this.user}: ${line} failed: ${reply.error}`,
        this.detail(),
      );
    }
    return reply;
  }

  /** Ends stdin (which logs out) and returns the exit code. */
  async quit(): Promise<number> {
    await this.#writer.close().catch(() => {});
    const code = await Promise.race([
      this.exited,
      new Promise<null>((r) => setTimeout(() => r(null), 10_000)),
    ]);
    if (code === null) {
      throw new StepError(`${this.user} did not exit after end of input`);
    }
    return code;
  }
}

async function startPeer(
  run: Run,
  reg: RegistryRef,
  user: string,
): Promise<JsonPeer> {
  const home = await run.tempDir(user);
  const port = freePort();
  const child = run.spawn(
    ["peer", "--json", "--signup", "--user", user, "--port", String(port)],
    {
      CHAT_HOME: home,
      CHAT_REGISTRY: `127.0.0.1:${reg.port}`,
      CHAT_REGISTRY_FINGERPRINT: reg.fingerprint,
      CHAT_PASSWORD: `${user}-smoke-password`,
    },
    "piped",
  );
  const peer = new JsonPeer(user, child);
  const ready = await peer.waitFor((l) => l.type === "ready", "ready");
  if (ready.user !== user || ready.port !== port) {
    throw new StepError(
      `${user}: ready says ${JSON.stringify(ready)}, expected port ${port}`,
      peer.detail(),
    );
  }
  return peer;
}

/** Output of a finished one-shot command. */
interface Finished {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

async function finish(
  child: Deno.ChildProcess,
  input?: Uint8Array,
): Promise<Finished> {
  const feeding = input === undefined ? Promise.resolve() : (async () => {
    const w = child.stdin.getWriter();
    await w.write(input).catch(() => {});
    await w.close().catch(() => {});
  })();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Finished meanwhile.
    }
  }, 30_000);
  try {
    const out = await child.output();
    await feeding;
    return {
      code: out.code,
      stdout: out.stdout,
      stderr: dec.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Runs the journey; resolves with the exit code. */
export async function smoke(
  chat: ChatCommand,
  o: { log?: (line: string) => void } = {},
): Promise<number> {
  const log = o.log ?? ((line: string) => console.log(line));
  const run = new Run(chat);
  const started = Date.now();
  let current = "start";
  const step = async (name: string, body: () => Promise<string>) => {
    current = name;
    const t0 = Date.now();
    const what = await body();
    log(`ok    ${name.padEnd(12)} ${what} (${Date.now() - t0} ms)`);
  };
  log(`smoke: ${chat.label}`);
  try {
    await step("version", async () => {
      const r = await finish(run.spawn(["--version"], {}));
      const text = dec.decode(r.stdout).trim();
      if (r.code !== 0 || text !== `chat ${config.version}`) {
        throw new StepError(
          `chat --version printed '${
            text.split("\n")[0]
          }' (exit ${r.code}), expected 'chat ${config.version}'`,
          [r.stderr],
        );
      }
      return text;
    });

    let reg!: RegistryRef;
    await step("registry", async () => {
      reg = await startRegistry(run);
      return `listening on 127.0.0.1:${reg.port}, ${
        reg.fingerprint.slice(0, 19)
      }…`;
    });

    let alice!: JsonPeer;
    let bob!: JsonPeer;
    await step("signup", async () => {
      [alice, bob] = await Promise.all([
        startPeer(run, reg, "alice"),
        startPeer(run, reg, "bob"),
      ]);
      return `alice and bob signed up and listen on their --port`;
    });

    await step("search", async () => {
      const found = await alice.send("/search bob");
      if (found.user !== "bob" || found.online !== true) {
        throw new StepError(
          `/search bob does not say bob is online: ${JSON.stringify(found)}`,
        );
      }
      const r = await finish(
        run.spawn(["search", "nobody-here", "--json"], {
          CHAT_HOME: await run.tempDir("search"),
          CHAT_REGISTRY: `127.0.0.1:${reg.port}`,
          CHAT_REGISTRY_FINGERPRINT: reg.fingerprint,
          CHAT_USER: "alice",
          CHAT_PASSWORD: "alice-smoke-password",
        }),
      );
      if (r.code !== 1) {
        throw new StepError(
          `chat search nobody-here exited ${r.code}, expected 1 (no such user)`,
          [dec.decode(r.stdout), r.stderr],
        );
      }
      return "bob is online; chat search of an unknown user exits 1";
    });

    await step("direct chat", async () => {
      const mark = bob.lines.length;
      await alice.send("/chat bob");
      await bob.waitFor(
        (l) => l.type === "chat_request" && l.from === "alice",
        "alice's chat_request",
        mark,
      );
      await bob.send("/accept alice");
      await alice.waitFor(
        (l) => l.type === "chat_started" && l.with === "bob",
        "chat_started with bob",
      );
      const sent = await alice.send("/msg bob hello from the smoke test");
      await bob.waitFor(
        (l) =>
          l.type === "message" && l.from === "alice" &&
          l.text === "hello from the smoke test" && l.room === undefined,
        "alice's message",
      );
      await alice.waitFor(
        (l) => l.type === "delivered" && l.to === "bob" && l.id === sent.id,
        "the delivered notice",
      );
      return "requested, accepted, message delivered";
    });

    await step("room", async () => {
      await alice.send("/room create smoke --description smoke-test");
      await bob.send("/join smoke");
      await alice.waitFor(
        (l) =>
          l.type === "room_joined" && l.room === "smoke" && l.user === "bob",
        "bob joining the room",
      );
      await alice.send("/say smoke hello room");
      await bob.waitFor(
        (l) =>
          l.type === "message" && l.room === "smoke" && l.from === "alice" &&
          l.text === "hello room",
        "alice's room message",
      );
      return "created, joined, said, received";
    });

    await step("pipe", async () => {
      const payload = new Uint8Array(1024 * 1024);
      for (let off = 0; off < payload.length; off += 65536) {
        crypto.getRandomValues(payload.subarray(off, off + 65536));
      }
      const common = {
        CHAT_REGISTRY: `127.0.0.1:${reg.port}`,
        CHAT_REGISTRY_FINGERPRINT: reg.fingerprint,
      };
      const logins = reg.stderr.length;
      const receiver = run.spawn(["receive", "--from", "alice", "-o", "-"], {
        ...common,
        CHAT_HOME: await run.tempDir("receive"),
        CHAT_USER: "bob",
        CHAT_PASSWORD: "bob-smoke-password",
      });
      const received = finish(receiver);
      // File offers for bob go to his newest `chat receive` once it is logged in.
      await until(
        () =>
          reg.stderr.slice(logins).find((l) =>
            / login /.test(l) && /user=bob/.test(l) && /kind=receive/.test(l)
          ),
        "chat receive to log in",
        () => reg.stderr.slice(-5),
      );
      const sender = run.spawn(["send", "bob", "-", "--name", "smoke.bin"], {
        ...common,
        CHAT_HOME: await run.tempDir("send"),
        CHAT_USER: "alice",
        CHAT_PASSWORD: "alice-smoke-password",
      }, "piped");
      const [s, r] = await Promise.all([finish(sender, payload), received]);
      if (s.code !== 0) {
        throw new StepError(`chat send exited ${s.code}`, [s.stderr]);
      }
      if (r.code !== 0) {
        throw new StepError(`chat receive exited ${r.code}`, [r.stderr]);
      }
      const [want, got] = await Promise.all([
        sha256(payload),
        sha256(r.stdout),
      ]);
      if (r.stdout.length !== payload.length || want !== got) {
        throw new StepError(
          `received ${r.stdout.length} bytes (sha256 ${got}), sent ${payload.length} (sha256 ${want})`,
        );
      }
      return `${payload.length} bytes from chat send to chat receive -o -, identical`;
    });

    await step("quit", async () => {
      const codes = await Promise.all([alice.quit(), bob.quit()]);
      if (codes.some((c) => c !== 0)) {
        throw new StepError(`peers exited with ${codes.join(" and ")}`, [
          ...alice.detail(),
          ...bob.detail(),
        ]);
      }
      reg.child.kill("SIGTERM");
      const code = (await reg.child.status).code;
      if (code !== 0) {
        throw new StepError(
          `the registry exited with ${code} on SIGTERM`,
          reg.stderr.slice(-5),
        );
      }
      return "peers logged out, registry stopped cleanly";
    });
    log(`smoke: passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  } catch (err) {
    log(
      `FAIL  ${current.padEnd(12)} ${err instanceof Error ? err.message : err}`,
    );
    if (err instanceof StepError) {
      for (const line of err.detail) log(`      ${line}`);
    } else if (err instanceof Error && err.stack) {
      log(err.stack);
    }
    return 1;
  } finally {
    await run.cleanup();
  }
}

if (import.meta.main) {
  if (Deno.args.length > 1 || Deno.args.some((a) => a.startsWith("-"))) {
    console.error("usage: deno run -A scripts/smoke.ts [PATH_TO_CHAT_BINARY]");
    Deno.exit(2);
  }
  Deno.exit(await smoke(chatCommand(Deno.args[0])));
}
