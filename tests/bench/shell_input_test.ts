/**
 * P10's benchmark runs and measures what it says: an 8 KiB paste of mixed
 * text, and keystrokes echoed while events are printed (quick mode; the
 * figures themselves are for `deno task bench`, not for a test to judge).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  echoMetrics,
  pasteMetrics,
  pasteText,
  shellInputScenario,
} from "../../bench/shell_input.ts";

Deno.test("the paste is 8 KiB of UTF-8 with line breaks, CJK and emoji", () => {
  const text = pasteText();
  assertEquals(new TextEncoder().encode(text).length, 8192);
  assert(text.includes("\r\n") && text.includes("世界") && text.includes("👍🏽"));
});

Deno.test("P10 in quick mode yields every metric with a value", async () => {
  assertEquals(shellInputScenario.id, "P10");
  const metrics = [
    ...(await pasteMetrics({ quick: true })),
    ...(await echoMetrics({ quick: true })),
  ];
  assertEquals(metrics.map((m) => m.name), [
    "8 KiB paste shown, first in the process",
    "8 KiB paste shown p99",
    "8 KiB paste shown p50",
    "keystroke to echo p99, 100 events/s",
    "keystroke to echo p50, 100 events/s",
    "screen work per keystroke p99",
    "events printed per second",
    "screen flushes per second",
    "terminal output",
  ]);
  for (const m of metrics) {
    assert(Number.isFinite(m.value) && m.value > 0, m.name);
  }
  assert(metrics[0]!.target === "≤ 50 ms" && metrics[3]!.target === "≤ 16 ms");
});
