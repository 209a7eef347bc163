/**
 * One-line structured logs: `TIME LEVEL EVENT key=value ...`.
 *
 * Callers pass only what may be logged. By convention no caller ever passes a
 * password, a session token or message content, and `redact` below drops such
 * keys should one slip through.
 */

/** Log levels in increasing severity. */
export const LEVELS = ["debug", "info", "warn", "error"] as const;
/** A log level name. */
export type Level = typeof LEVELS[number];

/** Values a log line can carry. */
export type LogFields = Record<
  string,
  string | number | boolean | null | undefined
>;

/** Where finished lines go. */
export type LogSink = (line: string) => void;

import { LogLimiter } from "./log_limit.ts";

const SECRET_KEYS = /pass|token|secret|text|content|key$/i;

/** Lines a source may cause per window; see `Logger.from`. */
export interface SourceLimits {
  perWindow: number;
  windowMs: number;
}

/**
 * Lines one remote source (a user, an address) may make a peer log per
 * minute; the rest are counted and summed up in one line.
 */
export const PEER_LOG_LIMITS: SourceLimits = {
  perWindow: 20,
  windowMs: 60_000,
};

/** A leveled logger writing one line per event. */
export class Logger {
  readonly #min: number;
  readonly #sink: LogSink;
  readonly #now: () => number;
  readonly #limiter: LogLimiter | null;
  #nextFlush = 0;

  /**
   * With `limits`, lines logged through `from` are limited per source;
   * without, `from` logs every line.
   */
  constructor(
    level: Level,
    sink: LogSink,
    now: () => number = Date.now,
    limits?: SourceLimits,
  ) {
    this.#min = LEVELS.indexOf(level);
    this.#sink = sink;
    this.#now = now;
    this.#limiter = limits
      ? new LogLimiter(limits.perWindow, limits.windowMs)
      : null;
  }

  /**
   * Logs a line that remote input caused, limited per `source` (what the
   * other side is: a user name, an address): past the limit lines are only
   * counted, and once the source's window is over, the next line logged
   * through here first writes `log suppressed source=S lines=K`.
   */
  from(
    source: string,
    level: Level,
    event: string,
    fields: LogFields = {},
  ): void {
    if (LEVELS.indexOf(level) < this.#min) return;
    const limiter = this.#limiter;
    if (!limiter) return this.#log(level, event, fields);
    const now = this.#now();
    if (now >= this.#nextFlush) {
      this.#nextFlush = now + limiter.windowMs;
      for (const { source: src, suppressed } of limiter.flush(now)) {
        this.#log("warn", "log suppressed", {
          source: src,
          lines: suppressed,
          window_s: limiter.windowMs / 1000,
        });
      }
    }
    if (limiter.admit(source, now)) this.#log(level, event, fields);
  }

  /** True if lines of this level are written. */
  enabled(level: Level): boolean {
    return LEVELS.indexOf(level) >= this.#min;
  }

  /** Logs a debugging detail. */
  debug(event: string, fields: LogFields = {}): void {
    this.#log("debug", event, fields);
  }
  /** Logs a normal event. */
  info(event: string, fields: LogFields = {}): void {
    this.#log("info", event, fields);
  }
  /** Logs something unusual that was handled. */
  warn(event: string, fields: LogFields = {}): void {
    this.#log("warn", event, fields);
  }
  /** Logs a failure. */
  error(event: string, fields: LogFields = {}): void {
    this.#log("error", event, fields);
  }

  #log(level: Level, event: string, fields: LogFields): void {
    if (LEVELS.indexOf(level) < this.#min) return;
    let line = `${new Date(this.#now()).toISOString()} ${level} ${event}`;
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined || SECRET_KEYS.test(k)) continue;
      line += ` ${k}=${formatValue(v)}`;
    }
    this.#sink(line);
  }
}

/** Longest string value a line carries; the rest is cut (`…`). */
export const MAX_LOG_VALUE_CHARS = 300;

function formatValue(v: string | number | boolean | null): string {
  if (typeof v !== "string") return String(v);
  // A reason another user wrote may be a megabyte long.
  const s = v.length > MAX_LOG_VALUE_CHARS
    ? `${v.slice(0, MAX_LOG_VALUE_CHARS)}…`
    : v;
  return /^[\w.:/@+-]+$/.test(s) ? s : JSON.stringify(s);
}

/** A logger that drops everything. */
export const silentLogger: Logger = new Logger("error", () => {}, Date.now);

/** A sink that appends lines to stderr. */
export function stderrSink(): LogSink {
  const enc = new TextEncoder();
  return (line) => {
    try {
      Deno.stderr.writeSync(enc.encode(line + "\n"));
    } catch {
      // stderr closed: logging must never take the process down.
    }
  };
}

