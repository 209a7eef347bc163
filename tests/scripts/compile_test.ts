import { join } from "node:path";
import { assert, assertEquals, assertIncludes } from "../helpers/assert.ts";
import { DRIVER_ENV_NAMES } from "../../registry/postgres_store.ts";
import {
  binaryTarget,
  chooseTargets,
  compileArgs,
  ENV_NAMES,
  explainFailure,
  hostTarget,
  outputName,
  parseOptions,
  PERMISSION_FLAGS,
  ROOT,
  TARGETS,
  UNSTABLE_FLAGS,
} from "../../scripts/compile.ts";

const SCRIPT = join(ROOT, "scripts", "compile.ts");

/** Test-only environment hooks that release binaries must not honour. */
const NOT_BAKED = ["CHAT_FAULT_CORRUPT_AT"];

/** Every local module of main.ts's graph, as `deno info` resolves it. */
async function graph(): Promise<{ specifier: string; local?: string }[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", join(ROOT, "main.ts")],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  return info.modules;
}

async function runCompile(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", SCRIPT, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test("compile targets and output names", async (t) => {
  await t.step("covers the five release platforms", () => {
    assertEquals([...TARGETS].sort(), [
      "aarch64-apple-darwin",
      "aarch64-unknown-linux-gnu",
      "x86_64-apple-darwin",
      "x86_64-pc-windows-msvc",
      "x86_64-unknown-linux-gnu",
    ]);
  });
  await t.step("names each chat-<target>, with .exe only on Windows", () => {
    assertEquals(
      outputName("x86_64-unknown-linux-gnu"),
      "chat-x86_64-unknown-linux-gnu",
    );
    assertEquals(
      outputName("aarch64-apple-darwin"),
      "chat-aarch64-apple-darwin",
    );
    assertEquals(
      outputName("x86_64-pc-windows-msvc"),
      "chat-x86_64-pc-windows-msvc.exe",
    );
  });
  await t.step("passes target, output, permissions and main.ts to deno", () => {
    const args = compileArgs("aarch64-unknown-linux-gnu", "/out", "/src");
    assertEquals(args[0], "compile");
    for (const flag of PERMISSION_FLAGS) assert(args.includes(flag), flag);
    const t = args.indexOf("--target");
    assertEquals(args[t + 1], "aarch64-unknown-linux-gnu");
    const o = args.indexOf("--output");
    assertEquals(args[o + 1], join("/out", "chat-aarch64-unknown-linux-gnu"));
    assertEquals(args.at(-1), join("/src", "main.ts"));
  });
  await t.step("knows the host it runs on", () => {
    assertEquals(hostTarget("linux", "x86_64"), "x86_64-unknown-linux-gnu");
    assertEquals(hostTarget("darwin", "aarch64"), "aarch64-apple-darwin");
    assertEquals(hostTarget("windows", "x86_64"), "x86_64-pc-windows-msvc");
    assertEquals(hostTarget("windows", "aarch64"), null);
    assertEquals(hostTarget("freebsd", "x86_64"), null);
  });
});

