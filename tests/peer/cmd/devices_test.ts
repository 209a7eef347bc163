/**
 * Devices end to end (F23) with real processes: after one password login a
 * machine logs in with its key for every command — peer, send, receive,
 * who, search, web — with CHAT_PASSWORD empty; chat devices lists and
 * revokes (ending a live peer at once), chat logout [--forget], chat passwd.
 */
import { join } from "node:path";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { runChat, spawnPeer } from "../../helpers/peer_process.ts";
import { spawnWeb } from "../../helpers/web_process.ts";
import { spawnRegistry, until } from "../../helpers/registry.ts";

Deno.test("a device logs in with its key for every command", async (t) => {
  await using reg = await spawnRegistry();
  const aliceHome = await Deno.makeTempDir({ prefix: "chat-dev-alice-" });
  const bobHome = await Deno.makeTempDir({ prefix: "chat-dev-bob-" });
  const env = (home: string, extra: Record<string, string> = {}) => ({
    CHAT_HOME: home,
    CHAT_REGISTRY: `127.0.0.1:${reg.port}`,
    CHAT_REGISTRY_FINGERPRINT: `sha256:${reg.fingerprint}`,
    // No password anywhere unless a step gives one.
    CHAT_PASSWORD: "",
    CHAT_USER: "",
    ...extra,
  });
  const alice = (
    args: string[],
    extra: Record<string, string> = {},
    stdin?: Uint8Array,
  ) =>
    runChat(args, { env: env(aliceHome, extra), ...(stdin ? { stdin } : {}) });
  const bob = (args: string[], extra: Record<string, string> = {}) =>
    runChat(args, { env: env(bobHome, extra) });
  /** Logins of `user` as `kind` the registry logged as made with a device key. */
  const byKey = (user: string, kind: string) =>
    reg.stderr.filter((l) =>
      l.includes(` login user=${user} kind=${kind} `) && l.includes(" by=key")
    ).length;
  try {
    await t.step(
      "chat login with the password makes the machine a device",
      async () => {
        for (const [who, run] of [["alice", alice], ["bob", bob]] as const) {
          const up = await run(["signup", "--user", who], {
            CHAT_PASSWORD: `${who}-password`,
          });
          assertEquals(up.code, 0, up.stderr);
          const r = await run([
            "login",
            "--user",
            who,
            "--device",
            `${who}-laptop`,
            "--json",
          ], {
            CHAT_PASSWORD: `${who}-password`,
          });
          assertEquals(r.code, 0, r.stderr);
          assertEquals(JSON.parse(r.text), {
            ok: true,
            user: who,
            device: `${who}-laptop`,
            added: true,
          });
        }
        const dir = join(aliceHome, "devices");
        assertEquals((await Deno.stat(dir)).mode! & 0o777, 0o700);
        const files = [...Deno.readDirSync(dir)].map((e) => e.name);
        assertEquals(files, [`127.0.0.1_${reg.port}_alice.json`]);
        const file = join(dir, files[0]!);
        assertEquals((await Deno.stat(file)).mode! & 0o777, 0o600);
        const text = await Deno.readTextFile(file);
        assert(!text.includes("alice-password"), "no password in the file");
      },
    );

    await t.step(
      "login again says the machine already is a device",
      async () => {
        const r = await alice(["login"]);
        assertEquals(r.code, 0, r.stderr);
        assertIncludes(r.text, "device 'alice-laptop'");
        assertIncludes(r.text, "no password");
      },
    );

    await t.step("who and search log in with the key", async () => {
      const w = await alice(["who"]);
      assertEquals(w.code, 0, w.stderr);
      assertEquals(w.text.trim(), "nobody is online");
      const s = await alice(["search", "bob", "--json"]);
      assertEquals(s.code, 0, s.stderr);
      assertEquals(JSON.parse(s.text).exists, true);
      await until(
        () => byKey("alice", "tool") >= 3,
        "login, who and search logged in with the key",
      );
    });

    await t.step(
      "chat peer --json, send and receive log in with the key",
      async () => {
        await using peer = await spawnPeer(reg, {
          user: "bob",
          home: bobHome,
          signup: false,
          env: { CHAT_PASSWORD: "" },
        });
        assert(peer.port > 0);
        assertEquals(byKey("bob", "peer"), 1);
        const payload = new TextEncoder().encode("sent by a device\n");
        const out = join(aliceHome, "got.txt");
        const receiving = alice(["receive", "--from", "bob", "-o", out]);
        await until(
          () => byKey("alice", "receive") > 0,
          "alice's chat receive to log in with its key",
          30_000,
        );
        // The receive session is reachable for files though not online.
        const sending = runChat(["send", "alice", "-", "--name", "note.txt"], {
          env: env(bobHome),
          stdin: payload,
        });
        const [sent, received] = await Promise.all([sending, receiving]);
        assertEquals(sent.code, 0, sent.stderr);
        assertEquals(received.code, 0, received.stderr);
        assertEquals(await Deno.readFile(out), payload);
        assert(byKey("bob", "tool") >= 1, "chat send used the key");
      },
    );

    await t.step("chat web logs in with the key", async () => {
      const before = byKey("bob", "peer");
      await using web = await spawnWeb(reg, {
        user: "bob",
        home: bobHome,
        password: null,
        signup: false,
        waitReady: true,
      });
      assert(web.port > 0);
      assertEquals(byKey("bob", "peer"), before + 1);
    });

    await t.step("chat devices lists them, this one marked", async () => {
      const add = await alice(["login", "--device", "alice-desk"], {
        CHAT_HOME: join(aliceHome, "desk"),
        CHAT_USER: "alice",
        CHAT_PASSWORD: "alice-password",
      });
      assertEquals(add.code, 0, add.stderr);
      const r = await alice(["devices", "--json"]);
      assertEquals(r.code, 0, r.stderr);
      const j = JSON.parse(r.text);
      assertEquals(
        j.devices.map((
          d: { name: string; current: boolean },
        ) => [d.name, d.current]),
        [["alice-laptop", true], ["alice-desk", false]],
      );
      const text = await alice(["devices"]);
      assertEquals(text.code, 0, text.stderr);
      assert(
        /^\* alice-laptop .*\(this machine\)$/m.test(text.text),
        text.text,
      );
      assert(/^ {2}alice-desk +added /m.test(text.text), text.text);
    });

    await t.step("revoking a device ends its live peer at once", async () => {
      await using desk = await spawnPeer(reg, {
        user: "alice",
        home: join(aliceHome, "desk"),
        signup: false,
        env: { CHAT_PASSWORD: "" },
      });
      const r = await alice(["devices", "revoke", "alice-desk"]);
      assertEquals(r.code, 0, r.stderr);
      assertIncludes(r.text, "device 'alice-desk' revoked");
      assertIncludes(r.text, "1 session ended");
      const ended = await desk.waitFor(
        (l) => l.type === "session_ended",
        "session_ended after the revocation",
        30_000,
      );
      assertIncludes(String(ended.reason), "revoked");
      assertEquals(await desk.exited, 1);
      // Its key no longer logs in.
      const again = await alice(["who"], {
        CHAT_HOME: join(aliceHome, "desk"),
      });
      assertEquals(again.code, 1);
      assertIncludes(again.stderr, "not known to this registry");
    });

    await t.step(
      "chat passwd changes the password and may revoke the others",
      async () => {
        const add = await alice(["login", "--device", "alice-old"], {
          CHAT_HOME: join(aliceHome, "old"),
          CHAT_USER: "alice",
          CHAT_PASSWORD: "alice-password",
        });
        assertEquals(add.code, 0, add.stderr);
        const wrong = await alice(
          ["passwd"],
          { CHAT_PASSWORD: "not-it" },
          new TextEncoder().encode("a new password\n"),
        );
        assertEquals(wrong.code, 1);
        assertIncludes(wrong.stderr, "wrong password for alice");
        const r = await alice(
          ["passwd", "--revoke-others"],
          { CHAT_PASSWORD: "alice-password" },
          new TextEncoder().encode("a new password\n"),
        );
        assertEquals(r.code, 0, r.stderr);
        assertIncludes(r.text, "password of alice changed");
        assertIncludes(r.text, "device 'alice-old' revoked");
        // The old password no longer adds a device; the new one does.
        const fresh = join(aliceHome, "fresh");
        const old = await alice(["who"], {
          CHAT_HOME: fresh,
          CHAT_USER: "alice",
          CHAT_PASSWORD: "alice-password",
        });
        assertEquals(old.code, 1);
        assertIncludes(old.stderr, "wrong password");
        const ok = await alice(["who"], {
          CHAT_HOME: fresh,
          CHAT_USER: "alice",
          CHAT_PASSWORD: "a new password",
        });
        assertEquals(ok.code, 0, ok.stderr);
        // This machine's key kept working throughout.
        assertEquals((await alice(["who"])).code, 0);
      },
    );

    await t.step(
      "chat logout keeps the device; --forget removes it",
      async () => {
        const out = await alice(["logout"]);
        assertEquals(out.code, 0, out.stderr);
        assertIncludes(out.text, "it stays a device");
        assertEquals((await alice(["who"])).code, 0);
        const forget = await alice(["logout", "--forget"]);
        assertEquals(forget.code, 0, forget.stderr);
        assertIncludes(forget.text, "revoked and its keys deleted");
        assertEquals([...Deno.readDirSync(join(aliceHome, "devices"))], []);
        const none = await alice(["who", "--user", "alice"]);
        assertEquals(none.code, 1);
        assertIncludes(none.stderr, "no password");
        const list = await alice(["devices", "--json"], {
          CHAT_HOME: join(aliceHome, "fresh"),
          CHAT_USER: "alice",
        });
        assertEquals(
          JSON.parse(list.text).devices.map((d: { name: string }) => d.name)
            .includes("alice-laptop"),
          false,
        );
      },
    );
  } finally {
    await Deno.remove(aliceHome, { recursive: true }).catch(() => {});
    await Deno.remove(bobHome, { recursive: true }).catch(() => {});
  }
});
