/**
 * Sending a file (F16, F17): open it (or take a stream such as stdin),
 * offer it over a new file link, and once accepted stream it in data
 * frames, each write awaited so TCP backpressure paces the sender, then
 * file_end with the SHA-256 of what was sent; the receiver's file_ok or
 * file_fail ends it.
 */
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { ConnClosedError } from "../../../common/conn.ts";
import {
  decodeP2P,
  FRAME_HEADER_BYTES,
  writeHeader,
} from "../../../wire/mod.ts";
import type { LinkPath } from "../../net/mod.ts";
import { UserError } from "../errors.ts";
import { sanitizeFileName } from "./filenames.ts";
import { closeQuietly } from "./sink.ts";
import {
  cancelledBy,
  describe,
  newId,
  OFFER_TTL_MS,
  type Transfer,
  type TransferDeps,
  type TransferResult,
  type TransferTable,
} from "./table.ts";

/** Bytes per data frame. */
export const CHUNK_BYTES = 256 * 1024;

/** Anything that can be read in chunks: a file, stdin. */
export interface ChunkSource {
  read(p: Uint8Array): Promise<number | null>;
}

/** A transfer that was offered; `result` tells how it ended. */
export interface Offered {
  id: string;
  name: string;
  /** How the link to the receiver went. */
  path: LinkPath;
  result: Promise<TransferResult>;
}

/** The reply to /send NAME FILE. */
export interface FileOffered {
  id: string;
  to: string;
  name: string;
  size: number;
  /** How the link to the receiver went. */
  path: LinkPath;
}

/** The reply to /send #ROOM FILE. */
export interface RoomFileOffered {
  room: string;
  name: string;
  size: number;
  offers: { to: string; id: string; path: LinkPath }[];
  unreached: string[];
}

/** See the module doc. */
export class Sender {
  readonly #t: TransferTable;
  readonly #d: TransferDeps;

  constructor(table: TransferTable, deps: TransferDeps) {
    this.#t = table;
    this.#d = deps;
  }

  /** /send NAME FILE: offers a file; the transfer continues in the background. */
  async sendFile(to: string, path: string): Promise<FileOffered> {
    const { file, size } = await openForReading(path);
    try {
      const t = await this.offer(to, file, basename(path), size);
      this.#t.spawn(t.result.finally(() => closeQuietly(file)));
      return { id: t.id, to, name: t.name, size, path: t.path };
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
  ): Promise<RoomFileOffered> {
    if (!isMember) {
      throw new UserError(
        `you are not in room '${room}' — /join ${room} first`,
        "state",
      );
    }
    const { file, size } = await openForReading(path);
    closeQuietly(file);
    if (members.length === 0) {
      throw new UserError(`nobody else in room '${room}' is online`, "state");
    }
    const offers: { to: string; id: string; path: LinkPath }[] = [];
    const unreached: string[] = [];
    await Promise.all(members.map(async (to) => {
      try {
        const f = await openForReading(path);
        const t = await this.offer(to, f.file, basename(path), size, room);
        this.#t.spawn(t.result.finally(() => closeQuietly(f.file)));
        offers.push({ to, id: t.id, path: t.path });
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
  ): Promise<Offered> {
    const link = await this.#d.dial(to);
    const id = newId();
    const shownName = sanitizeFileName(name);
    const t = this.#t.create({
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
    this.#t.spawn(this.#run(t, source));
    return { id, name: shownName, path: link.path, result: t.result };
  }

  /** Reads the receiver's answers on the link until the transfer ends. */
  async #run(t: Transfer, source: ChunkSource): Promise<void> {
    const stopExpiry = this.#t.expireUnanswered(
      t,
      `${t.peer} did not answer within ${OFFER_TTL_MS / 60_000} minutes`,
    );
    let streaming: Promise<void> | null = null;
    try {
      for await (const frame of t.link.frames) {
        if (t.finished) break;
        if (frame.kind !== "control") {
          this.#t.fail(t, "protocol error: data from the receiver", true);
          break;
        }
        const d = decodeP2P(frame.payload);
        if (!d.ok) continue;
        const msg = d.msg;
        if (!("id" in msg) || msg.id !== t.id) continue;
        switch (msg.type) {
          case "file_accept":
            stopExpiry();
            if (t.state === "offered") {
              t.state = "active";
              t.startedAt = this.#d.clock.now();
              streaming = this.#stream(t, source);
            }
            break;
          case "file_reject":
            this.#t.fail(
              t,
              `${t.peer} declined the file${
                msg.reason ? `: ${msg.reason}` : ""
              }`,
              false,
            );
            break;
          case "file_cancel":
            this.#t.fail(t, cancelledBy(t.peer, msg.reason), false);
            break;
          case "file_fail":
            this.#t.fail(
              t,
              `${t.peer} could not verify the file: ${msg.reason}`,
              false,
            );
            break;
          case "file_ok":
            if (t.state === "verifying") {
              this.#t.finish(t, {
                ok: true,
                id: t.id,
                size: t.bytes,
                sha256: msg.sha256,
                via: t.link.path,
              }, {
                type: "file_sent",
                to: t.peer,
                id: t.id,
                size: t.bytes,
                sha256: msg.sha256,
                via: t.link.path,
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
      stopExpiry();
      this.#t.fail(t, `lost the connection to ${t.peer}`, false);
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
          this.#t.fail(t, "the file grew while it was being sent", true);
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
        this.#t.progress(t);
      }
      if (t.abort) return;
      if (t.size !== null && t.bytes !== t.size) {
        this.#t.fail(
          t,
          `the file changed while it was being sent (${t.bytes} of ${t.size} bytes)`,
          true,
        );
        return;
      }
      this.#t.progress(t, true);
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
      this.#t.fail(
        t,
        t.abort ??
          (gone
            ? `lost the connection to ${t.peer}`
            : `could not send: ${describe(err)}`),
        true,
      );
    }
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

/**
 * Opens a regular file to send, with its size. `to` names the receiver in
 * the hint for folders (`chat send NAME -` when unknown). Throws UserError
 * with code "file".
 */
export async function openForReading(
  path: string,
  to = "NAME",
): Promise<{ file: Deno.FsFile; size: number }> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new UserError(`no such file: ${path}`, "file");
    }
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new UserError(`cannot read ${path}: permission denied`, "file");
    }
    throw new UserError(`cannot read ${path}: ${describe(err)}`, "file");
  }
  const info = await file.stat();
  if (!info.isFile) {
    file.close();
    throw new UserError(
      `${path} is not a regular file (send a folder with: tar c DIR | chat send ${to} -)`,
      "file",
    );
  }
  return { file, size: info.size };
}
