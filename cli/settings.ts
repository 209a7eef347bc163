/**
 * Typed settings for each subcommand, read from its checked flags and the
 * environment. Everything a subcommand reads from the command line or the
 * environment is read here, once, so nothing downstream looks a flag up by
 * name or casts it; a bad value is a SettingsError naming it. Pure: no I/O
 * beyond the injected environment reader.
 */
import { basename, dirname, join, resolve } from "node:path";
import { isIpPrefix } from "../common/ip.ts";
import { type Level, LEVELS } from "../common/log.ts";
import { chatHome, type Env } from "../common/paths.ts";
import type { CommandContext } from "./context.ts";
import { type FlagValue, parseAddresses } from "./parse.ts";

/**
 * A setting that cannot be used: exit code 1 for a bad environment
 * variable, 2 for a bad command line (then `usage` says how it should look).
 */
export class SettingsError extends Error {
  override name = "SettingsError";
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
    readonly usage?: string,
  ) {
    super(message);
  }
}

type Flags = Record<string, FlagValue>;

function text(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === "string" ? v : undefined;
}

function textOr(flags: Flags, name: string, fallback: string): string {
  return text(flags, name) ?? fallback;
}

function num(flags: Flags, name: string, fallback: number): number {
  const v = flags[name];
  return typeof v === "number" ? v : fallback;
}

function bool(flags: Flags, name: string): boolean {
  return flags[name] === true;
}

// ------------------------------------------------------------- the registry

/** `chat registry`. */
export interface RegistrySettings {
  host: string;
  port: number;
  udpPort: number;
  /**
   * --db: a SQLite file (default $CHAT_HOME/registry.db) or a postgres://
   * URL that several registries share.
   */
  dbPath: string;
  /**
   * --state-dir: where the certificate and the ticket-signing key live.
   * Default: the SQLite file's folder, or $CHAT_HOME for a postgres:// URL.
   */
  stateDir: string;
  /**
   * --advertise: the address peers send heartbeats to, named in the login
   * reply; absent, peers use the address they connected to.
   */
  advertise?: string;
  /** A certificate to serve instead of the self-signed one. */
  tls?: { certFile: string; keyFile: string };
  heartbeatIntervalMs: number;
  heartbeatTtlMs: number;
  /** 0 = never. */
  idleTimeoutMs: number;
  handshakeTimeoutMs: number;
  logLevel: Level;
  logFile?: string;
  /** The limits with a flag; the registry keeps its defaults for the rest. */
  limits: RegistryLimitSettings;
  /** How the registry relays links between peers; null with --relay off. */
  relay: RelayFlagSettings | null;
}

/** `--relay-port`, `--relay-per-user`, `--relay-rate`, `--relay-total`. */
export interface RelayFlagSettings {
  port: number;
  perUser: number;
  /** Bytes per second per link; null: no cap. */
  linkRate: number | null;
  /** Bytes per second over all links; null: no cap. */
  totalRate: number | null;
}

/**
 * The registry's limits that have a flag, named as the registry's
 * RegistryLimits fields (docs/security.md, Limits, lists them all).
 */
export interface RegistryLimitSettings {
  /** --trusted-address: prefixes exempt from the per-address limits. */
  trustedAddresses: string[];
  /** --login-failures */
  loginFailuresPerPair: number;
  /** --signups-per-hour */
  signupsPerHour: number;
  /** --max-connections-per-address */
  maxConnectionsPerAddress: number;
  /** --max-offline */
  maxOfflinePerRecipient: number;
  /** --max-offline-per-sender */
  maxOfflinePerPair: number;
  /** --room-backlog */
  roomBacklog: number;
  /** --max-rooms-owned */
  maxRoomsOwned: number;
  /** --max-invites-sent */
  maxInvitesPerSender: number;
  /** --max-invites-received */
  maxInvitesPerRecipient: number;
  /** --max-friend-requests-sent */
  maxFriendRequestsPerSender: number;
  /** --max-friend-requests-received */
  maxFriendRequestsPerRecipient: number;
}

