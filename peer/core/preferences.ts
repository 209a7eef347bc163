/**
 * The user's choices that outlive a session (`/set`), kept in
 * `$CHAT_HOME/settings.json`: whether a friend's chat request is accepted
 * at once. A missing or unreadable file means the defaults.
 */
import { join } from "node:path";

/** The settings file inside CHAT_HOME. */
export const PREFERENCES_FILE = "settings.json";

/** What /set changes. */
export interface Preferences {
  /** A friend's chat request opens the chat at once (default on). */
  acceptFriends: boolean;
}

/** The settings /set knows, as typed after /set. */
export const PREFERENCE_NAMES = ["accept-friends"] as const;

/** A setting's name as typed after /set. */
export type PreferenceName = typeof PREFERENCE_NAMES[number];

/** The defaults. */
export const DEFAULT_PREFERENCES: Preferences = { acceptFriends: true };

/** Reads the preferences in `home`; the defaults for what is missing or bad. */
export async function loadPreferences(home: string): Promise<Preferences> {
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(join(home, PREFERENCES_FILE)));
  } catch {
    // No file yet, or one that is not JSON: the defaults hold.
    return { ...DEFAULT_PREFERENCES };
  }
  const o = typeof raw === "object" && raw !== null
    ? raw as Record<string, unknown>
    : {};
  return {
    acceptFriends: typeof o.accept_friends === "boolean"
      ? o.accept_friends
      : DEFAULT_PREFERENCES.acceptFriends,
  };
}

/** Writes the preferences to `home` (owner-only, replaced atomically). */
export async function savePreferences(
  home: string,
  p: Preferences,
): Promise<void> {
  await Deno.mkdir(home, { recursive: true, mode: 0o700 });
  const path = join(home, PREFERENCES_FILE);
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(
    tmp,
    JSON.stringify({ accept_friends: p.acceptFriends }, null, 2) + "\n",
    { mode: 0o600 },
  );
  await Deno.rename(tmp, path);
}

/** The preferences as /set lists them. */
export function preferenceList(p: Preferences): Record<PreferenceName, string> {
  return { "accept-friends": p.acceptFriends ? "on" : "off" };
}
