/**
 * The one-shot commands as real processes (SPEC §2, issue 3): `chat signup`,
 * `chat who`, `chat search`, with their exit codes, --json, and registry
 * pinning when there is no terminal to ask.
 */
import { join } from "node:path";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { runChat, spawnPeer } from "../../helpers/peer_process.ts";
import { spawnRegistry } from "../../helpers/registry.ts";

Deno.test("chat signup, who and search against a real registry", async (t) => {
  await using reg = await spawnRegistry();
  const home = await Deno.makeTempDir({ prefix: "chat-oneshot-" });
  const env = (extra: Record<string, string> = {}) => ({
    CHAT_HOME: home,
    CHAT_REGISTRY: `127.0.0.1:${reg.port}`,
    CHAT_REGISTRY_FINGERPRINT: `sha256:${reg.fingerprint}`,
    CHAT_PASSWORD: "tool-password",
    ...extra,
  });
  const chat = (args: string[], extra: Record<string, string> = {}) =>
    runChat(args, { env: env(extra) });
  try {
    await t.step("signup creates an account with CHAT_PASSWORD", async () => {
      const r = await chat(["signup", "--user", "Tool"]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(
        r.text.trim(),
        "account tool created — log in with: chat peer --user tool",
      );
    });

    await t.step("signup --json prints one object", async () => {
      const r = await chat(["signup", "--json"], { CHAT_USER: "tool2" });
      assertEquals(r.code, 0, r.stderr);
      assertEquals(JSON.parse(r.text), { ok: true, user: "tool2" });
    });

    await t.step("a taken name, in any case, exits 1 saying so", async () => {
      const r = await chat(["signup", "--user", "TOOL"]);
      assertEquals(r.code, 1);
      assertEquals(r.text, "");
      assertIncludes(r.stderr, "'tool' is taken");
      assertEquals(r.stderr.trim().split("\n").length, 1, "one line");
    });

    await t.step("a short password exits 1 naming the minimum", async () => {
      const r = await chat(["signup", "--user", "shorty"], {
        CHAT_PASSWORD: "short",
      });
      assertEquals(r.code, 1);
      assertIncludes(r.stderr, "8");
    });

    await t.step("no CHAT_PASSWORD and no terminal exits 1", async () => {
      const r = await chat(["signup", "--user", "nopass"], {
        CHAT_PASSWORD: "",
      });
      assertEquals(r.code, 1);
      assertIncludes(r.stderr, "no password: set CHAT_PASSWORD");
    });

    await t.step("who with nobody online says so", async () => {
      const r = await chat(["who", "--user", "tool"]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.text.trim(), "nobody is online");
    });

    await using alice = await spawnPeer(reg, { user: "alice" });
    await using bob = await spawnPeer(reg, { user: "bob" });
    await bob.send("/status on a *boat*");

    await t.step("who lists online peers, never the tool session", async () => {
      const r = await chat(["who", "--user", "tool"]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.text.trim().split("\n").sort(), ["alice", "bob"]);
    });

    await t.step("who --detailed shows address and status", async () => {
      const r = await chat(["who", "--detailed"], { CHAT_USER: "tool" });
      assertEquals(r.code, 0, r.stderr);
      const lines = r.text.trim().split("\n");
      assert(/^NAME\s+ADDRESS\s+STATUS$/.test(lines[0]!), lines[0]);
      const b = lines.find((l) => l.startsWith("bob"))!;
      assertIncludes(b, `127.0.0.1:${bob.port}`);
      assertIncludes(b, "on a *boat*");
      const short = await chat(["who", "-l"], { CHAT_USER: "tool" });
      assertEquals(short.text, r.text, "-l is --detailed");
    });

    await t.step("who --json prints the users and the total", async () => {
      const r = await chat(["who", "--json", "--detailed", "--user", "tool"]);
      assertEquals(r.code, 0, r.stderr);
      const j = JSON.parse(r.text);
      assertEquals(j.total, 2);
      const a = j.users.find((u: { user: string }) => u.user === "alice");
      assertEquals(a.port, alice.port);
      assertEquals(a.host, "127.0.0.1");
    });

    await t.step(
      "search of an online user exits 0 with its address",
      async () => {
        const r = await chat(["search", "BOB", "--user", "tool"]);
        assertEquals(r.code, 0, r.stderr);
        assertEquals(
          r.text.trim(),
          `bob is online at 127.0.0.1:${bob.port} — on a *boat*`,
        );
        const j = await chat(["search", "bob", "--json", "--user", "tool"]);
        const obj = JSON.parse(j.text);
        assertEquals(obj.exists, true);
        assertEquals(obj.online, true);
        assertEquals(obj.port, bob.port);
      },
    );

    await t.step(
      "search of an offline user exits 0 and says offline",
      async () => {
        assertEquals(await bob.quit(), 0);
        const r = await chat(["search", "bob", "--user", "tool"]);
        assertEquals(r.code, 0, r.stderr);
        assert(
          /^bob is offline \(last seen \d{4}-\d\d-\d\dT[^)]+\) — on a \*boat\*$/
            .test(r.text.trim()),
          r.text,
        );
        const never = await chat(["search", "tool2", "--user", "tool"]);
        assertEquals(never.code, 0);
        assertIncludes(never.text, "tool2 is offline (never seen online)");
        const j = JSON.parse(
          (await chat(["search", "bob", "--json", "--user", "tool"])).text,
        );
        assertEquals([j.exists, j.online], [true, false]);
      },
    );

    await t.step("search of an unknown user exits 1", async () => {
      const r = await chat(["search", "nobody", "--user", "tool"]);
      assertEquals(r.code, 1);
      assertEquals(r.text.trim(), "no such user 'nobody'");
      const j = await chat(["search", "nobody", "--json", "--user", "tool"]);
      assertEquals(j.code, 1);
      assertEquals(JSON.parse(j.text), { user: "nobody", exists: false });
    });

    await t.step(
      "the first login made this machine a device: who and search need no password, nor a user name",
      async () => {
        const r = await chat(["who"], { CHAT_PASSWORD: "", CHAT_USER: "" });
        assertEquals(r.code, 0, r.stderr);
        assert(r.text.trim().split("\n").includes("alice"), r.text);
        const s = await chat(["search", "bob"], { CHAT_PASSWORD: "" });
        assertEquals(s.code, 0, s.stderr);
      },
    );

    const fresh = await Deno.makeTempDir({ prefix: "chat-oneshot-fresh-" });
    await t.step(
      "a wrong password on a machine that is no device exits 1 without echoing it",
      async () => {
        const r = await chat(["who", "--user", "tool"], {
          CHAT_HOME: fresh,
          CHAT_PASSWORD: "definitely-wrong",
        });
        assertEquals(r.code, 1);
        assertIncludes(r.stderr, "wrong password for tool");
        assert(!r.stderr.includes("definitely-wrong"));
      },
    );

    await t.step("no user name and no terminal exits 1", async () => {
      const r = await chat(["who"], { CHAT_HOME: fresh, CHAT_USER: "" });
      assertEquals(r.code, 1);
      assertIncludes(
        r.stderr,
        "no user name: pass --user NAME or set CHAT_USER",
      );
    });
    await Deno.remove(fresh, { recursive: true });
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});

Deno.test("one-shot commands pin the registry: unknown without a terminal, or a wrong pin, exit 1", async (t) => {
  await using reg = await spawnRegistry();
  const home = await Deno.makeTempDir({ prefix: "chat-oneshot-pin-" });
  const base = {
    CHAT_HOME: home,
    CHAT_REGISTRY: `127.0.0.1:${reg.port}`,
    CHAT_PASSWORD: "pinned-password",
    CHAT_USER: "pinned",
  };
  const fp = `sha256:${reg.fingerprint}`;
  try {
    await t.step(
      "no fingerprint and no terminal: refused, naming it",
      async () => {
        for (const args of [["signup"], ["who"], ["search", "x"]]) {
          const r = await runChat(args, { env: base });
          assertEquals(r.code, 1, `${args}: ${r.stderr}`);
          assertIncludes(r.stderr, "is not known yet and there is no terminal");
          assertIncludes(r.stderr, fp);
          assertIncludes(r.stderr, "CHAT_REGISTRY_FINGERPRINT");
          assertEquals(r.stderr.trim().split("\n").length, 1, "one line");
        }
        const known = await Deno.readTextFile(join(home, "known_registries"))
          .catch(() => "");
        assertEquals(known, "", "nothing was remembered");
      },
    );

    await t.step(
      "a wrong CHAT_REGISTRY_FINGERPRINT names both fingerprints",
      async () => {
        const wrong = `sha256:${"ab".repeat(32)}`;
        const r = await runChat(["signup"], {
          env: { ...base, CHAT_REGISTRY_FINGERPRINT: wrong },
        });
        assertEquals(r.code, 1);
        assertIncludes(r.stderr, fp);
        assertIncludes(r.stderr, wrong);
        const flag = await runChat(
          ["who", "--registry-fingerprint", wrong],
          { env: base },
        );
        assertEquals(flag.code, 1);
        assertIncludes(flag.stderr, fp);
        assertIncludes(flag.stderr, wrong);
      },
    );

    await t.step("the flag beats the environment", async () => {
      const r = await runChat(
        ["signup", "--registry-fingerprint", fp],
        {
          env: {
            ...base,
            CHAT_REGISTRY_FINGERPRINT: `sha256:${"cd".repeat(32)}`,
          },
        },
      );
      assertEquals(r.code, 0, r.stderr);
    });

    await t.step("an unreachable registry exits 1 saying so", async () => {
      const r = await runChat(["who"], {
        env: {
          ...base,
          CHAT_REGISTRY: "127.0.0.1:1",
          CHAT_REGISTRY_FINGERPRINT: fp,
        },
      });
      assertEquals(r.code, 1);
      assertIncludes(r.stderr, "cannot reach the registry at 127.0.0.1:1");
    });
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});
