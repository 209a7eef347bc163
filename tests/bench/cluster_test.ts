import { assert, assertEquals } from "../helpers/assert.ts";
import { skipNote } from "../helpers/postgres.ts";
import { clusterScenario } from "../../bench/cluster.ts";

Deno.test({
  name:
    `P9 measures a two-instance cluster and a failover (quick)${skipNote()}`,
  ignore: skipNote() !== "",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  assertEquals(clusterScenario.id, "P9");
  const metrics = await clusterScenario.run({ quick: true });
  const byName = new Map(metrics.map((m) => [m.name, m]));
  for (
    const name of [
      "N=200/instance sessions online",
      "N=200/instance instance 1 CPU",
      "N=200/instance instance 2 peak RSS",
      "cross-instance chat set-up p99",
      "presence push across instances p99",
      "peers of a killed instance back on the other",
    ]
  ) {
    const m = byName.get(name);
    assert(m && m.value > 0, `${name}: ${JSON.stringify(m)}`);
  }
  assertEquals(byName.get("N=200/instance sessions online")!.value, 400);
  // Without P1 in the same process, the comparison says so.
  assert(Number.isNaN(byName.get("P1 single instance CPU")!.value));
});
