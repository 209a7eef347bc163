/**
 * Hostile clients against a real `chat registry` process (SPEC §3), and the
 * proof that they leave nothing behind: afterwards the registry serves as
 * before, its open file descriptors are back to their count before the
 * barrage and its resident memory is back near it.
 *
 * tests/registry/faults_process_test.ts covers the kinds of malformed frames
 * and datagrams one by one; this suite is about volume and resources:
 * garbage and oversize frames on many connections, clients that never speak
 * (plain TCP that never starts TLS, a ClientHello cut short, TLS that never
 * says hello), a client that stops reading while replies pile up, a request
 * flood, and tens of thousands of bogus heartbeats — while a well-behaved peer
 * stays online and served throughout.
 *
 * A Deno 2.9 limitation is measured, not hidden: a TLS connection whose
 * handshake never started (the client sent nothing, or half a ClientHello)
 * keeps its socket inside the runtime after the registry closes it, until the
 * client goes away; see docs/reliability.md.
 */
import dgram from "node:dgram";
import { join } from "node:path";
import { FramedConn } from "../../common/conn.ts";
import {
  bytesToHex,
  decodeServerMessage,
  encodeFrame,
  encodeHeartbeat,
  fromBase64url,
  PROTOCOL_VERSION,
  type ServerMessage,
} from "../../wire/mod.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  mulberry32,
  type Rand,
  randBytes,
  randInt,
} from "../helpers/random.ts";
import {
  type RegistryProcess,
  spawnRegistry,
  until,
} from "../helpers/registry.ts";
import { loggedIn, signup, type TestClient } from "../registry/support.ts";

const PW = "hostile-password";
/** The registry's handshake timeout in this suite. */
const HANDSHAKE_MS = 1_000;

/** Open file descriptors of a process (Linux /proc). */
function fdCount(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/** Resident memory of a process in bytes (VmRSS). */
function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  assert(m, "VmRSS missing");
  return Number(m[1]) * 1024;
}

const MiB = 1024 * 1024;

/** A raw registry connection over Deno's TLS that reads only when told to. */
class Raw {
  readonly received: ServerMessage[] = [];
  readonly fc: FramedConn;
  readonly #frames: AsyncGenerator<{ payload: Uint8Array }>;
  #nextId = 1;

  private constructor(conn: Deno.TlsConn) {
    this.fc = new FramedConn(conn, { maxQueuedBytes: 64 * MiB });
    this.#frames = this.fc.frames();
  }

  static async open(reg: RegistryProcess): Promise<Raw> {
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: reg.port,
      caCerts: [await Deno.readTextFile(join(reg.home, "registry-cert.pem"))],
    });
    return new Raw(conn);
  }

  /** Sends a request without waiting; returns its id. */
  send(type: string, fields: object = {}): number {
    const id = this.#nextId++;
    this.fc.send({ type, id, ...fields });
    return id;
  }

  /** Reads until the reply to `id` arrives (or the connection ends). */
  async reply(id: number): Promise<ServerMessage | null> {
    while (true) {
      const hit = this.received.find((m) => m.type === "reply" && m.id === id);
      if (hit) return hit;
      if (!(await this.readOne())) return null;
    }
  }

  /** Reads one frame; false at the end of the connection. */
  async readOne(): Promise<boolean> {
    try {
      const next = await this.#frames.next();
      if (next.done) return false;
      const d = decodeServerMessage(next.value.payload);
      if (d.ok) this.received.push(d.msg);
      return true;
    } catch {
      return false;
    }
  }

  /** Reads everything until the registry closes the connection. */
  async drain(): Promise<void> {
    while (await this.readOne()) { /* keep reading */ }
  }

  /** hello, then login as a tool session; reads both replies. */
  async login(user: string): Promise<void> {
    const hello = await this.reply(this.send("hello", { v: PROTOCOL_VERSION }));
    assert(hello?.type === "reply" && hello.ok, JSON.stringify(hello));
    const r = await this.reply(
      this.send("login", { user, password: PW, kind: "tool" }),
    );
    assert(r?.type === "reply" && r.ok, JSON.stringify(r));
  }

  close(): void {
    this.fc.close();
  }
}

/** Log lines at error level: each one would be a bug in the registry. */
function errorLines(stderr: string[]): string[] {
  return stderr.filter((l) => /^\S+ error /.test(l));
}

/** Log lines of drops for one reason. */
function drops(stderr: string[], reason: string): number {
  return stderr.filter((l) => / warn drop /.test(l) && l.includes(reason))
    .length;
}

