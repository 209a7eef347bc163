/**
 * What the peer commands set up from their settings before logging in: the
 * CHAT_HOME folder, the peer log, the registry target (the last login's
 * when none is given) with its pin (asking on a terminal to trust a new
 * registry), and the credentials (asked on a terminal when missing, after
 * the registry was found reachable and trusted).
 */
import { join } from "node:path";
import {
  type ClientSettings,
  parseAddresses,
  type PeerEnvironment,
  type PeerSettings,
  type RegistryAddress,
} from "../../cli/mod.ts";
import { fileSink, Logger, PEER_LOG_LIMITS } from "../../common/log.ts";
import { ensurePrivateDir } from "../../common/paths.ts";
import { showFingerprint } from "../../common/fingerprint.ts";
import {
  deviceNameFrom,
  MIN_PASSWORD_CHARS,
  NAME_PATTERN,
} from "../../wire/mod.ts";
import { type PeerOptions, UserError } from "../core/mod.ts";
import {
  askYesNo,
  type KeySource,
  promptLine,
  promptSecret,
  stdinIsTerminal,
} from "../front/mod.ts";
import {
  type Credentials,
  Device,
  DeviceFileError,
  RegistryClient,
  RegistryError,
  type RegistryTarget,
} from "../net/mod.ts";
import { type LastLogin, readLastLogin, writeLastLogin } from "./last_login.ts";

/** What every peer command has once its settings are applied. */
export interface Common {
  home: string;
  target: RegistryTarget;
  logger: Logger;
  env: PeerEnvironment;
  /** Whether questions may be asked on the terminal. */
  interactive: boolean;
  /** Where the answers are typed: stdin, or the terminal when stdin is data. */
  keys?: KeySource;
  /** The registry as it is recorded after a login ("host:port[,…]"). */
  registryText: string;
  /** The last login on this machine, when its registry is the one in use. */
  lastLogin: LastLogin | null;
  /** Set once the registry was found reachable and trusted (see checkRegistry). */
  checked?: boolean;
}

/**
 * Creates CHAT_HOME and the peer log; `interactive` allows terminal
 * questions, answered on `keys` (default stdin).
 */
export async function setUp(
  s: ClientSettings,
  interactive: boolean,
  keys?: KeySource,
): Promise<Common> {
  const home = s.env.home;
  await ensurePrivateDir(home);
  // Capped and rotated (peer.log.1), written in the background, and what
  // other users make it say is limited per user or address.
  const logger = new Logger(
    s.env.logLevel,
    fileSink(join(home, "peer.log")),
    Date.now,
    PEER_LOG_LIMITS,
  );
  // No --registry nor CHAT_REGISTRY: the registry of the last login.
  const last = await readLastLogin(home);
  let registry: RegistryAddress = s.registry;
  const remembered = !s.registry.given && last
    ? parseAddresses(last.registry)
    : null;
  if (remembered) {
    registry = {
      ...s.registry,
      host: remembered[0]!.host,
      port: remembered[0]!.port,
      addresses: remembered,
    };
  }
  const registryText = registry.addresses.map(showAddress).join(",");
  const target: RegistryTarget = {
    host: registry.host,
    port: registry.port,
    ...(registry.addresses.length > 1
      ? { alternates: registry.addresses.slice(1) }
      : {}),
    home,
    ...(s.registry.fingerprint !== undefined
      ? { pin: s.registry.fingerprint }
      : {}),
    ...(interactive ? { ask: (name, fp) => askToTrust(name, fp, keys) } : {}),
  };
  return {
    home,
    target,
    logger,
    env: s.env,
    interactive,
    ...(keys ? { keys } : {}),
    registryText,
    lastLogin: last && last.registry === registryText ? last : null,
  };
}

/** "host:port", with brackets around an IPv6 address. */
function showAddress(a: { host: string; port: number }): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/**
 * Records a successful login as the last one on this machine; the next
 * command then needs no --registry and no --user. Never fails the command.
 */
export async function rememberLogin(c: Common, user: string): Promise<void> {
  try {
    await writeLastLogin(c.home, { registry: c.registryText, user });
  } catch (err) {
    c.logger.warn("could not record the last login", { error: String(err) });
  }
}

