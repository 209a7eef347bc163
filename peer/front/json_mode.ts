/**
 * The scripting front end: one shell command per stdin line, one
 * JSON reply per line, events as JSON lines in between. No prompts, no colour.
 */
import { aborted } from "../../common/signals.ts";
import {
  type CommandReply,
  Peer,
  type PeerEvent,
  type PeerOptions,
  type Success,
} from "../core/mod.ts";

/** Where JSON lines go. */
export type WriteLine = (line: string) => void;

/** A reply as JSON mode prints it: the command's data beside ok and its name. */
export type JsonReply =
  | ({ type: "reply"; command: string; ok: true } & Success["data"])
  | { type: "reply"; command: string; ok: false; error: string };

/** Formats a reply as its JSON object. */
export function replyObject(r: CommandReply): JsonReply {
  return r.ok
    ? { type: "reply", command: r.command, ok: true, ...r.data }
    : { type: "reply", command: r.command, ok: false, error: r.error };
}

/** Events that are shown only on terminals. */
function printable(ev: PeerEvent): boolean {
  return ev.type !== "file_progress";
}

/**
 * Runs the JSON mode until end of input, /quit, a signal or the registry
 * ending the session. Returns the exit code.
 */
export async function runJsonMode(
  opts: PeerOptions,
  input: ReadableStream<Uint8Array>,
  write: WriteLine,
  signal: AbortSignal,
): Promise<number> {
  const emit = (ev: PeerEvent) => {
    if (printable(ev)) write(JSON.stringify(ev));
  };
  let started: Peer;
  try {
    started = await Peer.start(opts, emit);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    write(JSON.stringify({ type: "error", message }));
    console.error(`chat: ${message}`);
    return 1;
  }
  // A read may still be pending on stdin when this returns; the process
  // exits after it.
  await using peer = started;
  const lines = readLines(input);
  const stop = aborted(signal).then(() => "signal" as const);
  const ended = peer.ended.then(() => "ended" as const);
  while (true) {
    const next = await Promise.race([lines.next(), stop, ended]);
    if (next === "signal") break;
    if (next === "ended") return 1;
    if (next.done) break;
    const line = next.value.trim();
    if (!line) continue;
    const reply = await peer.run(line);
    write(JSON.stringify(replyObject(reply)));
    if (reply.ok && reply.name === "quit") return 0;
  }
  return 0;
}

/** Lines of a byte stream, without their line endings. */
export async function* readLines(
  input: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let buf = "";
  const reader = input.pipeThrough(new TextDecoderStream()).getReader();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        yield buf.slice(0, nl).replace(/\r$/, "");
        buf = buf.slice(nl + 1);
      }
    }
    if (buf) yield buf;
  } finally {
    reader.releaseLock();
  }
}