/** Garbage and oversize frames on `n` connections; each is closed for it. */
async function garbage(reg: RegistryProcess, rand: Rand, n: number) {
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    const raw = await Raw.open(reg);
    try {
      if (i % 2 === 0) {
        await raw.reply(raw.send("hello", { v: PROTOCOL_VERSION }));
      }
      // Framed junk first (answered with errors), then a framing violation.
      for (let k = 0; k < 5; k++) {
        raw.fc.sendFrame(
          encodeFrame("control", randBytes(rand, randInt(rand, 1, 2000))),
        );
      }
      const header = new Uint8Array(5);
      if (i % 3 === 0) {
        new DataView(header.buffer).setUint32(0, 0xfff_ffff); // 256 MiB
        header[4] = 1;
        raw.fc.sendFrame(header);
      } else if (i % 3 === 1) {
        raw.fc.sendFrame(new Uint8Array([0, 0, 0, 4, 9, 1, 2, 3, 4]));
      } else {
        const g = randBytes(rand, 300);
        g[0] = 0xff;
        raw.fc.sendFrame(g);
      }
      await raw.drain();
    } finally {
      raw.close();
    }
  }));
}

/** Plain TCP connections that never send a byte; closed by `release`. */
async function tcpSilent(reg: RegistryProcess, n: number) {
  const conns = await Promise.all(
    Array.from(
      { length: n },
      () => Deno.connect({ hostname: "127.0.0.1", port: reg.port }),
    ),
  );
  return {
    conns,
    release: () => conns.forEach((c) => c.close()),
  };
}

/** TCP connections that send half a TLS ClientHello and stall. */
async function helloCutShort(reg: RegistryProcess, n: number) {
  const t = await tcpSilent(reg, n);
  // A handshake record header announcing 512 bytes, then two of them.
  await Promise.all(
    t.conns.map((c) => c.write(new Uint8Array([0x16, 3, 1, 2, 0, 1, 0]))),
  );
  return t;
}

/** TLS connections that complete the handshake and never say hello. */
async function tlsSilent(reg: RegistryProcess, n: number) {
  const caCerts = [
    await Deno.readTextFile(join(reg.home, "registry-cert.pem")),
  ];
  const conns = await Promise.all(Array.from({ length: n }, async () => {
    const c = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: reg.port,
      caCerts,
    });
    await c.handshake();
    return c;
  }));
  return {
    conns,
    /** Resolves once the registry has closed every one of them. */
    closedByRegistry: () =>
      Promise.all(conns.map(async (c) => {
        const buf = new Uint8Array(64);
        try {
          while ((await c.read(buf)) !== null) { /* until closed */ }
        } catch {
          // Reset: closed as well.
        }
      })),
    release: () => conns.forEach((c) => c.close()),
  };
}

/**
 * A client that stops reading while it asks for big replies: every room in
 * detail, 2,000 of them, about 300 KB a reply. The registry must drop it once
 * its 2 MiB send queue is full (the kernel's buffers fill first).
 */
async function stopsReading(reg: RegistryProcess, requests: number) {
  const raw = await Raw.open(reg);
  await raw.login("reader");
  for (let i = 0; i < requests; i++) {
    raw.send("rooms", { detailed: true, limit: 1000 });
  }
  return raw;
}

/** A logged-in client sending `n` requests without waiting for replies. */
async function flood(reg: RegistryProcess, n: number) {
  const raw = await Raw.open(reg);
  await raw.login("flooder");
  const first = raw.received.length;
  for (let i = 0; i < n; i++) raw.send("search", { user: "steady" });
  await raw.drain();
  const replies = raw.received.slice(first).filter((m) => m.type === "reply");
  raw.close();
  return {
    ok: replies.filter((m) => m.type === "reply" && m.ok).length,
    limited:
      replies.filter((m) => m.type === "reply" && !m.ok && m.code === "limit")
        .length,
    total: replies.length,
  };
}

