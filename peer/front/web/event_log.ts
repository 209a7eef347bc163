/**
 * The events a page has not seen yet. Every event pushed to pages gets a
 * sequence number and is kept here, so a page that reconnects (or a new tab)
 * replays what it missed instead of polling; the oldest events go first when
 * the log is over its caps, and a page that asks for those is told to
 * rebuild its state. Pure: no I/O, no clock.
 */

/** Most events kept. */
export const MAX_LOG_EVENTS = 20_000;
/** Most characters of JSON kept. */
export const MAX_LOG_CHARS = 8 * 1024 * 1024;

/** What a page gets when it asks for the events after `seq`. */
export interface Replay {
  /** The events after `seq`, as JSON text, oldest first. */
  lines: string[];
  /** False when some events after `seq` were already dropped. */
  complete: boolean;
}

/** See the module doc. */
export class EventLog {
  readonly #lines: string[] = [];
  #first = 1;
  #chars = 0;
  readonly #maxEvents: number;
  readonly #maxChars: number;

  constructor(maxEvents = MAX_LOG_EVENTS, maxChars = MAX_LOG_CHARS) {
    this.#maxEvents = maxEvents;
    this.#maxChars = maxChars;
  }

  /** The sequence number of the newest event (0 before the first). */
  get last(): number {
    return this.#first + this.#lines.length - 1;
  }

  /** Events kept now. */
  get size(): number {
    return this.#lines.length;
  }

  /**
   * Adds an event with the next sequence number and returns its JSON text
   * (the event's keys with `seq` added).
   */
  append(event: { type: string }): string {
    const seq = this.last + 1;
    const line = JSON.stringify({ ...event, seq });
    this.#lines.push(line);
    this.#chars += line.length;
    while (
      this.#lines.length > this.#maxEvents ||
      (this.#chars > this.#maxChars && this.#lines.length > 1)
    ) {
      this.#chars -= this.#lines.shift()!.length;
      this.#first++;
    }
    return line;
  }

  /** The events after `seq` (0: all that are kept). */
  since(seq: number): Replay {
    const from = Math.max(seq + 1, this.#first);
    const complete = seq + 1 >= this.#first;
    return {
      lines: from > this.last ? [] : this.#lines.slice(from - this.#first),
      complete,
    };
  }
}
