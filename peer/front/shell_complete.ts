/**
 * Tab in the shell: what completion.ts offers (commands, their words, user
 * and room names), and besides file paths for /send and the transfer ids
 * /file accept|reject|cancel take. One candidate replaces the word; several
 * extend it to their common start, and are listed when that adds nothing.
 */
import { dirname, join } from "node:path";
import type { Peer } from "../core/mod.ts";
import { complete, completesRooms } from "./completion.ts";

/** What Tab does to the line. */
export interface Completion {
  /** UTF-16 units before the cursor to replace (the word typed). */
  replaceLength: number;
  /** The text to put there, or null to leave it. */
  replace: string | null;
  /** Candidates to show (when the word cannot be extended). */
  list: string[];
}

/** Most candidates listed at once. */
const MAX_LISTED = 60;

/** The candidates for the last word of `before`, and the word. */
export async function candidates(
  before: string,
  peer: Pick<Peer, "knownUsers" | "knownRooms" | "refreshRooms" | "transfers">,
  targets: string[] = [],
): Promise<{ words: string[]; last: string }> {
  const words = before.split(/\s+/);
  const last = words[words.length - 1] ?? "";
  const cmd = words[0]?.toLowerCase();
  if (cmd === "/switch" && words.length === 2) {
    return {
      words: targets.filter((t) => t.startsWith(last)).map((t) => t + " "),
      last,
    };
  }
  if (cmd === "/send" && words.length >= 3) {
    return { words: await paths(last), last };
  }
  if (cmd === "/file" && words.length === 3) {
    const ids = peer.transfers.list().map((t) => t.id);
    return {
      words: ids.filter((id) => id.startsWith(last)).map((id) => id + " "),
      last,
    };
  }
  if (completesRooms(before)) await peer.refreshRooms();
  const [found] = complete(before, peer);
  // The shell's own command, which the core does not know.
  if (
    words.length === 1 && "/switch".startsWith(last) && last.startsWith("/")
  ) {
    found.push("/switch ");
    found.sort();
  }
  return { words: found, last };
}

/** Paths starting with `typed` (~ for the home directory); directories end in /. */
async function paths(typed: string): Promise<string[]> {
  const expanded = expandHome(typed);
  const dir = typed.endsWith("/") ? expanded : dirname(expanded);
  const base = typed.endsWith("/") ? "" : expanded.slice(dir.length).replace(
    /^\//,
    "",
  );
  const shownDir = typed.endsWith("/")
    ? typed
    : typed.slice(0, typed.length - base.length);
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir === "" ? "." : dir)) {
      if (!e.name.startsWith(base)) continue;
      if (e.name.startsWith(".") && !base.startsWith(".")) continue;
      let isDir = e.isDirectory;
      if (e.isSymlink) {
        isDir = await Deno.stat(join(dir, e.name)).then((s) => s.isDirectory)
          .catch(() => false);
      }
      out.push(shownDir + e.name + (isDir ? "/" : " "));
    }
  } catch {
    // No such directory: nothing to offer.
  }
  return out.sort();
}

function commonStart(words: string[]): string {
  let p = words[0] ?? "";
  for (const w of words.slice(1)) {
    while (!w.startsWith(p)) p = p.slice(0, -1);
  }
  return p;
}

/** What Tab does after `before` (the text before the cursor). */
export async function completeLine(
  before: string,
  peer: Pick<Peer, "knownUsers" | "knownRooms" | "refreshRooms" | "transfers">,
  targets: string[] = [],
): Promise<Completion> {
  const { words, last } = await candidates(before, peer, targets);
  if (words.length === 0) return { replaceLength: 0, replace: null, list: [] };
  if (words.length === 1) {
    return { replaceLength: last.length, replace: words[0]!, list: [] };
  }
  const start = commonStart(words);
  if (start.length > last.length) {
    return { replaceLength: last.length, replace: start, list: [] };
  }
  const shown = words.map((w) =>
    w.trimEnd().split("/").filter(Boolean).pop() ?? w
  )
    .slice(0, MAX_LISTED);
  return { replaceLength: 0, replace: null, list: shown };
}

/** `~` and `~/…` as the home directory. */
export function expandHome(path: string): string {
  const home = Deno.env.get("HOME");
  if (!home) return path;
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return path;
}
