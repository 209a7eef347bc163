/**
 * argv → a checked command, or a one-line reason. Pure: the environment is
 * passed in, nothing is printed.
 */
import {
  COMMANDS,
  type CommandSpec,
  findCommand,
  type FlagSpec,
} from "./commands.ts";
import { parseDuration } from "../common/duration.ts";
import { parseFingerprint } from "../common/fingerprint.ts";
import { NAME_PATTERN } from "../wire/mod.ts";
import type { Env } from "../common/paths.ts";
import { closest } from "../common/suggest.ts";

/** " — did you mean X?" when a known word is close to the typed one. */
function didYouMean(word: string, known: Iterable<string>): string {
  const hit = closest(word, known);
  return hit === null ? "" : ` — did you mean '${hit}'?`;
}

/** Every name `chat COMMAND` accepts. */
function commandNames(): string[] {
  return COMMANDS.map((c) => c.name);
}

/** A flag value once checked: ports and durations are numbers (ms for durations). */
export type FlagValue = string | number | boolean;

/** What the command line asked for. */
export type Parsed =
  | { kind: "help"; command?: CommandSpec }
  | { kind: "version" }
  | {
    kind: "run";
    command: CommandSpec;
    flags: Record<string, FlagValue>;
    positionals: string[];
  }
  | { kind: "usage"; error: string; command?: CommandSpec };

/** Parses the arguments after the program name. */
export function parseArgs(argv: string[], env: Env): Parsed {
  const [first, ...rest] = argv;
  if (first === undefined) {
    return { kind: "usage", error: "missing command" };
  }
  if (first === "--help" || first === "-h" || first === "help") {
    if (first !== "help" || rest[0] === undefined) return { kind: "help" };
    const topic = findCommand(rest[0]);
    if (!topic) {
      return {
        kind: "usage",
        error: `no help for unknown command '${rest[0]}'${
          didYouMean(rest[0], commandNames())
        }`,
      };
    }
    return { kind: "help", command: topic };
  }
  if (first === "--version" || first === "-V") return { kind: "version" };
  const command = findCommand(first);
  if (!command) {
    const reason = first.startsWith("-")
      ? `unknown option '${first}'${didYouMean(first, ["--help", "--version"])}`
      : `unknown command '${first}'${didYouMean(first, commandNames())}`;
    return { kind: "usage", error: reason };
  }
  return parseCommand(command, rest, env);
}

function parseCommand(command: CommandSpec, args: string[], env: Env): Parsed {
  const flags: Record<string, FlagValue> = {};
  const positionals: string[] = [];
  const fail = (error: string): Parsed => ({ kind: "usage", error, command });
  let onlyPositionals = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (onlyPositionals || arg === "-" || !arg.startsWith("-")) {
      positionals.push(arg);
      continue;
    }
    if (arg === "--") {
      onlyPositionals = true;
      continue;
    }
    if (arg === "--help" || arg === "-h") return { kind: "help", command };
    let name: string;
    let inline: string | undefined;
    let spec: FlagSpec | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
      spec = command.flags.find((f) => f.name === name);
    } else {
      name = arg.slice(1);
      spec = command.flags.find((f) => f.short === name);
    }
    if (!spec) {
      const known = arg.startsWith("--")
        ? [...command.flags.map((f) => `--${f.name}`), "--help"]
        : [];
      return fail(
        `unknown option '${arg}' for chat ${command.name}${
          didYouMean(arg.startsWith("--") ? `--${name}` : arg, known)
        }`,
      );
    }
    if (spec.type === "boolean") {
      if (inline !== undefined) {
        return fail(`option --${spec.name} takes no value`);
      }
      flags[spec.name] = true;
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      raw = args[i + 1];
      if (raw === undefined || (raw.startsWith("--") && raw.length > 2)) {
        return fail(
          `option --${spec.name} needs a value (${spec.value ?? "VALUE"})`,
        );
      }
      i++;
    }
    const checked = checkValue(spec, raw, "option");
    if (typeof checked === "object") return fail(checked.error);
    flags[spec.name] = checked;
  }
  for (const spec of command.flags) {
    if (spec.name in flags || spec.type === "boolean") continue;
    const fromEnv = spec.env ? env(spec.env) : undefined;
    if (fromEnv !== undefined && fromEnv !== "") {
      const checked = checkValue(spec, fromEnv, "env");
      if (typeof checked === "object") return fail(checked.error);
      flags[spec.name] = checked;
    } else if (spec.default !== undefined) {
      flags[spec.name] = checkValue(spec, spec.default, "option") as FlagValue;
    }
  }
  const required = command.positionals.filter((p) => !p.endsWith("?"));
  if (positionals.length < required.length) {
    return fail(`missing ${required[positionals.length]}`);
  }
  if (positionals.length > command.positionals.length) {
    return fail(
      `unexpected argument '${positionals[command.positionals.length]}'`,
    );
  }
  if (command.positionals[0] === "NAME" && positionals[0] !== undefined) {
    if (!NAME_PATTERN.test(positionals[0].toLowerCase())) {
      return fail(
        `'${
          positionals[0]
        }' is not a valid user name (letters, digits, _ . - up to 32)`,
      );
    }
  }
  return { kind: "run", command, flags, positionals };
}

