/**
 * The command line: the command table, the argv parser, help texts, the
 * context every subcommand receives and the typed settings read from flags
 * and environment.
 */
export * from "./commands.ts";
export * from "./context.ts";
export * from "./parse.ts";
export * from "./settings.ts";
