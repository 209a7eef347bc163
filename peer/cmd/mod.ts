/**
 * The peer-side subcommands: `chat peer`, the one-shot `signup`, `who` and
 * `search`, and the pipe commands `send` and `receive`. Each is thin: it
 * turns settings into core and net objects and maps failures to exit codes.
 */
import type { CommandContext } from "../../cli/mod.ts";

export { peerMain } from "./peer.ts";
export { searchMain, signupMain, whoMain } from "./oneshot.ts";
export {
  devicesMain,
  loginMain,
  logoutMain,
  passwdMain,
  verifyMain,
} from "./account.ts";

/** `chat web`; loaded on first use. */
export async function webMain(ctx: CommandContext): Promise<number> {
  const { webMain } = await import("./web.ts");
  return await webMain(ctx);
}

/** `chat send`; loaded on first use. */
export async function sendMain(ctx: CommandContext): Promise<number> {
  const { send } = await import("./pipe.ts");
  return await send(ctx);
}

/** `chat receive`; loaded on first use. */
export async function receiveMain(ctx: CommandContext): Promise<number> {
  const { receive } = await import("./pipe.ts");
  return await receive(ctx);
}
