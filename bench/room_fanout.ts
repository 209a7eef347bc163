/**
 * P4: one sender, a room of 50 online members; how long until every member
 * has a room message.
 *
 * Setup. The registry runs in this process (it only introduces peers; no
 * room message passes through it). 50 separate `deno` processes are too
 * heavy for a 2-core machine, so the 50 members are Peer cores
 * (peer/core.ts) hosted 10 to a process in 5 driver processes, and the
 * sender is one more Peer core in a sixth; the drivers are this same file
 * run with `--driver`. Commands go in through `peer.run("/say …")`, exactly
 * as the shell and JSON mode pass them, and every message crosses a real,
 * authenticated TLS connection on 127.0.0.1 from the sender to each member.
 *
 * Measurement. The sender says messages one at a time (after 10 untimed
 * warm-up messages that open the 50 links); it stamps each just before
 * `run("/say …")` and waits for all 50 `delivered` acknowledgements before
 * the next. Each member stamps the moment its core emits the message event.
 * Stamps are wall-clock time at microsecond resolution
 * (`performance.timeOrigin + performance.now()`), comparable between
 * processes on one machine. A message's fan-out time is its last member's
 * stamp minus the sender's; p50/p99 are over 200 messages (30 with --quick).
 * For information: the per-member figure (every member of every message)
 * and the time until all 50 acknowledgements are back at the sender (one
 * clock, so no cross-process comparison in it).
 *
 * Account set-up uses cheap scrypt parameters: logins are not measured here.
 *
 * Run alone: `deno run -A bench/room_fanout.ts [--quick]`.
 */
import { join } from "node:path";
import { Logger } from "../common/log.ts";
import { loadIdentity, Registry } from "../registry/mod.ts";
import { isReply, Peer, type PeerEvent, readLines } from "../peer/mod.ts";
import {
  atMost,
  chatRunArgs,
  info,
  type Metric,
  type RunOptions,
  runStandalone,
  type Scenario,
  stats,
} from "./harness.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;

/** SPEC.md §4 P4 target: every member has the message, p99. */
export const P99_TARGET_MS = 20;
/** Members of the room besides the sender. */
export const MEMBERS = 50;
/** Member Peer cores per driver process. */
export const MEMBERS_PER_PROCESS = 10;
const ROOM = "fanout";
const WARMUP = 10;
/** A short chat line. */
const TEXT = "the quick brown fox jumps over the lazy dog";

/** Microsecond wall clock, comparable between processes on one machine. */
function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

// ----------------------------------------------------------------- driver

/** What a driver is told on its command line. */
interface DriverArgs {
  users: string[];
  port: number;
  pin: string;
  home: string;
}

/**
 * One driver process hosting Peer cores. Reads one command per stdin line
 * and answers each with one JSON line on stdout:
 *   `create`     → the first core creates the room  → {"ok":true}
 *   `join`       → every core joins the room        → {"ok":true}
 *   `members N`  → waits until the first core sees N others online
 *   `say N`      → the first core says N messages one at a time, each after
 *                  every delivery of the one before → {"sent":[[id,t0,tAcks]…]}
 *   `dump`       → {"recv":[[id,t]…]} every room message any core received
 *   `quit`       → stops the cores and exits
 */
