/** Handlers of the commands about the session and the directory: /help, /quit, /who, /search, /profile, /status, /set, /verify. */
import { helpText } from "../commands.ts";
import { preferenceList } from "../preferences.ts";
import type { HandlerTable } from "../context.ts";
import { offsetField, withMore } from "../pages.ts";

/** See the module doc. */
export const ACCOUNT: HandlerTable<
  "help" | "quit" | "who" | "search" | "profile" | "status" | "set" | "verify"
> = {
  verify: (p, cmd) => p.verify(cmd.user, cmd.confirm),
  help: (_p, cmd) => Promise.resolve({ text: helpText(cmd.topic) }),
  quit: async (p) => {
    await p.stop();
    return {};
  },
  who: async (p, cmd) => {
    const r = await p.request("who", {
      detailed: cmd.detailed,
      ...offsetField(cmd.offset),
    });
    for (const u of r.users) p.knownUsers.add(u.user);
    return withMore(r, cmd.detailed ? "/who -l" : "/who");
  },
  search: (p, cmd) => p.request("search", { user: cmd.user }),
  profile: (p, cmd) => p.request("profile", { user: cmd.user }),
  status: (p, cmd) =>
    p.request("status", cmd.text !== undefined ? { text: cmd.text } : {}),
  set: async (p, cmd) => {
    if (cmd.setting === undefined || cmd.on === undefined) {
      return { settings: preferenceList(p.preferences()) };
    }
    const next = { ...p.preferences(), acceptFriends: cmd.on };
    await p.setPreferences(next);
    return { settings: preferenceList(next), changed: cmd.setting };
  },
};
