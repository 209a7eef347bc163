/**
 * An account made before devices existed: the registry's database is
 * migrated in place when it starts, the account keeps its password, and
 * the user's next password login makes the machine a device, after which
 * commands log in by key with no password.
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { MIGRATIONS } from "../../../registry/migrations.ts";
import { hashPassword } from "../../../registry/passwords.ts";
import { assertEquals } from "../../helpers/assert.ts";
import { runChat } from "../../helpers/peer_process.ts";
import { spawnRegistry, until } from "../../helpers/registry.ts";

Deno.test("an account from before devices logs in with its password and the machine becomes a device", async () => {
  const regHome = await Deno.makeTempDir({ prefix: "chat-migrate-reg-" });
  const home = await Deno.makeTempDir({ prefix: "chat-migrate-alice-" });
  try {
    // The database as the program before devices left it: steps 1 and 2.
    const db = new DatabaseSync(join(regHome, "registry.db"));
    db.exec("PRAGMA foreign_keys = ON");
    for (const m of MIGRATIONS.slice(0, 2)) db.exec(m.sqlite);
    db.exec("PRAGMA user_version = 2");
    db.prepare(
      "INSERT INTO users (name, password_hash, status, created_at) VALUES (?, ?, 'hi', 1)",
    ).run("alice", await hashPassword("alice-password"));
    db.close();
    await using reg = await spawnRegistry({ home: regHome });
    const env = (extra: Record<string, string> = {}) => ({
      CHAT_HOME: home,
      CHAT_REGISTRY: `127.0.0.1:${reg.port}`,
      CHAT_REGISTRY_FINGERPRINT: `sha256:${reg.fingerprint}`,
      CHAT_USER: "alice",
      CHAT_PASSWORD: "",
      ...extra,
    });
    const login = await runChat(["login", "--device", "old-pc", "--json"], {
      env: env({ CHAT_PASSWORD: "alice-password" }),
    });
    assertEquals(login.code, 0, login.stderr);
    assertEquals(JSON.parse(login.text), {
      ok: true,
      user: "alice",
      device: "old-pc",
      added: true,
    });
    const who = await runChat(["who"], { env: env() });
    assertEquals(who.code, 0, who.stderr);
    await until(
      () =>
        reg.stderr.some((l) =>
          l.includes(" login user=alice kind=tool ") && l.includes(" by=key")
        ),
      "a login by key",
    );
    const devices = await runChat(["devices", "--json"], { env: env() });
    assertEquals(devices.code, 0, devices.stderr);
    const list = JSON.parse(devices.text).devices;
    assertEquals(list.map((d: { name: string }) => d.name), ["old-pc"]);
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
    await Deno.remove(regHome, { recursive: true }).catch(() => {});
  }
});
