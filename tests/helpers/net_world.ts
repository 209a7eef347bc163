/**
 * A small world for reachability tests: a network lab (netns.ts) with a
 * registry on a public address, homes behind NAT routers, real `chat`
 * processes in their namespaces, and helpers for what every scenario does —
 * a chat with deliveries both ways, a file, and a `chat send | chat receive`
 * pipe checked byte for byte.
 *
 * ```
 *   registry 203.0.113.10      dave 203.0.113.11 (public)
 *   home1 198.51.100.10 (--random-fully): alice 10.1.0.2, carol 10.1.0.3
 *   home2 198.51.100.11:                  bob 10.2.0.2
 * ```
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { assert, assertEquals } from "./assert.ts";
import { NetLab, type NetLabSpec } from "./netns.ts";
import { type JsonLine, type JsonPeer, spawnPeer } from "./peer_process.ts";
import { collectLines, MAIN, spawnRegistry, until } from "./registry.ts";

/** The usual lab: two homes (one remapping ports at random) and two public hosts. */
export const WORLD: NetLabSpec = {
  homes: [
    { name: "home1", hosts: ["alice", "carol"], randomFully: true },
    { name: "home2", hosts: ["bob"] },
  ],
  publicHosts: ["registry", "dave"],
};

/** Why lab tests cannot run here, or null when they can; logged once per file. */
export async function labSkipReason(file: string): Promise<string | null> {
  const ok = await NetLab.available();
  if (ok.ok) return null;
  console.log(`${file}: network lab tests skipped: ${ok.reason}`);
  return ok.reason;
}

/** A lab with a registry running on its `registry` host. */
export interface World extends AsyncDisposable {
  lab: NetLab;
  registry: { host: string; port: number; fingerprint: string };
  /** The registry's stderr (its log) so far. */
  registryLog: string[];
  /** Starts `chat peer --json` as `user` on lab host `host`. */
  peer(host: string, user: string, args?: string[]): Promise<JsonPeer>;
  /** Runs `chat ARGS` on `host` as `user` with the world's registry. */
  spawnChat(
    host: string,
    user: string,
    args: string[],
    opts?: { stdin?: "piped" | "null" },
  ): Deno.ChildProcess;
}

/** Builds the lab and starts the registry with `registryArgs`. */
export async function world(
  spec: NetLabSpec = WORLD,
  registryArgs: string[] = [],
): Promise<World> {
  const lab = await NetLab.create(spec);
  const homes: string[] = [];
  const peers: JsonPeer[] = [];
  try {
    const regHost = lab.host("registry");
    const reg = await spawnRegistry({
      host: "0.0.0.0",
      port: 15600,
      udpPort: 15500,
      args: ["--log-level", "debug", "--relay-port", "15601", ...registryArgs],
      spawn: (cmd, args, o) => lab.spawn("registry", cmd, args, o),
    });
    homes.push(reg.home);
    const registry = {
      host: regHost.addr,
      port: reg.port,
      fingerprint: reg.fingerprint,
    };
    const envFor = async (user: string) => {
      const home = await Deno.makeTempDir({ prefix: `chat-lab-${user}-` });
      homes.push(home);
      return {
        CHAT_HOME: home,
        CHAT_USER: user,
        CHAT_PASSWORD: `${user}-password`,
        CHAT_REGISTRY: `${registry.host}:${registry.port}`,
        CHAT_REGISTRY_FINGERPRINT: registry.fingerprint,
        CHAT_LOG_LEVEL: "debug",
        NO_COLOR: "1",
      };
    };
    const homeOf = new Map<string, Record<string, string>>();
    return {
      lab,
      registry,
      registryLog: reg.stderr,
      async peer(host, user, args = []) {
        const env = homeOf.get(user) ?? await envFor(user);
        homeOf.set(user, env);
        const p = await spawnPeer(registry, {
          user,
          home: env.CHAT_HOME,
          args,
          spawn: (cmd, a, o) => lab.spawn(host, cmd, a, o),
        });
        peers.push(p);
        return p;
      },
      spawnChat(host, user, args, opts = {}) {
        const env = homeOf.get(user);
        assert(env, `${user} has no CHAT_HOME yet: start their peer first`);
        return lab.spawn(host, Deno.execPath(), [
          "run",
          "--allow-all",
          MAIN,
          ...args,
        ], {
          env,
          stdin: opts.stdin ?? "null",
          stdout: "piped",
          stderr: "piped",
        });
      },
      [Symbol.asyncDispose]: async () => {
        await Promise.all(peers.map((p) => p.quit().catch(() => 0)));
        await reg.stop("SIGKILL");
        await lab.close();
        for (const h of homes) {
          await Deno.remove(h, { recursive: true }).catch(() => {});
        }
      },
    };
  } catch (err) {
    await lab.close();
    for (const h of homes) {
      await Deno.remove(h, { recursive: true }).catch(() => {});
    }
    throw err;
  }
}

/**
 * `a` asks `b` for a chat (b accepts), then each sends a message the other
 * gets and that is delivered back; returns the path both sides reported.
 */
