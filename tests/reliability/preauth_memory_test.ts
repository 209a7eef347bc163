/**
 * Connections without a session cannot pin the registry's memory or its
 * connection table, against a real `chat registry` process and a registry
 * on real sockets: a frame announcing 1 MiB before login is refused at its
 * header, a partial frame holds what arrived and counts against one budget
 * for all such connections, an address has a bounded number of connections,
 * and a connection idle without a session is closed.
 */
import { join } from "node:path";
import { FramedConn } from "../../common/conn.ts";
import {
  decodeServerMessage,
  encodeFrame,
  encodeJson,
  FRAME_HEADER_BYTES,
  PROTOCOL_VERSION,
  type ServerMessage,
} from "../../wire/mod.ts";
import { DEFAULT_REGISTRY_LIMITS } from "../../registry/limits.ts";
import { assert } from "../helpers/assert.ts";
import { spawnRegistry, startRegistry, until } from "../helpers/registry.ts";
import { loggedIn, signup } from "../registry/support.ts";

const MiB = 1024 * 1024;

/** Resident memory of a process in bytes (VmRSS). */
function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  assert(m, "VmRSS missing");
  return Number(m[1]) * 1024;
}

/** A raw TLS connection that has said hello; writes bytes as it is told. */
class Greeted {
  readonly received: ServerMessage[] = [];
  closed = false;
  readonly #fc: FramedConn;
  readonly #reading: Promise<void>;

  private constructor(readonly conn: Deno.TlsConn) {
    const fc = new FramedConn(conn);
    this.#fc = fc;
    this.#reading = (async () => {
      try {
        for await (const f of fc.frames()) {
          const d = decodeServerMessage(f.payload);
          if (d.ok) this.received.push(d.msg);
        }
      } catch {
        // A reset: the registry closed it, which is what is watched for.
      }
      this.closed = true;
    })();
  }

  /** Connects and says hello (not waiting for the reply unless asked). */
  static async open(port: number, ca: string, wait = true): Promise<Greeted> {
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port,
      caCerts: [ca],
    });
    const g = new Greeted(conn);
    await g.write(
      encodeFrame(
        "control",
        encodeJson({ type: "hello", id: 1, v: PROTOCOL_VERSION }),
      ),
    );
    if (wait) {
      await until(
        () => g.received.some((m) => m.type === "reply") || g.closed,
        "the hello reply",
      );
    }
    return g;
  }

  /** Writes all of `bytes`; false if the registry had closed the connection. */
  async write(bytes: Uint8Array): Promise<boolean> {
    try {
      for (let off = 0; off < bytes.length;) {
        off += await this.conn.write(bytes.subarray(off));
      }
      return true;
    } catch {
      return false;
    }
  }

  /** Sends the header of a `length`-byte frame and all of it but one byte. */
  async partialFrame(length: number, filler: Uint8Array): Promise<boolean> {
    const header = new Uint8Array(FRAME_HEADER_BYTES);
    new DataView(header.buffer).setUint32(0, length);
    header[4] = 1;
    if (!(await this.write(header))) return false;
    return await this.write(filler.subarray(0, length - 1));
  }

  async close(): Promise<void> {
    this.#fc.close();
    await this.#reading;
  }
}

