import { assert, assertEquals } from "../../helpers/assert.ts";
import { LineWriter } from "../../../peer/front/line_writer.ts";
import { spawnRegistry, until } from "../../helpers/registry.ts";
import { spawnPeer } from "../../helpers/peer_process.ts";
import { MAIN } from "../../helpers/registry.ts";

Deno.test("LineWriter keeps lines in order through a slow sink and flushes them all", async () => {
  const chunks: string[] = [];
  const sink = {
    write: async (p: Uint8Array) => {
      await new Promise((r) => setTimeout(r, 1));
      // Take at most 7 bytes at a time, like a pipe that is nearly full.
      const n = Math.min(7, p.length);
      chunks.push(new TextDecoder().decode(p.subarray(0, n)));
      return n;
    },
  };
  const w = new LineWriter(sink);
  for (let i = 0; i < 50; i++) w.line(`line ${i}`);
  await w.flush();
  assertEquals(
    chunks.join(""),
    Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join(""),
  );
});

Deno.test("LineWriter reports a reader that fell too far behind, once, and drops the rest", async () => {
  let release!: () => void;
  const blocked = new Promise<void>((r) => release = r);
  const sink = { write: async (p: Uint8Array) => (await blocked, p.length) };
  const w = new LineWriter(sink, 100);
  const why: string[] = [];
  w.onOverflow = (s) => why.push(s);
  for (let i = 0; i < 20; i++) w.line("0123456789");
  assertEquals(why.length, 1);
  assert(why[0]!.includes("stdout is not being read"));
  release();
  await w.flush();
});

Deno.test("a JSON peer whose stdout is not read keeps heartbeating, and nothing it wrote is lost", async () => {
  await using reg = await spawnRegistry({
    args: ["--heartbeat-interval", "250ms", "--heartbeat-ttl", "1s"],
  });
  const home = await Deno.makeTempDir({ prefix: "chat-stall-" });
  // Create the account first with a normal peer.
  await using first = await spawnPeer(reg, { user: "stall", home });
  assertEquals(await first.quit(), 0);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      MAIN,
      "peer",
      "--json",
      "--user",
      "stall",
      "--registry",
      `127.0.0.1:${reg.port}`,
    ],
    env: {
      CHAT_HOME: home,
      CHAT_PASSWORD: "stall-password",
      CHAT_REGISTRY_FINGERPRINT: reg.fingerprint,
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  await using watcher = await spawnPeer(reg, { user: "watcher" });
  await until(
    async () => (await watcher.send("/search stall")).online === true,
    "stall online",
  );
  // Each /help reply is a few KiB: 400 of them overflow any pipe buffer.
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("/help\n".repeat(400)));
  // Three TTLs later, with nobody reading its stdout, it is still online.
  const t0 = Date.now();
  await until(
    () => Date.now() - t0 > 3000,
    "three heartbeat TTLs",
    10_000,
    100,
  );
  assertEquals((await watcher.send("/search stall")).online, true);
  await writer.close();
  const text = new TextDecoder().decode((await child.output()).stdout);
  const lines = text.trim().split("\n").map((l) => JSON.parse(l));
  assertEquals(lines[0].type, "ready");
  assertEquals(
    lines.filter((l) => l.type === "reply" && l.command === "/help").length,
    400,
  );
  await Deno.remove(home, { recursive: true });
});