async function askToTrust(
  target: string,
  fingerprint: string,
  keys?: KeySource,
): Promise<boolean> {
  console.error(
    `The registry ${target} is not known yet.\n` +
      `Its certificate fingerprint is ${showFingerprint(fingerprint)}.\n` +
      "Compare it with the one `chat registry` printed when it started.",
  );
  return await askYesNo(
    "Trust this registry and remember it?",
    Deno.stderr,
    keys,
  );
}

/** The registry as device files name it: "host:port". */
export function registryName(c: Common): string {
  return `${c.target.host}:${c.target.port}`;
}

/**
 * The user name: --user / CHAT_USER, else the user of the last login at
 * this registry, else the one account this machine is a device of at this
 * registry, else asked on a terminal.
 */
export async function userName(
  s: Pick<ClientSettings, "user">,
  c: Common,
): Promise<string> {
  if (s.user) return s.user;
  if (c.lastLogin) return c.lastLogin.user;
  const known = await Device.usersOf(c.home, registryName(c));
  if (known.length === 1) return known[0]!;
  if (!c.interactive) {
    throw new UserError(
      known.length > 1
        ? `this machine is a device of ${
          known.join(", ")
        }: pass --user NAME or set CHAT_USER`
        : "no user name: pass --user NAME or set CHAT_USER",
    );
  }
  await checkRegistry(c);
  const typed = await promptLine("user: ", Deno.stderr, c.keys);
  if (typed === null) throw new UserError("cancelled");
  const user = typed.toLowerCase();
  if (!NAME_PATTERN.test(user)) {
    throw new UserError(
      `'${typed}' is not a valid user name (letters, digits, _ . - up to 32)`,
    );
  }
  return user;
}

/**
 * How to log in: this machine's device key when it is a device of the user
 * (no password asked; CHAT_PASSWORD, if set, only re-adds a device the
 * registry forgot), else the password — CHAT_PASSWORD or asked on a
 * terminal, twice with `confirm` (sign-up) — with fresh device keys that
 * the login adds. `device: false` logs in by password only.
 */
export async function credentials(
  s: ClientSettings,
  c: Common,
  confirm = false,
  opts: { device?: boolean } = {},
): Promise<Credentials> {
  const user = await userName(s, c);
  const withDevice = opts.device ?? true;
  if (withDevice) {
    let device: Device | null;
    try {
      device = await Device.load(c.home, registryName(c), user);
    } catch (err) {
      if (err instanceof DeviceFileError) throw new UserError(err.message);
      throw err;
    }
    if (device) {
      return s.env.password ? { user, device, password: s.env.password } : {
        user,
        device,
      };
    }
  }
  let password = s.env.password;
  if (!password) {
    if (!c.interactive) {
      throw new UserError(
        withDevice
          ? `no password: set CHAT_PASSWORD, or run chat login on a terminal once (this machine is not a device of ${user} yet)`
          : "no password: set CHAT_PASSWORD (or run on a terminal to be asked)",
      );
    }
    await checkRegistry(c);
    password = wellFormed(
      await askPassword(user, confirm, c.keys),
      "the password",
    );
  } else {
    password = wellFormed(password, "CHAT_PASSWORD");
  }
  if (!withDevice) return { user, password };
  return {
    user,
    password,
    device: await newDevice(s, c, user),
  };
}

/**
 * The device credentials of this machine without asking anything: for the
 * user given, or the one account it is a device of; null when it is none.
 */
export async function deviceCredentials(
  s: ClientSettings,
  c: Common,
): Promise<Credentials | null> {
  let user = s.user ?? c.lastLogin?.user;
  if (!user) {
    const known = await Device.usersOf(c.home, registryName(c));
    if (known.length !== 1) return null;
    user = known[0]!;
  }
  const device = await Device.load(c.home, registryName(c), user).catch(
    (err) => {
      if (err instanceof DeviceFileError) throw new UserError(err.message);
      throw err;
    },
  );
  if (!device) return null;
  return s.env.password
    ? { user, device, password: s.env.password }
    : { user, device };
}

/**
 * Makes sure the registry answers and is trusted (pinned, on file, or
 * trusted now on the terminal) before anything is asked for it, as ssh
 * checks the host key before the password: nobody types a password for a
 * registry that is down or not the one they meant. An instance of a
 * cluster that cannot be reached makes the next one be tried. Runs once.
 */
