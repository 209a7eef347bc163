/** Where chat keeps its state on disk. */
import { join } from "node:path";

/** Reads an environment variable; injected so tests need not touch Deno.env. */
export type Env = (name: string) => string | undefined;

/** The default environment reader: missing permission reads as unset. */
export const processEnv: Env = (name) => {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
};

/**
 * The folder holding all of a user's chat state: CHAT_HOME, else
 * $XDG_DATA_HOME/chat, else ~/.local/share/chat (%APPDATA%\chat on Windows).
 */
export function chatHome(env: Env = processEnv): string {
  const explicit = env("CHAT_HOME");
  if (explicit) return explicit;
  const xdg = env("XDG_DATA_HOME");
  if (xdg) return join(xdg, "chat");
  const appData = env("APPDATA");
  if (Deno.build.os === "windows" && appData) return join(appData, "chat");
  const home = env("HOME") ?? env("USERPROFILE");
  if (home) return join(home, ".local", "share", "chat");
  return join(".", ".chat");
}

/** Creates a folder (and parents) readable only by its owner. */
export async function ensurePrivateDir(path: string): Promise<void> {
  await Deno.mkdir(path, { recursive: true, mode: 0o700 });
}
