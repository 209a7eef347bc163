/**
 * What the file transfer tests share: a real Transfers on one end of a
 * loopback TCP connection and, on the other, another Transfers or a raw,
 * possibly hostile, peer that writes whatever frames a test wants; and
 * small file helpers for the end-to-end tests.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { FramedConn } from "../../../../common/conn.ts";
import type { Clock } from "../../../../common/clock.ts";
import { silentLogger } from "../../../../common/log.ts";
import type { PeerEvent } from "../../../../peer/core/events.ts";
import type { P2PLink } from "../../../../peer/net/p2p.ts";
import {
  type ChunkSource,
  Transfers,
} from "../../../../peer/core/transfers/mod.ts";
import { decodeP2P, type P2PMessage } from "../../../../wire/mod.ts";
import type { JsonLine } from "../../../helpers/peer_process.ts";
import { until } from "../../../helpers/registry.ts";

export const sha256 = (b: Uint8Array) =>
  createHash("sha256").update(b).digest("hex");

export const EMPTY_SHA256 = sha256(new Uint8Array());

/** Names of the entries of a folder, sorted; [] when it does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out.sort();
}

/** Part files a receiver left in `dir`. */
export async function partFiles(dir: string): Promise<string[]> {
  return (await listDir(dir)).filter((n) => n.endsWith(".chat-part"));
}

/** Two framed ends of one loopback TCP connection, as P2P file links. */
export async function linkPair(
  senderName = "alice",
  receiverName = "bob",
): Promise<{ sending: P2PLink; receiving: P2PLink }> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [a, b] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  const limits = { readBufferBytes: 256 * 1024 };
  const fa = new FramedConn(a, limits);
  const fb = new FramedConn(b, limits);
  return {
    // The sender's link names the receiver and the other way round.
    sending: {
      user: receiverName,
      purpose: "file",
      inbound: false,
      path: "direct",
      conn: fa,
      frames: fa.frames(),
    },
    receiving: {
      user: senderName,
      purpose: "file",
      inbound: true,
      path: "direct",
      conn: fb,
      frames: fb.frames(),
    },
  };
}