/** Random, replayed, forged and unknown-session heartbeats. */
async function bogusHeartbeats(
  reg: RegistryProcess,
  steady: TestClient,
  rand: Rand,
  n: number,
) {
  const sock = dgram.createSocket("udp4");
  const s = steady.session!;
  const token = fromBase64url(s.token)!;
  const send = (b: Uint8Array) =>
    new Promise<void>((resolve) =>
      sock.send(b, reg.udpPort, "127.0.0.1", () => resolve())
    );
  try {
    for (let i = 0; i < n; i++) {
      let d: Uint8Array;
      switch (i % 5) {
        case 0:
          d = randBytes(rand, randInt(rand, 1, 1500));
          break;
        case 1: // steady's own early heartbeats, replayed
          d = encodeHeartbeat(s.session, randInt(rand, 1, 3), token);
          break;
        case 2: // steady's session, a far-ahead counter, a wrong MAC
          d = encodeHeartbeat(s.session, 2 ** 40 + i, randBytes(rand, 32));
          break;
        case 3: // an unknown session
          d = encodeHeartbeat(bytesToHex(randBytes(rand, 16)), i, token);
          break;
        default: { // a real-looking heartbeat with one bit flipped
          d = encodeHeartbeat(s.session, 2 ** 41 + i, token);
          const bit = randInt(rand, 0, d.length * 8 - 1);
          d[bit >> 3]! ^= 1 << (bit & 7);
        }
      }
      await send(d);
      // Let the socket breathe now and then: kernel drops are no test.
      if (i % 500 === 499) await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    await new Promise<void>((r) => sock.close(() => r()));
  }
}

Deno.test("hostile clients are dropped and leave the registry as they found it", async (t) => {
  const rand = mulberry32(0xbad);
  const reg = await spawnRegistry({
    args: ["--handshake-timeout", `${HANDSHAKE_MS}ms`],
  });
  const pid = reg.child.pid;
  const target = reg.target();
  try {
    for (const u of ["steady", "builder", "reader", "flooder", "after"]) {
      await signup(target, u, PW);
    }
    // A real peer session that must stay online and served throughout.
    await using steady = await loggedIn(target, "steady", PW);
    const served: number[] = [];
    const failures: string[] = [];
    let serving = true;
    const service = (async () => {
      while (serving) {
        const start = performance.now();
        try {
          await steady.request("search", { user: "builder" });
          served.push(performance.now() - start);
        } catch (err) {
          failures.push(String(err));
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    })();

    await t.step("1,000 rooms to make big replies", async () => {
      // Each user may own 20 rooms: 50 builders own 20 each.
      const names = Array.from({ length: 50 }, (_, k) => `builder${k}`);
      for (const name of names) await signup(target, name, PW);
      // One at a time: 50 password checks at once queue behind each other
      // for longer than a request may wait on a loaded machine.
      const builders = [];
      for (const name of names) {
        builders.push(await loggedIn(target, name, PW, { kind: "tool" }));
      }
      try {
        await Promise.all(builders.map(async (b, k) => {
          for (let i = 0; i < 20; i++) {
            await b.request("room_create", {
              room: `hall-${k}-${i}`,
              description: "x".repeat(200),
            });
          }
        }));
      } finally {
        for (const b of builders) await b.close();
      }
    });

    // One small round of everything first: what the registry keeps for good
    // after first use (compiled code, pools, a grown heap) is not a leak.
    await t.step("a warm-up round of every hostile kind", async () => {
      await garbage(reg, rand, 10);
      const silent = await tlsSilent(reg, 5);
      await silent.closedByRegistry();
      silent.release();
      const reader = await stopsReading(reg, 60);
      await until(
        () => drops(reg.stderr, "send queue full") >= 1,
        "the first non-reader dropped",
        30_000,
      );
      reader.close();
      await flood(reg, 500);
      await bogusHeartbeats(reg, steady, rand, 2_000);
    });

    const settle = async () => {
      await until(
        () => fdCount(pid) <= base.fds,
        `open descriptors back to ${base.fds} (now ${fdCount(pid)})`,
        20_000,
        100,
      );
    };
    const base = { fds: 0, rss: 0 };
    await t.step("baseline", async () => {
      await new Promise((r) => setTimeout(r, 500));
      base.fds = fdCount(pid);
      base.rss = rssBytes(pid);
      console.log(
        `  baseline: ${base.fds} descriptors, ${
          (base.rss / MiB).toFixed(1)
        } MiB`,
      );
    });

    await t.step(
      "200 connections of garbage and oversize frames are each closed",
      async () => {
        const before = drops(reg.stderr, "frame") +
          drops(reg.stderr, "kind");
        await garbage(reg, rand, 200);
        await until(
          () =>
            drops(reg.stderr, "frame") + drops(reg.stderr, "kind") - before >=
              200,
          "a drop logged for each",
          60_000,
        );
        await settle();
      },
    );

    await t.step(
      "TLS clients that never say hello are dropped after the handshake timeout and release everything",
      async () => {
        const before = drops(reg.stderr, "no hello in time");
        const silent = await tlsSilent(reg, 100);
        try {
          await silent.closedByRegistry();
          await until(
            () => drops(reg.stderr, "no hello in time") - before >= 100,
            "100 handshake timeouts logged",
          );
          // Still connected on our side, yet nothing is left at the registry.
          await settle();
        } finally {
          silent.release();
        }
      },
    );

    await t.step(
      "TCP clients that never start TLS, or stall inside the ClientHello, are dropped; their sockets are free once they leave",
      async () => {
        const before = drops(reg.stderr, "no hello in time");
        const quiet = await tcpSilent(reg, 100);
        const stalled = await helloCutShort(reg, 100);
        await until(
          () => drops(reg.stderr, "no hello in time") - before >= 200,
          "200 handshake timeouts",
          HANDSHAKE_MS + 20_000,
        );
        const held = fdCount(pid) - base.fds;
        console.log(
          `  after their timeout, 200 silent clients still connected hold ${held} descriptors at the registry (Deno keeps a socket whose TLS handshake never finished until the client leaves)`,
        );
        assert(held <= 200, `${held} descriptors for 200 clients`);
        quiet.release();
        stalled.release();
        await settle();
      },
    );

    await t.step(
      "a client that stops reading is dropped once its queue is full, while others are served",
      async () => {
        const before = drops(reg.stderr, "send queue full");
        const servedBefore = served.length;
        const reader = await stopsReading(reg, 150);
        try {
          await until(
            () => drops(reg.stderr, "send queue full") > before,
            "the non-reader dropped",
            30_000,
          );
          await until(
            () => served.length >= servedBefore + 5,
            "steady served meanwhile",
          );
        } finally {
          reader.close();
        }
        await settle();
      },
    );

    await t.step(
      "a request flood is refused with 'limit' and then dropped",
      async () => {
        const before = drops(reg.stderr, "request flood");
        const r = await flood(reg, 2_000);
        console.log(
          `  flood of 2000: ${r.ok} served, ${r.limited} refused with limit, then dropped after ${r.total} replies`,
        );
        assert(r.ok >= 150 && r.ok <= 400, `${r.ok} served`);
        assert(r.limited > 200, `${r.limited} limited`);
        assert(r.total < 2_000, "dropped before the end of the flood");
        // The client can see the hang-up before the log line is read.
        await until(
          () => drops(reg.stderr, "request flood") - before >= 1,
          "the drop in the registry's log",
        );
        assertEquals(drops(reg.stderr, "request flood") - before, 1);
        await settle();
      },
    );

    await t.step("30,000 bogus heartbeats change nothing", async () => {
      await bogusHeartbeats(reg, steady, rand, 30_000);
      assertEquals(steady.eventsOf("timeout").length, 0);
    });

    await t.step(
      "afterwards the registry serves normally, the well-behaved session never noticed",
      async () => {
        await using after = await loggedIn(target, "after", PW);
        const found = await after.request("search", { user: "steady" });
        assertEquals(found.online, true);
        // Over a heartbeat TTL more, steady's real heartbeats still count.
        const ttl = steady.client.hello.heartbeat_ttl_ms;
        const end = Date.now() + ttl + 500;
        while (Date.now() < end) {
          assertEquals(
            (await after.request("search", { user: "steady" })).online,
            true,
          );
          await new Promise((r) => setTimeout(r, 100));
        }
        serving = false;
        await service;
        assert(served.length > 20, `${served.length} searches served`);
        assertEquals(failures, [], "every search of the steady peer answered");
        assertEquals(steady.eventsOf("timeout").length, 0);
        assertEquals(steady.client.isClosed, false);
        assertEquals(errorLines(reg.stderr), []);
      },
    );

    await t.step(
      "descriptors are back to the baseline and memory is back near it",
      async () => {
        await settle();
        // Generous: V8 keeps some heap it grew, the allocator some pages.
        const slack = Math.max(48 * MiB, base.rss * 0.25);
        let rss = rssBytes(pid);
        await until(
          () => {
            rss = rssBytes(pid);
            return rss <= base.rss + slack;
          },
          `RSS back near ${(base.rss / MiB).toFixed(0)} MiB`,
          20_000,
          250,
        )
          .catch(() => {});
        console.log(
          `  after: ${fdCount(pid)} descriptors (baseline ${base.fds}), RSS ${
            (rss / MiB).toFixed(1)
          } MiB (baseline ${(base.rss / MiB).toFixed(1)} MiB)`,
        );
        assert(
          rss <= base.rss + slack,
          `RSS ${(rss / MiB).toFixed(1)} MiB vs ${(base.rss / MiB).toFixed(1)}`,
        );
      },
    );
  } finally {
    await reg.stop("SIGKILL");
    await Deno.remove(reg.home, { recursive: true }).catch(() => {});
  }
});
