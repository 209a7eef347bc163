/**
 * The command-line surface (SPEC §2, issue 2 item 2): `--help` lists every
 * command, `COMMAND --help` describes every flag, `--version`, and every kind
 * of bad command line gets a one-line reason and the usage on stderr with
 * exit code 2. Most cases run main() in this process with the console
 * captured; a few run `chat` as a real process to prove the streams and
 * exit codes end to end.
 */
import { assert, assertEquals, assertIncludes } from "../helpers/assert.ts";
import { runChat } from "../helpers/peer_process.ts";
import { main } from "../../main.ts";
import { COMMANDS, parseArgs } from "../../cli/mod.ts";
import { VERSION } from "../../common/version.ts";

interface Captured {
  code: number;
  out: string;
  err: string;
}

/** Runs main() with console.log/console.error captured. */
async function capture(argv: string[]): Promise<Captured> {
  const log = console.log;
  const error = console.error;
  const out: string[] = [];
  const err: string[] = [];
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    const code = await main(argv);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** The flags SPEC §2 gives each command (plus the F19 pin for peer commands). */
const SPEC_FLAGS: Record<string, string[]> = {
  registry: [
    "--host",
    "--port",
    "--udp-port",
    "--db",
    "--tls-cert",
    "--tls-key",
    "--heartbeat-interval",
    "--heartbeat-ttl",
    "--idle-timeout",
    "--log-level",
    "--log-file",
  ],
  peer: [
    "--registry",
    "--port",
    "--user",
    "--signup",
    "--replace",
    "--json",
    "--registry-fingerprint",
  ],
  signup: ["--registry", "--user", "--registry-fingerprint"],
  who: ["--detailed", "--json"],
  search: ["--json"],
  send: ["--name"],
  receive: ["--from", "-o", "--timeout"],
};

/** SPEC §2 defaults that `COMMAND --help` must show. */
const SPEC_DEFAULTS: Record<string, string[]> = {
  registry: [
    "default 0.0.0.0",
    "default 15600",
    "default 15500",
    "default 1s",
    "default 3s",
  ],
  peer: ["default 127.0.0.1:15600", "env CHAT_REGISTRY", "env CHAT_USER"],
  receive: ["default 0"],
};

Deno.test("chat --help lists every command, exit 0, on stdout", async () => {
  for (const argv of [["--help"], ["-h"], ["help"]]) {
    const r = await capture(argv);
    assertEquals(r.code, 0);
    assertEquals(r.err, "");
    for (
      const name of [
        "registry",
        "peer",
        "signup",
        "who",
        "search",
        "send",
        "receive",
      ]
    ) {
      assert(
        new RegExp(`^  ${name}\\s+\\S`, "m").test(r.out),
        `${name} missing from ${argv}`,
      );
    }
    assertIncludes(r.out, "chat COMMAND --help");
    assertIncludes(r.out, "--version");
    assertIncludes(
      r.out,
      "exit codes: 0 success, 1 the operation failed, 2 usage error",
    );
  }
});

Deno.test("chat COMMAND --help describes every SPEC flag of that command", async (t) => {
  for (const [name, flags] of Object.entries(SPEC_FLAGS)) {
    await t.step(name, async () => {
      const r = await capture([name, "--help"]);
      assertEquals(r.code, 0);
      assertEquals(r.err, "");
      assert(r.out.startsWith(`chat ${name} — `), r.out.split("\n")[0]);
      assertIncludes(r.out, `usage: chat ${name}`);
      for (const flag of flags) {
        const line = r.out.split("\n").find((l) =>
          new RegExp(`(^|[ ,])${flag}( |,|$)`).test(l) && /^\s+-/.test(l)
        );
        assert(line, `chat ${name} --help does not describe ${flag}`);
        const description = line.replace(/^\s+\S.*?\s{2,}/, "");
        assert(description.length > 5, `${flag} has no description: ${line}`);
      }
      for (const d of SPEC_DEFAULTS[name] ?? []) assertIncludes(r.out, d);
      const spec = COMMANDS.find((c) => c.name === name)!;
      for (const f of spec.flags) assertIncludes(r.out, `--${f.name}`);
      const again = await capture(["help", name]);
      assertEquals(again.out, r.out, "chat help NAME is the same");
      const late = await capture([name, "--help", "--no-such-flag"]);
      assertEquals(late.code, 0, "--help wins over what follows it");
    });
  }
});

Deno.test("chat --version prints the version of deno.json", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  );
  for (const flag of ["--version", "-V"]) {
    const r = await capture([flag]);
    assertEquals(r.code, 0);
    assertEquals(r.out, `chat ${config.version}`);
    assertEquals(VERSION, config.version);
  }
});

