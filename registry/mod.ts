/** The registry: accounts, presence, rooms and introductions. */
import type { CommandContext } from "../main.ts";

/** `chat registry`. */
export function registryMain(_ctx: CommandContext): Promise<number> {
  console.error("chat: chat registry is not available yet");
  return Promise.resolve(1);
}
