/**
 * `chat peer`: logs in and runs one of the two front ends over the Peer —
 * the JSON mode with --json, the interactive shell otherwise.
 */
import {
  type CommandContext,
  type PeerSettings,
  peerSettings,
} from "../../cli/mod.ts";
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
import { oneLineErrors } from "./errors.ts";
import {
  askPassword,
  type Common,
  credentials,
  peerOptions,
  rememberLogin,
  setUp,
  withPassword,
} from "./options.ts";

/** Passwords tried on a terminal before the shell gives up, like ssh. */
const PASSWORD_ATTEMPTS = 3;

/** `chat peer`. */
export function peerMain(ctx: CommandContext): Promise<number> {
  return oneLineErrors(async () => {
    const s = peerSettings(ctx);
    const interactive = !s.json && stdinIsTerminal();
    const c = await setUp(s, interactive);
    if (s.json) return await jsonMode(ctx, s, c);
    return await runShell({
      home: c.home,
      color: useColor(s.env.noColor),
      signal: ctx.signal,
      start: (onEvent, style) => logIn(s, c, style, onEvent),
    });
  });
}

/** `chat peer --json`. */
async function jsonMode(
  ctx: CommandContext,
  s: PeerSettings,
  c: Common,
): Promise<number> {
  const out = new LineWriter(Deno.stdout);
  let remembered = false;
  const write = (line: string) => {
    out.line(line);
    // Logged in: the ready event is the first line after a login.
    if (!remembered && line.startsWith('{"type":"ready"')) {
      remembered = true;
      void rememberLogin(c, creds!.user);
    }
  };
  let creds: Awaited<ReturnType<typeof credentials>> | undefined;
  try {
    creds = await credentials(s, c);
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
  const overflowed = new AbortController();
  let overflow: string | null = null;
  out.onOverflow = (why) => {
    overflow = why;
    console.error(`chat: ${why}`);
    overflowed.abort();
  };
  try {
    const code = await runJsonMode(
      peerOptions(s, c, creds),
      Deno.stdin.readable,
      write,
      AbortSignal.any([ctx.signal, overflowed.signal]),
    );
    return overflow ? 1 : code;
  } finally {
    await out.flush();
  }
}

/**
 * Logs in (with the device key when this machine is a device), asking for
 * the password again when it was wrong or the device was revoked, and
 * offering to sign up.
 */
async function logIn(
  s: PeerSettings,
  c: Common,
  style: Style,
  onEvent: EventSink,
): Promise<Peer | null> {
  let creds = await credentials(s, c, s.signup && !s.env.password);
  let signup = s.signup;
  for (let attempt = 1;; attempt++) {
    try {
      const peer = await Peer.start(
        { ...peerOptions(s, c, creds), signup },
        onEvent,
      );
      await rememberLogin(c, peer.user);
      return peer;
    } catch (err) {
      if (!(err instanceof RegistryError || err instanceof UserError)) {
        throw err;
      }
      const code = err instanceof RegistryError ? err.code : "";
      if (code === "auth" && c.interactive && !s.env.password) {
        console.error(style.red(err.message));
        if (attempt >= PASSWORD_ATTEMPTS) {
          console.error(style.red("chat: too many failed attempts"));
          return null;
        }
        creds = await withPassword(
          creds,
          await askPassword(creds.user, false),
          c,
        );
        continue;
      }
      if (code === "not_found" && c.interactive && !signup) {
        console.error(style.yellow(`there is no account named ${creds.user}`));
        if (!(await askYesNo(style.magenta(`create ${creds.user} now?`)))) {
          return null;
        }
        creds = await withPassword(
          creds,
          await askPassword(creds.user, true),
          c,
        );
        signup = true;
        continue;
      }
      console.error(style.red(`chat: ${err.message}`));
      return null;
    }
  }
}