/** Bad command lines and a part of the one-line reason each must give. */
const BAD: [string[], string][] = [
  [[], "missing command"],
  [["frobnicate"], "unknown command 'frobnicate'"],
  [["help", "frobnicate"], "no help for unknown command 'frobnicate'"],
  [["--frobnicate"], "unknown option '--frobnicate'"],
  [["peer", "--frobnicate"], "unknown option '--frobnicate' for chat peer"],
  [["peer", "-x"], "unknown option '-x' for chat peer"],
  [["who", "--port", "1"], "unknown option '--port' for chat who"],
  [["peer", "--json=yes"], "option --json takes no value"],
  // ports
  [["registry", "--port", "70000"], "--port '70000' is not a port (0-65535)"],
  [["registry", "--port", "abc"], "--port 'abc' is not a port"],
  [["registry", "--udp-port", "-1"], "--udp-port '-1' is not a port"],
  [["peer", "--port=1.5"], "--port '1.5' is not a port"],
  [["registry", "--port"], "option --port needs a value (PORT)"],
  [["registry", "--port", "--db"], "option --port needs a value"],
  // durations
  [
    ["registry", "--heartbeat-ttl", "3x"],
    "--heartbeat-ttl '3x' is not a duration",
  ],
  [["registry", "--heartbeat-interval", "-1s"], "is not a duration"],
  [
    ["registry", "--idle-timeout", "soon"],
    "--idle-timeout 'soon' is not a duration",
  ],
  [
    ["receive", "--timeout", "forever"],
    "--timeout 'forever' is not a duration",
  ],
  [
    ["registry", "--heartbeat-interval", "0"],
    "--heartbeat-interval must be between 1ms and 1h",
  ],
  [
    ["registry", "--heartbeat-ttl", "2h"],
    "--heartbeat-ttl must be between 1ms and 1h",
  ],
  // names
  [
    ["peer", "--user", "bad name"],
    "--user 'bad name' is not a valid user name",
  ],
  [["peer", "--user", "x".repeat(33)], "is not a valid user name"],
  [["receive", "--from", "b@d"], "--from 'b@d' is not a valid user name"],
  [["search", "b!d"], "'b!d' is not a valid user name"],
  [["send", "b/d"], "'b/d' is not a valid user name"],
  // HOST:PORT
  [["peer", "--registry", "nohost"], "--registry 'nohost' is not HOST:PORT"],
  [["peer", "--registry", "host:0"], "--registry 'host:0' is not HOST:PORT"],
  [["who", "--registry", "host:99999"], "is not HOST:PORT"],
  [["signup", "--registry", ":15600"], "is not HOST:PORT"],
  [
    ["peer", "--registry", "a:1,,b:2"],
    "--registry 'a:1,,b:2' is not HOST:PORT",
  ],
  [["peer", "--registry", "a:1,b"], "is not HOST:PORT or a list of up to 16"],
  [
    [
      "peer",
      "--registry",
      Array.from({ length: 17 }, (_, i) => `h${i}:1`).join(","),
    ],
    "is not HOST:PORT or a list of up to 16 separated by commas",
  ],
  // fingerprints
  [
    ["peer", "--registry-fingerprint", "sha256:zz"],
    "is not a SHA-256 fingerprint",
  ],
  [
    ["who", "--registry-fingerprint", "ab".repeat(31)],
    "is not a SHA-256 fingerprint",
  ],
  // log level
  [
    ["registry", "--log-level", "loud"],
    "--log-level 'loud' is not a log level",
  ],
  // positionals
  [["search"], "missing NAME"],
  [["send"], "missing NAME"],
  [["search", "a", "b"], "unexpected argument 'b'"],
  [["send", "bob", "a", "b"], "unexpected argument 'b'"],
  [["who", "extra"], "unexpected argument 'extra'"],
  [["registry", "extra"], "unexpected argument 'extra'"],
  // --tls-cert and --tls-key go together
  [
    ["registry", "--tls-cert", "cert.pem"],
    "--tls-cert and --tls-key go together",
  ],
  [
    ["registry", "--tls-key", "key.pem"],
    "--tls-cert and --tls-key go together",
  ],
  [["registry", "--db", ""], "--db '' is empty"],
];