Deno.test("200 connections sending all but one byte of a big frame do not move the registry's memory", async (t) => {
  await using reg = await spawnRegistry();
  const ca = await Deno.readTextFile(join(reg.home, "registry-cert.pem"));
  const pid = reg.child.pid;
  const filler = new Uint8Array(MiB).fill(0x20);
  const open: Greeted[] = [];
  try {
    // Warm up: what the registry keeps after first use is not the attack's.
    const warm = await Greeted.open(reg.port, ca);
    await warm.partialFrame(MiB, filler);
    await until(() => warm.closed, "the warm-up connection closed");
    for (let i = 0; i < 8; i++) {
      open.push(
        ...await Promise.all(
          Array.from({ length: 50 }, () => Greeted.open(reg.port, ca)),
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 500));
    const before = rssBytes(pid);

    await t.step(
      "announcing 1 MiB before login closes the connection at the header",
      async () => {
        const attackers = open.slice(0, 200);
        await Promise.all(attackers.map((g) => g.partialFrame(MiB, filler)));
        await until(
          () => attackers.every((g) => g.closed),
          "all 200 closed by the registry",
          30_000,
        );
        const drop =
          / warn drop reason="frame of 1048576 bytes exceeds the limit of 16384 bytes"/;
        await until(
          () => reg.stderr.filter((l) => drop.test(l)).length >= 200,
          "200 drops logged",
        );
      },
    );

    await t.step(
      "frames as big as allowed before login stay, within a budget",
      async () => {
        const holders = open.slice(200);
        const max = DEFAULT_REGISTRY_LIMITS.preAuthFrameBytes;
        await Promise.all(holders.map((g) => g.partialFrame(max, filler)));
        await new Promise((r) => setTimeout(r, 1_000));
        assert(
          holders.every((g) => !g.closed),
          "a legal partial frame was dropped",
        );
      },
    );

    await t.step(
      "the registry's memory barely moved, and it still serves",
      async () => {
        const grown = rssBytes(pid) - before;
        // Before: 200 × 1 MiB buffers allocated from the announced length.
        assert(grown < 32 * MiB, `RSS grew by ${(grown / MiB).toFixed(1)} MiB`);
        const target = reg.target();
        await signup(target, "bystander", "bystander-password");
        await using c = await loggedIn(
          target,
          "bystander",
          "bystander-password",
          {
            kind: "tool",
          },
        );
        await c.request("search", { user: "bystander" });
      },
    );
  } finally {
    await Promise.all(open.map((g) => g.close()));
  }
});

Deno.test("per-address connections, the shared budget and the idle timeout on real sockets", async (t) => {
  await using reg = await startRegistry({
    limits: {
      trustedAddresses: [],
      maxConnectionsPerAddress: 4,
      preAuthMemoryBytes: 40_000,
      unauthenticatedIdleMs: 1_500,
    },
  });
  const ca = await Deno.readTextFile(join(reg.dir, "registry-cert.pem"));
  const filler = new Uint8Array(64 * 1024);
  const open: Greeted[] = [];
  try {
    await t.step(
      "the fifth connection from one address is refused and closed",
      async () => {
        for (let i = 0; i < 4; i++) open.push(await Greeted.open(reg.port, ca));
        const fifth = await Greeted.open(reg.port, ca, false);
        open.push(fifth);
        await until(() => fifth.closed, "the fifth closed");
        const said = fifth.received.find((m) => m.type === "error");
        assert(
          said?.type === "error" &&
            said.reason ===
              "too many connections from 127.0.0.1 (4, the limit per address) — close some and retry",
          JSON.stringify(fifth.received),
        );
        assert(open.slice(0, 4).every((g) => !g.closed));
      },
    );

    await t.step(
      "partial frames past the shared budget drop the connection that passes it",
      async () => {
        const [a, b, c] = open;
        for (const g of [a!, b!, c!]) {
          await g.partialFrame(15_000, filler);
          await new Promise((r) => setTimeout(r, 100));
        }
        await until(() => c!.closed, "the third partial frame dropped");
        assert(!a!.closed && !b!.closed);
        assert(
          reg.logs.some((l) =>
            l.includes(
              "partial frames hold more memory than allowed (40000 bytes",
            )
          ),
        );
      },
    );

    await t.step(
      "a connection without a session is closed once idle",
      async () => {
        await Promise.all(open.map((g) => g.close()));
        open.length = 0;
        const idle = await Greeted.open(reg.port, ca);
        open.push(idle);
        const start = Date.now();
        await until(() => idle.closed, "the idle connection closed", 10_000);
        const waited = Date.now() - start;
        assert(waited >= 1_000, `closed after ${waited} ms`);
        assert(reg.logs.some((l) => l.includes('reason="idle before login"')));
      },
    );
  } finally {
    await Promise.all(open.map((g) => g.close()));
  }
});
