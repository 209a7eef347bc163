/**
 * The peer commands on a real terminal (a detached tmux pane), as a person
 * meets them: the registry is checked and trusted before any password is
 * asked (like ssh), what is missing (user, password) is asked rather than
 * refused, the last login's registry and user are remembered so the next
 * command needs no flag, `chat receive -o` asks before replacing a file,
 * `chat send bob -` with nothing piped in refuses, and `chat peer --signup`
 * says the account was created.
 */
import { join } from "node:path";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { spawnPeer } from "../../helpers/peer_process.ts";
import {
  MAIN,
  type RegistryProcess,
  spawnRegistry,
  until,
} from "../../helpers/registry.ts";

const TMUX = "tmux";

/** One command in a detached tmux pane with its own server socket. */
class Pane implements AsyncDisposable {
  readonly socket = `chat-term-${crypto.randomUUID().slice(0, 12)}`;
  readonly exitFile: string;

  private constructor(readonly dir: string) {
    this.exitFile = join(dir, `exit-${crypto.randomUUID().slice(0, 8)}`);
  }

  /** Runs `chat ARGS` with `env` on a 120x40 terminal, stdin from `pipe` (a shell command) if given. */
  static async run(
    dir: string,
    args: string[],
    env: Record<string, string>,
    pipe?: string,
  ): Promise<Pane> {
    const p = new Pane(dir);
    const q = (v: string) => `'${v.replaceAll("'", `'\\''`)}'`;
    const script = [
      "#!/bin/sh",
      ...Object.entries(env).map(([k, v]) => `export ${k}=${q(v)}`),
      `${pipe ? `${pipe} | ` : ""}${q(Deno.execPath())} run --allow-all ${
        q(MAIN)
      } ${args.map(q).join(" ")}`,
      `echo $? > ${q(p.exitFile)}`,
      "sleep 120",
    ].join("\n");
    const path = join(dir, `run-${crypto.randomUUID().slice(0, 8)}.sh`);
    await Deno.writeTextFile(path, script + "\n", { mode: 0o700 });
    await p.tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", path);
    return p;
  }

  async tmux(...args: string[]): Promise<string> {
    const out = await new Deno.Command(TMUX, {
      args: ["-L", this.socket, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(
        `tmux ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
      );
    }
    return new TextDecoder().decode(out.stdout);
  }

  async screen(): Promise<string> {
    try {
      return await this.tmux("capture-pane", "-p", "-t", "t", "-S", "-200");
    } catch {
      return "";
    }
  }

  async type(text: string): Promise<void> {
    await this.tmux("send-keys", "-t", "t", "-l", text);
    await this.tmux("send-keys", "-t", "t", "Enter");
  }

  async waitFor(pattern: RegExp | string, what: string): Promise<string> {
    let last = "";
    try {
      return await until(
        async () => {
          last = await this.screen();
          const hit = typeof pattern === "string"
            ? last.includes(pattern)
            : pattern.test(last);
          return hit ? last : null;
        },
        what,
        30_000,
        50,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\nscreen:\n${last}`);
    }
  }

  async exitCode(): Promise<number> {
    const text = await until(
      () => Deno.readTextFile(this.exitFile).catch(() => ""),
      "the command to exit",
      30_000,
    );
    return Number(text.trim());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.tmux("kill-server").catch(() => "");
  }
}

/** An account `user` made by a JSON-mode peer elsewhere. */
async function account(reg: RegistryProcess, user: string): Promise<void> {
  await using p = await spawnPeer(reg, { user });
  assertEquals(await p.quit(), 0);
}

Deno.test("on a terminal: trust first, then ask for what is missing, then remember it", async (t) => {
  await using reg = await spawnRegistry();
  await account(reg, "alice");
  const home = await Deno.makeTempDir({ prefix: "chat-term-" });
  const address = `127.0.0.1:${reg.port}`;
  // No CHAT_USER, no CHAT_PASSWORD, no pin: all of it is asked.
  const env = { CHAT_HOME: home, CHAT_PASSWORD: "", NO_COLOR: "1" };
  try {
    await t.step(
      "chat who asks to trust the registry, then the user, then the password",
      async () => {
        await using p = await Pane.run(
          home,
          ["who", "--registry", address],
          env,
        );
        const trust = await p.waitFor(
          "Trust this registry and remember it? [y/N]",
          "the trust question",
        );
        assertIncludes(trust, `The registry ${address} is not known yet.`);
        assert(
          !trust.includes("password") && !trust.includes("user:"),
          `nothing asked before the registry is trusted:\n${trust}`,
        );
        await p.type("y");
        await p.waitFor(/^user:\s*$/m, "the user prompt");
        await p.type("alice");
        await p.waitFor("password for alice:", "the password prompt");
        await p.type("alice-password");
        const out = await p.waitFor("nobody is online", "the who output");
        assertEquals(await p.exitCode(), 0, out);
        assertEquals(
          JSON.parse(await Deno.readTextFile(join(home, "last_login"))),
          { registry: address, user: "alice" },
        );
      },
    );

    await t.step(
      "the next command needs no flag: the remembered registry and user log in with the device key",
      async () => {
        await using p = await Pane.run(home, ["search", "alice"], env);
        const out = await p.waitFor("alice is", "the search output");
        assertEquals(await p.exitCode(), 0, out);
        assert(!out.includes("password"), out);
        assert(!out.includes("user:"), out);
      },
    );

    await t.step(
      "an unreachable registry is said before any password is asked",
      async () => {
        const fresh = await Deno.makeTempDir({ prefix: "chat-term-" });
        try {
          await using p = await Pane.run(fresh, [
            "peer",
            "--registry",
            "127.0.0.1:1",
            "--user",
            "alice",
          ], { ...env, CHAT_HOME: fresh });
          assertEquals(await p.exitCode(), 1);
          const out = await p.screen();
          assertIncludes(out, "chat: cannot reach the registry at 127.0.0.1:1");
          assert(!out.includes("password"), out);
        } finally {
          await Deno.remove(fresh, { recursive: true });
        }
      },
    );

    await t.step(
      "chat web on a terminal asks the password of a first login there, then serves the page logged in",
      async () => {
        const fresh = await Deno.makeTempDir({ prefix: "chat-term-" });
        try {
          await using p = await Pane.run(fresh, [
            "web",
            "--no-open",
            "--port",
            "0",
            "--registry",
            address,
            "--user",
            "alice",
          ], {
            ...env,
            CHAT_HOME: fresh,
            CHAT_REGISTRY_FINGERPRINT: reg.fingerprint,
          });
          const asked = await p.waitFor(
            "password for alice:",
            "the password prompt",
          );
          assert(!asked.includes("chat web listening"), asked);
          await p.type("alice-password");
          const out = await p.waitFor("logged in as alice", "the login");
          assert(!out.includes("alice-password"), "the password is not echoed");
          const url =
            /chat web listening on (http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+)/
              .exec(out)?.[1];
          assert(url, out);
          // The token buys the cookie that serves the page.
          const login = await fetch(url, { redirect: "manual" });
          await login.body?.cancel();
          const cookie = login.headers.get("set-cookie")?.split(";")[0];
          assert(cookie, `no cookie (${login.status})`);
          const res = await fetch(new URL("/", url), { headers: { cookie } });
          assertEquals(res.status, 200);
          assertIncludes(await res.text(), "<html");
          // The first login there made the machine a device of alice's.
          const devices = await Deno.readDir(join(fresh, "devices"))
            [Symbol.asyncIterator]().next();
          assert(!devices.done, "a device file");
        } finally {
          await Deno.remove(fresh, { recursive: true });
        }
      },
    );

    await t.step(
      "chat peer --signup: trust, the password twice, then 'account created'",
      async () => {
        const fresh = await Deno.makeTempDir({ prefix: "chat-term-" });
        try {
          await using p = await Pane.run(fresh, [
            "peer",
            "--registry",
            address,
            "--user",
            "newbie",
            "--signup",
          ], { ...env, CHAT_HOME: fresh });
          const trust = await p.waitFor(
            "Trust this registry and remember it? [y/N]",
            "the trust question",
          );
          assert(!trust.includes("password"), trust);
          await p.type("y");
          await p.waitFor("password for newbie:", "the password prompt");
          await p.type("newbie-password");
          await p.waitFor("again:", "the second password prompt");
          await p.type("newbie-password");
          await p.waitFor(
            "account newbie created; logged in as newbie",
            "the account created line",
          );
          await p.type("/quit");
          assertEquals(await p.exitCode(), 0);
        } finally {
          await Deno.remove(fresh, { recursive: true });
        }
      },
    );

    await t.step(
      "chat send FILE, chat send - under a pipe and chat receive ask for the user and the password on a fresh machine",
      async () => {
        const fresh = await Deno.makeTempDir({ prefix: "chat-term-" });
        const file = join(fresh, "note.txt");
        await Deno.writeTextFile(file, "hello\n");
        try {
          const pin = {
            ...env,
            CHAT_HOME: fresh,
            CHAT_REGISTRY_FINGERPRINT: `sha256:${reg.fingerprint}`,
          };
          {
            await using p = await Pane.run(fresh, [
              "send",
              "--registry",
              address,
              "newbie",
              file,
            ], pin);
            await p.waitFor(/^user:\s*$/m, "the user prompt");
            await p.type("alice");
            await p.waitFor("password for alice:", "the password prompt");
            await p.type("alice-password");
            assertEquals(await p.exitCode(), 1);
            assertIncludes(
              await p.screen(),
              "chat: newbie is offline — ask them to run chat peer or chat receive",
            );
          }
          await Deno.remove(join(fresh, "last_login"));
          await Deno.remove(join(fresh, "devices"), { recursive: true });
          {
            // Data on stdin: the questions come on the terminal itself.
            await using p = await Pane.run(
              fresh,
              [
                "send",
                "--registry",
                address,
                "newbie",
                "-",
              ],
              pin,
              "printf 'piped data'",
            );
            await p.waitFor(/^user:\s*$/m, "the user prompt on the terminal");
            await p.type("alice");
            await p.waitFor("password for alice:", "the password prompt");
            await p.type("alice-password");
            assertEquals(await p.exitCode(), 1);
            assertIncludes(
              await p.screen(),
              "chat: newbie is offline — ask them to run chat peer or chat receive",
            );
          }
          await Deno.remove(join(fresh, "last_login"));
          await Deno.remove(join(fresh, "devices"), { recursive: true });
          {
            await using p = await Pane.run(fresh, [
              "receive",
              "--registry",
              address,
              "--timeout",
              "1s",
            ], pin);
            await p.waitFor(/^user:\s*$/m, "the user prompt");
            await p.type("alice");
            await p.waitFor("password for alice:", "the password prompt");
            await p.type("alice-password");
            assertEquals(await p.exitCode(), 1);
            assertIncludes(
              await p.screen(),
              "chat: no file arrived within 1 s",
            );
          }
        } finally {
          await Deno.remove(fresh, { recursive: true });
        }
      },
    );

    await t.step(
      "chat receive -o an existing file asks; no keeps the file",
      async () => {
        const out = join(home, "keep.txt");
        await Deno.writeTextFile(out, "keep me");
        await using p = await Pane.run(home, ["receive", "-o", out], env);
        await p.waitFor(
          `${out} exists (7 B). Replace it? [y/N]`,
          "the replace question",
        );
        await p.type("n");
        assertEquals(await p.exitCode(), 1);
        assertIncludes(
          await p.screen(),
          `chat: ${out} exists — pass --force to replace it, or choose another -o`,
        );
        assertEquals(await Deno.readTextFile(out), "keep me");
      },
    );

    await t.step(
      "chat send bob - with nothing piped in refuses unless --name",
      async () => {
        await using p = await Pane.run(home, ["send", "alice", "-"], env);
        assertEquals(await p.exitCode(), 1);
        assertIncludes(
          await p.screen(),
          "nothing is piped into chat send and stdin is a terminal",
        );
      },
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("a trust answer slower than the registry's hello timeout still logs in", async () => {
  await using reg = await spawnRegistry({
    args: ["--handshake-timeout", "1s"],
  });
  await account(reg, "alice");
  const home = await Deno.makeTempDir({ prefix: "chat-term-" });
  try {
    await using p = await Pane.run(home, [
      "who",
      "--registry",
      `127.0.0.1:${reg.port}`,
      "--user",
      "alice",
    ], { CHAT_HOME: home, CHAT_PASSWORD: "", NO_COLOR: "1" });
    await p.waitFor("Trust this registry and remember it? [y/N]", "trust");
    // The registry gives up on the connection the question holds open.
    await until(
      () => reg.stderr.some((l) => l.includes("no hello in time")),
      "the registry to drop the waiting connection",
    );
    await p.type("y");
    await p.waitFor("password for alice:", "the password prompt");
    await p.type("alice-password");
    const out = await p.waitFor("nobody is online", "the who output");
    assertEquals(await p.exitCode(), 0, out);
    assert(!out.includes("lost the connection"), out);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
