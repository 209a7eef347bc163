/** The peer: one core, two front ends, and the one-shot commands. */
import type { CommandContext } from "../main.ts";
import { commonSettings, credentials, peerOptions } from "./options.ts";
import { oneLineErrors, search, signup, who } from "./oneshot.ts";
import { runJsonMode } from "./json_mode.ts";
import { LineWriter } from "./line_writer.ts";
import { stdinIsTerminal } from "./terminal.ts";
import { UserError } from "./errors.ts";

export { Peer, type PeerOptions } from "./core.ts";
export type { PeerEvent } from "./events.ts";

/** `chat peer`. */
export function peerMain(ctx: CommandContext): Promise<number> {
  return oneLineErrors(async () => {
    const json = ctx.flags.json === true;
    const interactive = !json && stdinIsTerminal();
    const s = await commonSettings(ctx.flags, interactive);
    if (json) {
      const out = new LineWriter(Deno.stdout);
      const write = out.line;
      let creds;
      try {
        creds = await credentials(ctx.flags, s);
      } catch (err) {
        // Scripts read stdout: say why there will be no ready line.
        if (err instanceof UserError) {
          write(JSON.stringify({ type: "error", message: err.message }));
          await out.flush();
        }
        throw err;
      }
      // A reader that stops reading ends this peer (exit 1) rather than
      // freezing it; runJsonMode sees the abort like a signal.
      const stop = new AbortController();
      ctx.signal.addEventListener("abort", () => stop.abort(), { once: true });
      let overflow: string | null = null;
      out.onOverflow = (why) => {
        overflow = why;
        console.error(`chat: ${why}`);
        stop.abort();
      };
      try {
        const code = await runJsonMode(
          peerOptions(ctx, s, creds),
          Deno.stdin.readable,
          write,
          stop.signal,
        );
        return overflow ? 1 : code;
      } finally {
        await out.flush();
      }
    }
    const { runShell } = await import("./shell.ts");
    return await runShell(ctx, s);
  });
}

/** `chat web`. */
export async function webMain(ctx: CommandContext): Promise<number> {
  const { web } = await import("./web.ts");
  return await web(ctx);
}

/** `chat signup`. */
export const signupMain = (ctx: CommandContext): Promise<number> => signup(ctx);
/** `chat who`. */
export const whoMain = (ctx: CommandContext): Promise<number> => who(ctx);
/** `chat search`. */
export const searchMain = (ctx: CommandContext): Promise<number> => search(ctx);

/** `chat send`. */
export async function sendMain(ctx: CommandContext): Promise<number> {
  const { send } = await import("./pipe.ts");
  return await send(ctx);
}

/** `chat receive`. */
export async function receiveMain(ctx: CommandContext): Promise<number> {
  const { receive } = await import("./pipe.ts");
  return await receive(ctx);
}