Deno.test("compile bakes the narrowest permissions", async (t) => {
  await t.step(
    "net, read, write, a list of env names, the URL openers and the interface list; nothing else",
    () => {
      assertEquals(PERMISSION_FLAGS.slice(0, 3), [
        "--allow-net",
        "--allow-read",
        "--allow-write",
      ]);
      assertEquals(PERMISSION_FLAGS[3], `--allow-env=${ENV_NAMES.join(",")}`);
      // Only the URL openers chat web may start, never any program.
      assertEquals(PERMISSION_FLAGS[4], "--allow-run=xdg-open,open,cmd");
      // Only the list of interfaces (a peer's LAN candidates), no other sys.
      assertEquals(PERMISSION_FLAGS[5], "--allow-sys=networkInterfaces");
      assertEquals(PERMISSION_FLAGS.length, 6);
      for (const flag of PERMISSION_FLAGS.slice(0, 4)) {
        assert(!/^(-A|--allow-all|--allow-(sys|run|ffi|import))/.test(flag));
      }
    },
  );

  await t.step("the env list is exactly the names the code reads", async () => {
    const read = new Set<string>();
    for (const m of await graph()) {
      if (!m.local || !m.local.endsWith(".ts")) continue;
      const text = await Deno.readTextFile(m.local);
      // env("NAME") calls and `env: "NAME"` fallbacks in the CLI table.
      for (const hit of text.matchAll(/env\(\s*"([A-Z_]+)"\s*\)/g)) {
        read.add(hit[1]!);
      }
      for (const hit of text.matchAll(/\benv:\s*"([A-Z_]+)"/g)) {
        read.add(hit[1]!);
      }
      assert(
        !/Deno\.env\.(toObject|set|delete)\b/.test(text),
        `${m.local} uses Deno.env beyond get: update ENV_NAMES by hand`,
      );
    }
    // The PostgreSQL driver (an npm module, not walked here) reads these.
    for (const name of DRIVER_ENV_NAMES) read.add(name);
    const expected = [...read].filter((n) => !NOT_BAKED.includes(n)).sort();
    assertEquals([...ENV_NAMES].sort(), expected);
  });

  await t.step("--unstable-net only if a module uses Deno's UDP", async () => {
    let usesUnstableNet = false;
    for (const m of await graph()) {
      if (!m.local || !m.local.endsWith(".ts")) continue;
      const text = await Deno.readTextFile(m.local);
      if (/Deno\.(listenDatagram|connectQuic|listenQuic)\b/.test(text)) {
        usesUnstableNet = true;
      }
    }
    assertEquals(UNSTABLE_FLAGS.includes("--unstable-net"), usesUnstableNet);
  });

  await t.step("every lazily imported subcommand is in the graph", async () => {
    const local = new Set((await graph()).map((m) => m.local));
    for (
      const f of [
        "registry/mod.ts",
        "peer/mod.ts",
        "peer/front/shell.ts",
        "peer/cmd/pipe.ts",
        "deno.json",
      ]
    ) {
      assert(local.has(join(ROOT, f)), `${f} is not in main.ts's graph`);
    }
  });
});

Deno.test("compile reads the platform of a DENORT_BIN from its header", async (t) => {
  const elf = (machine: number) => {
    const b = new Uint8Array(64);
    b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1], 0);
    new DataView(b.buffer).setUint16(18, machine, true);
    return b;
  };
  const macho = (cpu: number) => {
    const b = new Uint8Array(32);
    const v = new DataView(b.buffer);
    v.setUint32(0, 0xfeedfacf, true);
    v.setUint32(4, cpu, true);
    return b;
  };
  const pe = (machine: number) => {
    const b = new Uint8Array(256);
    const v = new DataView(b.buffer);
    b.set([0x4d, 0x5a]);
    v.setUint32(0x3c, 0x80, true);
    v.setUint32(0x80, 0x50450000);
    v.setUint16(0x84, machine, true);
    return b;
  };
  await t.step("ELF, Mach-O and PE of each target", () => {
    assertEquals(binaryTarget(elf(0x3e)), "x86_64-unknown-linux-gnu");
    assertEquals(binaryTarget(elf(0xb7)), "aarch64-unknown-linux-gnu");
    assertEquals(binaryTarget(macho(0x01000007)), "x86_64-apple-darwin");
    assertEquals(binaryTarget(macho(0x0100000c)), "aarch64-apple-darwin");
    assertEquals(binaryTarget(pe(0x8664)), "x86_64-pc-windows-msvc");
  });
  await t.step("anything else is no target", () => {
    assertEquals(binaryTarget(elf(0x28)), null);
    assertEquals(binaryTarget(pe(0xaa64)), null);
    assertEquals(binaryTarget(new TextEncoder().encode("#!/bin/sh\n")), null);
    assertEquals(binaryTarget(new Uint8Array()), null);
    assertEquals(binaryTarget(new Uint8Array([0x4d, 0x5a])), null);
  });
  await t.step("the running deno is the host's target", async () => {
    const host = hostTarget();
    if (host === null) return;
    using f = await Deno.open(Deno.execPath());
    const head = new Uint8Array(4096);
    const n = await f.read(head);
    assertEquals(binaryTarget(head.subarray(0, n ?? 0)), host);
  });
});

