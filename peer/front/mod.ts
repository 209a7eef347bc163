/**
 * The peer's front ends over one Peer core: the interactive shell with its
 * completion, the JSON mode for scripts, the web UI (web/), and what they
 * use to show things (text formatting, the progress bar, terminal
 * questions, queued output).
 */
import type { ShellOptions } from "./shell.ts";
import type { RunWebOptions } from "./web/mod.ts";

export {
  complete,
  completesRooms,
  type CompletionSource,
} from "./completion.ts";
export {
  contactNoticeText,
  formatEvent,
  formatOwn,
  formatReply,
  formatText,
  pathNote,
  pathWords,
  Style,
  verifyText,
} from "./format.ts";
export { readLines, replyObject, runJsonMode } from "./json_mode.ts";
export { type ByteSink, LineWriter } from "./line_writer.ts";
export { formatSearch, formatWho } from "./oneshot.ts";
export {
  formatProgress,
  ProgressLine,
  showBytes,
  showEta,
} from "./progress.ts";
export { Screen, type ScreenOptions } from "./screen.ts";
export type { ShellOptions } from "./shell.ts";
export { DEFAULT_WEB_PORT, type RunWebOptions } from "./web/mod.ts";
export {
  askYesNo,
  type KeySource,
  promptLine,
  promptSecret,
  stdinIsTerminal,
  useColor,
} from "./terminal.ts";

/**
 * Runs the interactive shell (see shell.ts). Loaded on first use, so the
 * other commands never load readline.
 */
export async function runShell(o: ShellOptions): Promise<number> {
  const { runShell } = await import("./shell.ts");
  return await runShell(o);
}

/**
 * Runs `chat web`'s server and page (see web/run.ts). Loaded on first use,
 * so the other commands never load the page's assets.
 */
export async function runWeb(o: RunWebOptions): Promise<number> {
  const { runWeb } = await import("./web/mod.ts");
  return await runWeb(o);
}
