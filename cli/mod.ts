/** The command line: the command table, the argv parser and help texts. */
export * from "./commands.ts";
export * from "./parse.ts";