/** Reads `chat registry`'s settings; throws SettingsError (exit 2) for values no peer could use. */
export function registrySettings(
  ctx: Pick<CommandContext, "flags" | "env">,
): RegistrySettings {
  const f = ctx.flags;
  const certFile = text(f, "tls-cert");
  const keyFile = text(f, "tls-key");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new SettingsError(
      "--tls-cert and --tls-key go together",
      2,
      "chat registry --tls-cert FILE --tls-key FILE",
    );
  }
  const heartbeatIntervalMs = num(f, "heartbeat-interval", 1000);
  const heartbeatTtlMs = num(f, "heartbeat-ttl", 3000);
  // Peers accept intervals of 1 ms to 1 h in the hello reply; outside that
  // range no peer could ever log in, so refuse it here as a bad value.
  for (
    const [name, ms] of [
      ["heartbeat-interval", heartbeatIntervalMs],
      ["heartbeat-ttl", heartbeatTtlMs],
    ] as const
  ) {
    if (!(ms >= 1 && ms <= 3_600_000)) {
      throw new SettingsError(
        `--${name} must be between 1ms and 1h`,
        2,
        "chat registry [--heartbeat-interval 1s] [--heartbeat-ttl 3s]",
      );
    }
  }
  const port = num(f, "port", 15600);
  const handshakeTimeoutMs = num(f, "handshake-timeout", 10_000);
  if (!(handshakeTimeoutMs >= 1)) {
    throw new SettingsError(
      "--handshake-timeout must be at least 1ms",
      2,
      "chat registry [--handshake-timeout 10s]",
    );
  }
  const logFile = text(f, "log-file");
  const dbPath = text(f, "db") ?? join(chatHome(ctx.env), "registry.db");
  const advertise = text(f, "advertise");
  if (advertise !== undefined && !/^[0-9A-Za-z.:_-]{1,253}$/.test(advertise)) {
    throw new SettingsError(
      `--advertise '${advertise}' is not a host name or IP address`,
      2,
      "chat registry [--advertise HOST]",
    );
  }
  return {
    host: textOr(f, "host", "0.0.0.0"),
    port,
    udpPort: num(f, "udp-port", 15500),
    dbPath,
    stateDir: text(f, "state-dir") ??
      // A URL names no folder: the identity then lives in CHAT_HOME.
      (/^[a-z][a-z0-9+.-]*:\/\//i.test(dbPath)
        ? chatHome(ctx.env)
        : dirname(resolve(dbPath))),
    ...(advertise !== undefined ? { advertise } : {}),
    ...(certFile !== undefined && keyFile !== undefined
      ? { tls: { certFile, keyFile } }
      : {}),
    heartbeatIntervalMs,
    heartbeatTtlMs,
    idleTimeoutMs: num(f, "idle-timeout", 0),
    handshakeTimeoutMs,
    logLevel: level(textOr(f, "log-level", "info")),
    ...(logFile !== undefined ? { logFile } : {}),
    limits: {
      trustedAddresses: trustedAddresses(
        textOr(f, "trusted-address", "127.0.0.0/8,::1/128"),
      ),
      loginFailuresPerPair: num(f, "login-failures", 5),
      signupsPerHour: num(f, "signups-per-hour", 30),
      maxConnectionsPerAddress: num(f, "max-connections-per-address", 128),
      maxOfflinePerRecipient: num(f, "max-offline", 1000),
      maxOfflinePerPair: num(f, "max-offline-per-sender", 100),
      roomBacklog: num(f, "room-backlog", 200),
      maxRoomsOwned: num(f, "max-rooms-owned", 20),
      maxInvitesPerSender: num(f, "max-invites-sent", 200),
      maxInvitesPerRecipient: num(f, "max-invites-received", 100),
      maxFriendRequestsPerSender: num(f, "max-friend-requests-sent", 100),
      maxFriendRequestsPerRecipient: num(
        f,
        "max-friend-requests-received",
        100,
      ),
    },
    relay: textOr(f, "relay", "on") === "off" ? null : {
      port: num(f, "relay-port", port === 0 ? 0 : Math.min(65535, port + 1)),
      perUser: num(f, "relay-per-user", 8),
      linkRate: num(f, "relay-rate", 0) || null,
      totalRate: num(f, "relay-total", 0) || null,
    },
  };
}

/** --trusted-address: "none", or prefixes separated by commas. */
function trustedAddresses(value: string): string[] {
  if (value.trim().toLowerCase() === "none") return [];
  const prefixes = value.split(",").map((p) => p.trim()).filter(Boolean);
  for (const p of prefixes) {
    if (!isIpPrefix(p)) {
      throw new SettingsError(
        `--trusted-address '${p}' is not an IP address or prefix (like 10.0.0.0/8 or fd00::/8)`,
        2,
        "chat registry [--trusted-address PREFIX,PREFIX…|none]",
      );
    }
  }
  if (prefixes.length === 0) {
    throw new SettingsError(
      "--trusted-address is empty; give prefixes, or none to trust no address",
      2,
      "chat registry [--trusted-address PREFIX,PREFIX…|none]",
    );
  }
  return prefixes;
}

