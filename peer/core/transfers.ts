/**
 * File transfers (F16, F17) over their own authenticated P2P connection each.
 *
 * offer (id, name, size or null) → accept / reject, or cancel from either side
 * → data frames, each write awaited so TCP backpressure paces the sender →
 * file_end with the SHA-256 of the stream → the receiver checks size and hash
 * and answers file_ok or file_fail. Received bytes go to a hidden part file
 * that is renamed into place only after verification and deleted on any
 * failure, so no partial file is ever left behind.
 */
import { createHash, randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { ConnClosedError } from "../../common/conn.ts";
import type { Logger } from "../../common/log.ts";
import {
  decodeP2P,
  FRAME_HEADER_BYTES,
  type P2PMessage,
  writeHeader,
} from "../../wire/mod.ts";
import { UserError } from "./errors.ts";
import type { PeerEvent } from "./events.ts";
import { numberedName, sanitizeFileName } from "./filenames.ts";
import type { P2PLink } from "../net/mod.ts";

/** Bytes per data frame. */
export const CHUNK_BYTES = 256 * 1024;
/** How long an offer waits for an answer. */
export const OFFER_TTL_MS = 10 * 60_000;
/** Progress events per second at most. */
const PROGRESS_EVERY_MS = 100;

/** Anything that can be read in chunks: a file, stdin. */
export interface ChunkSource {
  read(p: Uint8Array): Promise<number | null>;
}

/** Anything that takes bytes: a file, stdout. */
export interface ChunkSink {
  write(p: Uint8Array): Promise<number>;
}

/** Where an accepted file goes. */
export type Destination =
  | { kind: "folder"; dir: string }
  | { kind: "file"; path: string }
  | { kind: "stream"; sink: ChunkSink; label: string };

/** How a transfer ended. */
export type TransferResult =
  | { ok: true; id: string; size: number; sha256: string; path?: string }
  | { ok: false; id: string; reason: string };

/** A transfer as listed by /files. */
export interface TransferInfo {
  id: string;
  direction: "in" | "out";
  peer: string;
  name: string;
  size: number | null;
  room?: string;
  state: "offered" | "active" | "verifying";
  bytes: number;
}

/** What transfers need from the rest of the peer. */
export interface TransferDeps {
  self: () => string;
  /** Opens a file-purpose link to `user`. */
  dial: (user: string) => Promise<P2PLink>;
  emit: (ev: PeerEvent) => void;
  downloads: string;
  /** Largest incoming file accepted; 0 = no limit. */
  maxBytes: number;
  logger: Logger;
  now: () => number;
  /** Fault injection for tests: flip one byte at this offset after hashing. */
  corruptAt?: number;
}

interface Transfer extends TransferInfo {
  link: P2PLink;
  startedAt: number;
  lastProgress: number;
  finished: boolean;
  result: Promise<TransferResult>;
  settle: (r: TransferResult) => void;
  /** Set when the transfer must stop; the streaming loop checks it. */
  abort: string | null;
  /** Resolves with null once the transfer fails, to end a pending read. */
  aborted: Promise<null>;
  onAbort: () => void;
  /** Incoming: the open sink and its finishing steps. */
  sink?: OpenSink;
  hash?: ReturnType<typeof createHash>;
}

interface OpenSink {
  write(p: Uint8Array): Promise<void>;
  /** Makes the file visible under its final name; returns that path. */
  commit(): Promise<string>;
  /** Deletes whatever was written. */
  discard(): Promise<void>;
}

/** See the module doc. */
export class Transfers {
  readonly #d: TransferDeps;
  readonly #all = new Map<string, Transfer>();
  readonly #tasks = new Set<Promise<unknown>>();

  constructor(deps: TransferDeps) {
    this.#d = deps;
  }

  /** Transfers in progress or waiting for an answer. */
  list(): TransferInfo[] {
    return [...this.#all.values()].map((t) => ({
      id: t.id,
      direction: t.direction,
      peer: t.peer,
      name: t.name,
      size: t.size,
      ...(t.room !== undefined ? { room: t.room } : {}),
      state: t.state,
      bytes: t.bytes,
    }));
  }

  /** The outcome of a transfer, once it ends. */
  result(id: string): Promise<TransferResult> | undefined {
    return this.#all.get(id)?.result;
  }

  #spawn<T>(p: Promise<T>): Promise<T> {
    this.#tasks.add(p);
    p.finally(() => this.#tasks.delete(p)).catch(() => {});
    return p;
  }

  #newTransfer(
    fields: Omit<TransferInfo, "state" | "bytes">,
    link: P2PLink,
  ): Transfer {
    let settle!: (r: TransferResult) => void;
    const result = new Promise<TransferResult>((r) => settle = r);
    let onAbort!: () => void;
    const aborted = new Promise<null>((r) => onAbort = () => r(null));
    const t: Transfer = {
      ...fields,
      state: "offered",
      bytes: 0,
      link,
      startedAt: this.#d.now(),
      lastProgress: 0,
      finished: false,
      result,
      settle,
      abort: null,
      aborted,
      onAbort,
    };
    this.#all.set(t.id, t);
    return t;
  }

  #finish(t: Transfer, r: TransferResult, event: PeerEvent | null): void {
    if (t.finished) return;
    t.finished = true;
    this.#all.delete(t.id);
    if (event) this.#d.emit(event);
    t.settle(r);
  }

  /**
   * Ends a transfer as failed. `tellPeer` sends file_cancel with `reason`, or
   * with the given text when the peer must not see our reason (a block).
   */
  #fail(
    t: Transfer,
    reason: string,
    tellPeer: boolean | string,
    emit = true,
  ): void {
    if (t.finished) return;
    t.abort ??= reason;
    t.onAbort();
    if (tellPeer !== false) {
      t.link.conn.send({
        type: "file_cancel",
        id: t.id,
        reason: typeof tellPeer === "string" ? tellPeer : reason,
      });
    }
    void t.link.conn.closeAfterFlush(500);
    const discard = t.sink?.discard() ?? Promise.resolve();
    this.#spawn(discard.catch(() => {}));
    this.#finish(
      t,
      { ok: false, id: t.id, reason },
      emit ? { type: "transfer_failed", id: t.id, reason } : null,
    );
  }

  #progress(t: Transfer, force = false): void {
    const now = this.#d.now();
    if (!force && now - t.lastProgress < PROGRESS_EVERY_MS) return;
    t.lastProgress = now;
    const seconds = Math.max(0.001, (now - t.startedAt) / 1000);
    this.#d.emit({
      type: "file_progress",
      id: t.id,
      direction: t.direction,
      peer: t.peer,
      name: t.name,
      bytes: t.bytes,
      size: t.size,
      rate: Math.round(t.bytes / seconds),
    });
  }

  // ---- sending ------------------------------------------------------------

  /** /send NAME FILE: offers a file; the transfer continues in the background. */
  async sendFile(to: string, path: string): Promise<Record<string, unknown>> {
    const { file, size } = await openForReading(path);
    try {
      const t = await this.offer(to, file, basename(path), size);
      this.#spawn(t.result.finally(() => closeQuietly(file)));
      return { id: t.id, to, name: t.name, size };
    } catch (err) {
      closeQuietly(file);
      throw err;
    }
  }

  /** /send #ROOM FILE: one offer to every online member. */
  async sendFileToRoom(
    room: string,
    path: string,
    members: string[],
    isMember: boolean,
  ): Promise<Record<string, unknown>> {
    if (!isMember) {
      throw new UserError(
        `you are not in room '${room}' — /join ${room} first`,
      );
    }
    const { file, size } = await openForReading(path);
    closeQuietly(file);
    if (members.length === 0) {
      throw new UserError(`nobody else in room '${room}' is online`);
    }
    const offers: { to: string; id: string }[] = [];
    const unreached: string[] = [];
    await Promise.all(members.map(async (to) => {
      try {
        const f = await openForReading(path);
        const t = await this.offer(to, f.file, basename(path), size, room);
        this.#spawn(t.result.finally(() => closeQuietly(f.file)));
        offers.push({ to, id: t.id });
      } catch (err) {
        this.#d.logger.warn("room file offer failed", {
          room,
          user: to,
          error: String(err),
        });
        unreached.push(to);
      }
    }));
    return { room, name: basename(path), size, offers, unreached };
  }

  /**
   * Offers a stream to `to` and, once accepted, sends it. Resolves as soon as
   * the offer is out; the returned transfer's `result` tells how it ended.
   */
  async offer(
    to: string,
    source: ChunkSource,
    name: string,
    size: number | null,
    room?: string,
  ): Promise<{ id: string; name: string; result: Promise<TransferResult> }> {
    const link = await this.#d.dial(to);
    const id = newId();
    const shownName = sanitizeFileName(name);
    const t = this.#newTransfer({
      id,
      direction: "out",
      peer: to,
      name: shownName,
      size,
      ...(room !== undefined ? { room } : {}),
    }, link);
    link.conn.send({
      type: "file_offer",
      id,
      name: shownName,
      size,
      ...(room !== undefined ? { room } : {}),
    });
    this.#spawn(this.#runOutgoing(t, source));
    return { id, name: shownName, result: t.result };
  }

  async #runOutgoing(t: Transfer, source: ChunkSource): Promise<void> {
    const expiry = setTimeout(
      () =>
        this.#fail(
          t,
          `${t.peer} did not answer within ${OFFER_TTL_MS / 60_000} minutes`,
          true,
        ),
      OFFER_TTL_MS,
    );
    let streaming: Promise<void> | null = null;
    try {
      for await (const frame of t.link.frames) {
        if (t.finished) break;
        if (frame.kind !== "control") {
          this.#fail(t, "protocol error: data from the receiver", true);
          break;
        }
        const d = decodeP2P(frame.payload);
        if (!d.ok) continue;
        const msg = d.msg;
        if (!("id" in msg) || msg.id !== t.id) continue;
        switch (msg.type) {
          case "file_accept":
            clearTimeout(expiry);
            if (t.state === "offered") {
              t.state = "active";
              t.startedAt = this.#d.now();
              streaming = this.#stream(t, source);
            }
            break;
          case "file_reject":
            this.#fail(
              t,
              `${t.peer} declined the file${
                msg.reason ? `: ${msg.reason}` : ""
              }`,
              false,
            );
            break;
          case "file_cancel":
            this.#fail(t, cancelledBy(t.peer, msg.reason), false);
            break;
          case "file_fail":
            this.#fail(
              t,
              `${t.peer} could not verify the file: ${msg.reason}`,
              false,
            );
            break;
          case "file_ok":
            if (t.state === "verifying") {
              this.#finish(t, {
                ok: true,
                id: t.id,
                size: t.bytes,
                sha256: msg.sha256,
              }, {
                type: "file_sent",
                to: t.peer,
                id: t.id,
                size: t.bytes,
                sha256: msg.sha256,
              });
            }
            break;
        }
        if (t.finished) break;
      }
    } catch (err) {
      this.#d.logger.warn("transfer link failed", {
        id: t.id,
        error: String(err),
      });
    } finally {
      clearTimeout(expiry);
      this.#fail(t, `lost the connection to ${t.peer}`, false);
      t.link.conn.close();
      await streaming;
    }
  }

  async #stream(t: Transfer, source: ChunkSource): Promise<void> {
    const hash = createHash("sha256");
    const bufs = [
      new Uint8Array(FRAME_HEADER_BYTES + CHUNK_BYTES),
      new Uint8Array(FRAME_HEADER_BYTES + CHUNK_BYTES),
    ];
    let which = 0;
    const eof = { reached: false };
    try {
      const first = fillChunk(
        source,
        bufs[0]!.subarray(FRAME_HEADER_BYTES),
        eof,
      );
      first.catch(() => {}); // Raced with the end of the transfer below.
      let n = await Promise.race([first, t.aborted]);
      while (n !== null && !t.abort) {
        const buf = bufs[which]!;
        const payload = buf.subarray(
          FRAME_HEADER_BYTES,
          FRAME_HEADER_BYTES + n,
        );
        hash.update(payload);
        const at = t.bytes;
        t.bytes += n;
        if (t.size !== null && t.bytes > t.size) {
          this.#fail(t, "the file grew while it was being sent", true);
          return;
        }
        const corrupt = this.#d.corruptAt;
        if (corrupt !== undefined && corrupt >= at && corrupt < at + n) {
          payload[corrupt - at] = payload[corrupt - at]! ^ 0xff;
        }
        writeHeader(buf, "data", n);
        const written = t.link.conn.sendPrepared(
          buf.subarray(0, FRAME_HEADER_BYTES + n),
        );
        which ^= 1;
        const next = fillChunk(
          source,
          bufs[which]!.subarray(FRAME_HEADER_BYTES),
          eof,
        );
        next.catch(() => {}); // Awaited below unless the write fails first.
        await written;
        // A slow source (a pipe with nothing to say) must not hold up a
        // cancelled transfer: stop waiting for it once the transfer ends.
        n = await Promise.race([next, t.aborted]);
        this.#progress(t);
      }
      if (t.abort) return;
      if (t.size !== null && t.bytes !== t.size) {
        this.#fail(
          t,
          `the file changed while it was being sent (${t.bytes} of ${t.size} bytes)`,
          true,
        );
        return;
      }
      this.#progress(t, true);
      t.state = "verifying";
      t.link.conn.send({
        type: "file_end",
        id: t.id,
        size: t.bytes,
        sha256: hash.digest("hex"),
      });
    } catch (err) {
      // The receiver went away mid-write: say so, as the reader would.
      const gone = err instanceof ConnClosedError || t.link.conn.closed;
      this.#fail(
        t,
        t.abort ??
          (gone
            ? `lost the connection to ${t.peer}`
            : `could not send: ${describe(err)}`),
        true,
      );
    }
  }

  // ---- receiving ----------------------------------------------------------

  /** Takes ownership of an inbound file link: reads its offer and waits. */
  adoptInbound(link: P2PLink): void {
    this.#spawn(this.#runIncoming(link));
  }

  async #runIncoming(link: P2PLink): Promise<void> {
    let t: Transfer | null = null;
    try {
      for await (const frame of link.frames) {
        if (frame.kind === "data") {
          if (!t || t.state !== "active" || !t.sink || !t.hash) {
            if (t) this.#fail(t, "protocol error: data before accept", true);
            break;
          }
          const remaining = this.#d.maxBytes > 0
            ? this.#d.maxBytes - t.bytes
            : Infinity;
          if (frame.payload.length > remaining) {
            this.#fail(
              t,
              `the file is larger than the ${this.#d.maxBytes}-byte limit`,
              true,
            );
            break;
          }
          if (t.size !== null && t.bytes + frame.payload.length > t.size) {
            this.#fail(t, "the sender sent more bytes than it offered", true);
            break;
          }
          t.hash.update(frame.payload);
          t.bytes += frame.payload.length;
          try {
            await t.sink.write(frame.payload);
          } catch (err) {
            this.#fail(t, `could not save the file: ${describe(err)}`, true);
            break;
          }
          this.#progress(t);
          continue;
        }
        const d = decodeP2P(frame.payload);
        if (!d.ok) {
          link.conn.send({ type: "error", reason: d.reason });
          continue;
        }
        const msg: P2PMessage = d.msg;
        if (!t) {
          if (msg.type !== "file_offer") break;
          t = this.#incomingOffer(link, msg);
          if (!t) break;
          continue;
        }
        if (!("id" in msg) || msg.id !== t.id) continue;
        if (msg.type === "file_cancel") {
          this.#fail(t, cancelledBy(t.peer, msg.reason), false);
          break;
        }
        if (msg.type === "file_end") {
          await this.#verify(t, msg.size, msg.sha256);
          break;
        }
      }
    } catch (err) {
      // A framing violation, including the sender vanishing inside a frame.
      if (t) {
        this.#fail(
          t,
          `lost the connection to ${t.peer} (${describe(err)})`,
          true,
        );
      }
    } finally {
      if (t && !t.finished) {
        this.#fail(t, t.abort ?? `lost the connection to ${t.peer}`, false);
      }
      await link.conn.closeAfterFlush(500);
    }
  }

  #incomingOffer(
    link: P2PLink,
    msg: Extract<P2PMessage, { type: "file_offer" }>,
  ): Transfer | null {
    if (this.#all.has(msg.id)) {
      link.conn.send({
        type: "file_reject",
        id: msg.id,
        reason: "duplicate transfer id",
      });
      return null;
    }
    const name = sanitizeFileName(msg.name);
    if (
      this.#d.maxBytes > 0 && msg.size !== null && msg.size > this.#d.maxBytes
    ) {
      link.conn.send({
        type: "file_reject",
        id: msg.id,
        reason: `larger than the receiver's ${this.#d.maxBytes}-byte limit`,
      });
      this.#d.emit({
        type: "error",
        message:
          `refused ${name} from ${link.user}: ${msg.size} bytes is over the ${this.#d.maxBytes}-byte limit`,
      });
      return null;
    }
    const t = this.#newTransfer({
      id: msg.id,
      direction: "in",
      peer: link.user,
      name,
      size: msg.size,
      ...(msg.room !== undefined ? { room: msg.room } : {}),
    }, link);
    const expiry = setTimeout(() => {
      if (t.state === "offered") {
        this.#fail(t, "the offer was not answered in time", true);
      }
    }, OFFER_TTL_MS);
    this.#spawn(t.result.finally(() => clearTimeout(expiry)));
    this.#d.emit({
      type: "file_offer",
      from: link.user,
      id: msg.id,
      name,
      size: msg.size,
      ...(msg.room !== undefined ? { room: msg.room } : {}),
    });
    return t;
  }

  async #verify(t: Transfer, size: number, sha256: string): Promise<void> {
    if (t.state !== "active" || !t.hash || !t.sink) {
      this.#fail(t, "protocol error: end before accept", true);
      return;
    }
    t.state = "verifying";
    const digest = t.hash.digest("hex");
    if (size !== t.bytes || digest !== sha256) {
      const reason = size !== t.bytes
        ? `size mismatch: received ${t.bytes} bytes, sender says ${size}`
        : "SHA-256 mismatch: the data was corrupted in transit";
      t.link.conn.send({ type: "file_fail", id: t.id, reason });
      this.#fail(t, reason, false);
      return;
    }
    let path: string;
    try {
      path = await t.sink.commit();
    } catch (err) {
      const reason = `could not save the file: ${describe(err)}`;
      t.link.conn.send({ type: "file_fail", id: t.id, reason });
      this.#fail(t, reason, false);
      return;
    }
    t.link.conn.send({ type: "file_ok", id: t.id, sha256: digest });
    this.#finish(
      t,
      { ok: true, id: t.id, size: t.bytes, sha256: digest, path },
      {
        type: "file_received",
        from: t.peer,
        id: t.id,
        path,
        size: t.bytes,
        sha256: digest,
      },
    );
  }

  /** Accepts an offer into a destination (default: the downloads folder). */
  async accept(id: string, dest?: Destination): Promise<TransferInfo> {
    const t = this.#all.get(id);
    if (!t || t.direction !== "in") {
      throw new UserError(`no file offer with id ${id} — /files lists them`);
    }
    if (t.state !== "offered") {
      throw new UserError(`transfer ${id} was already accepted`);
    }
    try {
      t.sink = await openSink(
        dest ?? { kind: "folder", dir: this.#d.downloads },
        t.name,
        t.id,
      );
    } catch (err) {
      // The offer stays open: the user can fix the folder and accept again.
      throw new UserError(`cannot save ${t.name}: ${describe(err)}`);
    }
    if (t.finished) {
      // Cancelled while the file was being opened: leave nothing behind.
      await t.sink.discard();
      throw new UserError(`transfer ${id} ended: ${t.abort ?? "cancelled"}`);
    }
    t.hash = createHash("sha256");
    t.state = "active";
    t.startedAt = this.#d.now();
    t.link.conn.send({ type: "file_accept", id });
    return {
      id,
      direction: "in",
      peer: t.peer,
      name: t.name,
      size: t.size,
      state: "active",
      bytes: 0,
    };
  }

  /** /file accept|reject|cancel ID. */
  async answer(
    id: string,
    action: "accept" | "reject" | "cancel",
    reason?: string,
  ): Promise<Record<string, unknown>> {
    const t = this.#all.get(id);
    if (!t) {
      throw new UserError(`no transfer with id ${id} — /files lists them`);
    }
    if (action === "accept") {
      const info = await this.accept(id);
      return { ...info, action };
    }
    if (action === "reject") {
      if (t.direction !== "in" || t.state !== "offered") {
        throw new UserError(
          `transfer ${id} is not an offer waiting for you — use /file cancel ${id}`,
        );
      }
      t.link.conn.send({
        type: "file_reject",
        id,
        ...(reason !== undefined ? { reason } : {}),
      });
      this.#fail(t, "declined", false, false);
      return { id, action };
    }
    this.#fail(t, `cancelled by ${this.#d.self()}`, true);
    return { id, action };
  }

  /** Stops everything with `user` (after /block). */
  forget(user: string): void {
    for (const t of [...this.#all.values()]) {
      // The peer sees a plain cancel: blocked users are never told (F8).
      if (t.peer === user) this.#fail(t, "blocked", "cancelled", false);
    }
  }

  /** Cancels every transfer and waits for the cleanup. */
  async closeAll(reason: string): Promise<void> {
    for (const t of [...this.#all.values()]) this.#fail(t, reason, true);
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
  }
}

/** A read that returns this much suggests the source has more right away. */
const FULL_READ_BYTES = 64 * 1024;

/**
 * Reads the next chunk into `p`. A pipe yields at most its capacity (64 KiB
 * on Linux) per read, so while reads come back full the source is fast and
 * we keep filling: fewer, bigger frames mean fewer writes on both sides. A
 * short read means the source has nothing more right now, and what we have
 * goes out at once, so a slow pipe (`tail -f`) is never held back. Returns
 * null at the end of the source.
 */
async function fillChunk(
  source: ChunkSource,
  p: Uint8Array,
  eof: { reached: boolean },
): Promise<number | null> {
  let filled = 0;
  while (!eof.reached && filled < p.length) {
    const n = await source.read(p.subarray(filled));
    if (n === null) eof.reached = true;
    else filled += n;
    if (n === null || n < FULL_READ_BYTES) break;
  }
  return filled === 0 && eof.reached ? null : filled;
}

/** The reason shown when the peer sent file_cancel. */
function cancelledBy(peer: string, reason: string): string {
  const plain = `cancelled by ${peer}`;
  return reason === "" || reason === plain || reason === "cancelled"
    ? plain
    : `${peer} stopped the transfer: ${reason}`;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function newId(): string {
  return randomBytes(6).toString("hex");
}

async function openForReading(
  path: string,
): Promise<{ file: Deno.FsFile; size: number }> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new UserError(`no such file: ${path}`);
    }
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new UserError(`cannot read ${path}: permission denied`);
    }
    throw new UserError(
      `cannot open ${path}: ${err instanceof Error ? err.message : err}`,
    );
  }
  const info = await file.stat();
  if (!info.isFile) {
    file.close();
    throw new UserError(
      `${path} is not a regular file (send a folder with: tar c DIR | chat send NAME -)`,
    );
  }
  return { file, size: info.size };
}

