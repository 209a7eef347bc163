/**
 * Receiving a file (F16, F17): an inbound file link carries one offer,
 * which waits for /file accept (or `chat receive`) or a rejection; accepted
 * bytes go to a sink while their SHA-256 is computed, and at file_end the
 * size and hash are checked before the file is committed and file_ok sent.
 * Anything else — a lie about the size, data before accept, the limit, a
 * vanished sender — fails the transfer and discards what was written.
 */
import { createHash } from "node:crypto";
import { decodeP2P, type P2PMessage } from "../../../wire/mod.ts";
import type { P2PLink } from "../../net/mod.ts";
import { UserError } from "../errors.ts";
import { sanitizeFileName } from "./filenames.ts";
import { type Destination, openSink } from "./sink.ts";
import {
  cancelledBy,
  describe,
  MAX_OFFERS_PER_SENDER,
  type Transfer,
  type TransferDeps,
  type TransferInfo,
  type TransferTable,
} from "./table.ts";

/** See the module doc. */
export class Receiver {
  readonly #t: TransferTable;
  readonly #d: TransferDeps;
  /** Offers per sender whose room is being checked. */
  readonly #checking = new Map<string, number>();

  constructor(table: TransferTable, deps: TransferDeps) {
    this.#t = table;
    this.#d = deps;
  }

  /** Takes ownership of an inbound file link: reads its offer and waits. */
  adoptInbound(link: P2PLink): void {
    this.#t.spawn(this.#run(link));
  }

