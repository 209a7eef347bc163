import { assert, assertEquals } from "../helpers/assert.ts";
import { chromiumMissing } from "../helpers/browser.ts";
import { webUiMetrics } from "../../bench/web_ui.ts";

Deno.test({
  name: "P11 measures the page to the other side and chat web's RSS (quick)",
  ignore: chromiumMissing() !== null,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const metrics = await webUiMetrics({ quick: true });
  assertEquals(metrics.map((m) => m.name), [
    "page to other side p99",
    "page to other side p50",
    "chat web RSS with the page open",
  ]);
  for (const m of metrics) assert(m.value > 0, `${m.name}: ${m.value}`);
});