Deno.test("compile chooses targets", async (t) => {
  await t.step("every target by default, the asked ones otherwise", () => {
    assertEquals(chooseTargets(null, undefined, undefined), [...TARGETS]);
    assertEquals(
      chooseTargets(["x86_64-apple-darwin"], undefined, undefined),
      ["x86_64-apple-darwin"],
    );
  });
  await t.step("DENORT_BIN builds its own target only", () => {
    assertEquals(
      chooseTargets(null, "aarch64-unknown-linux-gnu", "/d"),
      ["aarch64-unknown-linux-gnu"],
    );
    const other = chooseTargets(
      ["x86_64-apple-darwin"],
      "x86_64-unknown-linux-gnu",
      "/d",
    );
    assert(typeof other === "string");
    assertIncludes(other, "is a runtime for x86_64-unknown-linux-gnu");
    const junk = chooseTargets(null, null, "/d");
    assert(typeof junk === "string");
    assertIncludes(junk, "is not a denort executable");
  });
  await t.step("parses its flags", () => {
    assertEquals(parseOptions([]), {
      kind: "run",
      targets: null,
      out: "dist",
      expectVersion: null,
      verbose: false,
    });
    assertEquals(
      parseOptions([
        "--target",
        "x86_64-apple-darwin",
        "--target=aarch64-apple-darwin",
        "--out",
        "/tmp/x",
        "--expect-version",
        "v1.2.3",
        "--verbose",
      ]),
      {
        kind: "run",
        targets: ["x86_64-apple-darwin", "aarch64-apple-darwin"],
        out: "/tmp/x",
        expectVersion: "1.2.3",
        verbose: true,
      },
    );
    assertEquals(parseOptions(["--target", "mips"]).kind, "usage");
    assertEquals(parseOptions(["--out"]).kind, "usage");
    assertEquals(parseOptions(["--bogus"]).kind, "usage");
    assertEquals(parseOptions(["-h"]).kind, "help");
  });
});

Deno.test("compile explains a failed deno compile in one line", async (t) => {
  const target = "x86_64-unknown-linux-gnu";
  const url =
    `https://dl.deno.land/release/v${Deno.version.deno}/denort-${target}.zip`;
  const offline = `Compile main.ts to chat-${target}
Download ${url}
error: Writing deno compile executable to temporary file 'dist/chat.tmp-1'

Caused by:
    0: Setting up base binary.
    1: error sending request for url (${url}): client error (Connect): dns error: failed to lookup address information: Name or service not known
    2: client error (Connect)
`;
  await t.step("a runtime that cannot be downloaded", () => {
    const line = explainFailure(target, offline, "dist/compile.log");
    assert(!line.includes("\n"));
    assertIncludes(line, "cannot download the Deno runtime (denort)");
    assertIncludes(line, "allow network access");
    assertIncludes(
      line,
      `DENORT_BIN to an unpacked denort binary of Deno ${Deno.version.deno} for ${target}`,
    );
    assert(!line.includes("dns error"), "deno's details stay in the log");
  });
  await t.step("a DENORT_BIN deno cannot read", () => {
    const line = explainFailure(
      target,
      "error: Writing deno compile executable\n\nCaused by:\n    0: Could not find denort at '/x/denort'\n",
      "dist/compile.log",
    );
    assert(!line.includes("\n"));
    assertIncludes(line, "DENORT_BIN=/x/denort cannot be read");
  });
  await t.step("anything else quotes deno's first error", () => {
    const line = explainFailure(
      target,
      "Check main.ts\nerror: TS2322 [ERROR]: Type 'number' is not assignable\n    at main.ts:1:1\n",
      "dist/compile.log",
    );
    assert(!line.includes("\n"));
    assertIncludes(line, "deno compile failed for x86_64-unknown-linux-gnu");
    assertIncludes(line, "TS2322");
    assertIncludes(line, "dist/compile.log");
  });
});

