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

const SECRET_KEYS = /pass|token|secret|text|content|key$/i;

/** A leveled logger writing one line per event. */
export class Logger {
  readonly #min: number;
  readonly #sink: LogSink;
  readonly #now: () => number;

  constructor(level: Level, sink: LogSink, now: () => number = Date.now) {
    this.#min = LEVELS.indexOf(level);
    this.#sink = sink;
    this.#now = now;
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

function formatValue(v: string | number | boolean | null): string {
  if (typeof v !== "string") return String(v);
  return /^[\w.:/@+-]+$/.test(v) ? v : JSON.stringify(v);
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

/** A sink that appends lines to a file, created owner-only if missing. */
export function fileSink(path: string): LogSink & { close(): void } {
  const file = Deno.openSync(path, {
    append: true,
    create: true,
    mode: 0o600,
  });
  const enc = new TextEncoder();
  const sink = (line: string) => {
    try {
      file.writeSync(enc.encode(line + "\n"));
    } catch {
      // Disk full or file gone: keep running without the log.
    }
  };
  return Object.assign(sink, { close: () => file.close() });
}
