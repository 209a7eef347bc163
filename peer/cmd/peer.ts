/**
 * `chat peer`: logs in and runs one of the two front ends over the Peer —
 * the JSON mode with --json, the interactive shell otherwise.
 */
import type { CommandContext } from "../../cli/mod.ts";
import { type EventSink, Peer, UserError } from "../core/mod.ts";
import {
  askYesNo,
  LineWriter,
  runJsonMode,
  runShell,
  stdinIsTerminal,
  type Style,
  useColor,
} from "../front/mod.ts";
import { RegistryError } from "../net/mod.ts";
import { oneLineErrors } from "./oneshot.ts";
import {
  askPassword,
  type CommonSettings,
  commonSettings,
  credentials,
  peerOptions,
} from "./options.ts";

/** Passwords tried on a terminal before the shell gives up, like ssh. */
const PASSWORD_ATTEMPTS = 3;

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
    return await runShell({
      home: s.home,
      color: useColor(s.env),
      signal: ctx.signal,
      start: (onEvent, style) => logIn(ctx, s, style, onEvent),
    });
  });
}

/** Logs in, asking again on a wrong password and offering to sign up. */
async function logIn(
  ctx: CommandContext,
  s: CommonSettings,
  style: Style,
  onEvent: EventSink,
): Promise<Peer | null> {
  let creds = await credentials(
    ctx.flags,
    s,
    ctx.flags.signup === true && !s.env("CHAT_PASSWORD"),
  );
  let signup = ctx.flags.signup === true;
  for (let attempt = 1;; attempt++) {
    try {
      return await Peer.start(
        { ...peerOptions(ctx, s, creds), signup },
        onEvent,
      );
    } catch (err) {
      if (!(err instanceof RegistryError || err instanceof UserError)) {
        throw err;
      }
      const code = err instanceof RegistryError ? err.code : "";
      if (code === "auth" && s.interactive && !s.env("CHAT_PASSWORD")) {
        console.error(style.red(err.message));
        if (attempt >= PASSWORD_ATTEMPTS) {
          console.error(style.red("chat: too many failed attempts"));
          return null;
        }
        creds = {
          user: creds.user,
          password: await askPassword(creds.user, false),
        };
        continue;
      }
      if (code === "not_found" && s.interactive && !signup) {
        console.error(style.yellow(`there is no account named ${creds.user}`));
        if (!(await askYesNo(style.magenta(`create ${creds.user} now?`)))) {
          return null;
        }
        creds = {
          user: creds.user,
          password: await askPassword(creds.user, true),
        };
        signup = true;
        continue;
      }
      console.error(style.red(`chat: ${err.message}`));
      return null;
    }
  }
}