/** How big a log file may grow before it is rotated (10 MiB). */
export const LOG_FILE_MAX_BYTES = 10 * 1024 * 1024;
/** Rotated log files kept beside the live one (`peer.log.1`). */
export const LOG_FILES_KEPT = 1;
/** Lines waiting to be written, in bytes, past which new ones are dropped. */
export const LOG_QUEUE_MAX_BYTES = 1024 * 1024;

/** Characters of queued lines one write takes at most. */
const WRITE_CHUNK_CHARS = 64 * 1024;

/** Where a file sink writes, how big it may grow, how many old files stay. */
export interface FileSinkOptions {
  maxBytes?: number;
  keep?: number;
  maxQueuedBytes?: number;
}

/** A file sink: lines go out in the background; `close` writes the rest. */
export type FileSink = LogSink & {
  /** Resolves once every line queued so far is written. */
  flush(): Promise<void>;
  /** Writes what is queued and closes the file. */
  close(): Promise<void>;
};

/**
 * A sink that appends lines to a file, created owner-only if missing.
 * Lines are queued and written by one background writer, so logging never
 * blocks the event loop on the disk; the queue is capped (lines past
 * `maxQueuedBytes` are dropped and counted in a later line). When the file
 * would pass `maxBytes` it is renamed to `PATH.1` (older ones to `PATH.2`…,
 * `keep` of them) and a new one started. What is still queued when the
 * process exits is written then.
 */
export function fileSink(path: string, o: FileSinkOptions = {}): FileSink {
  const maxBytes = o.maxBytes ?? LOG_FILE_MAX_BYTES;
  const keep = o.keep ?? LOG_FILES_KEPT;
  const maxQueued = o.maxQueuedBytes ?? LOG_QUEUE_MAX_BYTES;
  const enc = new TextEncoder();
  const open = () =>
    Deno.openSync(path, { append: true, create: true, mode: 0o600 });
  let file: Deno.FsFile | null = open();
  let size = statSize(file);
  const queue: string[] = [];
  let queued = 0;
  let dropped = 0;
  let writing: Promise<void> | null = null;
  let closed = false;

  const rotate = () => {
    file?.close();
    file = null;
    try {
      for (let i = keep - 1; i >= 1; i--) {
        renameIfThere(`${path}.${i}`, `${path}.${i + 1}`);
      }
      if (keep > 0) renameIfThere(path, `${path}.1`);
      else Deno.removeSync(path);
    } catch {
      // A rename that fails leaves the old file in place: we append to it.
    }
    file = open();
    size = statSize(file);
  };

  /**
   * Takes queued lines as one chunk of at most WRITE_CHUNK_CHARS (or one
   * line) and no more than the file may still take before it rotates, with
   * a note of dropped lines once the queue is empty.
   */
  const take = (): Uint8Array => {
    const room = Math.min(WRITE_CHUNK_CHARS, Math.max(1, maxBytes - size));
    let n = 0;
    let chars = 0;
    while (n < queue.length && (n === 0 || chars + queue[n]!.length <= room)) {
      chars += queue[n]!.length;
      n++;
    }
    let text = queue.splice(0, n).join("");
    queued -= chars;
    if (queue.length === 0 && dropped > 0) {
      text += `${new Date().toISOString()} warn log dropped lines=${dropped}\n`;
      dropped = 0;
    }
    return enc.encode(text);
  };

  const pump = async () => {
    try {
      while (queue.length > 0 && file) {
        const chunk = take();
        if (size > 0 && size + chunk.length > maxBytes) rotate();
        let off = 0;
        while (off < chunk.length && file) {
          off += await file.write(chunk.subarray(off));
        }
        size += chunk.length;
      }
    } catch {
      // Disk full or file gone: keep running without the log.
    } finally {
      writing = null;
    }
  };

  const writeRestSync = () => {
    globalThis.removeEventListener("unload", writeRestSync);
    try {
      while (file && queue.length > 0) {
        const chunk = take();
        if (size > 0 && size + chunk.length > maxBytes) rotate();
        let off = 0;
        while (off < chunk.length) off += file.writeSync(chunk.subarray(off));
        size += chunk.length;
      }
    } catch {
      // As above: the log is best effort at exit.
    }
  };
  globalThis.addEventListener("unload", writeRestSync);

  const sink = (line: string) => {
    if (closed) return;
    if (queued + line.length + 1 > maxQueued) {
      dropped++;
      return;
    }
    queue.push(line + "\n");
    queued += line.length + 1;
    writing ??= pump();
  };
  const flush = async () => {
    while (writing) await writing;
  };
  return Object.assign(sink, {
    flush,
    close: async () => {
      closed = true;
      await flush();
      writeRestSync();
      file?.close();
      file = null;
    },
  });
}

function statSize(file: Deno.FsFile): number {
  try {
    return file.statSync().size;
  } catch {
    return 0;
  }
}

function renameIfThere(from: string, to: string): void {
  try {
    Deno.renameSync(from, to);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
