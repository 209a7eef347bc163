/**
 * Opening the printed URL in the user's browser, as `jupyter` does: the
 * system's opener when there is a desktop to open it on, silently nothing
 * otherwise (the URL is printed either way).
 */
import type { Env } from "../../../common/paths.ts";

/** The command that opens a URL on this system, or null when there is none to use. */
export function openerFor(
  os: typeof Deno.build.os,
  env: Env,
  url: string,
): string[] | null {
  switch (os) {
    case "darwin":
      return ["open", url];
    case "windows":
      // `start` is a cmd built-in; the empty title keeps the URL an argument.
      return ["cmd", "/c", "start", '""', url];
    default:
      if (!env("DISPLAY") && !env("WAYLAND_DISPLAY")) return null;
      return ["xdg-open", url];
  }
}

/** Opens `url`; resolves with false when it could not be opened. */
export async function openBrowser(url: string, env: Env): Promise<boolean> {
  const argv = openerFor(Deno.build.os, env, url);
  if (!argv) return false;
  try {
    const child = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    return (await child.status).success;
  } catch {
    // No opener installed, or no permission to run it: the URL is printed.
    return false;
  }
}