function closeQuietly(f: { close(): void }): void {
  try {
    f.close();
  } catch {
    // Already closed.
  }
}

/** Opens where an accepted file is written; see Destination. */
async function openSink(
  dest: Destination,
  name: string,
  id: string,
): Promise<OpenSink> {
  if (dest.kind === "stream") {
    return {
      write: async (p) => {
        let off = 0;
        while (off < p.length) off += await dest.sink.write(p.subarray(off));
      },
      commit: () => Promise.resolve(dest.label),
      discard: () => Promise.resolve(),
    };
  }
  const dir = dest.kind === "folder" ? dest.dir : dirname(dest.path);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await removeStaleParts(dir, Date.now());
  const part = join(dir, `.${id}.chat-part`);
  const file = await Deno.open(part, {
    write: true,
    createNew: true,
    mode: 0o600,
  });
  let open = true;
  const close = () => {
    if (open) {
      open = false;
      closeQuietly(file);
    }
  };
  return {
    write: async (p) => {
      let off = 0;
      while (off < p.length) off += await file.write(p.subarray(off));
    },
    commit: async () => {
      await file.sync();
      close();
      if (dest.kind === "file") {
        await Deno.rename(part, dest.path);
        return dest.path;
      }
      return await placeWithoutOverwrite(part, dir, name);
    },
    discard: async () => {
      close();
      await Deno.remove(part).catch(() => {});
    },
  };
}

