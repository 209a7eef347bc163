/**
 * /help in the shell: commands in groups, each with its aliases, laid out
 * for the terminal's width — the usage on its own row when usage and
 * description do not fit side by side, descriptions wrapped under
 * themselves. Pure.
 */
import { COMMAND_HELP, HELP_ALIASES } from "../core/mod.ts";
import type { Style } from "./format.ts";
import { wrap } from "./wrap.ts";

/** The groups /help shows, in order; every command is in one. */
export const HELP_GROUPS: { title: string; commands: string[] }[] = [
  {
    title: "Talking",
    commands: [
      "chat",
      "accept",
      "reject",
      "msg",
      "close",
      "save",
      "switch",
      "inbox",
    ],
  },
  {
    title: "Rooms",
    commands: [
      "rooms",
      "room",
      "join",
      "leave",
      "members",
      "say",
      "invite",
      "invites",
      "kick",
      "unban",
      "owner",
    ],
  },
  {
    title: "People",
    commands: [
      "who",
      "search",
      "profile",
      "status",
      "friends",
      "friend",
      "requests",
      "block",
      "unblock",
      "blocks",
      "verify",
    ],
  },
  { title: "Files", commands: ["send", "files", "file"] },
  { title: "Session", commands: ["set", "help", "quit"] },
];

/** Commands the shell itself answers, with their help. */
export const SHELL_HELP: Record<string, { usage: string; help: string }> = {
  switch: {
    usage: "/switch [NAME|#ROOM|N]",
    help:
      "where plain lines go: an open chat or a joined room (Alt-1…9 too); alone, lists them",
  },
};

/** Widest usage column before descriptions move under their usage. */
const MAX_USAGE_COLUMNS = 34;

function entryOf(name: string): { usage: string; help: string } | undefined {
  return COMMAND_HELP[name] ?? SHELL_HELP[name];
}

/** Aliases of `name` its help text does not mention already. */
function aliasesOf(name: string): string[] {
  const help = entryOf(name)?.help ?? "";
  return Object.entries(HELP_ALIASES).filter(([, to]) => to === name).map((
    [a],
  ) => `/${a}`).filter((a) => !help.includes(a));
}

/** /help or /help TOPIC for a terminal `columns` wide. */
export function helpFor(
  topic: string | undefined,
  columns: number,
  style: Style,
): string {
  const width = Math.max(20, columns);
  if (topic) {
    const t = topic.replace(/^\//, "").toLowerCase();
    const key = HELP_ALIASES[t] ?? t;
    const h = entryOf(key);
    if (!h) return `no such command '/${t}' — type /help for the list`;
    const aliases = aliasesOf(key);
    return [
      style.bold(h.usage),
      ...wrap(h.help, width - 2).map((r) => `  ${r}`),
      ...(aliases.length ? [`  also: ${aliases.join(", ")}`] : []),
    ].join("\n");
  }
  const usages = [
    ...Object.values(COMMAND_HELP),
    ...Object.values(SHELL_HELP),
  ].map((h) => h.usage);
  const col = Math.min(
    MAX_USAGE_COLUMNS,
    Math.max(...usages.map((u) => u.length)),
  );
  const sideBySide = width - col - 4 >= 24;
  // A command added to the core but not to a group still shows.
  const grouped = new Set(HELP_GROUPS.flatMap((g) => g.commands));
  const rest = Object.keys(COMMAND_HELP).filter((c) => !grouped.has(c));
  const groups = rest.length
    ? [...HELP_GROUPS, { title: "More", commands: rest }]
    : HELP_GROUPS;
  const out: string[] = [];
  for (const g of groups) {
    out.push(style.bold(g.title));
    for (const name of g.commands) {
      const h = entryOf(name)!;
      const aliases = aliasesOf(name);
      const help = h.help +
        (aliases.length ? ` (also ${aliases.join(", ")})` : "");
      if (sideBySide && h.usage.length <= col) {
        const rows = wrap(help, width - col - 4);
        out.push(`  ${h.usage.padEnd(col)}  ${rows[0] ?? ""}`);
        for (const r of rows.slice(1)) out.push(`${" ".repeat(col + 4)}${r}`);
      } else {
        out.push(...wrap(h.usage, width - 2).map((r) => `  ${r}`));
        out.push(...wrap(help, width - 6).map((r) => `      ${r}`));
      }
    }
  }
  out.push(
    "",
    ...wrap(
      "A line without / goes where the prompt says: alice@bob> to bob, alice#lunch> to #lunch (the last /chat, /accept, /join or /switch). A multi-line paste is sent as one message. Tab completes; Ctrl-C clears the line; Ctrl-D or /quit logs out.",
      width,
    ),
  );
  return out.join("\n");
}
