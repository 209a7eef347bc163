/**
 * The registry and user of the last login on this machine, kept in
 * `$CHAT_HOME/last_login` so the next command needs neither `--registry`
 * nor `--user` (with a device key, no flag at all). Flags and environment
 * always win; a file that cannot be read counts as none.
 */
import { join } from "node:path";

/** The file inside CHAT_HOME. */
export const LAST_LOGIN_FILE = "last_login";

/** What the file holds. */
export interface LastLogin {
  /** The registry as given: "host:port", or a cluster's "h1:p1,h2:p2". */
  registry: string;
  user: string;
}

/** The last login recorded in `home`, or null. */
export async function readLastLogin(home: string): Promise<LastLogin | null> {
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(join(home, LAST_LOGIN_FILE)));
  } catch {
    // None yet, or not readable: the defaults apply.
    return null;
  }
  if (typeof raw !== "object" || raw === null) return null;
  const o = raw as Record<string, unknown>;
  return typeof o.registry === "string" && typeof o.user === "string"
    ? { registry: o.registry, user: o.user }
    : null;
}

/** Records a login (owner-only, replaced atomically); a failure is only logged by the caller. */
export async function writeLastLogin(
  home: string,
  login: LastLogin,
): Promise<void> {
  const path = join(home, LAST_LOGIN_FILE);
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(login) + "\n", { mode: 0o600 });
  await Deno.rename(tmp, path);
}
