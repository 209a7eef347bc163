import { join } from "node:path";
import { assert, assertEquals, assertIncludes } from "../helpers/assert.ts";
import { ROOT } from "../../scripts/compile.ts";

const SCRIPT = join(ROOT, "scripts", "smoke.ts");

async function smoke(
  args: string[],
): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", SCRIPT, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    text: dec.decode(out.stdout) + dec.decode(out.stderr),
  };
}

Deno.test("the smoke journey passes under the permissions the binaries bake in", async () => {
  const r = await smoke([]);
  assertEquals(r.code, 0, r.text);
  assertIncludes(r.text, "--no-prompt --allow-net --allow-read --allow-write");
  for (
    const step of [
      "version",
      "registry",
      "signup",
      "search",
      "direct chat",
      "room",
      "pipe",
      "quit",
    ]
  ) {
    assert(
      new RegExp(`^ok +${step} `, "m").test(r.text),
      `no ok line for ${step}:\n${r.text}`,
    );
  }
  assertIncludes(r.text, "smoke: passed");
});

Deno.test("the smoke test fails, saying which step, on a program that is not chat", async () => {
  // deno itself answers --version with its own banner.
  const r = await smoke([Deno.execPath()]);
  assertEquals(r.code, 1, r.text);
  assert(/^FAIL +version +chat --version printed 'deno /m.test(r.text), r.text);
});

Deno.test("the smoke test rejects unknown options", async () => {
  const r = await smoke(["--bogus"]);
  assertEquals(r.code, 2, r.text);
  assertIncludes(r.text, "usage:");
});
