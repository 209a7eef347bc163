/**
 * Offline messages (F12): fetched from the registry at login, after a
 * reconnection and whenever it says more are waiting; each is shown once,
 * acknowledged so the registry deletes it, and kept for /inbox.
 */
import type { Logger } from "../../common/log.ts";
import type { ReplyData } from "../../wire/mod.ts";
import type { PeerEvent } from "./events.ts";
import type { InboxEntry } from "./replies.ts";

/** What the inbox needs from the rest of the peer. */
export interface InboxDeps {
  fetch: () => Promise<ReplyData<"offline_fetch">>;
  ack: (ids: number[]) => Promise<unknown>;
  /**
   * Null when messages from `from` may be shown, else why they are held
   * (a verified sender whose device keys changed): a held message stays
   * at the registry, unacknowledged, until the sender is verified again.
   */
  checkSender?: (from: string) => Promise<string | null>;
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
      const { messages } = await this.#d.fetch();
      const ids: number[] = [];
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
        ids.push(m.id);
        if (this.#seen.has(m.id)) continue;
        this.#seen.add(m.id);
        const entry = { from: m.from, text: m.text, sent_at: m.sent_at };
        this.#entries.push(entry);
        this.#d.emit({ type: "offline_message", ...entry });
      }
      if (ids.length > 0) await this.#d.ack(ids);
    } catch (err) {
      this.#d.logger.warn("offline fetch failed", { error: String(err) });
    }
  }
}
