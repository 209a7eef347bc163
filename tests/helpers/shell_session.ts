/**
 * A `chat peer` shell under a real pseudo-terminal: it runs inside a
 * detached tmux session, keys are typed with send-keys and the screen is
 * read with capture-pane. Each session uses its own tmux socket (-L) so
 * parallel runs never collide, and kills its tmux server when disposed.
 *
 * Needs tmux (Debian: `apt-get install -y tmux`).
 */
import { join } from "node:path";
import { MAIN, type RegistryProcess, until } from "./registry.ts";

const TMUX = "tmux";
/** A foreground colour in an SGR escape sequence (31-37, or 38;5;N). */
// deno-lint-ignore no-control-regex
export const COLOUR = /\x1b\[(?:[0-9;]*;)?3[1-8][;m]/;

function hasTmux(): boolean {
  try {
    const out = new Deno.Command(TMUX, {
      args: ["-V"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return out.success;
  } catch {
    return false;
  }
}

export const TMUX_FOUND = hasTmux();
if (!TMUX_FOUND) {
  console.warn(
    "shell PTY tests: tmux is not installed, so the shell's terminal tests are skipped " +
      "(Debian: apt-get install -y tmux)",
  );
}

/** A `chat peer` shell running in a detached tmux session. */
export class ShellSession implements AsyncDisposable {
  readonly socket = `chat-test-${crypto.randomUUID().slice(0, 12)}`;
  readonly dir: string;
  readonly exitFile: string;

  private constructor(dir: string) {
    this.dir = dir;
    this.exitFile = join(dir, "exit-code");
  }

  /**
   * Starts `chat peer --user USER` against `reg` on a 100x50 terminal (or
   * `columns` x `rows`); with `jobControl` under an interactive bash, so
   * Ctrl-Z stops it as a job and `fg` brings it back.
   */
  static async start(
    reg: RegistryProcess,
    user: string,
    extraEnv: Record<string, string> = {},
    size: { columns?: number; rows?: number; jobControl?: boolean } = {},
  ): Promise<ShellSession> {
    const dir = await Deno.makeTempDir({ prefix: `chat-pty-${user}-` });
    const s = new ShellSession(dir);
    const env: Record<string, string> = {
      CHAT_HOME: dir,
      CHAT_REGISTRY: `127.0.0.1:${reg.port}`,
      CHAT_REGISTRY_FINGERPRINT: `sha256:${reg.fingerprint}`,
      CHAT_PASSWORD: "",
      NO_COLOR: "",
      ...extraEnv,
    };
    const q = (v: string) => `'${v.replaceAll("'", `'\\''`)}'`;
    const command = `${q(Deno.execPath())} run --allow-all ${
      q(MAIN)
    } peer --user ${q(user)}; echo $? > ${q(s.exitFile)}`;
    const script = [
      "#!/bin/sh",
      ...Object.entries(env).map(([k, v]) => `export ${k}=${q(v)}`),
      ...(size.jobControl
        ? [
          `printf '%s\\n' ${q(command)} > ${q(join(dir, "peer.sh"))}`,
          `export PS1='$ '`,
          `exec bash --noprofile --norc -i`,
        ]
        : [
          command,
          // Keep the pane (and what the shell printed last) until the test ends.
          "sleep 120",
        ]),
    ].join("\n");
    const path = join(dir, "run.sh");
    await Deno.writeTextFile(path, script + "\n", { mode: 0o700 });
    await s.tmux(
      "new-session",
      "-d",
      "-s",
      "chat",
      "-x",
      String(size.columns ?? 100),
      "-y",
      String(size.rows ?? 50),
      path,
    );
    if (size.jobControl) {
      await until(
        async () => (await s.screen()).includes("$") || null,
        "bash's prompt",
      );
      await s.type(`sh ${q(join(dir, "peer.sh"))}`);
      await s.press("Enter");
    }
    return s;
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

  /** Answers the password prompt and waits for the shell's prompt. */
  async logIn(user: string): Promise<string> {
    await this.waitFor(`password for ${user}:`, "the password prompt");
    await this.type(`${user}-password`);
    await this.press("Enter");
    return await this.waitFor(new RegExp(`^${user}>`, "m"), "the prompt");
  }

  /** Resizes the terminal. */
  async resize(columns: number, rows: number): Promise<void> {
    await this.tmux(
      "resize-window",
      "-t",
      "chat",
      "-x",
      String(columns),
      "-y",
      String(rows),
    );
  }

  /** Pastes `text` as a bracketed paste (as a terminal does for Ctrl-Shift-V). */
  async paste(text: string): Promise<void> {
    await this.tmux("set-buffer", "-b", "p", "--", text);
    await this.tmux("paste-buffer", "-p", "-d", "-b", "p", "-t", "chat");
  }

  /** The visible screen (no scrollback), as plain text. */
  async visible(): Promise<string> {
    return await this.tmux("capture-pane", "-p", "-t", "chat");
  }

  /** Types text literally (no key names interpreted). */
  async type(text: string): Promise<void> {
    await this.tmux("send-keys", "-t", "chat", "-l", text);
  }

  /** Presses keys by name: Enter, Tab, C-d, ... */
  async press(...keys: string[]): Promise<void> {
    await this.tmux("send-keys", "-t", "chat", ...keys);
  }

  /** The screen and its scrollback, as plain text. */
  async screen(): Promise<string> {
    try {
      return await this.tmux("capture-pane", "-p", "-t", "chat", "-S", "-500");
    } catch {
      return "";
    }
  }

  /** The visible screen with its colours, as escape sequences. */
  async screenWithColours(): Promise<string> {
    return await this.tmux("capture-pane", "-p", "-e", "-t", "chat");
  }

  /** The line the cursor is on (the prompt line). */
  async cursorLine(): Promise<string> {
    const y = Number(
      (await this.tmux("display-message", "-p", "-t", "chat", "#{cursor_y}"))
        .trim(),
    );
    const visible = (await this.tmux("capture-pane", "-p", "-t", "chat"))
      .split("\n");
    return visible[y] ?? "";
  }

  /** Waits until the screen matches. */
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

  /** The exit code the shell script recorded, once the peer has exited. */
  async exitCode(): Promise<number> {
    const text = await until(
      () => Deno.readTextFile(this.exitFile).catch(() => ""),
      "the shell to exit",
      30_000,
    );
    return Number(text.trim());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.tmux("kill-server").catch(() => "");
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