async function driver(args: DriverArgs): Promise<void> {
  const out = (obj: object) => console.log(JSON.stringify(obj));
  const recv: [number, number][] = [];
  const acks = new Map<number, number>();
  let awaiting: { id: number; n: number; resolve: () => void } | null = null;
  const onEvent = (ev: PeerEvent) => {
    if (ev.type === "message" && ev.room === ROOM) {
      recv.push([ev.id, wallMs()]);
    } else if (ev.type === "delivered" && ev.room === ROOM) {
      const n = (acks.get(ev.id) ?? 0) + 1;
      acks.set(ev.id, n);
      if (awaiting?.id === ev.id && n >= awaiting.n) awaiting.resolve();
    } else if (ev.type === "error" || ev.type === "timeout") {
      console.error(JSON.stringify(ev));
    }
  };
  const logger = new Logger("warn", (line) => console.error(line));
  const peers = await Promise.all(args.users.map((user) =>
    Peer.start({
      target: {
        host: "127.0.0.1",
        port: args.port,
        home: join(args.home, user),
        pin: args.pin,
      },
      credentials: { user, password: `${user}-bench-pw` },
      home: join(args.home, user),
      port: 0,
      listenHost: "127.0.0.1",
      signup: true,
      logger,
    }, onEvent)
  ));
  const first = peers[0]!;
  const run = async (peer: Peer, line: string) => {
    const r = await peer.run(line);
    if (!r.ok) throw new Error(`${peer.user}: ${line}: ${r.error}`);
    return r;
  };
  out({ ready: true });
  try {
    for await (const line of readLines(Deno.stdin.readable)) {
      const [cmd, arg = ""] = line.split(" ");
      switch (cmd) {
        case "create":
          await run(first, `/room create ${ROOM} --capacity ${MEMBERS + 1}`);
          out({ ok: true });
          break;
        case "join":
          for (const p of peers) await run(p, `/join ${ROOM}`);
          out({ ok: true });
          break;
        case "members": {
          const deadline = performance.now() + 60_000;
          while (first.rooms.onlineOthers(ROOM, first.user).length < +arg) {
            if (performance.now() > deadline) {
              throw new Error(`${first.user} does not see ${arg} members`);
            }
            await new Promise((r) => setTimeout(r, 20));
          }
          out({ ok: true });
          break;
        }
        case "say": {
          const sent: [number, number, number][] = [];
          for (let i = 0; i < Number(arg); i++) {
            const t0 = wallMs();
            const r = await run(first, `/say ${ROOM} ${TEXT} ${i}`);
            if (!isReply(r, "say")) throw new Error(`/say: ${r.command}`);
            const id = r.data.id;
            const n = r.data.recipients.length;
            if ((acks.get(id) ?? 0) < n) {
              await new Promise<void>((resolve) =>
                awaiting = { id, n, resolve }
              );
              awaiting = null;
            }
            sent.push([id, t0, wallMs()]);
            acks.delete(id);
          }
          out({ sent });
          break;
        }
        case "dump":
          out({ recv });
          break;
        case "quit":
          return;
      }
    }
  } finally {
    await Promise.all(peers.map((p) => p.stop()));
  }
}

// ------------------------------------------------------------ the scenario

/** A driver process spoken to in lines. */
interface Driver {
  /** Sends a command and resolves with its one JSON answer. */
  ask<T = Record<string, unknown>>(
    line: string,
    timeoutMs?: number,
  ): Promise<T>;
  close(): Promise<void>;
}

function spawnDriver(args: DriverArgs): Driver & { ready: Promise<unknown> } {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...chatRunArgs(), SELF, "--driver", JSON.stringify(args)],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  (async () => {
    for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr = (stderr + c).slice(-2000);
    }
  })().catch(() => {});
  const answers = readLines(child.stdout)[Symbol.asyncIterator]();
  const next = async <T>(timeoutMs: number): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const r = await Promise.race([
        answers.next(),
        new Promise<never>((_, reject) =>
          timer = setTimeout(
            () => reject(new Error(`driver did not answer: ${stderr}`)),
            timeoutMs,
          )
        ),
      ]);
      if (r.done) throw new Error(`driver exited: ${stderr}`);
      return JSON.parse(r.value) as T;
    } finally {
      clearTimeout(timer);
    }
  };
  const writer = child.stdin.getWriter();
  const enc = new TextEncoder();
  return {
    ready: next(120_000),
    async ask<T>(line: string, timeoutMs = 120_000) {
      await writer.write(enc.encode(line + "\n"));
      return await next<T>(timeoutMs);
    },
    async close() {
      await writer.write(enc.encode("quit\n")).catch(() => {});
      await writer.close().catch(() => {});
      let timer: ReturnType<typeof setTimeout> | undefined;
      const status = await Promise.race([
        child.status,
        new Promise<null>((r) => timer = setTimeout(() => r(null), 10_000)),
      ]);
      clearTimeout(timer);
      if (!status) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Gone meanwhile.
        }
        await child.status;
      }
    },
  };
}