Deno.test("compile fails in one line when DENORT_BIN names no file", async () => {
  const out = await Deno.makeTempDir({ prefix: "chat-compile-" });
  try {
    const r = await runCompile(["--out", out], {
      DENORT_BIN: join(out, "no-such-denort"),
    });
    assertEquals(r.code, 1);
    const lines = r.stderr.trim().split("\n");
    assertEquals(lines.length, 1, r.stderr);
    assertIncludes(lines[0]!, "does not exist");
    assertIncludes(lines[0]!, "DENORT_BIN");
    assertIncludes(lines[0]!, "allow network access");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("compile fails in one line when the runtime cannot be downloaded", async (t) => {
  // deno keeps downloaded runtimes in DENO_DIR/dl; pick one it does not have.
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const denoDir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir;
  const cached = (target: string) => {
    try {
      Deno.statSync(
        join(
          denoDir,
          "dl",
          "release",
          `v${Deno.version.deno}`,
          `denort-${target}.zip`,
        ),
      );
      return true;
    } catch {
      return false;
    }
  };
  const target = TARGETS.find((x) => !cached(x));
  if (!target) {
    await t.step({
      name: "every runtime is cached here",
      ignore: true,
      fn: () => {},
    });
    return;
  }
  const out = await Deno.makeTempDir({ prefix: "chat-compile-" });
  try {
    // A proxy nobody listens on makes the download fail with or without a
    // network, the way it fails offline.
    const proxy = "http://127.0.0.1:9";
    const r = await runCompile(["--target", target, "--out", out], {
      HTTPS_PROXY: proxy,
      https_proxy: proxy,
      HTTP_PROXY: proxy,
      http_proxy: proxy,
      NO_PROXY: "",
      no_proxy: "",
      DENORT_BIN: "",
    });
    assertEquals(r.code, 1);
    const lines = r.stderr.trim().split("\n");
    assertEquals(lines.length, 1, r.stderr);
    assertIncludes(
      lines[0]!,
      `cannot download the Deno runtime (denort) for ${target}`,
    );
    assertIncludes(lines[0]!, "DENORT_BIN");
    assertIncludes(
      await Deno.readTextFile(join(out, "compile.log")),
      "error sending request",
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("compile refuses a version that is not the tag's", async () => {
  const r = await runCompile(["--expect-version", "v999.0.0"], {});
  assertEquals(r.code, 1);
  assertEquals(r.stderr.trim().split("\n").length, 1);
  assertIncludes(r.stderr, "999.0.0 was expected");
});

Deno.test("deno.json runs the registry, peer, web and chat tasks as the binary runs", async () => {
  const { V8_FLAGS: runtime } = await import("../../common/v8_flags.ts");
  const { INCLUDES, ENV_NAMES } = await import("../../scripts/compile.ts");
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  for (const task of ["registry", "peer", "web", "chat"]) {
    const line: string = config.tasks[task];
    assertEquals(line.includes(`--v8-flags=${runtime.join(",")}`), true, task);
    assertEquals(
      line.includes(`--allow-env=${ENV_NAMES.join(",")}`),
      true,
      task,
    );
  }
  for (const f of INCLUDES) {
    assertEquals((await Deno.stat(join(ROOT, f))).isFile, true, f);
  }
});
