/**
 * Devices across the instances of a cluster: `chat devices revoke` run
 * through instance 1 ends, at once, the peer of that device held by
 * instance 2 (told it was revoked), which then logs in through neither
 * instance without the password.
 */
import { join } from "node:path";
import { assertEquals, assertIncludes } from "../helpers/assert.ts";
import { startCluster } from "../helpers/cluster.ts";
import { runChat, spawnPeer } from "../helpers/peer_process.ts";
import { skipNote } from "../helpers/postgres.ts";
import type { RegistryProcess } from "../helpers/registry.ts";

Deno.test({
  name:
    `cluster: a device revoked through one instance ends its peer on another${skipNote()}`,
  ignore: skipNote() !== "",
  fn: async (t) => {
    await using cluster = await startCluster(2);
    const [one, two] = cluster.instances;
    const root = await Deno.makeTempDir({ prefix: "chat-cdev-" });
    const home = (name: string) => join(root, name);
    const chat = (
      reg: RegistryProcess,
      where: string,
      args: string[],
      password = "",
    ) =>
      runChat(args, {
        env: {
          CHAT_HOME: home(where),
          CHAT_REGISTRY: `127.0.0.1:${reg.port}`,
          CHAT_REGISTRY_FINGERPRINT: `sha256:${cluster.fingerprint}`,
          CHAT_PASSWORD: password,
          CHAT_USER: "",
        },
      });
    const device = async (reg: RegistryProcess, name: string) => {
      const r = await chat(reg, name, [
        "login",
        "--user",
        "alice",
        "--device",
        name,
      ], "alice-password");
      assertEquals(r.code, 0, r.stderr);
    };
    const up = await chat(
      one!,
      "desk",
      ["signup", "--user", "alice"],
      "alice-password",
    );
    assertEquals(up.code, 0, up.stderr);
    await device(one!, "desk");
    await device(two!, "laptop");

    await t.step(
      "a revocation through instance 1 ends the laptop's peer on instance 2",
      async () => {
        await using laptop = await spawnPeer(two!, {
          user: "alice",
          home: home("laptop"),
          signup: false,
          env: { CHAT_PASSWORD: "" },
        });
        const r = await chat(one!, "desk", ["devices", "revoke", "laptop"]);
        assertEquals(r.code, 0, r.stderr);
        assertIncludes(r.text, "device 'laptop' revoked");
        assertIncludes(r.text, "1 session ended");
        const ended = await laptop.waitFor(
          (l) => l.type === "session_ended",
          "session_ended on instance 2",
        );
        assertIncludes(String(ended.reason), "revoked");
        assertEquals(await laptop.exited, 1);
        // The laptop logs in through neither instance without the password.
        for (const reg of [one!, two!]) {
          const again = await chat(reg, "laptop", ["who", "--user", "alice"]);
          assertEquals(again.code, 1, again.stderr);
        }
      },
    );

    await Deno.remove(root, { recursive: true }).catch(() => {});
  },
});
