/**
 * One-shot commands: `chat signup`, `chat who`, `chat search`. Each logs in
 * for its own duration as a "tool" session that never shows as online.
 */
import type { FlagValue } from "../../cli/mod.ts";
import type { ReplyData } from "../../wire/mod.ts";
import { UserError } from "../core/mod.ts";
import { RegistryClient, RegistryError, RegistrySession } from "../net/mod.ts";
import { canAsk, commonSettings, credentials } from "./options.ts";

/** Flags and positionals of a one-shot command. */
export interface OneShotArgs {
  flags: Record<string, FlagValue>;
  positionals: string[];
}

/** Runs `fn`, turning user-facing failures into one line on stderr and exit 1. */
export async function oneLineErrors(
  fn: () => Promise<number>,
): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UserError || err instanceof RegistryError) {
      console.error(`chat: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

async function withToolSession<T>(
  args: OneShotArgs,
  fn: (s: RegistrySession) => Promise<T>,
): Promise<T> {
  const settings = await commonSettings(args.flags, canAsk());
  const creds = await credentials(args.flags, settings);
  const session = await RegistrySession.open({
    target: settings.target,
    credentials: creds,
    kind: "tool",
    logger: settings.logger,
    onEvent: () => {},
    onStatus: () => {},
  });
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/** `chat signup`. */
export function signupMain(args: OneShotArgs): Promise<number> {
  return oneLineErrors(async () => {
    const settings = await commonSettings(args.flags, canAsk());
    const creds = await credentials(args.flags, settings, true);
    const client = await RegistryClient.connect(settings.target);
    try {
      const r = await client.request("signup", creds);
      if (args.flags.json) {
        console.log(JSON.stringify({ ok: true, user: r.user }));
      } else {console.log(
          `account ${r.user} created — log in with: chat peer --user ${r.user}`,
        );}
      return 0;
    } finally {
      client.close();
      await client.closed;
    }
  });
}

/** `chat who [--detailed] [--json]`. */
export function whoMain(args: OneShotArgs): Promise<number> {
  return oneLineErrors(() =>
    withToolSession(args, async (s) => {
      const r = await s.request("who", {
        detailed: args.flags.detailed === true,
      });
      console.log(
        args.flags.json
          ? JSON.stringify(r)
          : formatWho(r, args.flags.detailed === true),
      );
      return 0;
    })
  );
}

/** Human text for a who reply. */
export function formatWho(r: ReplyData<"who">, detailed: boolean): string {
  if (r.users.length === 0) return "nobody is online";
  if (!detailed) return r.users.map((u) => u.user).join("\n");
  const rows = r.users.map((
    u,
  ) => [u.user, u.host ? `${u.host}:${u.port}` : "", u.status ?? ""]);
  const w0 = Math.max(4, ...rows.map((x) => x[0]!.length));
  const w1 = Math.max(7, ...rows.map((x) => x[1]!.length));
  const lines = [`${"NAME".padEnd(w0)}  ${"ADDRESS".padEnd(w1)}  STATUS`];
  for (const [a, b, c] of rows) {
    lines.push(`${a!.padEnd(w0)}  ${b!.padEnd(w1)}  ${c}`);
  }
  if (r.total > r.users.length) {
    lines.push(`… and ${r.total - r.users.length} more`);
  }
  return lines.join("\n");
}

/** `chat search NAME`: exit 0 when NAME exists, 1 when not. */
export function searchMain(args: OneShotArgs): Promise<number> {
  return oneLineErrors(() =>
    withToolSession(args, async (s) => {
      const name = args.positionals[0]!.toLowerCase();
      let r: ReplyData<"search">;
      try {
        r = await s.request("search", { user: name });
      } catch (err) {
        if (err instanceof RegistryError && err.code === "not_found") {
          if (args.flags.json) {
            console.log(JSON.stringify({ user: name, exists: false }));
          } else console.log(`no such user '${name}'`);
          return 1;
        }
        throw err;
      }
      console.log(
        args.flags.json
          ? JSON.stringify({ ...r, exists: true })
          : formatSearch(r),
      );
      return 0;
    })
  );
}

/** Human text for a search reply. */
export function formatSearch(r: ReplyData<"search">): string {
  if (r.online) {
    return `${r.user} is online at ${r.host}:${r.port} — ${r.status}`;
  }
  const seen = r.last_seen ? `last seen ${r.last_seen}` : "never seen online";
  return `${r.user} is offline (${seen}) — ${r.status}`;
}
