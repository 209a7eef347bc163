/**
 * The command-line surface as data: every command, flag, default and help
 * line lives here, so the parser, `--help` and the docs agree.
 */

/** How a flag's value is read and checked. */
export type FlagType =
  | "boolean"
  | "string"
  | "port"
  | "count"
  | "duration"
  | "address"
  | "name"
  | "level"
  | "fingerprint"
  /** `on` or `off`. */
  | "switch"
  /** Bytes per second: 500k, 10M, 1G (binary multiples), 0 for no cap. */
  | "rate";

/** One flag of one command. */
export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
  /** Placeholder shown in usage, e.g. PATH. */
  value?: string;
  default?: string;
  /** Environment variable consulted when the flag is absent. */
  env?: string;
  help: string;
}

/** One subcommand. */
export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  /** Positional arguments: names, in order; a `?` suffix marks optional ones. */
  positionals: string[];
  flags: FlagSpec[];
  /** Paragraphs shown after the flags in `chat COMMAND --help`. */
  notes?: string[];
}

const registryFlag: FlagSpec = {
  name: "registry",
  type: "address",
  value: "HOST:PORT[,HOST:PORT…]",
  env: "CHAT_REGISTRY",
  help:
    "registry to use (default 127.0.0.1:15600, or the one of the last login on this machine); several addresses (or a name with several) for a cluster: one is picked, the next when it fails",
};
const fingerprintFlag: FlagSpec = {
  name: "registry-fingerprint",
  type: "fingerprint",
  value: "sha256:HEX",
  env: "CHAT_REGISTRY_FINGERPRINT",
  help: "pin the registry certificate instead of trusting it on first use",
};
const userFlag: FlagSpec = {
  name: "user",
  type: "name",
  value: "NAME",
  env: "CHAT_USER",
  help:
    "account name (default: the one of the last login at this registry, or the one account this machine is a device of; the password, when needed, comes from CHAT_PASSWORD or a prompt)",
};
const deviceFlag: FlagSpec = {
  name: "device",
  type: "name",
  value: "NAME",
  help:
    "name of this machine as a device, when it becomes one (default: its host name)",
};
const jsonFlag: FlagSpec = {
  name: "json",
  type: "boolean",
  help: "print JSON instead of text",
};

