/**
 * The account commands of a device (F23): `chat login` (make this machine
 * a device with the password), `chat logout [--forget]`, `chat devices
 * [revoke NAME]`, `chat passwd` and `chat verify NAME [--confirm]`.
 */
import {
  type CommandContext,
  devicesSettings,
  loginSettings,
  logoutSettings,
  passwdSettings,
  verifySettings,
} from "../../cli/mod.ts";
import type { ReplyData } from "../../wire/mod.ts";
import { UserError } from "../core/mod.ts";
import {
  askYesNo,
  contactNoticeText,
  promptSecret,
  readLines,
  verifyText,
} from "../front/mod.ts";
import { ContactError, Contacts, Device, RegistryError } from "../net/mod.ts";
import { oneLineErrors } from "./errors.ts";
import { withToolSession } from "./oneshot.ts";
import {
  askPassword,
  canAsk,
  type Common,
  credentials,
  registryName,
  setUp,
  userName,
} from "./options.ts";

/** `chat login`: a password login that makes this machine a device. */
export function loginMain(ctx: CommandContext): Promise<number> {
  return oneLineErrors(async () => {
    const s = loginSettings(ctx);
    const c = await setUp(s, canAsk());
    const creds = await credentials(s, c);
    const before = creds.device?.enrolled ? creds.device : null;
    return await withToolSession(s, (session, _c, used) => {
      const device = used.device!;
      const added = before === null || used.device !== before;
      if (s.json) {
        console.log(JSON.stringify({
          ok: true,
          user: session.user,
          device: device.name,
          added,
        }));
      } else if (!added) {
        console.log(
          `${session.user} is logged in on this machine, device '${device.name}' — chat needs no password here`,
        );
      } else {
        console.log(
          `logged in as ${session.user}: this machine is now device '${device.name}' — chat commands here need no password from now on (chat devices lists your devices)`,
        );
      }
      return Promise.resolve(0);
    }, { c, creds });
  });
}

/** This machine's device of the user, or a clear error when it is none. */
async function thisDevice(
  s: { user?: string },
  c: Common,
): Promise<Device> {
  const user = await userName(s, c);
  const device = await Device.load(c.home, registryName(c), user);
  if (!device) {
    throw new UserError(
      `this machine is not a device of ${user} at ${
        registryName(c)
      } — nothing to log out`,
    );
  }
  return device;
}

/** `chat logout [--forget]`. */
export function logoutMain(ctx: CommandContext): Promise<number> {
  return oneLineErrors(async () => {
    const s = logoutSettings(ctx);
    const c = await setUp(s, canAsk());
    const device = await thisDevice(s, c);
    const creds = { user: device.user, device };
    let r: ReplyData<"device_logout"> | null = null;
    try {
      r = await withToolSession(
        s,
        (session) =>
          session.request(s.forget ? "device_revoke" : "device_logout", {
            name: device.name,
          }),
        { c, creds },
      );
    } catch (err) {
      // A device the registry no longer knows can still be forgotten here.
      if (!(s.forget && err instanceof RegistryError && err.code === "auth")) {
        throw err;
      }
    }
    if (s.forget) await device.forget();
    const sessions = r?.sessions ?? 0;
    if (s.json) {
      console.log(JSON.stringify({
        ok: true,
        user: device.user,
        device: device.name,
        sessions,
        forgotten: s.forget,
      }));
    } else if (s.forget) {
      console.log(
        `device '${device.name}' of ${device.user} ${
          r ? "revoked" : "was already unknown to the registry"
        } and its keys deleted from this machine${
          ended(sessions)
        }; the next login here needs the password`,
      );
    } else {
      console.log(
        `logged out device '${device.name}' of ${device.user}${
          ended(sessions)
        }; it stays a device (chat logout --forget removes it)`,
      );
    }
    return 0;
  });
}

function ended(n: number): string {
  return n === 0 ? "" : ` (${n} session${n === 1 ? "" : "s"} ended)`;
}

