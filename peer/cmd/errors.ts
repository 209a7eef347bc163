/** How the peer commands end: user-facing failures as one line and an exit code. */
import { SettingsError } from "../../cli/mod.ts";
import { UserError } from "../core/mod.ts";
import { RegistryError } from "../net/mod.ts";

/**
 * Runs `fn`, turning user-facing failures (a refusal, an unreachable or
 * refusing registry, a bad setting) into one line on stderr and their exit
 * code; anything else is a bug and propagates.
 */
export async function oneLineErrors(
  fn: () => Promise<number>,
): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof SettingsError) {
      console.error(
        `chat: ${err.message}${err.usage ? `\nusage: ${err.usage}` : ""}`,
      );
      return err.exitCode;
    }
    if (err instanceof UserError || err instanceof RegistryError) {
      console.error(`chat: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