function level(value: string): Level {
  const found = LEVELS.find((l) => l === value);
  if (!found) {
    throw new SettingsError(
      `log level '${value}' is not one of debug, info, warn, error`,
    );
  }
  return found;
}

// ----------------------------------------------------------- the peer side

/** The environment of every peer-side command. */
export interface PeerEnvironment {
  /** CHAT_HOME (or its default): transcripts, downloads, known registries, logs. */
  home: string;
  /** CHAT_PASSWORD, when set and not empty. */
  password?: string;
  /** CHAT_LOG_LEVEL for $CHAT_HOME/peer.log; info by default. */
  logLevel: Level;
  /** NO_COLOR set to anything but the empty string (no-color.org). */
  noColor: boolean;
}

/** Fault injection for tests, from CHAT_FAULT_* variables; empty in normal use. */
export interface Faults {
  /** CHAT_FAULT_CORRUPT_AT: flip the byte at this offset of every file sent. */
  corruptAt?: number;
}

/** Where the registry is and how it is pinned. */
export interface RegistryAddress {
  /** The first address given. */
  host: string;
  port: number;
  /** Every address given, the first one included (a cluster's instances). */
  addresses: { host: string; port: number }[];
  /** --registry-fingerprint / CHAT_REGISTRY_FINGERPRINT: SHA-256 hex. */
  fingerprint?: string;
  /**
   * Whether --registry or CHAT_REGISTRY named it; if not, it is the
   * default, and the registry of the last login replaces it.
   */
  given: boolean;
}

/** The registry when none is given and none was logged in to before. */
export const DEFAULT_REGISTRY = "127.0.0.1:15600";

/** What every command that logs in to the registry reads. */
export interface ClientSettings {
  registry: RegistryAddress;
  /** --user / CHAT_USER, lower-cased; asked on a terminal when absent. */
  user?: string;
  /** --device: this machine's name as a device, when it becomes one. */
  device?: string;
  env: PeerEnvironment;
}

/** `chat login`. */
export interface LoginSettings extends ClientSettings {
  json: boolean;
}

/** `chat logout`. */
export interface LogoutSettings extends ClientSettings {
  /** --forget: revoke this device and delete its keys. */
  forget: boolean;
  json: boolean;
}

/** `chat devices [revoke NAME]`. */
export interface DevicesSettings extends ClientSettings {
  /** The device to revoke; absent: list them. */
  revoke?: string;
  json: boolean;
}

/** `chat verify NAME [--confirm]`. */
export interface VerifySettings extends ClientSettings {
  /** The contact, lower-cased. */
  name: string;
  confirm: boolean;
  json: boolean;
}

/** `chat passwd`. */
export interface PasswdSettings extends ClientSettings {
  /** --revoke-others */
  revokeOthers: boolean;
}

/** `chat peer`. */
export interface PeerSettings extends ClientSettings {
  /** P2P port; 0 picks a free one. */
  port: number;
  signup: boolean;
  replace: boolean;
  json: boolean;
  /** CHAT_MAX_FILE_BYTES: largest incoming file; 0 = no limit. */
  maxFileBytes: number;
  faults: Faults;
}

/** `chat web`. */
export interface WebSettings extends ClientSettings {
  /** The page's port on 127.0.0.1; 0 picks a free one. */
  port: number;
  signup: boolean;
  replace: boolean;
  /** Open the page in a browser (no --no-open). */
  open: boolean;
  /** DISPLAY or WAYLAND_DISPLAY is set: there is a desktop to open it on. */
  desktop: boolean;
  /** CHAT_MAX_FILE_BYTES: largest incoming file; 0 = no limit. */
  maxFileBytes: number;
  faults: Faults;
}

/** `chat signup`. */
export interface SignupSettings extends ClientSettings {
  json: boolean;
}

/** `chat who`. */
export interface WhoSettings extends ClientSettings {
  detailed: boolean;
  json: boolean;
}

/** `chat search NAME`. */
export interface SearchSettings extends ClientSettings {
  /** The name looked up, lower-cased. */
  name: string;
  json: boolean;
}

