/**
 * `deno task bench [--quick] [--only ID[,ID]]`: runs the scenarios in
 * bench/scenarios.ts, prints one table and writes bench/results.json.
 *
 * With --only, the results of the scenarios that ran replace theirs in the
 * existing results.json and every other scenario's results are kept; a full
 * run writes the file afresh. Exit code 0 when every scenario ran (missed
 * targets are reported, not fatal), 1 when one failed, 2 on a bad command line.
 */
import {
  BenchUsageError,
  formatTable,
  type MachineInfo,
  machineInfo,
  type Metric,
  parseBenchArgs,
  type Row,
  type Scenario,
} from "./harness.ts";
import { SCENARIOS } from "./scenarios.ts";

/** Where results are written. */
export const RESULTS_PATH = new URL("./results.json", import.meta.url);

/** One scenario's entry in results.json. */
export interface ScenarioResult {
  name: string;
  /** When it ran (ISO 8601). */
  date: string;
  quick: boolean;
  seconds: number;
  /** NaN values are written as null. */
  metrics: Metric[];
  /** Set when the scenario threw instead of returning metrics. */
  error?: string;
}

/** The shape of bench/results.json. */
export interface Results {
  /** The machine of the latest run. */
  machine: MachineInfo;
  scenarios: Record<string, ScenarioResult>;
}

const USAGE = "usage: deno task bench [--quick] [--only ID[,ID]]";

/** Picks the scenarios to run; throws BenchUsageError for an unknown id. */
export function selectScenarios(
  all: readonly Scenario[],
  only: string[] | null,
): Scenario[] {
  const ids = all.map((s) => s.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup) throw new Error(`scenario ${dup} is registered twice`);
  if (only === null) return [...all];
  const unknown = only.filter((id) => !ids.includes(id));
  if (unknown.length) {
    throw new BenchUsageError(
      `unknown scenario ${unknown.join(", ")}; known: ${ids.join(", ")}`,
    );
  }
  return all.filter((s) => only.includes(s.id));
}

/** Reads results.json; null when missing or unreadable (it is then rewritten). */
async function readResults(): Promise<Results | null> {
  try {
    const value = JSON.parse(await Deno.readTextFile(RESULTS_PATH));
    if (value && typeof value === "object" && value.scenarios) {
      return value as Results;
    }
  } catch {
    // Missing or damaged: start afresh.
  }
  return null;
}

/** JSON replacer: NaN as null, fractions to 3 decimals. */
function tidyNumber(_key: string, value: unknown): unknown {
  if (typeof value !== "number") return value;
  if (Number.isNaN(value)) return null;
  return Number.isInteger(value) ? value : Math.round(value * 1000) / 1000;
}

/** Runs the bench; returns the exit code. */
export async function benchMain(args: string[]): Promise<number> {
  let scenarios: Scenario[];
  let quick: boolean;
  let merging: boolean;
  try {
    const parsed = parseBenchArgs(args);
    if (parsed.help) {
      console.log(
        `${USAGE}\nscenarios: ${
          SCENARIOS.map((s) => `${s.id} ${s.name}`).join("; ")
        }`,
      );
      return 0;
    }
    scenarios = selectScenarios(SCENARIOS, parsed.only);
    quick = parsed.quick;
    merging = parsed.only !== null;
  } catch (err) {
    if (err instanceof BenchUsageError) {
      console.error(`bench: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }

  const machine = machineInfo();
  const results: Results = {
    machine,
    scenarios: merging ? (await readResults())?.scenarios ?? {} : {},
  };
  const rows: Row[] = [];
  let failed = 0;
  for (const scenario of scenarios) {
    console.error(
      `running ${scenario.id} ${scenario.name}${quick ? " (quick)" : ""}…`,
    );
    const start = performance.now();
    const entry: ScenarioResult = {
      name: scenario.name,
      date: new Date().toISOString(),
      quick,
      seconds: 0,
      metrics: [],
    };
    try {
      entry.metrics = await scenario.run({ quick });
    } catch (err) {
      failed++;
      entry.error = err instanceof Error ? err.message : String(err);
      console.error(`bench: ${scenario.id} failed: ${entry.error}`);
    }
    entry.seconds = Math.round((performance.now() - start) / 100) / 10;
    results.scenarios[scenario.id] = entry;
    for (const metric of entry.metrics) {
      rows.push({ scenario: scenario.id, metric });
    }
  }

  console.log(formatTable(rows));
  const missed = rows.filter((r) => r.metric.ok === false).length;
  console.log(
    `\n${rows.length} metrics, ${missed} missed their target` +
      (failed ? `, ${failed} scenario(s) failed` : "") +
      ` — deno ${machine.deno}, ${machine.os}/${machine.arch}, ${machine.cpus} cpus`,
  );

  await Deno.writeTextFile(
    RESULTS_PATH,
    JSON.stringify(results, tidyNumber, 2) + "\n",
  );
  console.error(`wrote ${RESULTS_PATH.pathname}`);
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await benchMain(Deno.args));
