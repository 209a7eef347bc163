/**
 * Chat transcripts (F11): appended live to $CHAT_HOME/transcripts/<user>.log,
 * one line per message with a UTC timestamp and the speaker. Writes to one
 * file are serialised so lines never interleave.
 */
import { join } from "node:path";
import { stripControls } from "../../common/text.ts";

/** Appends lines to per-user transcript files. */
export class Transcripts {
  readonly #dir: string;
  readonly #chains = new Map<string, Promise<void>>();
  readonly #enc = new TextEncoder();
  readonly #onError: (user: string, err: unknown) => void;
  /** Users whose last write failed (reported once until one succeeds). */
  readonly #failing = new Set<string>();

  /** `onError` hears of the first failed write to a transcript in a row. */
  constructor(
    home: string,
    onError: (user: string, err: unknown) => void = () => {},
  ) {
    this.#dir = join(home, "transcripts");
    this.#onError = onError;
  }

  /** The transcript file of a conversation with `user` (a validated name). */
  pathFor(user: string): string {
    return join(this.#dir, `${user}.log`);
  }

  /** Appends one line; resolves when it is written. Errors are reported, not thrown. */
  append(
    user: string,
    at: number,
    speaker: string,
    text: string,
  ): Promise<void> {
    // The text is the other side's: no terminal escapes into a file people
    // `cat`, and continuation lines are indented so none can pose as a line.
    const line = `${new Date(at).toISOString()} ${speaker}: ${
      stripControls(text.replace(/\r\n/g, "\n")).replace(/\n/g, "\n    ")
    }\n`;
    return this.#write(user, line);
  }

  /** Appends a note such as "chat started". */
  note(user: string, at: number, text: string): Promise<void> {
    const clean = stripControls(text).replace(/\n/g, " ");
    return this.#write(user, `${new Date(at).toISOString()} -- ${clean}\n`);
  }

  #write(user: string, line: string): Promise<void> {
    const prev = this.#chains.get(user) ?? Promise.resolve();
    const next = prev.then(async () => {
      await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
      await Deno.writeFile(this.pathFor(user), this.#enc.encode(line), {
        append: true,
        create: true,
        mode: 0o600,
      });
      this.#failing.delete(user);
    }).catch((err) => {
      // A full disk must not end the chat: say so once and keep trying.
      if (this.#failing.has(user)) return;
      this.#failing.add(user);
      this.#onError(user, err);
    });
    this.#chains.set(user, next);
    return next;
  }

  /** Resolves when every pending write is done. */
  async flush(): Promise<void> {
    await Promise.all(this.#chains.values());
  }
}