/** Every command `chat` understands. */
export const COMMANDS: CommandSpec[] = [
  {
    name: "registry",
    summary: "run the registry: accounts, presence and rooms",
    usage:
      "chat registry [--host 0.0.0.0] [--port 15600] [--udp-port 15500] [--db PATH|postgres://…]\n" +
      "              [--state-dir DIR] [--advertise HOST]\n" +
      "              [--tls-cert FILE --tls-key FILE] [--heartbeat-interval 1s]\n" +
      "              [--heartbeat-ttl 3s] [--idle-timeout 0]\n" +
      "              [--trusted-address LIST] [--login-failures N] [--signups-per-hour N]\n" +
      "              [--max-offline N] [--max-rooms-owned N] [--max-… N] (limits: see below)\n" +
      "              [--relay on|off] [--relay-port 15601] [--relay-per-user N]\n" +
      "              [--relay-rate RATE] [--relay-total RATE]",
    positionals: [],
    flags: [
      {
        name: "host",
        type: "string",
        value: "HOST",
        default: "0.0.0.0",
        help: "address to listen on",
      },
      {
        name: "port",
        type: "port",
        value: "PORT",
        default: "15600",
        help: "TCP (TLS) port; 0 picks a free one",
      },
      {
        name: "udp-port",
        type: "port",
        value: "PORT",
        default: "15500",
        help: "UDP heartbeat port; 0 picks a free one",
      },
      {
        name: "db",
        type: "string",
        value: "PATH",
        help:
          "SQLite database file (default $CHAT_HOME/registry.db), or postgres://USER[:PASS]@HOST[:PORT]/DB[?sslmode=…] shared by a cluster",
      },
      {
        name: "state-dir",
        type: "string",
        value: "DIR",
        help:
          "folder of the certificate and ticket-signing key (default: the database's folder, or $CHAT_HOME with postgres://)",
      },
      {
        name: "advertise",
        type: "string",
        value: "HOST",
        help:
          "address of this instance that peers send heartbeats and relayed links to (in a cluster, behind a load balancer)",
      },
      {
        name: "tls-cert",
        type: "string",
        value: "FILE",
        help: "PEM certificate to serve instead of the self-signed one",
      },
      {
        name: "tls-key",
        type: "string",
        value: "FILE",
        help: "PEM private key for --tls-cert",
      },
      {
        name: "heartbeat-interval",
        type: "duration",
        value: "DURATION",
        default: "1s",
        help: "how often peers send a heartbeat",
      },
      {
        name: "heartbeat-ttl",
        type: "duration",
        value: "DURATION",
        default: "3s",
        help: "silence after which a peer is offline",
      },
      {
        name: "idle-timeout",
        type: "duration",
        value: "DURATION",
        default: "0",
        help: "log out sessions with no user action for this long (0 = never)",
      },
      {
        name: "handshake-timeout",
        type: "duration",
        value: "DURATION",
        default: "10s",
        help: "drop a connection that has not said hello within this long",
      },
      {
        name: "log-level",
        type: "level",
        value: "LEVEL",
        default: "info",
        help: "debug, info, warn or error",
      },
      {
        name: "log-file",
        type: "string",
        value: "PATH",
        help: "append logs to this file instead of stderr",
      },
      {
        name: "trusted-address",
        type: "string",
        value: "LIST",
        default: "127.0.0.0/8,::1/128",
        help:
          "comma-separated prefixes exempt from the per-address limits, or none",
      },
      {
        name: "login-failures",
        type: "count",
        value: "N",
        default: "5",
        help: "wrong passwords per user and address before a minute's wait",
      },
      {
        name: "signups-per-hour",
        type: "count",
        value: "N",
        default: "30",
        help: "sign-ups per address an hour, after the first 10",
      },
      {
        name: "max-connections-per-address",
        type: "count",
        value: "N",
        default: "128",
        help: "open connections from one address (an IPv6 /64)",
      },
      {
        name: "max-offline",
        type: "count",
        value: "N",
        default: "1000",
        help: "undelivered offline messages per recipient",
      },
      {
        name: "max-offline-per-sender",
        type: "count",
        value: "N",
        default: "100",
        help: "undelivered offline messages from one sender to one recipient",
      },
      {
        name: "room-backlog",
        type: "count",
        value: "N",
        default: "200",
        help:
          "room messages kept per member who is away, per room (oldest dropped)",
      },
      {
        name: "max-rooms-owned",
        type: "count",
        value: "N",
        default: "20",
        help: "rooms one user may own",
      },
      {
        name: "max-invites-sent",
        type: "count",
        value: "N",
        default: "200",
        help: "pending room invitations one user may have sent",
      },
      {
        name: "max-invites-received",
        type: "count",
        value: "N",
        default: "100",
        help: "pending room invitations one user may have received",
      },
      {
        name: "max-friend-requests-sent",
        type: "count",
        value: "N",
        default: "100",
        help: "pending friend requests one user may have sent",
      },
      {
        name: "max-friend-requests-received",
        type: "count",
        value: "N",
        default: "100",
        help: "pending friend requests one user may have received",
      },
      {
        name: "relay",
        type: "switch",
        value: "on|off",
        default: "on",
        help:
          "relay links between peers that cannot reach each other (ciphertext only)",
      },
      {
        name: "relay-port",
        type: "port",
        value: "PORT",
        help:
          "TCP port of the relay on --host (default the --port after it: 15601; with --port 0 a free one)",
      },
      {
        name: "relay-per-user",
        type: "count",
        value: "N",
        default: "8",
        help: "relayed links one user may hold at once",
      },
      {
        name: "relay-rate",
        type: "rate",
        value: "RATE",
        default: "0",
        help: "bytes per second per relayed link, like 1M (0 = no cap)",
      },
      {
        name: "relay-total",
        type: "rate",
        value: "RATE",
        default: "0",
        help: "bytes per second over all relayed links, like 50M (0 = no cap)",
      },
    ],
    notes: [
      "Prints `chat registry listening on HOST:PORT (udp PORT) fingerprint sha256:HEX`",
      "and then the database path, and serves until SIGINT or SIGTERM.",
      "",
      "Every limit, with or without a flag, and the attack it stops is listed in",
      "the project's documentation (security.md, Limits).",
    ],
  },
  {
    name: "peer",
    summary:
      "log in and chat: the interactive shell, or JSON lines with --json",
    usage:
      "chat peer [--registry HOST:PORT] [--port 0] [--user NAME] [--signup] [--replace] [--json]",
    positionals: [],
    flags: [
      registryFlag,
      {
        name: "port",
        type: "port",
        value: "PORT",
        default: "0",
        help: "port for direct peer-to-peer connections; 0 picks a free one",
      },
      userFlag,
      deviceFlag,
      {
        name: "signup",
        type: "boolean",
        help: "create the account first if it does not exist",
      },
      {
        name: "replace",
        type: "boolean",
        help: "end an older session of the same user instead of refusing",
      },
      {
        name: "json",
        type: "boolean",
        help: "scripting mode: commands on stdin, JSON lines on stdout",
      },
      fingerprintFlag,
    ],
    notes: [
      "Type /help in the shell for its commands; /help COMMAND explains one.",
      "",
      "With --json (for scripts and bots): nothing is asked (CHAT_USER, CHAT_PASSWORD),",
      "every shell command works, one per line on stdin, and stdout carries one JSON",
      'object per line: first {"type":"ready","user":…,"port":…}, then exactly one',
      '{"type":"reply","command":"/who","ok":true,…} per line in order (ok false',
      'with "error"), and events between them, each with a "type": message, delivered,',
      "chat_request, chat_started, offline_message, presence, file_offer, … End of",
      "stdin logs out and exits 0. The project's documentation (json-mode.md) lists",
      "every reply and event.",
    ],
  },
  {
    name: "web",
    summary: "log in and chat in a browser, served on 127.0.0.1",
    usage:
      "chat web [--port 15700] [--registry HOST:PORT] [--user NAME] [--signup] [--replace] [--no-open]",
    positionals: [],
    flags: [
      {
        name: "port",
        type: "port",
        value: "PORT",
        default: "15700",
        help: "port of the web page on 127.0.0.1; 0 picks a free one",
      },
      registryFlag,
      userFlag,
      deviceFlag,
      {
        name: "signup",
        type: "boolean",
        help: "create the account first if it does not exist",
      },
      {
        name: "replace",
        type: "boolean",
        help: "end an older session of the same user instead of refusing",
      },
      {
        name: "no-open",
        type: "boolean",
        help: "print the URL but do not open a browser",
      },
      fingerprintFlag,
    ],
    notes: [
      "The URL printed carries a secret token; anyone with it can use your session, so do not share it.",
      "Without CHAT_PASSWORD the password is asked on the terminal, or by the page when there is none.",
    ],
  },
  {
    name: "login",
    summary: "log in once with the password: this machine becomes a device",
    usage:
      "chat login [--registry HOST:PORT] [--user NAME] [--device NAME] [--json]",
    positionals: [],
    flags: [registryFlag, userFlag, deviceFlag, jsonFlag, fingerprintFlag],
    notes: [
      "Makes a key pair for this machine in $CHAT_HOME/devices/ and has the registry record",
      "its public half. From then on every chat command here logs in with that key:",
      "no password is asked. The first `chat peer` does the same if you skip this.",
    ],
  },
  {
    name: "logout",
    summary: "end this device's sessions; --forget removes the device",
    usage: "chat logout [--forget] [--registry HOST:PORT] [--user NAME]",
    positionals: [],
    flags: [
      {
        name: "forget",
        type: "boolean",
        help:
          "also revoke this device at the registry and delete its keys here",
      },
      registryFlag,
      userFlag,
      jsonFlag,
      fingerprintFlag,
    ],
  },
  {
    name: "devices",
    summary: "list your devices, or revoke one",
    usage: "chat devices [revoke NAME] [--json]",
    positionals: ["ACTION?", "NAME?"],
    flags: [jsonFlag, registryFlag, userFlag, fingerprintFlag],
    notes: [
      "`chat devices revoke NAME` ends that device's sessions at once and its keys stop",
      "working; it needs the password to become a device again.",
    ],
  },
  {
    name: "verify",
    summary:
      "show the safety number with a contact; --confirm marks it verified",
    usage: "chat verify NAME [--confirm] [--json]",
    positionals: ["NAME"],
    flags: [
      {
        name: "confirm",
        type: "boolean",
        help:
          "mark NAME verified: chats, files and messages are refused if NAME's keys change",
      },
      jsonFlag,
      registryFlag,
      userFlag,
      fingerprintFlag,
    ],
    notes: [
      "Compare the number with NAME in person or on a call: it is the same on both sides",
      "and covers both users' device keys. The keys are pinned in $CHAT_HOME/contacts/.",
    ],
  },
  {
    name: "passwd",
    summary: "change your password",
    usage: "chat passwd [--revoke-others] [--registry HOST:PORT] [--user NAME]",
    positionals: [],
    flags: [
      {
        name: "revoke-others",
        type: "boolean",
        help: "also revoke every other device (a terminal is asked)",
      },
      registryFlag,
      userFlag,
      fingerprintFlag,
    ],
    notes: [
      "On a terminal both passwords are asked. Without one, the current password",
      "comes from CHAT_PASSWORD and the new one is the first line of stdin.",
    ],
  },
  {
    name: "signup",
    summary: "create an account",
    usage: "chat signup [--registry HOST:PORT] [--user NAME] [--json]",
    positionals: [],
    flags: [registryFlag, userFlag, jsonFlag, fingerprintFlag],
  },
  {
    name: "who",
    summary: "list online users",
    usage: "chat who [--detailed] [--json]",
    positionals: [],
    flags: [
      {
        name: "detailed",
        short: "l",
        type: "boolean",
        help: "show address and status too",
      },
      jsonFlag,
      registryFlag,
      userFlag,
      fingerprintFlag,
    ],
  },
  {
    name: "search",
    summary:
      "look a user up: online (with address), offline (last seen) or unknown",
    usage: "chat search NAME [--json]",
    positionals: ["NAME"],
    flags: [jsonFlag, registryFlag, userFlag, fingerprintFlag],
    notes: [
      "Exits 0 when NAME exists (online or offline), 1 when it does not.",
    ],
  },
  {
    name: "send",
    summary: "send a file or stdin directly to a user",
    usage: "chat send NAME [FILE|-] [--name NAME]",
    positionals: ["NAME", "FILE?"],
    flags: [
      {
        name: "name",
        type: "string",
        value: "NAME",
        help:
          "file name the receiver sees (default: the file's name, or stdin); needed to send what is typed on a terminal",
      },
      registryFlag,
      userFlag,
      fingerprintFlag,
    ],
    notes: [
      "Streams in constant memory; `tar c dir | chat send bob -` works.",
      "Exits 0 only after the receiver has verified the SHA-256 of every byte.",
    ],
  },
  {
    name: "receive",
    summary: "wait for a file and write it to a file, a folder or stdout",
    usage:
      "chat receive [--from NAME] [-o PATH|-] [--force] [--timeout 0] [--listen HOST]",
    positionals: [],
    flags: [
      {
        name: "from",
        type: "name",
        value: "NAME",
        help: "accept only offers from this user",
      },
      {
        name: "output",
        short: "o",
        type: "string",
        value: "PATH|-",
        help:
          "where to write: a file, a folder, or - for stdout (default: downloads)",
      },
      {
        name: "force",
        type: "boolean",
        help:
          "replace the -o file if it exists (without it: refused, or asked on a terminal)",
      },
      {
        name: "timeout",
        type: "duration",
        value: "DURATION",
        default: "0",
        help: "give up if no offer arrives in time (0 = wait forever)",
      },
      {
        name: "listen",
        type: "string",
        value: "HOST",
        default: "0.0.0.0",
        help: "address to listen on for the sender's direct connection",
      },
      registryFlag,
      userFlag,
      fingerprintFlag,
    ],
    notes: [
      "`chat receive -o - | tar x` unpacks what `tar c dir | chat send` sent.",
    ],
  },
];

/** Looks a command up by name. */
export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}