export async function checkRegistry(c: Common): Promise<void> {
  if (c.checked) return;
  const t = c.target;
  const all = [{ host: t.host, port: t.port }, ...(t.alternates ?? [])];
  let first: unknown = null;
  for (const a of all) {
    const at = a.host === t.host && a.port === t.port ? t : { ...t, ...a };
    // A person may take longer to answer the trust question than the
    // registry waits for a hello: then it hung up, the answer is on file,
    // and one more connection (asking nothing now) shows it answers.
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        const client = await RegistryClient.connect(at);
        client.close();
        await client.closed;
        c.checked = true;
        return;
      } catch (err) {
        if (!(err instanceof RegistryError && err.code === "network")) {
          throw err;
        }
        first ??= err;
        if (err.unreachable) break;
      }
    }
  }
  throw first;
}

/** Fresh device keys for `user` named --device or after this host. */
export function newDevice(
  s: ClientSettings,
  c: Common,
  user: string,
): Promise<Device> {
  return Device.create(
    c.home,
    registryName(c),
    user,
    s.device ?? hostDeviceName(),
  );
}

/**
 * The credentials after a password was typed: an enrolled device the
 * registry refused is replaced by fresh keys the login adds.
 */
export async function withPassword(
  creds: Credentials,
  password: string,
  c: Common,
): Promise<Credentials> {
  const device = creds.device?.enrolled
    ? await creds.device.renew(c.home)
    : creds.device;
  return device ? { user: creds.user, password, device } : {
    user: creds.user,
    password,
  };
}

/** This machine's name as a device: its host name, made a valid name. */
export function hostDeviceName(): string {
  let host = "";
  try {
    host = Deno.readTextFileSync("/etc/hostname").trim();
  } catch {
    // No /etc/hostname (macOS, Windows) or no permission: ask the runtime,
    // but only when it may answer without a permission prompt.
    try {
      if (
        Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state ===
          "granted"
      ) {
        host = Deno.hostname();
      }
    } catch {
      // The name is only a default; "device" will do.
    }
  }
  return deviceNameFrom(host);
}

/**
 * Refuses a password with half a character in it (a lone surrogate): the
 * registry would turn it into another password that others share.
 */
function wellFormed(password: string, what: string): string {
  if (!password.isWellFormed()) {
    throw new UserError(
      `${what} has half a character (a lone surrogate) — use another password`,
    );
  }
  return password;
}

/** Asks for a password (twice when creating an account). */
export async function askPassword(
  user: string,
  confirm: boolean,
  keys?: KeySource,
): Promise<string> {
  while (true) {
    const pw = await promptSecret(`password for ${user}: `, Deno.stderr, keys);
    if (pw === null) throw new UserError("cancelled");
    if (!confirm) return pw;
    if ([...pw].length < MIN_PASSWORD_CHARS) {
      console.error(
        `password is too short: use at least ${MIN_PASSWORD_CHARS} characters`,
      );
      continue;
    }
    const again = await promptSecret("again: ", Deno.stderr, keys);
    if (again === null) throw new UserError("cancelled");
    if (again === pw) return pw;
    console.error("the passwords differ — try again");
  }
}

/** True when this process can ask questions. */
export function canAsk(): boolean {
  return stdinIsTerminal();
}

/** The core's options for `chat peer`. */
export function peerOptions(
  s: PeerSettings,
  c: Common,
  creds: Credentials,
): PeerOptions {
  return {
    target: c.target,
    credentials: creds,
    home: c.home,
    port: s.port,
    signup: s.signup,
    replace: s.replace,
    logger: c.logger,
    maxFileBytes: s.maxFileBytes,
    ...(s.faults.corruptAt !== undefined
      ? { corruptAt: s.faults.corruptAt }
      : {}),
  };
}

/**
 * The terminal itself (/dev/tty) for questions while stdin carries data
 * (`tar c dir | chat send bob -`), as ssh asks under a pipe; null when
 * there is none to ask on (no controlling terminal, stderr not one, or a
 * system without /dev/tty).
 */
export async function openTerminal(): Promise<(KeySource & Disposable) | null> {
  try {
    if (!Deno.stderr.isTerminal()) return null;
    const tty = await Deno.open("/dev/tty", { read: true, write: true });
    if (!tty.isTerminal()) {
      tty.close();
      return null;
    }
    return {
      read: (p) => tty.read(p),
      setRaw: (mode) => tty.setRaw(mode),
      [Symbol.dispose]: () => tty.close(),
    };
  } catch {
    // No controlling terminal: nothing can be asked, which the caller says.
    return null;
  }
}
