/**
 * Turning flags and environment into what the peer commands need: the
 * registry target with its pin, credentials (asked on a terminal when
 * missing), CHAT_HOME and the peer log.
 */
import { join } from "node:path";
import type { FlagValue } from "../../cli/mod.ts";
import { parseAddress } from "../../cli/mod.ts";
import { fileSink, type Level, LEVELS, Logger } from "../../common/log.ts";
import {
  chatHome,
  ensurePrivateDir,
  type Env,
  processEnv,
} from "../../common/paths.ts";
import { showFingerprint } from "../../common/fingerprint.ts";
import { MIN_PASSWORD_CHARS, NAME_PATTERN } from "../../wire/mod.ts";
import type { CommandContext } from "../../cli/mod.ts";
import { type PeerOptions, UserError } from "../core/mod.ts";
import {
  askYesNo,
  promptLine,
  promptSecret,
  stdinIsTerminal,
} from "../front/mod.ts";
import type { Credentials, RegistryTarget } from "../net/mod.ts";

/** Settings every peer command shares. */
export interface CommonSettings {
  home: string;
  target: RegistryTarget;
  logger: Logger;
  env: Env;
  interactive: boolean;
}

/** Reads the shared flags; `interactive` allows terminal questions. */
export async function commonSettings(
  flags: Record<string, FlagValue>,
  interactive: boolean,
  env: Env = processEnv,
): Promise<CommonSettings> {
  const home = chatHome(env);
  await ensurePrivateDir(home);
  const level = env("CHAT_LOG_LEVEL") || "info";
  if (!(LEVELS as readonly string[]).includes(level)) {
    throw new UserError(
      `CHAT_LOG_LEVEL '${level}' is not a log level (debug, info, warn, error)`,
    );
  }
  const logger = new Logger(
    level as Level,
    fileSink(join(home, "peer.log")),
  );
  const addr = parseAddress(String(flags.registry))!;
  const target: RegistryTarget = {
    host: addr.host,
    port: addr.port,
    home,
    ...(flags["registry-fingerprint"]
      ? { pin: String(flags["registry-fingerprint"]) }
      : {}),
    ...(interactive ? { ask: askToTrust } : {}),
  };
  return { home, target, logger, env, interactive };
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
  flags: Record<string, FlagValue>,
  s: CommonSettings,
  confirm = false,
): Promise<Credentials> {
  let user = flags.user as string | undefined;
  if (!user) {
    if (!s.interactive) {
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
  const fromEnv = s.env("CHAT_PASSWORD");
  if (fromEnv) return { user, password: fromEnv };
  if (!s.interactive) {
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

/** Builds the core's options from flags and settings. */
export function peerOptions(
  ctx: Pick<CommandContext, "flags">,
  s: CommonSettings,
  creds: Credentials,
): PeerOptions {
  const rawMax = s.env("CHAT_MAX_FILE_BYTES") || "0";
  if (!/^\d+$/.test(rawMax)) {
    throw new UserError(
      `CHAT_MAX_FILE_BYTES '${rawMax}' is not a number of bytes (0 = no limit)`,
    );
  }
  const max = Number(rawMax);
  const corrupt = s.env("CHAT_FAULT_CORRUPT_AT");
  return {
    target: s.target,
    credentials: creds,
    home: s.home,
    port: ctx.flags.port as number,
    signup: ctx.flags.signup === true,
    replace: ctx.flags.replace === true,
    logger: s.logger,
    maxFileBytes: Number.isFinite(max) && max > 0 ? max : 0,
    ...(corrupt !== undefined ? { corruptAt: Number(corrupt) } : {}),
  };
}