/** A Transfers with its events recorded and a temporary downloads folder. */
export async function side(
  self: string,
  o: {
    maxBytes?: number;
    corruptAt?: number;
    dial?: () => P2PLink;
    clock?: Clock;
    checkRoom?: (room: string, user: string) => string | null;
    maxOffersPerSender?: number;
  } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: `chat-files-${self}-` });
  const downloads = join(dir, "downloads");
  const events: PeerEvent[] = [];
  const transfers = new Transfers({
    self: () => self,
    dial: () =>
      o.dial
        ? Promise.resolve(o.dial())
        : Promise.reject(new Error("no dialing in this test")),
    emit: (ev) => events.push(ev),
    downloads,
    maxBytes: o.maxBytes ?? 0,
    logger: silentLogger,
    ...(o.corruptAt !== undefined ? { corruptAt: o.corruptAt } : {}),
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.checkRoom ? { checkRoom: o.checkRoom } : {}),
    ...(o.maxOffersPerSender !== undefined
      ? { maxOffersPerSender: o.maxOffersPerSender }
      : {}),
  });
  const event = <K extends PeerEvent["type"]>(type: K, what = type) =>
    until(
      () =>
        events.find((e) => e.type === type) as
          | Extract<PeerEvent, { type: K }>
          | undefined,
      `${self}: ${what} (events: ${JSON.stringify(events)})`,
    );
  return {
    dir,
    downloads,
    events,
    transfers,
    event,
    async [Symbol.asyncDispose]() {
      await transfers.closeAll("test over");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** A peer that speaks the file protocol by hand, to send what Transfers never would. */
export function rawPeer(link: P2PLink) {
  const msgs: P2PMessage[] = [];
  /** Sizes of the data frames received, in order. */
  const dataFrames: number[] = [];
  const reading = (async () => {
    try {
      for await (const f of link.frames) {
        if (f.kind !== "control") {
          dataFrames.push(f.payload.length);
          continue;
        }
        const d = decodeP2P(f.payload);
        if (d.ok) msgs.push(d.msg);
      }
    } catch {
      // The other side broke the framing or went away: the test decides.
    }
  })();
  return {
    msgs,
    dataFrames,
    send: (msg: P2PMessage) => link.conn.send(msg),
    data: (bytes: Uint8Array) => link.conn.sendData(bytes),
    waitFor: <K extends P2PMessage["type"]>(type: K) =>
      until(
        () =>
          msgs.find((m) => m.type === type) as
            | Extract<P2PMessage, { type: K }>
            | undefined,
        `raw peer: ${type} (got ${JSON.stringify(msgs)})`,
      ),
    closed: () => until(() => link.conn.closed, "the link to close"),
    async [Symbol.asyncDispose]() {
      link.conn.close();
      await reading;
    },
  };
}

/** Offers `bytes` under `name` from a raw peer; resolves with the receiver's answer. */
export async function rawOffer(
  raw: ReturnType<typeof rawPeer>,
  recv: Awaited<ReturnType<typeof side>>,
  name: string,
  bytes: Uint8Array,
  id = "t1",
) {
  raw.send({ type: "file_offer", id, name, size: bytes.length });
  const offer = await until(
    () =>
      recv.events.find((e) => e.type === "file_offer" && e.id === id) as
        | Extract<PeerEvent, { type: "file_offer" }>
        | undefined,
    `offer ${id}`,
  );
  await recv.transfers.accept(id);
  await raw.waitFor("file_accept");
  if (bytes.length > 0) await raw.data(bytes);
  raw.send({
    type: "file_end",
    id,
    size: bytes.length,
    sha256: sha256(bytes),
  });
  return offer;
}

/** A source the test feeds by hand, so a transfer can be held midway. */
export function heldSource(): ChunkSource & {
  push(b: Uint8Array | null): void;
  reads: number;
} {
  const queue: (Uint8Array | null)[] = [];
  let wake: (() => void) | null = null;
  const src = {
    reads: 0,
    push(b: Uint8Array | null) {
      queue.push(b);
      wake?.();
    },
    async read(p: Uint8Array): Promise<number | null> {
      src.reads++;
      while (queue.length === 0) {
        await new Promise<void>((r) => wake = r);
        wake = null;
      }
      const next = queue[0]!;
      if (next === null) return null;
      const n = Math.min(p.length, next.length);
      p.set(next.subarray(0, n));
      if (n === next.length) queue.shift();
      else queue[0] = next.subarray(n);
      return n;
    },
  };
  return src;
}

/** A real sender and a real receiver over one loopback link. */
export async function transferPair(o: { corruptAt?: number } = {}) {
  const { sending, receiving } = await linkPair();
  const alice = await side("alice", { dial: () => sending, ...o });
  const bob = await side("bob");
  bob.transfers.adoptInbound(receiving);
  return { alice, bob };
}

/** Writes `bytes` to a new file in a fresh temporary folder. */
export async function tempFile(
  name: string,
  bytes: Uint8Array,
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "chat-files-src-" });
  const path = join(dir, name);
  await Deno.writeFile(path, bytes);
  return path;
}

export const isEvent = (type: string, id?: unknown) => (l: JsonLine) =>
  l.type === type && (id === undefined || l.id === id);

/** Waits for a line matching `pred` that appears after the reply `since`. */
export function afterIndex(lines: JsonLine[]): number {
  return lines.length;
}

/** A sparse file of `size` bytes: instant to make, slow enough to send. */
export async function sparseFile(name: string, size: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "chat-files-sparse-" });
  const path = join(dir, name);
  using f = await Deno.open(path, { write: true, createNew: true });
  await f.truncate(size);
  return path;
}