function checkValue(
  spec: FlagSpec,
  raw: string,
  from: "option" | "env",
): FlagValue | { error: string } {
  const where = from === "env" && spec.env ? spec.env : `--${spec.name}`;
  const bad = (why: string) => ({ error: `${where} '${raw}' ${why}` });
  switch (spec.type) {
    case "port": {
      if (!/^\d+$/.test(raw) || Number(raw) > 65535) {
        return bad("is not a port (0-65535)");
      }
      return Number(raw);
    }
    case "count": {
      if (!/^\d{1,9}$/.test(raw) || Number(raw) < 1) {
        return bad("is not a whole number from 1 to 999999999");
      }
      return Number(raw);
    }
    case "duration": {
      const ms = parseDuration(raw);
      return ms === null ? bad("is not a duration (like 500ms, 3s, 2m)") : ms;
    }
    case "address":
      return parseAddresses(raw) ? raw : bad(
        `is not HOST:PORT or a list of up to ${MAX_REGISTRY_ADDRESSES} separated by commas`,
      );
    case "name":
      return NAME_PATTERN.test(raw.toLowerCase())
        ? raw.toLowerCase()
        : bad("is not a valid user name (letters, digits, _ . - up to 32)");
    case "level":
      return ["debug", "info", "warn", "error"].includes(raw)
        ? raw
        : bad("is not a log level (debug, info, warn, error)");
    case "fingerprint": {
      const hex = parseFingerprint(raw);
      return hex ??
        bad("is not a SHA-256 fingerprint (sha256: and 64 hex digits)");
    }
    case "string":
      return raw.length > 0 ? raw : bad("is empty");
    case "switch":
      return raw === "on" || raw === "off" ? raw : bad("is not on or off");
    case "rate": {
      const n = parseRate(raw);
      return n === null
        ? bad("is not a rate in bytes per second (like 500k, 10M, 1G, or 0)")
        : n;
    }
    case "boolean":
      return true;
  }
}

/**
 * Bytes per second from `500k`, `10M`, `1.5G`, `2MiB/s` (k, M, G are binary
 * multiples; a trailing B, iB and /s are allowed); 0 means no cap. Null
 * when it is not one.
 */
export function parseRate(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?(?:\/s)?$/i.exec(text.trim());
  if (!m) return null;
  const scale = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[
    m[2]!.toLowerCase() as "" | "k" | "m" | "g"
  ];
  const n = Math.round(Number(m[1]) * scale);
  return Number.isSafeInteger(n) ? n : null;
}

/** Most addresses a --registry list may name (the instances of a cluster). */
export const MAX_REGISTRY_ADDRESSES = 16;

/**
 * Splits a comma-separated list of HOST:PORT (a registry cluster's
 * instances); null when one is malformed, the list is empty or longer than
 * MAX_REGISTRY_ADDRESSES.
 */
export function parseAddresses(
  text: string,
): { host: string; port: number }[] | null {
  const parts = text.split(",").map((p) => p.trim());
  if (parts.length === 0 || parts.length > MAX_REGISTRY_ADDRESSES) return null;
  const out: { host: string; port: number }[] = [];
  for (const p of parts) {
    const a = parseAddress(p);
    if (!a) return null;
    out.push(a);
  }
  return out;
}

/** Splits HOST:PORT (IPv6 as [::1]:PORT); null when malformed. */
export function parseAddress(
  text: string,
): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1] ?? m[2]!, port };
}

/** The usage block printed after a usage error. */
export function usageText(command?: CommandSpec): string {
  if (command) {
    return `usage: ${command.usage}\nTry 'chat ${command.name} --help'.`;
  }
  return "usage: chat COMMAND [OPTIONS]\n" +
    `commands: ${COMMANDS.map((c) => c.name).join(", ")}\n` +
    "Try 'chat --help'.";
}

/** `chat --help`. */
export function mainHelp(version: string): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = [
    `chat ${version} — self-hosted chat: a registry for accounts, presence and rooms;`,
    "peers talk to each other directly, end to end encrypted, and pipe files.",
    "",
    "usage: chat COMMAND [OPTIONS]",
    "",
    "commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "  chat COMMAND --help   options of one command",
    "  chat --version        print the version",
    "",
    "environment:",
    "  CHAT_REGISTRY              registry HOST:PORT (default: the last login's, else 127.0.0.1:15600)",
    "  CHAT_USER                  account name",
    "  CHAT_PASSWORD              password, for scripts (asked on a terminal otherwise)",
    "  CHAT_REGISTRY_FINGERPRINT  pin the registry's certificate (sha256:HEX)",
    "  CHAT_HOME                  all of a peer's state (default ~/.local/share/chat)",
    "  CHAT_LOG_LEVEL             detail of $CHAT_HOME/peer.log: debug, info, warn, error (default info)",
    "  CHAT_MAX_FILE_BYTES        largest file a peer takes, in bytes (default 0 = no limit)",
    "  NO_COLOR                   set to turn colour off",
    "exit codes: 0 success, 1 the operation failed, 2 usage error",
  ];
  return lines.join("\n");
}

/** `chat COMMAND --help`: usage, every flag with its default and variable, notes. */
export function commandHelp(command: CommandSpec): string {
  const shown = command.flags.map((f) => {
    const short = f.short ? `-${f.short}, ` : "";
    const value = f.type === "boolean" ? "" : ` ${f.value ?? "VALUE"}`;
    return { left: `${short}--${f.name}${value}`, f };
  });
  const width = Math.max(...shown.map((s) => s.left.length));
  const lines = [
    `chat ${command.name} — ${command.summary}`,
    "",
    `usage: ${command.usage}`,
  ];
  if (shown.length > 0) lines.push("", "options:");
  for (const { left, f } of shown) {
    const extra = [
      f.default !== undefined ? `default ${f.default}` : "",
      f.env ? `env ${f.env}` : "",
    ].filter(Boolean).join("; ");
    lines.push(
      `  ${left.padEnd(width)}  ${f.help}${extra ? ` (${extra})` : ""}`,
    );
  }
  lines.push(`  ${"-h, --help".padEnd(width)}  show this help`);
  if (command.notes) lines.push("", ...command.notes);
  return lines.join("\n");
}
