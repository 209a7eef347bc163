/**
 * What main.ts hands every subcommand: the checked flags and positionals,
 * the one AbortSignal that SIGINT/SIGTERM fire, and the environment reader.
 */
import type { Env } from "../common/paths.ts";
import type { FlagValue } from "./parse.ts";

/** What every subcommand receives. */
export interface CommandContext {
  flags: Record<string, FlagValue>;
  positionals: string[];
  /** Aborted by SIGINT/SIGTERM; every subcommand shuts down from it. */
  signal: AbortSignal;
  version: string;
  /** Reads environment variables (missing permission reads as unset). */
  env: Env;
}

/** A subcommand: resolves to the process exit code. */
export type CommandMain = (ctx: CommandContext) => Promise<number>;
