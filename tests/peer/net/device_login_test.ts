/**
 * The registry session with a device (F23, F18): a password login adds the
 * machine and forgets the password; after the registry is killed and
 * restarted the session logs in again with the device key (no scrypt); a
 * revocation ends it for good; a device the registry forgot is added again
 * when a password is at hand.
 */
import { join } from "node:path";
import { Logger } from "../../../common/log.ts";
import {
  type Credentials,
  Device,
  RegistrySession,
  type SessionStatus,
} from "../../../peer/net/mod.ts";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { spawnRegistry, until } from "../../helpers/registry.ts";

const FAST = { baseMs: 50, capMs: 200 };
const quiet = new Logger("warn", () => {});

Deno.test("a device session logs in again with its key after a restart, and a revocation ends it", async () => {
  const regHome = await Deno.makeTempDir({ prefix: "chat-dl-reg-" });
  const home = await Deno.makeTempDir({ prefix: "chat-dl-peer-" });
  try {
    const first = await spawnRegistry({ home: regHome });
    const { port, udpPort } = first;
    const registry = `127.0.0.1:${port}`;
    const device = await Device.create(home, registry, "dana", "desk");
    const creds: Credentials = {
      user: "dana",
      password: "dana-password",
      device,
    };
    const statuses: SessionStatus[] = [];
    const session = await RegistrySession.open({
      target: first.target(home),
      credentials: creds,
      kind: "tool",
      signup: true,
      home,
      backoff: FAST,
      logger: quiet,
      onEvent: () => {},
      onStatus: (s) => statuses.push(s),
    });
    try {
      assertEquals(creds.password, undefined, "the password is forgotten");
      assert(device.enrolled);
      const saved = await Device.load(home, registry, "dana");
      assertEquals(saved?.name, "desk");
      assertEquals(saved?.signPublic, device.signPublic);

      assertEquals(await first.stop("SIGKILL"), 137);
      await until(() => statuses.find((s) => s.kind === "lost"), "lost");
      await using second = await spawnRegistry({
        home: regHome,
        port,
        udpPort,
      });
      await until(
        () => statuses.find((s) => s.kind === "restored"),
        "restored",
        30_000,
      );
      await until(
        () =>
          second.stderr.find((l) =>
            l.includes("login user=dana kind=tool") && l.includes("by=key")
          ),
        "the re-login by key in the registry's log",
      );
      assertEquals(
        (await session.request("search", { user: "dana" })).user,
        "dana",
      );

      // Another machine of dana's revokes this one: the session ends for good.
      const other = await RegistrySession.open({
        target: second.target(join(home, "other")),
        credentials: { user: "dana", password: "dana-password" },
        kind: "tool",
        logger: quiet,
        onEvent: () => {},
        onStatus: () => {},
      });
      await other.request("device_revoke", { name: "desk" });
      await other.close();
      const ended = await until(
        () => statuses.find((s) => s.kind === "ended"),
        "ended after the revocation",
      );
      assert(ended.kind === "ended");
      assertIncludes(ended.reason, "revoked");
      await session.done;
      assert(session.ended);

      // With the password at hand, the forgotten device is added again.
      const again: Credentials = {
        user: "dana",
        password: "dana-password",
        device: (await Device.load(home, registry, "dana"))!,
      };
      const back = await RegistrySession.open({
        target: second.target(home),
        credentials: again,
        kind: "tool",
        home,
        logger: quiet,
        onEvent: () => {},
        onStatus: () => {},
      });
      assert(again.device!.enrolled);
      assert(again.device!.signPublic !== device.signPublic, "new keys");
      assertEquals(again.password, undefined);
      await back.close();
      // Its file alone logs in now, without any password.
      const byFile = RegistrySession.open({
        target: second.target(home),
        credentials: {
          user: "dana",
          device: (await Device.load(home, registry, "dana"))!,
        },
        kind: "tool",
        home,
        logger: quiet,
        onEvent: () => {},
        onStatus: () => {},
      });
      const s = await byFile;
      assertEquals(s.user, "dana");
      await s.close();
    } finally {
      await session.close();
    }
  } finally {
    await Deno.remove(regHome, { recursive: true }).catch(() => {});
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});
