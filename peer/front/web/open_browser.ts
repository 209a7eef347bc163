/**
 * Opening the printed URL in the user's browser, as `jupyter` does: the
 * system's opener when there is a desktop to open it on, silently nothing
 * otherwise (the URL is printed either way).
 */
/**
 * The command that opens a URL on this system, or null when there is none
 * to use (`desktop`: DISPLAY or WAYLAND_DISPLAY is set).
 */
export function openerFor(
  os: typeof Deno.build.os,
  desktop: boolean,
  url: string,
): string[] | null {
  switch (os) {
    case "darwin":
      return ["open", url];
    case "windows":
      // `start` is a cmd built-in; the empty title keeps the URL an argument.
      return ["cmd", "/c", "start", '""', url];
    default:
      if (!desktop) return null;
      return ["xdg-open", url];
  }
}

/** Opens `url`; resolves with false when it could not be opened. */
export async function openBrowser(
  url: string,
  desktop: boolean,
): Promise<boolean> {
  const argv = openerFor(Deno.build.os, desktop, url);
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
