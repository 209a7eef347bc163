/**
 * Offline messages: fetched from the registry at login, after a
 * reconnection and whenever it says more are waiting; each is shown once,
 * acknowledged so the registry deletes it, and kept for /inbox. A room's
 * backlog comes the same way, in order with the rest: each is shown as a
 * room message marked `backlog`, with a notice first when the room's share
 * overflowed and the oldest were dropped.
 */
import type { Logger } from "../../common/log.ts";
import type { ReplyData } from "../../wire/mod.ts";
import type { PeerEvent } from "./events.ts";
import type { InboxEntry } from "./replies.ts";

/** What the inbox needs from the rest of the peer. */
export interface InboxDeps {
  fetch: () => Promise<ReplyData<"offline_fetch">>;
  ack: (ids: number[], receipts: number[], drops: string[]) => Promise<unknown>;
  /**
   * Null when messages from `from` may be shown, else why they are held
   * (a verified sender whose device keys changed): a held message stays
   * at the registry, unacknowledged, until the sender is verified again.
   */
  checkSender?: (from: string) => Promise<string | null>;
  /**
   * The text of a sealed message for this device; throws (with a reason
   * for the user) when it cannot be opened or is not the sender's.
   */
  open: (m: ReplyData<"offline_fetch">["messages"][number]) => Promise<string>;
  emit: (ev: PeerEvent) => void;
  logger: Logger;
  /** True once the peer is logging out: no more fetching. */
  stopped: () => boolean;
}

/** See the module doc. */
export class Inbox {
  readonly #d: InboxDeps;
  readonly #entries: InboxEntry[] = [];
  readonly #seen = new Set<number>();
  /** Delivery notices already shown, by id. */
  readonly #receipts = new Set<number>();
  /** Held messages already announced, by id. */
  readonly #held = new Set<number>();
  #fetching: Promise<void> | null = null;
  #again = false;

  constructor(deps: InboxDeps) {
    this.#d = deps;
  }

  /** The messages delivered in this session, oldest first. */
  get entries(): InboxEntry[] {
    return [...this.#entries];
  }

  /**
   * Fetches, shows and acknowledges stored messages. A call while a fetch
   * runs makes it fetch once more when done, so a message stored after the
   * running fetch read the store is not left there. Never throws: a failed
   * fetch is logged and the next one tries again.
   */
  fetch(): Promise<void> {
    if (this.#fetching) {
      this.#again = true;
      return this.#fetching;
    }
    this.#fetching = (async () => {
      try {
        do {
          this.#again = false;
          await this.#fetchOnce();
        } while (this.#again && !this.#d.stopped());
      } finally {
        this.#fetching = null;
      }
    })();
    return this.#fetching;
  }

  async #fetchOnce(): Promise<void> {
    try {
      const { messages, delivered, dropped } = await this.#d.fetch();
      const ids: number[] = [];
      // What a room's backlog lost is said before what it kept.
      const drops: string[] = [];
      for (const d of dropped ?? []) {
        drops.push(d.room);
        this.#d.emit({ type: "backlog_dropped", room: d.room, count: d.count });
      }
      const verdicts = new Map<string, string | null>();
      for (const m of messages) {
        if (!this.#seen.has(m.id) && this.#d.checkSender) {
          if (!verdicts.has(m.from)) {
            verdicts.set(m.from, await this.#d.checkSender(m.from));
          }
          const why = verdicts.get(m.from)!;
          if (why !== null) {
            if (!this.#held.has(m.id)) {
              this.#held.add(m.id);
              this.#d.emit({
                type: "offline_held",
                from: m.from,
                sent_at: m.sent_at,
                reason: why,
              });
            }
            continue;
          }
        }
        if (m.box === undefined) {
          // Sealed to the user's other devices (this one came later): left
          // at the registry for them, announced once.
          if (!this.#held.has(m.id)) {
            this.#held.add(m.id);
            this.#d.emit({
              type: "offline_held",
              from: m.from,
              sent_at: m.sent_at,
              reason:
                "it was sealed to your other devices, not this one: read it there",
            });
          }
          continue;
        }
        ids.push(m.id);
        if (this.#seen.has(m.id)) continue;
        this.#seen.add(m.id);
        let text: string;
        try {
          text = await this.#d.open(m);
        } catch (err) {
          // Altered, misdirected or not signed by the sender's device: shown
          // as refused and dropped (it can never be opened).
          this.#d.emit({
            type: "offline_refused",
            from: m.from,
            sent_at: m.sent_at,
            reason: err instanceof Error ? err.message : String(err),
          });
          continue;
        }
        if (m.room !== undefined) {
          this.#d.emit({
            type: "message",
            from: m.from,
            text,
            id: m.id,
            room: m.room,
            at: m.sent_at,
            backlog: true,
          });
          continue;
        }
        const entry = { from: m.from, text, sent_at: m.sent_at };
        this.#entries.push(entry);
        this.#d.emit({ type: "offline_message", ...entry });
      }
      const receipts: number[] = [];
      for (const r of delivered ?? []) {
        receipts.push(r.id);
        if (this.#receipts.has(r.id)) continue;
        this.#receipts.add(r.id);
        this.#d.emit({
          type: "offline_delivered",
          to: r.to,
          sent_at: r.sent_at,
          delivered_at: r.delivered_at,
        });
      }
      if (ids.length > 0 || receipts.length > 0 || drops.length > 0) {
        await this.#d.ack(ids, receipts, drops);
      }
      if (receipts.length > 0) this.#again = true;
    } catch (err) {
      this.#d.logger.warn("offline fetch failed", { error: String(err) });
    }
  }
}