/** `chat devices [revoke NAME] [--json]`. */
export function devicesMain(ctx: CommandContext): Promise<number> {
  return oneLineErrors(() => {
    const s = devicesSettings(ctx);
    return withToolSession(s, async (session, c, creds) => {
      if (s.revoke !== undefined) {
        const r = await session.request("device_revoke", { name: s.revoke });
        const mine = creds.device?.enrolled && creds.device.name === r.name;
        if (mine) await creds.device!.forget();
        if (s.json) console.log(JSON.stringify({ ok: true, ...r }));
        else {
          console.log(
            `device '${r.name}' revoked: its keys no longer log in${
              ended(r.sessions)
            }${mine ? "; this machine's keys were deleted" : ""}`,
          );
        }
        return 0;
      }
      const r = await session.request("devices", {});
      if (s.json) {
        console.log(JSON.stringify({ user: session.user, ...r }));
        return 0;
      }
      if (r.devices.length === 0) {
        console.log(`${session.user} has no devices at ${registryName(c)}`);
        return 0;
      }
      const width = Math.max(...r.devices.map((d) => d.name.length));
      for (const d of r.devices) {
        console.log(
          `${d.current ? "*" : " "} ${d.name.padEnd(width)}  added ${
            day(d.created_at)
          }  last used ${d.last_used ? day(d.last_used) : "never"}${
            d.current ? "  (this machine)" : ""
          }`,
        );
      }
      return 0;
    });
  });
}

/** "2026-12-02 10:14" from an ISO time. */
function day(iso: string): string {
  return iso.slice(0, 16).replace("T", " ");
}

/** `chat passwd [--revoke-others]`. */
export function passwdMain(ctx: CommandContext): Promise<number> {
  return oneLineErrors(async () => {
    const s = passwdSettings(ctx);
    const c = await setUp(s, canAsk());
    return await withToolSession(s, async (session) => {
      const user = session.user;
      let old: string;
      let next: string;
      if (c.interactive) {
        const typed = await promptSecret(`current password for ${user}: `);
        if (typed === null) throw new UserError("cancelled");
        old = typed;
        console.error("new password:");
        next = await askPassword(user, true);
      } else {
        if (!s.env.password) {
          throw new UserError(
            "no current password: set CHAT_PASSWORD (or run on a terminal to be asked)",
          );
        }
        old = s.env.password;
        const line = await firstLine();
        if (!line) {
          throw new UserError(
            "no new password: give it as the first line of stdin",
          );
        }
        next = line;
      }
      await session.request("passwd", { old, new: next });
      console.log(`password of ${user} changed`);
      const { devices } = await session.request("devices", {});
      const others = devices.filter((d) => !d.current).map((d) => d.name);
      if (others.length === 0) return 0;
      const revoke = s.revokeOthers ||
        (c.interactive &&
          await askYesNo(
            `also revoke your other devices (${
              others.join(", ")
            })? they will need the new password`,
          ));
      if (!revoke) {
        console.log(
          `your other devices (${
            others.join(", ")
          }) still log in with their keys; chat devices revoke NAME removes one`,
        );
        return 0;
      }
      for (const name of others) {
        const r = await session.request("device_revoke", { name });
        console.log(`device '${name}' revoked${ended(r.sessions)}`);
      }
      return 0;
    }, { c });
  });
}

/** The first line of stdin (without its line break), or null at its end. */
async function firstLine(): Promise<string | null> {
  for await (const line of readLines(Deno.stdin.readable)) return line;
  return null;
}

/** `chat verify NAME [--confirm] [--json]`: the safety number, as /verify. */
export function verifyMain(ctx: CommandContext): Promise<number> {
  return oneLineErrors(() => {
    const s = verifySettings(ctx);
    return withToolSession(s, async (session, c, creds) => {
      const contacts = new Contacts({
        home: c.home,
        registry: registryName(c),
        self: () => session.user,
        device: () => creds.device ?? null,
        source: () => session,
        onNotice: (n) => console.error(contactNoticeText(n)),
        logger: c.logger,
      });
      let r;
      try {
        r = await contacts.verify(s.name, s.confirm);
      } catch (err) {
        if (err instanceof ContactError) throw new UserError(err.message);
        throw err;
      }
      console.log(s.json ? JSON.stringify(r) : verifyText(r));
      return 0;
    });
  });
}
