/**
 * Logs (common/log.ts, common/log_limit.ts): lines another user causes are
 * limited per source with one summary line, long values are cut, and a log
 * file is written in the background, capped and rotated.
 */
import { join } from "node:path";
import { assert, assertEquals, assertIncludes } from "../helpers/assert.ts";
import { fileSink, Logger, MAX_LOG_VALUE_CHARS } from "../../common/log.ts";
import { LogLimiter } from "../../common/log_limit.ts";

Deno.test("LogLimiter admits perWindow lines per source and counts the rest", () => {
  const l = new LogLimiter(3, 1000);
  const admitted = Array.from({ length: 10 }, () => l.admit("mallory", 0));
  assertEquals(admitted.filter(Boolean).length, 3);
  assert(l.admit("alice", 10), "another source has lines of its own");
  assertEquals(l.flush(500), [], "nothing is summed up inside the window");
  assertEquals(l.flush(1010), [{ source: "mallory", suppressed: 7 }]);
  assertEquals(l.size, 0, "expired windows are forgotten");
  assert(l.admit("mallory", 1010), "a new window admits again");
});

Deno.test("Logger.from limits lines per source and sums up what it left out", () => {
  const lines: string[] = [];
  let now = 0;
  const log = new Logger("info", (l) => lines.push(l), () => now, {
    perWindow: 5,
    windowMs: 60_000,
  });
  for (let i = 0; i < 10_000; i++) {
    log.from("mallory", "warn", "peer reported an error", { user: "mallory" });
  }
  log.from("alice", "warn", "peer reported an error", { user: "alice" });
  assertEquals(lines.length, 6);
  now = 60_000;
  log.from("alice", "info", "next");
  assertIncludes(
    lines.find((l) => l.includes("log suppressed"))!,
    "source=mallory lines=9995 window_s=60",
  );
  // Lines below the level cost nothing and count nothing.
  log.from("mallory", "debug", "quiet");
  // Without limits every line goes through.
  const all: string[] = [];
  const plain = new Logger("info", (l) => all.push(l));
  for (let i = 0; i < 100; i++) plain.from("mallory", "info", "x");
  assertEquals(all.length, 100);
});

Deno.test("a log line cuts a value someone else wrote to a few hundred characters", () => {
  const lines: string[] = [];
  new Logger("info", (l) => lines.push(l)).warn("peer reported an error", {
    reason: "x".repeat(1024 * 1024),
  });
  assert(lines[0]!.length < MAX_LOG_VALUE_CHARS + 100, `${lines[0]!.length}`);
  assertIncludes(lines[0]!, "x…");
});

Deno.test("a log file is written in the background, capped and rotated to PATH.1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-log-" });
  try {
    const path = join(dir, "peer.log");
    const sink = fileSink(path, { maxBytes: 64 * 1024, keep: 1 });
    const line = "y".repeat(99);
    for (let i = 0; i < 5000; i++) sink(`${i} ${line}`);
    await sink.flush();
    const size = (await Deno.stat(path)).size;
    const old = (await Deno.stat(`${path}.1`)).size;
    assert(size <= 64 * 1024, `peer.log is ${size} bytes`);
    assert(old <= 64 * 1024, `peer.log.1 is ${old} bytes`);
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    let entries = 0;
    for await (const _ of Deno.readDir(dir)) entries++;
    assertEquals(entries, 2, "one rotated file is kept");
    const last = (await Deno.readTextFile(path)).trim().split("\n").pop();
    assertEquals(last, `4999 ${line}`, "the newest line is in the live file");
    await sink.close();
    sink("after close is dropped");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a log file's queue is capped: lines past it are dropped and counted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-log-" });
  try {
    const path = join(dir, "registry.log");
    const sink = fileSink(path, { maxQueuedBytes: 10 * 1024 });
    // All of these arrive before the writer gets a turn.
    for (let i = 0; i < 1000; i++) sink("z".repeat(99));
    await sink.close();
    const text = await Deno.readTextFile(path);
    assert(text.length < 20 * 1024, `${text.length} bytes`);
    assert(/log dropped lines=\d+/.test(text), text.slice(-200));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
