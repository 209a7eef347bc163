/**
 * What the peer commands set up from their settings before logging in: the
 * CHAT_HOME folder, the peer log, the registry target with its pin (asking
 * on a terminal to trust a new registry), and the credentials (asked on a
 * terminal when missing).
 */
import { join } from "node:path";
import type {
  ClientSettings,
  PeerEnvironment,
  PeerSettings,
} from "../../cli/mod.ts";
import { fileSink, Logger } from "../../common/log.ts";
import { ensurePrivateDir } from "../../common/paths.ts";
import { showFingerprint } from "../../common/fingerprint.ts";
import { MIN_PASSWORD_CHARS, NAME_PATTERN } from "../../wire/mod.ts";
import { type PeerOptions, UserError } from "../core/mod.ts";
import {
  askYesNo,
  promptLine,
  promptSecret,
  stdinIsTerminal,
} from "../front/mod.ts";
import type { Credentials, RegistryTarget } from "../net/mod.ts";

/** What every peer command has once its settings are applied. */
export interface Common {
  home: string;
  target: RegistryTarget;
  logger: Logger;
  env: PeerEnvironment;
  /** Whether questions may be asked on the terminal. */
  interactive: boolean;
}

/** Creates CHAT_HOME and the peer log; `interactive` allows terminal questions. */
export async function setUp(
  s: ClientSettings,
  interactive: boolean,
): Promise<Common> {
  const home = s.env.home;
  await ensurePrivateDir(home);
  const logger = new Logger(s.env.logLevel, fileSink(join(home, "peer.log")));
  const target: RegistryTarget = {
    host: s.registry.host,
    port: s.registry.port,
    ...(s.registry.addresses.length > 1
      ? { alternates: s.registry.addresses.slice(1) }
      : {}),
    home,
    ...(s.registry.fingerprint !== undefined
      ? { pin: s.registry.fingerprint }
      : {}),
    ...(interactive ? { ask: askToTrust } : {}),
  };
  return { home, target, logger, env: s.env, interactive };
}

async function askToTrust(
  target: string,
  fingerprint: string,
): Promise<boolean> {
  console.error(
    `The registry ${target} is not known yet.\n` +
      `Its certificate fingerprint is ${showFingerprint(fingerprint)}.\n` +
      "Compare it with the one `chat registry` printed when it started.",
  );
  return await askYesNo("Trust this registry and remember it?");
}

/**
 * The user name and password: --user / CHAT_USER and CHAT_PASSWORD, else
 * asked on a terminal. `confirm` asks for the password twice (sign-up).
 */
export async function credentials(
  s: ClientSettings,
  c: Common,
  confirm = false,
): Promise<Credentials> {
  let user = s.user;
  if (!user) {
    if (!c.interactive) {
      throw new UserError("no user name: pass --user NAME or set CHAT_USER");
    }
    const typed = await promptLine("user: ");
    if (typed === null) throw new UserError("cancelled");
    user = typed.toLowerCase();
    if (!NAME_PATTERN.test(user)) {
      throw new UserError(
        `'${typed}' is not a valid user name (letters, digits, _ . - up to 32)`,
      );
    }
  }
  if (s.env.password) return { user, password: s.env.password };
  if (!c.interactive) {
    throw new UserError(
      "no password: set CHAT_PASSWORD (or run on a terminal to be asked)",
    );
  }
  return { user, password: await askPassword(user, confirm) };
}

/** Asks for a password (twice when creating an account). */
export async function askPassword(
  user: string,
  confirm: boolean,
): Promise<string> {
  while (true) {
    const pw = await promptSecret(`password for ${user}: `);
    if (pw === null) throw new UserError("cancelled");
    if (!confirm) return pw;
    if ([...pw].length < MIN_PASSWORD_CHARS) {
      console.error(
        `password is too short: use at least ${MIN_PASSWORD_CHARS} characters`,
      );
      continue;
    }
    const again = await promptSecret("again: ");
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
