/**
 * `deno task compile`: builds the self-contained `chat` executables (SPEC §5)
 * into dist/chat-<target>[.exe], with the narrowest permissions baked in.
 *
 *   deno task compile [--target T] [--out DIR] [--expect-version V] [--verbose]
 *
 * deno compile embeds a runtime (denort) that it downloads from dl.deno.land
 * once per target. Without network access, set DENORT_BIN to an unpacked
 * denort binary of the same Deno version for the target; when that is missing
 * too, this script fails with one line saying so. deno's own output goes to
 * DIR/compile.log (and to stderr with --verbose).
 *
 * Exit codes: 0 every requested target was built, 1 a build failed, 2 usage.
 */
import { V8_FLAGS as RUNTIME_V8_FLAGS } from "../common/v8_flags.ts";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import config from "../deno.json" with { type: "json" };
import { VERSION } from "../common/version.ts";

/** Every platform a release ships for, as `deno compile --target` names it. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** One release platform. */
export type Target = typeof TARGETS[number];

/** True for the names in TARGETS. */
export function isTarget(name: string): name is Target {
  return (TARGETS as readonly string[]).includes(name);
}

/** The executable's file name for a target: `chat-<target>`, `.exe` on Windows. */
export function outputName(target: Target): string {
  return `chat-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/**
 * Every environment variable chat reads, and nothing else. A name missing
 * here reads as unset in the binary (common/paths.ts treats a denied read so),
 * which is why the test-only fault hook CHAT_FAULT_CORRUPT_AT is left out on
 * purpose: release binaries cannot be told to corrupt a transfer.
 */
export const ENV_NAMES = [
  // Flags' environment fallbacks (cli/commands.ts) and credentials.
  "CHAT_REGISTRY",
  "CHAT_REGISTRY_FINGERPRINT",
  "CHAT_USER",
  "CHAT_PASSWORD",
  // Peer settings (cli/settings.ts).
  "CHAT_LOG_LEVEL",
  "CHAT_MAX_FILE_BYTES",
  // Where state lives (common/paths.ts).
  "CHAT_HOME",
  "XDG_DATA_HOME",
  "HOME",
  "USERPROFILE",
  "APPDATA",
  // Colour off (peer/front/terminal.ts, SPEC F13).
  "NO_COLOR",
  // Whether there is a desktop to open chat web's page on
  // (peer/front/web/open_browser.ts).
  "DISPLAY",
  "WAYLAND_DISPLAY",
  // Read by the PostgreSQL driver whatever it is given
  // (registry/postgres_store.ts), so `chat registry --db postgres://…` runs.
  "PGAPPNAME",
  "PGTARGETSESSIONATTRS",
] as const;

/**
 * The permissions baked into every binary, as deno flags. scripts/smoke.ts
 * runs `deno run` with exactly these to prove they suffice.
 *
 * - net: the registry listens (TLS + UDP) and peers dial the registry and
 *   each other at addresses only known at run time.
 * - read/write: not narrowed, because every path is chosen at run time
 *   (CHAT_HOME and its defaults, --db, --tls-cert/--tls-key, --log-file,
 *   `-o PATH`, files given to `/send` or `chat send`); see
 *   docs/distribution.md.
 * - env: only ENV_NAMES.
 * - run: only the system's URL openers, so `chat web` can open its page
 *   (xdg-open, open on macOS, cmd's start on Windows).
 * - sys: only networkInterfaces, so a peer can report its LAN addresses
 *   (candidates a peer on the same home network dials).
 * - no other sys, no ffi or import: nothing in the module graph needs them
 *   (node:dgram, node:tls, node:sqlite and node:readline work without).
 */
export const PERMISSION_FLAGS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  `--allow-env=${ENV_NAMES.join(",")}`,
  "--allow-run=xdg-open,open,cmd",
  "--allow-sys=networkInterfaces",
];

/**
 * Unstable APIs the code needs. None: UDP goes through node:dgram, not
 * Deno.listenDatagram, so --unstable-net is not required
 * (tests/scripts/compile_test.ts keeps this true).
 */
export const UNSTABLE_FLAGS: readonly string[] = [];

/**
 * Files loaded at run time that imports do not reach: the registry's
 * heartbeat worker (a Worker module is not part of the import graph). The
 * dynamic imports of main.ts, peer/front/mod.ts and peer/cmd/mod.ts are
 * string literals, so deno compile follows them, and deno.json (the version)
 * is imported as JSON.
 */
