/**
 * `chat web`: settings and login as `chat peer` does them (flags, the
 * environment, the device key or a password asked on a terminal), then the
 * web UI on the same Peer core. Without a device, a password and a
 * terminal, the page asks.
 */
import { type CommandContext, webSettings } from "../../cli/mod.ts";
import { Peer } from "../core/mod.ts";
import { runWeb, stdinIsTerminal } from "../front/mod.ts";
import type { Credentials } from "../net/mod.ts";
import { oneLineErrors } from "./errors.ts";
import {
  credentials,
  deviceCredentials,
  peerOptions,
  rememberLogin,
  setUp,
} from "./options.ts";

/** `chat web`. */
export function webMain(ctx: CommandContext): Promise<number> {
  return oneLineErrors(async () => {
    const s = webSettings(ctx);
    const interactive = stdinIsTerminal();
    const c = await setUp(s, interactive);
    // A device logs in with its key; else the password from the
    // environment or the terminal, and with neither the page asks.
    let creds: Credentials | null = await deviceCredentials(s, c);
    if (
      creds === null &&
      (interactive || (s.user !== undefined && s.env.password))
    ) {
      creds = await credentials(s, c, s.signup && !s.env.password);
    }
    // --port is the page's; direct connections take any free port.
    const { credentials: _, signup: __, ...peer } = peerOptions(
      { ...s, port: 0, json: false },
      c,
      creds ?? { user: s.user ?? "", password: "" },
    );
    return await runWeb({
      peer,
      credentials: creds,
      user: creds?.user ?? s.user ?? null,
      signup: s.signup,
      port: s.port,
      open: s.open,
      desktop: s.desktop,
      signal: ctx.signal,
      logger: c.logger,
      start: async (opts, emit) => {
        const peer = await Peer.start(opts, emit);
        await rememberLogin(c, peer.user);
        return peer;
      },
      print: (line) => console.log(line),
      warn: (line) => console.error(line),
    });
  });
}
