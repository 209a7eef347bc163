/**
 * The pages connected to `chat web`: every event goes to each open
 * WebSocket and into the event log, a new or reconnected page first gets
 * what it missed. A page that stops reading is closed once too much waits
 * for it (it reconnects and replays from where it was), so a stuck tab
 * never holds the process's memory.
 */
import { EventLog } from "./event_log.ts";

/** Bytes a socket may have queued before it is closed as too slow. */
export const MAX_SOCKET_BUFFERED_BYTES = 8 * 1024 * 1024;
/** WebSocket close code for a page that fell too far behind. */
export const CLOSE_TOO_SLOW = 4008;

/** One event as the hub takes it: a core event or a web event. */
export interface HubEvent {
  type: string;
}

/** The minimum of a WebSocket the hub uses (a real one, or a test double). */
export interface HubSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** What a page is told first on every connection. */
export interface Hello {
  type: "web_hello";
  /** Random per process: a page that saw another instance starts afresh. */
  instance: string;
  /** The newest sequence number; replayed events come right after this. */
  last: number;
  /** "complete": only what the page missed follows; "reset": forget all, the kept log follows. */
  replay: "complete" | "reset";
}

/** See the module doc. */
export class Hub {
  readonly instance: string = crypto.randomUUID();
  readonly #log: EventLog;
  readonly #sockets = new Set<HubSocket>();
  readonly #observers: ((ev: HubEvent) => void)[] = [];
  readonly #maxBuffered: number;

  constructor(
    log: EventLog = new EventLog(),
    maxBuffered = MAX_SOCKET_BUFFERED_BYTES,
  ) {
    this.#log = log;
    this.#maxBuffered = maxBuffered;
  }

  /** Pages connected now. */
  get sockets(): number {
    return this.#sockets.size;
  }

  /** The newest sequence number. */
  get last(): number {
    return this.#log.last;
  }

  /** Calls `fn` with every published event (downloads, upload clean-up). */
  observe(fn: (ev: HubEvent) => void): void {
    this.#observers.push(fn);
  }

  /**
   * Sends an event to every page and keeps it for replay. `ephemeral`
   * events (progress, phase changes) are only sent: a page that missed one
   * gets a newer one or a state it asks for.
   */
  publish<E extends HubEvent>(ev: E, ephemeral = false): void {
    for (const fn of this.#observers) fn(ev);
    const line = ephemeral ? JSON.stringify(ev) : this.#log.append(ev);
    for (const s of this.#sockets) this.#send(s, line);
  }

  /**
   * Adds a page's socket: the hello, then the events after `since` of the
   * instance the page last saw (all kept events for a new page), then live
   * events. Call once the socket is open.
   */
  attach(s: HubSocket, since: number, instance: string | null): void {
    const same = instance === this.instance && since <= this.#log.last;
    const replay = this.#log.since(same ? since : 0);
    const hello: Hello = {
      type: "web_hello",
      instance: this.instance,
      last: this.#log.last,
      replay: same && replay.complete ? "complete" : "reset",
    };
    this.#sockets.add(s);
    this.#send(s, JSON.stringify(hello));
    for (const line of replay.lines) this.#send(s, line);
  }

  /** Sends one object to one page (a command's reply). */
  reply(s: HubSocket, obj: object): void {
    if (this.#sockets.has(s)) this.#send(s, JSON.stringify(obj));
  }

  /** Forgets a page's socket (it closed). */
  detach(s: HubSocket): void {
    this.#sockets.delete(s);
  }

  /** Closes every page's socket. */
  closeAll(code = 1001, reason = "chat web stopped"): void {
    for (const s of this.#sockets) {
      try {
        s.close(code, reason);
      } catch {
        // Already closing; nothing is lost.
      }
    }
    this.#sockets.clear();
  }

  #send(s: HubSocket, line: string): void {
    if (s.readyState !== 1) return;
    if (s.bufferedAmount + line.length > this.#maxBuffered) {
      this.#sockets.delete(s);
      s.close(CLOSE_TOO_SLOW, "too far behind — reconnect to catch up");
      return;
    }
    s.send(line);
  }
}
