/**
 * `chat`: argv → one subcommand, SIGINT/SIGTERM → one AbortSignal, and the
 * exit code. Subcommands are loaded on demand so `chat --help` stays instant.
 */
import {
  commandHelp,
  type CommandMain,
  mainHelp,
  parseArgs,
  usageText,
} from "./cli/mod.ts";
import { processEnv } from "./common/paths.ts";
import { VERSION } from "./common/version.ts";

async function load(name: string): Promise<CommandMain | null> {
  switch (name) {
    case "registry":
      return (await import("./registry/mod.ts")).registryMain;
    case "peer":
      return (await import("./peer/mod.ts")).peerMain;
    case "web":
      return (await import("./peer/mod.ts")).webMain;
    case "signup":
      return (await import("./peer/mod.ts")).signupMain;
    case "login":
      return (await import("./peer/mod.ts")).loginMain;
    case "logout":
      return (await import("./peer/mod.ts")).logoutMain;
    case "devices":
      return (await import("./peer/mod.ts")).devicesMain;
    case "passwd":
      return (await import("./peer/mod.ts")).passwdMain;
    case "verify":
      return (await import("./peer/mod.ts")).verifyMain;
    case "who":
      return (await import("./peer/mod.ts")).whoMain;
    case "search":
      return (await import("./peer/mod.ts")).searchMain;
    case "send":
      return (await import("./peer/mod.ts")).sendMain;
    case "receive":
      return (await import("./peer/mod.ts")).receiveMain;
  }
  return null;
}

/** Runs chat with the given arguments and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv, processEnv);
  switch (parsed.kind) {
    case "help":
      console.log(
        parsed.command ? commandHelp(parsed.command) : mainHelp(VERSION),
      );
      return 0;
    case "version":
      console.log(`chat ${VERSION}`);
      return 0;
    case "usage":
      console.error(`chat: ${parsed.error}\n${usageText(parsed.command)}`);
      return 2;
  }
  const run = await load(parsed.command.name);
  if (!run) {
    console.error(
      `chat: ${parsed.command.name} is not available in this build`,
    );
    return 1;
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, stop);
  try {
    return await run({
      flags: parsed.flags,
      positionals: parsed.positionals,
      signal: controller.signal,
      version: VERSION,
      env: processEnv,
    });
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, stop);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
