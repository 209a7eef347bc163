/**
 * `chat web`: settings and login as `chat peer` does them (flags, the
 * environment, a password asked on a terminal), then the web UI of
 * front/web/ on the same Peer core. Without a password and without a
 * terminal, the page asks for it.
 */
import type { CommandContext } from "../main.ts";
import { Peer } from "./core.ts";
import { runWeb } from "./front/web/mod.ts";
import { oneLineErrors } from "./oneshot.ts";
import { commonSettings, credentials, peerOptions } from "./options.ts";
import type { Credentials } from "./registry_session.ts";
import { stdinIsTerminal } from "./terminal.ts";

/** Runs `chat web`; resolves with the exit code. */
export function web(ctx: CommandContext): Promise<number> {
  return oneLineErrors(async () => {
    const interactive = stdinIsTerminal();
    const s = await commonSettings(ctx.flags, interactive);
    const user = typeof ctx.flags.user === "string" ? ctx.flags.user : null;
    const signup = ctx.flags.signup === true;
    let creds: Credentials | null = null;
    if (interactive || (user !== null && s.env("CHAT_PASSWORD"))) {
      creds = await credentials(
        ctx.flags,
        s,
        signup && !s.env("CHAT_PASSWORD"),
      );
    }
    // The web page's port is --port; direct connections take any free port.
    const { credentials: _c, signup: _s, ...peer } = peerOptions(
      { flags: { ...ctx.flags, port: 0 } },
      s,
      creds ?? { user: user ?? "", password: "" },
    );
    return await runWeb({
      peer,
      credentials: creds,
      user,
      signup,
      port: ctx.flags.port as number,
      open: ctx.flags["no-open"] !== true,
      env: s.env,
      signal: ctx.signal,
      logger: s.logger,
      start: (opts, emit) => Peer.start(opts, emit),
      print: (line) => console.log(line),
      warn: (line) => console.error(line),
    });
  });
}