/** A part file untouched this long belongs to a receiver that died. */
export const STALE_PART_MS = 60 * 60 * 1000;

/**
 * Deletes part files in `dir` not written for STALE_PART_MS: a receiver
 * killed outright (SIGKILL, a power cut) cannot delete its own. A live
 * transfer writes its part file continuously, so it is never touched.
 */
export async function removeStaleParts(
  dir: string,
  now: number,
): Promise<void> {
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !/^\.[A-Za-z0-9_-]{1,64}\.chat-part$/.test(e.name)) {
        continue;
      }
      const path = join(dir, e.name);
      const info = await Deno.lstat(path).catch(() => null);
      const at = info?.mtime?.getTime();
      if (at !== undefined && now - at > STALE_PART_MS) {
        await Deno.remove(path).catch(() => {});
      }
    }
  } catch {
    // An unreadable folder: opening the part file will say what is wrong.
  }
}

/** Moves `part` to `dir/name`, or `name (1)`, … without replacing anything. */
async function placeWithoutOverwrite(
  part: string,
  dir: string,
  name: string,
): Promise<string> {
  for (let n = 0; n < 10_000; n++) {
    const target = join(dir, numberedName(name, n));
    try {
      // link() fails if the target exists, so an existing file is never replaced.
      await Deno.link(part, target);
      await Deno.remove(part);
      return target;
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) continue;
      // Hard links unsupported (some file systems): fall back to check-then-rename.
      if (await exists(target)) continue;
      await Deno.rename(part, target);
      return target;
    }
  }
  throw new Error(`too many files named like ${name}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