export const INCLUDES: readonly string[] = ["registry/udp_worker.ts"];

/** V8 settings baked into the binary: see common/v8_flags.ts for why. */
export const V8_FLAGS: readonly string[] = [
  `--v8-flags=${RUNTIME_V8_FLAGS.join(",")}`,
];

/** The project root (the folder holding deno.json). */
export const ROOT: string = dirname(dirname(fileURLToPath(import.meta.url)));

/** The arguments of `deno compile` for one target. */
export function compileArgs(
  target: Target,
  outDir: string,
  root: string = ROOT,
): string[] {
  return [
    "compile",
    ...PERMISSION_FLAGS,
    ...UNSTABLE_FLAGS,
    ...INCLUDES.flatMap((f) => ["--include", join(root, f)]),
    ...V8_FLAGS,
    "--target",
    target,
    "--output",
    join(outDir, outputName(target)),
    join(root, "main.ts"),
  ];
}

/** The target deno itself runs on, if it is a release target. */
export function hostTarget(
  os: string = Deno.build.os,
  arch: string = Deno.build.arch,
): Target | null {
  const name = os === "linux"
    ? `${arch}-unknown-linux-gnu`
    : os === "darwin"
    ? `${arch}-apple-darwin`
    : os === "windows"
    ? `${arch}-pc-windows-msvc`
    : "";
  return isTarget(name) ? name : null;
}

/**
 * The target an executable was built for, from its header (ELF, Mach-O or
 * PE), or null when it is none of the release targets.
 */
export function binaryTarget(head: Uint8Array): Target | null {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length >= 20 && v.getUint32(0) === 0x7f454c46) {
    const machine = v.getUint16(18, head[5] !== 2);
    if (machine === 0x3e) return "x86_64-unknown-linux-gnu";
    if (machine === 0xb7) return "aarch64-unknown-linux-gnu";
    return null;
  }
  if (head.length >= 8 && v.getUint32(0, true) === 0xfeedfacf) {
    const cpu = v.getUint32(4, true);
    if (cpu === 0x01000007) return "x86_64-apple-darwin";
    if (cpu === 0x0100000c) return "aarch64-apple-darwin";
    return null;
  }
  if (head.length >= 0x40 && head[0] === 0x4d && head[1] === 0x5a) {
    const pe = v.getUint32(0x3c, true);
    if (pe + 6 > head.length || v.getUint32(pe) !== 0x50450000) return null;
    return v.getUint16(pe + 4, true) === 0x8664
      ? "x86_64-pc-windows-msvc"
      : null;
  }
  return null;
}

/** What the command line asked for. */
export type Options =
  | {
    kind: "run";
    targets: Target[] | null;
    out: string;
    expectVersion: string | null;
    verbose: boolean;
  }
  | { kind: "help" }
  | { kind: "usage"; error: string };

/** Parses the script's arguments; `targets` null means "decide later". */
export function parseOptions(args: string[]): Options {
  let targets: Target[] | null = null;
  let out = "dist";
  let expectVersion: string | null = null;
  let verbose = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith("--") && eq > 0 ? arg.slice(eq + 1) : null;
    const value = () => inline ?? args[++i];
    switch (name) {
      case "--help":
      case "-h":
        return { kind: "help" };
      case "--verbose":
      case "-v":
        verbose = true;
        break;
      case "--target": {
        const t = value();
        if (t === undefined || !isTarget(t)) {
          return {
            kind: "usage",
            error: `--target needs one of ${TARGETS.join(", ")}${
              t === undefined ? "" : ` (got '${t}')`
            }`,
          };
        }
        targets = [...new Set([...(targets ?? []), t])];
        break;
      }
      case "--out": {
        const o = value();
        if (!o) return { kind: "usage", error: "--out needs a folder" };
        out = o;
        break;
      }
      case "--expect-version": {
        const e = value();
        if (!e) return { kind: "usage", error: "--expect-version needs V" };
        expectVersion = e.replace(/^v/, "");
        break;
      }
      default:
        return { kind: "usage", error: `unknown argument '${arg}'` };
    }
  }
  return { kind: "run", targets, out, expectVersion, verbose };
}

