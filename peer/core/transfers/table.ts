/**
 * The transfers in flight, in both directions: each one's state, how it
 * ends (once: done, or failed with a reason told to the other side when
 * that is due), its progress events, and the background work that must
 * finish before the peer stops. Sending and receiving (send.ts,
 * receive.ts) work on the records kept here.
 */
import type { createHash } from "node:crypto";
import { randomBytes } from "node:crypto";
import type { Clock } from "../../../common/clock.ts";
import type { Logger } from "../../../common/log.ts";
import type { LinkPath, P2PLink } from "../../net/mod.ts";
import type { PeerEvent } from "../events.ts";
import type { OpenSink } from "./sink.ts";

/** How long an offer waits for an answer. */
export const OFFER_TTL_MS = 10 * 60_000;
/** Progress events per second at most. */
const PROGRESS_EVERY_MS = 100;

/** How a transfer ended. */
export type TransferResult =
  | {
    ok: true;
    id: string;
    size: number;
    sha256: string;
    path?: string;
    /** How the link went. */
    via: LinkPath;
  }
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
  /** Time for rates and stale part files, timers for offer expiry. */
  clock: Clock;
  /** Fault injection for tests: flip one byte at this offset after hashing. */
  corruptAt?: number;
  /**
   * Why an offer that says it is for `room` is refused (the room does not
   * exist, or we or the sender are not in it), or null to let it through.
   * Absent: every offer for a room is refused.
   */
  checkRoom?: (
    room: string,
    user: string,
  ) => Promise<string | null> | string | null;
  /** Offers one sender may have waiting for an answer (MAX_OFFERS_PER_SENDER). */
  maxOffersPerSender?: number;
}

/**
 * Offers from one sender that may wait for an answer at once. Each holds a
 * link for up to OFFER_TTL_MS, so without a cap one user could open
 * thousands; past it an offer is refused with this limit named.
 */
export const MAX_OFFERS_PER_SENDER = 8;

/** One transfer's record. */
export interface Transfer extends TransferInfo {
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

/** See the module doc. */
export class TransferTable {
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

  /** The record of a transfer still in flight. */
  get(id: string): Transfer | undefined {
    return this.#all.get(id);
  }

  /** Keeps `p` until it settles, so closeAll waits for it. */
  spawn<T>(p: Promise<T>): Promise<T> {
    this.#tasks.add(p);
    p.finally(() => this.#tasks.delete(p)).catch(() => {});
    return p;
  }

  /** Records a new transfer in state "offered". */
  create(
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
      startedAt: this.#d.clock.now(),
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

  /** Ends a transfer with `r`, emitting `event` if given; only the first end counts. */
  finish(t: Transfer, r: TransferResult, event: PeerEvent | null): void {
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
  fail(
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
    this.spawn(discard.catch(() => {}));
    this.finish(
      t,
      { ok: false, id: t.id, reason },
      emit ? { type: "transfer_failed", id: t.id, reason } : null,
    );
  }

  /** Emits file_progress, at most every PROGRESS_EVERY_MS unless `force`. */
  progress(t: Transfer, force = false): void {
    const now = this.#d.clock.now();
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

  /**
   * Fails `t` with `reason` unless it was answered within OFFER_TTL_MS;
   * returns a function that cancels the expiry.
   */
  expireUnanswered(t: Transfer, reason: string): () => void {
    return this.#d.clock.after(OFFER_TTL_MS, () => {
      if (t.state === "offered") this.fail(t, reason, true);
    });
  }

  /** Stops everything with `user` (after /block). */
  forget(user: string): void {
    for (const t of [...this.#all.values()]) {
      // The peer sees a plain cancel: blocked users are never told (F8).
      if (t.peer === user) this.fail(t, "blocked", "cancelled", false);
    }
  }

  /** Cancels every transfer and waits for the cleanup. */
  async closeAll(reason: string): Promise<void> {
    for (const t of [...this.#all.values()]) this.fail(t, reason, true);
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
  }
}

/** The reason shown when the peer sent file_cancel. */
export function cancelledBy(peer: string, reason: string): string {
  const plain = `cancelled by ${peer}`;
  return reason === "" || reason === plain || reason === "cancelled"
    ? plain
    : `${peer} stopped the transfer: ${reason}`;
}

/** An error's message for a one-line reason. */
export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A fresh transfer id. */
export function newId(): string {
  return randomBytes(6).toString("hex");
}