/** `chat send NAME [FILE|-]`. */
export interface SendSettings extends ClientSettings {
  /** The receiver, lower-cased. */
  to: string;
  /** The file to send; null for stdin (`-` or none). */
  path: string | null;
  /** --name: what the receiver sees (default: the file's name, or stdin). */
  name: string;
  /** Whether --name was given. */
  named: boolean;
  faults: Faults;
}

/** `chat receive`. */
export interface ReceiveSettings extends ClientSettings {
  /** --from: the only sender accepted. */
  from?: string;
  /** -o: a file, a folder, or `-` for stdout; absent = the downloads folder. */
  output?: string;
  /** --force: replace an existing -o file. */
  force: boolean;
  /** --timeout: 0 = wait forever. */
  timeoutMs: number;
  maxFileBytes: number;
  /** --listen: the address of the P2P listener. */
  listenHost: string;
}

/** The environment every peer-side command shares; throws SettingsError for a bad CHAT_LOG_LEVEL. */
export function peerEnvironment(env: Env): PeerEnvironment {
  const rawLevel = env("CHAT_LOG_LEVEL") || "info";
  const logLevel = LEVELS.find((l) => l === rawLevel);
  if (!logLevel) {
    throw new SettingsError(
      `CHAT_LOG_LEVEL '${rawLevel}' is not a log level (debug, info, warn, error)`,
    );
  }
  const password = env("CHAT_PASSWORD");
  const noColor = env("NO_COLOR");
  return {
    home: chatHome(env),
    ...(password ? { password } : {}),
    logLevel,
    noColor: noColor !== undefined && noColor !== "",
  };
}

/** CHAT_MAX_FILE_BYTES: a whole number of bytes, 0 (or unset) = no limit. */
export function maxFileBytes(env: Env): number {
  const raw = env("CHAT_MAX_FILE_BYTES") || "0";
  if (!/^\d+$/.test(raw)) {
    throw new SettingsError(
      `CHAT_MAX_FILE_BYTES '${raw}' is not a number of bytes (0 = no limit)`,
    );
  }
  const max = Number(raw);
  return Number.isFinite(max) ? max : 0;
}

/** The CHAT_FAULT_* variables; anything but a whole number is ignored. */
export function faults(env: Env): Faults {
  const corrupt = env("CHAT_FAULT_CORRUPT_AT");
  return corrupt !== undefined && /^\d+$/.test(corrupt)
    ? { corruptAt: Number(corrupt) }
    : {};
}

function clientSettings(
  ctx: Pick<CommandContext, "flags" | "env">,
): ClientSettings {
  const f = ctx.flags;
  // The parser checked --registry as HOST:PORT[,…].
  const given = text(f, "registry");
  const addresses = parseAddresses(given ?? DEFAULT_REGISTRY) ??
    [{ host: "127.0.0.1", port: 15600 }];
  const addr = addresses[0]!;
  const fingerprint = text(f, "registry-fingerprint");
  const user = text(f, "user");
  const device = text(f, "device");
  return {
    registry: {
      host: addr.host,
      port: addr.port,
      addresses,
      ...(fingerprint !== undefined ? { fingerprint } : {}),
      given: given !== undefined,
    },
    ...(user !== undefined ? { user } : {}),
    ...(device !== undefined ? { device: device.toLowerCase() } : {}),
    env: peerEnvironment(ctx.env),
  };
}

/** Reads `chat peer`'s settings. */
export function peerSettings(
  ctx: Pick<CommandContext, "flags" | "env">,
): PeerSettings {
  return {
    ...clientSettings(ctx),
    port: num(ctx.flags, "port", 0),
    signup: bool(ctx.flags, "signup"),
    replace: bool(ctx.flags, "replace"),
    json: bool(ctx.flags, "json"),
    maxFileBytes: maxFileBytes(ctx.env),
    faults: faults(ctx.env),
  };
}

/** Reads `chat web`'s settings. */
export function webSettings(
  ctx: Pick<CommandContext, "flags" | "env">,
): WebSettings {
  return {
    ...clientSettings(ctx),
    port: num(ctx.flags, "port", 15700),
    signup: bool(ctx.flags, "signup"),
    replace: bool(ctx.flags, "replace"),
    open: !bool(ctx.flags, "no-open"),
    desktop: Boolean(ctx.env("DISPLAY") || ctx.env("WAYLAND_DISPLAY")),
    maxFileBytes: maxFileBytes(ctx.env),
    faults: faults(ctx.env),
  };
}