  async #run(link: P2PLink): Promise<void> {
    let t: Transfer | null = null;
    try {
      for await (const frame of link.frames) {
        if (frame.kind === "data") {
          if (!t || t.state !== "active" || !t.sink || !t.hash) {
            if (t) this.#t.fail(t, "protocol error: data before accept", true);
            break;
          }
          const remaining = this.#d.maxBytes > 0
            ? this.#d.maxBytes - t.bytes
            : Infinity;
          if (frame.payload.length > remaining) {
            this.#t.fail(
              t,
              `the file is larger than the ${this.#d.maxBytes}-byte limit`,
              true,
            );
            break;
          }
          if (t.size !== null && t.bytes + frame.payload.length > t.size) {
            this.#t.fail(t, "the sender sent more bytes than it offered", true);
            break;
          }
          t.hash.update(frame.payload);
          t.bytes += frame.payload.length;
          try {
            await t.sink.write(frame.payload);
          } catch (err) {
            this.#t.fail(t, `could not save the file: ${describe(err)}`, true);
            break;
          }
          this.#t.progress(t);
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
          t = await this.#offer(link, msg);
          if (!t) break;
          continue;
        }
        if (!("id" in msg) || msg.id !== t.id) continue;
        if (msg.type === "file_cancel") {
          this.#t.fail(t, cancelledBy(t.peer, msg.reason), false);
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
        this.#t.fail(
          t,
          `lost the connection to ${t.peer} (${describe(err)})`,
          true,
        );
      }
    } finally {
      if (t && !t.finished) {
        this.#t.fail(t, t.abort ?? `lost the connection to ${t.peer}`, false);
      }
      await link.conn.closeAfterFlush(500);
    }
  }

  async #offer(
    link: P2PLink,
    msg: Extract<P2PMessage, { type: "file_offer" }>,
  ): Promise<Transfer | null> {
    if (this.#t.get(msg.id)) {
      link.conn.send({
        type: "file_reject",
        id: msg.id,
        reason: "duplicate transfer id",
      });
      return null;
    }
    const name = sanitizeFileName(msg.name);
    const refuse = (reason: string): null => {
      link.conn.send({ type: "file_reject", id: msg.id, reason });
      this.#d.logger.from(link.user, "info", "file offer refused", {
        user: link.user,
        reason,
      });
      return null;
    };
    const cap = this.#d.maxOffersPerSender ?? MAX_OFFERS_PER_SENDER;
    const checking = this.#checking.get(link.user) ?? 0;
    const waiting = checking +
      this.#t.list().filter((x) =>
        x.direction === "in" && x.peer === link.user && x.state === "offered"
      ).length;
    if (waiting >= cap) {
      return refuse(
        `${this.#d.self()} has ${waiting} offers from ${link.user} waiting already (the limit is ${cap}); wait for an answer`,
      );
    }
    if (msg.room !== undefined) {
      // Counted while the room is checked, so parallel offers cannot all
      // pass the cap above.
      this.#checking.set(link.user, checking + 1);
      let why: string | null;
      try {
        why = this.#d.checkRoom
          ? await this.#d.checkRoom(msg.room, link.user)
          : `${this.#d.self()} takes no files for rooms here`;
      } catch (err) {
        why = `the room could not be checked (${describe(err)})`;
      } finally {
        const n = (this.#checking.get(link.user) ?? 1) - 1;
        if (n > 0) this.#checking.set(link.user, n);
        else this.#checking.delete(link.user);
      }
      if (why !== null) return refuse(`refused: ${why}`);
      if (link.conn.closed || this.#t.get(msg.id)) return null;
    }
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
    const t = this.#t.create({
      id: msg.id,
      direction: "in",
      peer: link.user,
      name,
      size: msg.size,
      ...(msg.room !== undefined ? { room: msg.room } : {}),
    }, link);
    const stopExpiry = this.#t.expireUnanswered(
      t,
      "the offer was not answered in time",
    );
    this.#t.spawn(t.result.finally(stopExpiry));
    this.#d.emit({
      type: "file_offer",
      from: link.user,
      id: msg.id,
      name,
      size: msg.size,
      ...(msg.room !== undefined ? { room: msg.room } : {}),
      path: link.path,
    });
    return t;
  }

  async #verify(t: Transfer, size: number, sha256: string): Promise<void> {
    if (t.state !== "active" || !t.hash || !t.sink) {
      this.#t.fail(t, "protocol error: end before accept", true);
      return;
    }
    t.state = "verifying";
    const digest = t.hash.digest("hex");
    if (size !== t.bytes || digest !== sha256) {
      const reason = size !== t.bytes
        ? `size mismatch: received ${t.bytes} bytes, sender says ${size}`
        : "SHA-256 mismatch: the data was corrupted in transit";
      t.link.conn.send({ type: "file_fail", id: t.id, reason });
      this.#t.fail(t, reason, false);
      return;
    }
    let path: string;
    try {
      path = await t.sink.commit();
    } catch (err) {
      const reason = `could not save the file: ${describe(err)}`;
      t.link.conn.send({ type: "file_fail", id: t.id, reason });
      this.#t.fail(t, reason, false);
      return;
    }
    t.link.conn.send({ type: "file_ok", id: t.id, sha256: digest });
    this.#t.finish(
      t,
      {
        ok: true,
        id: t.id,
        size: t.bytes,
        sha256: digest,
        path,
        via: t.link.path,
      },
      {
        type: "file_received",
        from: t.peer,
        id: t.id,
        path,
        size: t.bytes,
        sha256: digest,
        via: t.link.path,
      },
    );
  }

  /** Accepts an offer into a destination (default: the downloads folder). */
  async accept(id: string, dest?: Destination): Promise<TransferInfo> {
    const t = this.#t.get(id);
    if (!t || t.direction !== "in") {
      throw new UserError(
        `no file offer with id ${id} — /files lists them`,
        "state",
      );
    }
    if (t.state !== "offered") {
      throw new UserError(`transfer ${id} was already accepted`, "state");
    }
    try {
      t.sink = await openSink(
        dest ?? { kind: "folder", dir: this.#d.downloads },
        t.name,
        t.id,
        this.#d.clock.now(),
      );
    } catch (err) {
      // The offer stays open: the user can fix the folder and accept again.
      throw new UserError(`cannot save ${t.name}: ${describe(err)}`, "file");
    }
    if (t.finished) {
      // Cancelled while the file was being opened: leave nothing behind.
      await t.sink.discard();
      throw new UserError(
        `transfer ${id} ended: ${t.abort ?? "cancelled"}`,
        "state",
      );
    }
    t.hash = createHash("sha256");
    t.state = "active";
    t.startedAt = this.#d.clock.now();
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

  /** Declines an offer waiting for us, with an optional reason for the sender. */
  reject(t: Transfer, reason?: string): void {
    if (t.direction !== "in" || t.state !== "offered") {
      throw new UserError(
        `transfer ${t.id} is not an offer waiting for you — use /file cancel ${t.id}`,
        "state",
      );
    }
    t.link.conn.send({
      type: "file_reject",
      id: t.id,
      ...(reason !== undefined ? { reason } : {}),
    });
    this.#t.fail(t, "declined", false, false);
  }
}