export async function chatBothWays(a: JsonPeer, b: JsonPeer): Promise<string> {
  const from = { a: a.lines.length, b: b.lines.length };
  const asked = await a.send(`/chat ${b.user}`, 60_000);
  assert(asked.ok === true, JSON.stringify(asked));
  await b.waitFor(
    (l) => l.type === "chat_request" && l.from === a.user,
    "the chat request",
    60_000,
    from.b,
  );
  const accepted = await b.send(`/accept ${a.user}`, 30_000);
  assert(accepted.ok === true, JSON.stringify(accepted));
  const startedA = await a.waitFor(
    (l) => l.type === "chat_started" && l.with === b.user,
    "chat_started",
    30_000,
    from.a,
  );
  const startedB = await b.waitFor(
    (l) => l.type === "chat_started" && l.with === a.user,
    "chat_started",
    30_000,
    from.b,
  );
  assertEquals(startedA.path, startedB.path, "both sides see one path");
  for (const [x, y] of [[a, b], [b, a]] as const) {
    const text = `hello ${y.user}, this is ${x.user}`;
    const at = { x: x.lines.length, y: y.lines.length };
    const sent = await x.send(`/msg ${y.user} ${text}`, 30_000);
    assert(sent.ok === true, JSON.stringify(sent));
    await y.waitFor(
      (l) => l.type === "message" && l.from === x.user && l.text === text,
      `the message from ${x.user}`,
      30_000,
      at.y,
    );
    await x.waitFor(
      (l) => l.type === "delivered" && l.to === y.user && l.id === sent.id,
      `the delivery to ${y.user}`,
      30_000,
      at.x,
    );
  }
  return String(startedA.path);
}

/** `a` sends `b` a small file with /send; returns the path the offer reported. */
export async function sendFile(a: JsonPeer, b: JsonPeer): Promise<string> {
  const body = `a file from ${a.user} to ${b.user}\n`.repeat(1000);
  const file = join(a.home, `for-${b.user}.txt`);
  await Deno.writeTextFile(file, body);
  const at = { a: a.lines.length, b: b.lines.length };
  const offered = await a.send(`/send ${b.user} ${file}`, 60_000);
  assert(offered.ok === true, JSON.stringify(offered));
  const offer = await b.waitFor(
    (l) => l.type === "file_offer" && l.from === a.user,
    "the file offer",
    30_000,
    at.b,
  );
  assertEquals(offer.path, offered.path);
  const accepted = await b.send(`/file accept ${offer.id}`, 30_000);
  assert(accepted.ok === true, JSON.stringify(accepted));
  const got: JsonLine = await b.waitFor(
    (l) => l.type === "file_received" && l.id === offer.id,
    "file_received",
    60_000,
    at.b,
  );
  await a.waitFor(
    (l) => l.type === "file_sent" && l.id === offer.id,
    "file_sent",
    60_000,
    at.a,
  );
  assertEquals(await Deno.readTextFile(String(got.path)), body);
  return String(offer.path);
}

/** What a pipe did: both summary lines and whether the bytes matched. */
export interface PipeRun {
  sendLine: string;
  receiveLine: string;
  sent: string;
  received: string;
  bytes: number;
}

/**
 * `chat send TO -` on `fromHost` (as `from`) into `chat receive --from
 * FROM -o -` on `toHost` (as `to`): `bytes` of pseudo-random data, hashed on
 * both sides of the pipe.
 */
export async function pipe(
  w: World,
  from: { host: string; user: string },
  to: { host: string; user: string },
  bytes: number,
): Promise<PipeRun> {
  const recv = w.spawnChat(to.host, to.user, [
    "receive",
    "--from",
    from.user,
    "-o",
    "-",
  ]);
  const recvErr: string[] = [];
  const recvErrDone = collectLines(recv.stderr, (l) => recvErr.push(l));
  const received = (async () => {
    const h = createHash("sha256");
    let n = 0;
    for await (const chunk of recv.stdout) {
      h.update(chunk);
      n += chunk.length;
    }
    return { sha: h.digest("hex"), n };
  })();
  // The receiver must be logged in before the sender asks for it.
  await until(
    () =>
      w.registryLog.some((l) =>
        l.includes("login") && l.includes(`user=${to.user}`) &&
        l.includes("kind=receive")
      ),
    `${to.user}'s chat receive logged in`,
    60_000,
    100,
  );
  const send = w.spawnChat(from.host, from.user, ["send", to.user, "-"], {
    stdin: "piped",
  });
  const sendErr: string[] = [];
  const sendErrDone = collectLines(send.stderr, (l) => sendErr.push(l));
  const drainOut = send.stdout.cancel();
  const h = createHash("sha256");
  const writer = send.stdin.getWriter();
  const chunk = new Uint8Array(256 * 1024);
  let state = 0x9e3779b9;
  for (let off = 0; off < bytes; off += chunk.length) {
    for (let i = 0; i < chunk.length; i += 4) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      chunk[i] = state & 0xff;
      chunk[i + 1] = (state >>> 8) & 0xff;
      chunk[i + 2] = (state >>> 16) & 0xff;
      chunk[i + 3] = (state >>> 24) & 0xff;
    }
    const part = chunk.subarray(0, Math.min(chunk.length, bytes - off));
    h.update(part);
    await writer.write(part);
  }
  await writer.close();
  const [s, r, got] = await Promise.all([send.status, recv.status, received]);
  await Promise.all([sendErrDone, recvErrDone, drainOut]);
  assertEquals(s.code, 0, sendErr.join("\n"));
  assertEquals(r.code, 0, recvErr.join("\n"));
  return {
    sendLine: sendErr.at(-1) ?? "",
    receiveLine: recvErr.at(-1) ?? "",
    sent: h.digest("hex"),
    received: got.sha,
    bytes: got.n,
  };
}