/** Reads `chat login`'s settings. */
export function loginSettings(
  ctx: Pick<CommandContext, "flags" | "env">,
): LoginSettings {
  return { ...clientSettings(ctx), json: bool(ctx.flags, "json") };
}

/** Reads `chat logout`'s settings. */
export function logoutSettings(
  ctx: Pick<CommandContext, "flags" | "env">,
): LogoutSettings {
  return {
    ...clientSettings(ctx),
    forget: bool(ctx.flags, "forget"),
    json: bool(ctx.flags, "json"),
  };
}

/** Reads `chat devices`' settings; throws SettingsError (exit 2) for a bad action. */
export function devicesSettings(ctx: CommandContext): DevicesSettings {
  const [action, name, ...rest] = ctx.positionals;
  const usage = "chat devices [revoke NAME] [--json]";
  if (action !== undefined && action !== "revoke") {
    throw new SettingsError(
      `unknown action '${action}': chat devices lists, chat devices revoke NAME revokes`,
      2,
      usage,
    );
  }
  if (action === "revoke" && (name === undefined || rest.length > 0)) {
    throw new SettingsError(
      "chat devices revoke takes one device name",
      2,
      usage,
    );
  }
  if (name !== undefined && !/^[A-Za-z0-9_.-]{1,32}$/.test(name)) {
    throw new SettingsError(
      `'${name}' is not a device name (letters, digits, _ . - up to 32)`,
      2,
      usage,
    );
  }
  return {
    ...clientSettings(ctx),
    ...(name !== undefined ? { revoke: name.toLowerCase() } : {}),
    json: bool(ctx.flags, "json"),
  };
}

/** Reads `chat verify`'s settings. */
export function verifySettings(ctx: CommandContext): VerifySettings {
  return {
    ...clientSettings(ctx),
    name: (ctx.positionals[0] ?? "").toLowerCase(),
    confirm: bool(ctx.flags, "confirm"),
    json: bool(ctx.flags, "json"),
  };
}

/** Reads `chat passwd`'s settings. */
export function passwdSettings(
  ctx: Pick<CommandContext, "flags" | "env">,
): PasswdSettings {
  return {
    ...clientSettings(ctx),
    revokeOthers: bool(ctx.flags, "revoke-others"),
  };
}

/** Reads `chat signup`'s settings. */
export function signupSettings(
  ctx: Pick<CommandContext, "flags" | "env">,
): SignupSettings {
  return { ...clientSettings(ctx), json: bool(ctx.flags, "json") };
}

/** Reads `chat who`'s settings. */
export function whoSettings(
  ctx: Pick<CommandContext, "flags" | "env">,
): WhoSettings {
  return {
    ...clientSettings(ctx),
    detailed: bool(ctx.flags, "detailed"),
    json: bool(ctx.flags, "json"),
  };
}

/** Reads `chat search`'s settings. */
export function searchSettings(ctx: CommandContext): SearchSettings {
  return {
    ...clientSettings(ctx),
    name: (ctx.positionals[0] ?? "").toLowerCase(),
    json: bool(ctx.flags, "json"),
  };
}

/** Reads `chat send`'s settings. */
export function sendSettings(ctx: CommandContext): SendSettings {
  const file = ctx.positionals[1] ?? "-";
  const path = file === "-" ? null : file;
  return {
    ...clientSettings(ctx),
    to: (ctx.positionals[0] ?? "").toLowerCase(),
    path,
    name: text(ctx.flags, "name") ??
      (path === null ? "stdin" : basename(path)),
    named: text(ctx.flags, "name") !== undefined,
    faults: faults(ctx.env),
  };
}

/** Reads `chat receive`'s settings. */
export function receiveSettings(
  ctx: Pick<CommandContext, "flags" | "env">,
): ReceiveSettings {
  const from = text(ctx.flags, "from");
  const output = text(ctx.flags, "output");
  return {
    ...clientSettings(ctx),
    ...(from !== undefined ? { from } : {}),
    ...(output !== undefined ? { output } : {}),
    force: bool(ctx.flags, "force"),
    timeoutMs: num(ctx.flags, "timeout", 0),
    maxFileBytes: maxFileBytes(ctx.env),
    listenHost: textOr(ctx.flags, "listen", "0.0.0.0"),
  };
}