/** The advice for a missing runtime, shared by every failure that needs it. */
function runtimeFix(target: Target): string {
  return `allow network access, or set DENORT_BIN to an unpacked denort ` +
    `binary of Deno ${Deno.version.deno} for ${target} (from ` +
    `${runtimeUrl(target)})`;
}

/** The folder deno compile downloads this Deno version's runtimes from. */
export function runtimeBase(): string {
  return `https://dl.deno.land/release/v${Deno.version.deno}/`;
}

/** Where deno compile downloads the runtime for a target. */
export function runtimeUrl(target: Target): string {
  return `${runtimeBase()}denort-${target}.zip`;
}

/**
 * Turns a failed `deno compile`'s output into one line. Recognises the
 * runtime download failing (no network, proxy, DNS, HTTP error) and a
 * DENORT_BIN that deno could not read; anything else is quoted by its first
 * error line.
 */
export function explainFailure(
  target: Target,
  output: string,
  log: string,
): string {
  // deno colours its output when it thinks it may; strip that first.
  // deno-lint-ignore no-control-regex
  const text = output.replace(/\x1b\[[0-9;]*m/g, "");
  const missing = /Could not find denort at '([^']*)'/.exec(text);
  if (missing) {
    return `compile: DENORT_BIN=${missing[1]} cannot be read: point it at ` +
      `an unpacked denort binary of Deno ${Deno.version.deno} for ${target} ` +
      `(from ${runtimeUrl(target)}), or unset it and allow network access`;
  }
  const download = /Download\s+\S*denort/i.test(text) ||
    /dl\.deno\.land|denort-[\w-]+\.zip/.test(text);
  const failed =
    /error sending request|dns error|Connect|connection refused|timed out|tunnel|proxy|Bad response|status code|404|certificate/i
      .test(text);
  if (download && failed) {
    return `compile: cannot download the Deno runtime (denort) for ${target} ` +
      `from dl.deno.land — no network access? Fix: ${runtimeFix(target)}`;
  }
  const first =
    text.split("\n").map((l) => l.trim()).find((l) => /^error\b/i.test(l)) ??
      text.split("\n").map((l) => l.trim()).find((l) => l !== "") ??
      "no output";
  return `compile: deno compile failed for ${target}: ${first} ` +
    `(deno's output: ${log})`;
}

/** The first bytes of a file, enough for binaryTarget. */
async function readHead(path: string): Promise<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(4096);
  const n = await file.read(buf);
  return buf.subarray(0, n ?? 0);
}

/** Which targets to build, or a one-line reason not to. */
export function chooseTargets(
  requested: Target[] | null,
  denortTarget: Target | null | undefined,
  denortBin: string | undefined,
): Target[] | string {
  if (denortBin === undefined) return requested ?? [...TARGETS];
  // DENORT_BIN is one runtime for one platform: deno would embed it into
  // every target alike, so only its own target can be built with it.
  if (denortTarget === null || denortTarget === undefined) {
    return `compile: DENORT_BIN=${denortBin} is not a denort executable for ` +
      `any of ${TARGETS.join(", ")}: unpack denort-<target>.zip from ` +
      `${runtimeBase()} and point ` +
      `DENORT_BIN at the file inside`;
  }
  const list = requested ?? [denortTarget];
  const other = list.find((t) => t !== denortTarget);
  if (other) {
    return `compile: DENORT_BIN=${denortBin} is a runtime for ` +
      `${denortTarget}, not ${other}: build one target per DENORT_BIN ` +
      `(--target ${denortTarget}), or unset it to download each runtime`;
  }
  return list;
}

/** Runs one `deno compile`; resolves with its success and combined output. */
async function runCompile(
  target: Target,
  outDir: string,
  denortBin: string | undefined,
  verbose: boolean,
): Promise<{ ok: boolean; output: string }> {
  // deno gets this process's environment with DENORT_BIN as decided here:
  // the checked absolute path, or none at all (an empty one is unset).
  const env = Deno.env.toObject();
  delete env.DENORT_BIN;
  if (denortBin !== undefined) env.DENORT_BIN = denortBin;
  env.NO_COLOR = "1"; // plain text in the log
  const child = new Deno.Command(Deno.execPath(), {
    args: compileArgs(target, outDir),
    cwd: ROOT,
    clearEnv: true,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const dec = new TextDecoder();
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      output += dec.decode(chunk, { stream: true });
      if (verbose) await Deno.stderr.write(chunk);
    }
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout),
    pump(child.stderr),
  ]);
  return { ok: status.success, output };
}