Deno.test("every bad command line gives a one-line reason and the usage on stderr, exit 2", async (t) => {
  for (const [argv, reason] of BAD) {
    await t.step(argv.join(" ") || "(nothing)", async () => {
      const r = await capture(argv);
      assertEquals(r.code, 2, `${argv.join(" ")}: ${r.err}`);
      assertEquals(r.out, "", "nothing on stdout");
      const lines = r.err.split("\n");
      assert(lines[0]!.startsWith("chat: "), lines[0]);
      assertIncludes(lines[0]!, reason);
      assert(lines.length >= 2, "the usage follows the reason");
      assert(lines[1]!.startsWith("usage: chat"), lines[1]);
    });
  }
});

Deno.test("bad values from the environment are named by their variable", () => {
  const env = (vars: Record<string, string>) => (k: string) => vars[k];
  const cases: [string[], Record<string, string>, string][] = [
    [
      ["peer"],
      { CHAT_REGISTRY: "nowhere" },
      "CHAT_REGISTRY 'nowhere' is not HOST:PORT",
    ],
    [
      ["who"],
      { CHAT_USER: "Bad User" },
      "CHAT_USER 'Bad User' is not a valid user name",
    ],
    [
      ["signup"],
      { CHAT_REGISTRY_FINGERPRINT: "md5:abc" },
      "CHAT_REGISTRY_FINGERPRINT 'md5:abc' is not a SHA-256 fingerprint",
    ],
  ];
  for (const [argv, vars, reason] of cases) {
    const p = parseArgs(argv, env(vars));
    assertEquals(p.kind, "usage");
    if (p.kind === "usage") assertIncludes(p.error, reason);
  }
  // Flags beat the environment, and a good value is normalised.
  const ok = parseArgs(
    ["peer", "--registry", "10.0.0.1:1", "--user", "Alice"],
    env({ CHAT_REGISTRY: "nowhere", CHAT_USER: "Bad User" }),
  );
  assertEquals(ok.kind, "run");
  if (ok.kind === "run") {
    assertEquals(ok.flags.registry, "10.0.0.1:1");
    assertEquals(ok.flags.user, "alice");
    assertEquals(ok.flags.port, 0, "the peer's default port");
  }
  const v6 = parseArgs(["who", "--registry", "[::1]:15600"], env({}));
  assertEquals(v6.kind, "run");
  const durations = parseArgs(
    ["registry", "--heartbeat-ttl", "500ms", "--idle-timeout", "2m"],
    env({}),
  );
  assert(durations.kind === "run");
  assertEquals(durations.flags["heartbeat-ttl"], 500);
  assertEquals(durations.flags["idle-timeout"], 120_000);
  assertEquals(durations.flags["heartbeat-interval"], 1000);
});