/** Runs P4 against a registry in this process. */
async function fanoutMetrics(opts: RunOptions): Promise<Metric[]> {
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-p4-" });
  const registry = await Registry.start({
    host: "127.0.0.1",
    port: 0,
    udpPort: 0,
    dbPath: join(dir, "registry.db"),
    identity: await loadIdentity(dir),
    logger: new Logger("error", (line) => console.error(line)),
    scrypt: { N: 1024, r: 8, p: 1 },
  });
  const drivers: Driver[] = [];
  const spawn = (users: string[]) => {
    const d = spawnDriver({
      users,
      port: registry.port,
      pin: registry.fingerprint,
      home: dir,
    });
    drivers.push(d);
    return d;
  };
  try {
    const sender = spawn(["sender"]);
    const groups: ReturnType<typeof spawn>[] = [];
    for (let i = 0; i < MEMBERS; i += MEMBERS_PER_PROCESS) {
      const users = [];
      for (let j = i; j < Math.min(MEMBERS, i + MEMBERS_PER_PROCESS); j++) {
        users.push(`member${String(j).padStart(2, "0")}`);
      }
      groups.push(spawn(users));
    }
    await sender.ready;
    await sender.ask("create");
    for (const g of groups) await g.ready;
    await Promise.all(groups.map((g) => g.ask("join")));
    await sender.ask(`members ${MEMBERS}`);

    const count = opts.quick ? 30 : 200;
    await sender.ask(`say ${WARMUP}`);
    const { sent } = await sender.ask<{ sent: [number, number, number][] }>(
      `say ${count}`,
    );
    const dumps = await Promise.all(
      groups.map((g) => g.ask<{ recv: [number, number][] }>("dump")),
    );
    const byId = new Map<number, number[]>();
    for (const { recv } of dumps) {
      for (const [id, t] of recv) {
        const list = byId.get(id) ?? [];
        list.push(t);
        byId.set(id, list);
      }
    }
    const everyone: number[] = [];
    const each: number[] = [];
    const acked: number[] = [];
    let short = 0;
    for (const [id, t0, tAcks] of sent) {
      const times = byId.get(id) ?? [];
      acked.push(tAcks - t0);
      if (times.length < MEMBERS) {
        short++;
        continue;
      }
      everyone.push(Math.max(...times) - t0);
      for (const t of times) each.push(t - t0);
    }
    if (short > 0) {
      throw new Error(`${short} of ${count} messages missed some member`);
    }
    const all = stats(everyone);
    const one = stats(each);
    const back = stats(acked);
    const note = `${count} messages one at a time to ${MEMBERS} members ` +
      `(Peer cores, ${MEMBERS_PER_PROCESS} per process in ${groups.length} ` +
      `processes, sender in its own) over TLS on 127.0.0.1; ` +
      `cross-process wall clock`;
    return [
      info("every member has it p50", all.p50, "ms", note),
      atMost("every member has it p99", all.p99, "ms", P99_TARGET_MS),
      info("every member has it max", all.max, "ms"),
      info(
        "one member has it p50",
        one.p50,
        "ms",
        "every member of every message",
      ),
      info(
        "all deliveries back at the sender p99",
        back.p99,
        "ms",
        "one clock: /say to the 50th delivered event",
      ),
    ];
  } finally {
    await Promise.all(drivers.map((d) => d.close()));
    await registry.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** P4: room fan-out. */
export const roomFanoutScenario: Scenario = {
  id: "P4",
  name: "room of 50 online members, one sender: until every member has it",
  run: fanoutMetrics,
};

if (import.meta.main) {
  if (Deno.args[0] === "--driver") {
    await driver(JSON.parse(Deno.args[1]!) as DriverArgs);
    Deno.exit(0);
  } else {
    await runStandalone(roomFanoutScenario);
  }
}
