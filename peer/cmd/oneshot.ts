/**
 * One-shot commands: `chat signup`, `chat who`, `chat search`. Each logs in
 * for its own duration as a "tool" session that never shows as online.
 */
import {
  type ClientSettings,
  type CommandContext,
  searchSettings,
  signupSettings,
  whoSettings,
} from "../../cli/mod.ts";
import type { ReplyData } from "../../wire/mod.ts";
import { allPages } from "../core/mod.ts";
import { formatSearch, formatWho } from "../front/mod.ts";
import {
  type Credentials,
  RegistryClient,
  RegistryError,
  RegistrySession,
} from "../net/mod.ts";
import { oneLineErrors } from "./errors.ts";
import {
  canAsk,
  type Common,
  credentials,
  rememberLogin,
  setUp,
} from "./options.ts";

/**
 * Runs `fn` in a tool session: the device key logs in when this machine is
 * a device, else the password (which makes it one).
 */
export async function withToolSession<T>(
  s: ClientSettings,
  fn: (session: RegistrySession, c: Common, creds: Credentials) => Promise<T>,
  opts: { c?: Common; creds?: Credentials } = {},
): Promise<T> {
  const c = opts.c ?? await setUp(s, canAsk());
  const creds = opts.creds ?? await credentials(s, c);
  await using session = await RegistrySession.open({
    target: c.target,
    credentials: creds,
    kind: "tool",
    home: c.home,
    logger: c.logger,
    onEvent: () => {},
    onStatus: () => {},
  });
  await rememberLogin(c, session.user);
  return await fn(session, c, creds);
}

/** `chat signup`. */
export function signupMain(ctx: CommandContext): Promise<number> {
  return oneLineErrors(async () => {
    const s = signupSettings(ctx);
    const c = await setUp(s, canAsk());
    const creds = await credentials(s, c, true, { device: false });
    await using client = await RegistryClient.connect(c.target);
    const r = await client.request("signup", {
      user: creds.user,
      password: creds.password ?? "",
    });
    await rememberLogin(c, r.user);
    if (s.json) {
      console.log(JSON.stringify({ ok: true, user: r.user }));
    } else {
      console.log(
        `account ${r.user} created — log in with: chat peer --user ${r.user}`,
      );
    }
    return 0;
  });
}

/** `chat who [--detailed] [--json]`. */
export function whoMain(ctx: CommandContext): Promise<number> {
  return oneLineErrors(() => {
    const s = whoSettings(ctx);
    return withToolSession(s, async (session) => {
      // Every page: a script asking who is online wants all of them.
      const users = await allPages(
        (page) => session.request("who", { detailed: s.detailed, ...page }),
        (r) => r.users,
      );
      const r: ReplyData<"who"> = { users, total: users.length };
      console.log(s.json ? JSON.stringify(r) : formatWho(r, s.detailed));
      return 0;
    });
  });
}

/** `chat search NAME`: exit 0 when NAME exists, 1 when not. */
export function searchMain(ctx: CommandContext): Promise<number> {
  return oneLineErrors(() => {
    const s = searchSettings(ctx);
    return withToolSession(s, async (session) => {
      let r: ReplyData<"search">;
      try {
        r = await session.request("search", { user: s.name });
      } catch (err) {
        if (err instanceof RegistryError && err.code === "not_found") {
          if (s.json) {
            console.log(JSON.stringify({ user: s.name, exists: false }));
          } else console.log(`no such user '${s.name}'`);
          return 1;
        }
        throw err;
      }
      console.log(
        s.json ? JSON.stringify({ ...r, exists: true }) : formatSearch(r),
      );
      return 0;
    });
  });
}