Deno.test("chat as a real process: help on stdout exit 0, usage errors on stderr exit 2", async () => {
  const [help, sub, version, unknown, badPort, noKey] = await Promise.all([
    runChat(["--help"]),
    runChat(["receive", "--help"]),
    runChat(["--version"]),
    runChat(["frobnicate"]),
    runChat(["peer", "--port", "99999"]),
    runChat(["registry", "--port", "0", "--tls-cert", "x.pem"]),
  ]);
  assertEquals(help.code, 0);
  assertIncludes(help.text, "commands:");
  assertEquals(help.stderr, "");
  assertEquals(sub.code, 0);
  assertIncludes(sub.text, "-o, --output PATH|-");
  assertEquals(version.code, 0);
  assertEquals(version.text, `chat ${VERSION}\n`);
  for (const r of [unknown, badPort, noKey]) {
    assertEquals(r.code, 2, r.stderr);
    assertEquals(r.text, "");
    assert(/^chat: [^\n]+\nusage: chat/.test(r.stderr), r.stderr);
  }
  assertIncludes(unknown.stderr, "unknown command 'frobnicate'");
  assertIncludes(badPort.stderr, "--port '99999' is not a port");
  assertIncludes(noKey.stderr, "--tls-cert and --tls-key go together");
});

Deno.test("help texts stand alone: the variables, --json of signup, no pointer to files a binary lacks, no spec citations", async () => {
  const top = await capture(["--help"]);
  for (
    const v of [
      "CHAT_REGISTRY",
      "CHAT_USER",
      "CHAT_PASSWORD",
      "CHAT_REGISTRY_FINGERPRINT",
      "CHAT_HOME",
      "CHAT_LOG_LEVEL",
      "CHAT_MAX_FILE_BYTES",
    ]
  ) assert(new RegExp(`^  ${v}\\s+\\S`, "m").test(top.out), `${v}: ${top.out}`);
  const signup = await capture(["signup", "--help"]);
  assertIncludes(
    signup.out,
    "usage: chat signup [--registry HOST:PORT] [--user NAME] [--json]",
  );
  const peer = await capture(["peer", "--help"]);
  assertIncludes(peer.out, '{"type":"reply","command":"/who","ok":true,…}');
  const texts = [top.out];
  for (const c of COMMANDS) texts.push((await capture([c.name, "--help"])).out);
  for (const text of texts) {
    assert(!/docs\//.test(text), `a help text points to docs/:\n${text}`);
    assert(!/SPEC|§/.test(text), `a help text cites the spec:\n${text}`);
  }
});

Deno.test("the README and docs cite no spec sections", async () => {
  const root = new URL("../../", import.meta.url);
  const files = [new URL("README.md", root)];
  for await (const e of Deno.readDir(new URL("docs/", root))) {
    if (e.name.endsWith(".md")) files.push(new URL(`docs/${e.name}`, root));
  }
  assert(files.length > 3);
  for (const f of files) {
    const lines = (await Deno.readTextFile(f)).split("\n");
    lines.forEach((line, i) => {
      assert(
        !/SPEC|§|\(F\d+\b/.test(line),
        `${f.pathname}:${i + 1} cites the spec: ${line}`,
      );
    });
  }
});

Deno.test("a mistyped command or long option gets a 'did you mean'", async () => {
  const cases: [string[], string][] = [
    [["pear"], "chat: unknown command 'pear' — did you mean 'peer'?"],
    [["recieve"], "chat: unknown command 'recieve' — did you mean 'receive'?"],
    [
      ["help", "sned"],
      "chat: no help for unknown command 'sned' — did you mean 'send'?",
    ],
    [
      ["peer", "--regsitry", "h:1"],
      "chat: unknown option '--regsitry' for chat peer — did you mean '--registry'?",
    ],
    [
      ["receive", "--forse"],
      "chat: unknown option '--forse' for chat receive — did you mean '--force'?",
    ],
    [
      ["send", "bob", "--nmae=x"],
      "chat: unknown option '--nmae=x' for chat send — did you mean '--name'?",
    ],
    [["xyzzy"], "chat: unknown command 'xyzzy'"],
  ];
  for (const [argv, first] of cases) {
    const r = await capture(argv);
    assertEquals(r.code, 2, argv.join(" "));
    assertEquals(r.err.split("\n")[0], first);
  }
});