/** Asks a freshly built binary for its version; null if it cannot run here. */
async function binaryVersion(path: string): Promise<string | null> {
  try {
    const out = await new Deno.Command(path, {
      args: ["--version"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    // Only the first line: a wrong runtime answers with deno's own banner.
    return new TextDecoder().decode(out.stdout).split("\n")[0]!.trim();
  } catch {
    return null;
  }
}

function sizeText(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

const HELP =
  `usage: deno task compile [--target T]... [--out DIR] [--expect-version V] [--verbose]

Builds chat for every target (or each --target) into DIR (default dist/)
as chat-<target>[.exe], with these permissions baked in:
  ${PERMISSION_FLAGS.join(" ")}

targets: ${TARGETS.join(", ")}

--expect-version V  fail unless deno.json's version is V (a leading v is ignored)
--verbose           show deno's own output (always kept in DIR/compile.log)

DENORT_BIN=PATH     use this denort binary instead of downloading the runtime;
                    it must be Deno ${Deno.version.deno}'s, for the target built`;

/** Runs the script; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  const opts = parseOptions(args);
  if (opts.kind === "help") {
    console.log(HELP);
    return 0;
  }
  if (opts.kind === "usage") {
    console.error(`compile: ${opts.error}\n${HELP.split("\n")[0]}`);
    return 2;
  }
  // The version chat reports comes from deno.json through common/version.ts,
  // which is in the module graph and so embedded in every binary.
  const version = config.version;
  if (VERSION !== version || !/^\d+\.\d+\.\d+([-+][\w.-]+)?$/.test(version)) {
    console.error(
      `compile: deno.json's version '${version}' is not a version like 1.2.3`,
    );
    return 1;
  }
  if (opts.expectVersion !== null && opts.expectVersion !== version) {
    console.error(
      `compile: deno.json says version ${version} but ${opts.expectVersion} ` +
        `was expected: bump "version" in deno.json before tagging`,
    );
    return 1;
  }

  let denortBin: string | undefined;
  let denortTarget: Target | null | undefined;
  try {
    denortBin = Deno.env.get("DENORT_BIN") || undefined;
  } catch {
    denortBin = undefined;
  }
  if (denortBin !== undefined) {
    denortBin = resolve(denortBin);
    try {
      denortTarget = binaryTarget(await readHead(denortBin));
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound
        ? "does not exist"
        : `cannot be read (${err instanceof Error ? err.message : err})`;
      const target = opts.targets?.[0] ?? hostTarget() ?? TARGETS[0];
      console.error(
        `compile: DENORT_BIN=${denortBin} ${why}: point it at an unpacked ` +
          `denort binary of Deno ${Deno.version.deno} for ${target} (from ` +
          `${runtimeUrl(target)}), or unset it and allow network access`,
      );
      return 1;
    }
  }
  const targets = chooseTargets(opts.targets, denortTarget, denortBin);
  if (typeof targets === "string") {
    console.error(targets);
    return 1;
  }

  const outDir = resolve(opts.out);
  await Deno.mkdir(outDir, { recursive: true });
  const logPath = join(outDir, "compile.log");
  await Deno.writeTextFile(logPath, "");
  console.log(
    `compile: chat ${version} for ${targets.length} target(s) into ${outDir}`,
  );
  for (const target of targets) {
    const { ok, output } = await runCompile(
      target,
      outDir,
      denortBin,
      opts.verbose,
    );
    await Deno.writeTextFile(
      logPath,
      `== deno ${compileArgs(target, outDir).join(" ")}\n${output}\n`,
      { append: true },
    );
    if (!ok) {
      console.error(explainFailure(target, output, logPath));
      return 1;
    }
    const path = join(outDir, outputName(target));
    const size = (await Deno.stat(path)).size;
    let stamp = `chat ${version}`;
    if (target === hostTarget()) {
      // This one can run here: make sure it reports the version.
      const reported = await binaryVersion(path);
      if (reported !== `chat ${version}`) {
        console.error(
          `compile: ${path} reports '${reported ?? "nothing"}' instead of ` +
            `'chat ${version}' for --version (deno's output: ${logPath})`,
        );
        return 1;
      }
      stamp += ", --version checked";
    }
    console.log(`built ${path} (${stamp}, ${sizeText(size)})`);
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
