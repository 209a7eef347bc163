import assert from "node:assert/strict";
import {
  atLeast,
  atMost,
  BenchUsageError,
  formatTable,
  formatValue,
  notMeasured,
  parseBenchArgs,
  percentile,
  ProcessSampler,
  readProcCpuMs,
  readProcMemory,
  type Scenario,
  spawnUntilLine,
  startLagMonitor,
  stats,
} from "../../bench/harness.ts";
import { selectScenarios } from "../../bench/main.ts";

const onLinux = Deno.build.os === "linux";

Deno.test("bench statistics", async (t) => {
  await t.step("percentile uses the nearest rank", () => {
    const values = Array.from({ length: 20 }, (_, i) => 20 - i); // 20..1
    assert.equal(percentile(values, 50), 10);
    assert.equal(percentile(values, 99), 20);
    assert.equal(percentile(values, 100), 20);
    assert.equal(percentile(values, 0), 1);
    assert.equal(percentile([7], 99), 7);
  });

  await t.step("percentile of nothing is NaN and a bad p is refused", () => {
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.throws(() => percentile([1], 101), RangeError);
    assert.throws(() => percentile([1], NaN), RangeError);
  });

  await t.step("stats summarises a sample without reordering it", () => {
    const values = [3, 1, 2];
    assert.deepEqual(stats(values), {
      n: 3,
      min: 1,
      mean: 2,
      p50: 2,
      p99: 3,
      max: 3,
    });
    assert.deepEqual(values, [3, 1, 2]);
  });
});

Deno.test("bench metrics and table", async (t) => {
  await t.step(
    "atMost and atLeast state the target and whether it was met",
    () => {
      assert.deepEqual(atMost("x", 120, "ms", 150), {
        name: "x",
        value: 120,
        unit: "ms",
        target: "≤ 150 ms",
        ok: true,
      });
      assert.equal(atMost("x", 151, "ms", 150).ok, false);
      assert.equal(atLeast("y", 19, "logins/s", 20).ok, false);
      assert.equal(atLeast("y", 20, "logins/s", 20).target, "≥ 20 logins/s");
    },
  );

  await t.step("a metric that could not be measured fails its target", () => {
    const m = notMeasured("z", "ms", "registry did not start", "≤ 500 ms");
    assert.ok(Number.isNaN(m.value));
    assert.equal(m.ok, false);
  });

  await t.step("formatValue keeps a few significant digits", () => {
    assert.equal(formatValue(1234.56), "1235");
    assert.equal(formatValue(42.345), "42.3");
    assert.equal(formatValue(3.14159), "3.14");
    assert.equal(formatValue(7), "7");
    assert.equal(formatValue(NaN), "n/a");
  });

  await t.step("formatTable lines up columns and lists notes", () => {
    const table = formatTable([
      { scenario: "P6", metric: atMost("chat --help p50", 88.1, "ms", 150) },
      { scenario: "P6", metric: notMeasured("later", "ms", "why not") },
    ]);
    const lines = table.split("\n");
    assert.match(lines[0]!, /^scenario\s+metric\s+value\s+unit\s+target\s+ok$/);
    assert.match(
      lines[2]!,
      /^P6\s+chat --help p50\s+88\.1\s+ms\s+≤ 150 ms\s+yes$/,
    );
    assert.match(lines[3]!, /n\/a/);
    assert.ok(table.includes("P6 later: why not"));
  });
});

Deno.test("bench command line", async (t) => {
  await t.step("reads --quick and --only in either spelling", () => {
    assert.deepEqual(parseBenchArgs([]), {
      quick: false,
      only: null,
      help: false,
    });
    assert.deepEqual(parseBenchArgs(["--quick", "--only", "p1,P6"]), {
      quick: true,
      only: ["P1", "P6"],
      help: false,
    });
    assert.deepEqual(parseBenchArgs(["--only=P3"]).only, ["P3"]);
  });

  await t.step("refuses unknown arguments and an empty --only", () => {
    assert.throws(() => parseBenchArgs(["--fast"]), BenchUsageError);
    assert.throws(() => parseBenchArgs(["--only"]), BenchUsageError);
  });

  const scenario = (id: string): Scenario => ({
    id,
    name: id,
    run: () => Promise.resolve([]),
  });

  await t.step("selects the scenarios asked for, in registration order", () => {
    const all = [scenario("P1"), scenario("P2"), scenario("P6")];
    assert.deepEqual(
      selectScenarios(all, ["P6", "P1"]).map((s) => s.id),
      ["P1", "P6"],
    );
    assert.equal(selectScenarios(all, null).length, 3);
  });

  await t.step("refuses an unknown id and a duplicate registration", () => {
    assert.throws(
      () => selectScenarios([scenario("P1")], ["P9"]),
      BenchUsageError,
    );
    assert.throws(() =>
      selectScenarios([scenario("P1"), scenario("P1")], null)
    );
  });
});

Deno.test({
  name: "bench process measurements",
  ignore: !onLinux,
  async fn(t) {
    await t.step("reads this process's memory from /proc", () => {
      const mem = readProcMemory(Deno.pid);
      assert.ok(mem);
      assert.ok(mem.rssBytes > 1024 * 1024);
      assert.ok(mem.hwmBytes >= mem.rssBytes);
    });

    await t.step("reads this process's CPU time from /proc", () => {
      const cpu = readProcCpuMs(Deno.pid);
      assert.ok(cpu !== null && cpu >= 0);
    });

    await t.step("reads nothing for a process that does not exist", () => {
      assert.equal(readProcMemory(2 ** 30), null);
      assert.equal(readProcCpuMs(2 ** 30), null);
    });

    await t.step("samples a process's peak memory", () => {
      const sampler = new ProcessSampler(Deno.pid, 1_000).start();
      sampler.sample();
      const s = sampler.stop();
      assert.ok(s.samples >= 2);
      assert.ok(s.peakRssBytes > 1024 * 1024);
      assert.ok(s.cpuMs >= 0);
    });

    await t.step(
      "spawnUntilLine times a child up to the line it waits for",
      async () => {
        const ready = await spawnUntilLine(
          Deno.execPath(),
          [
            "eval",
            "console.log('starting'); console.log('ready on 1234'); setInterval(() => {}, 1000);",
          ],
          /^ready on \d+$/,
        );
        assert.equal(ready.line, "ready on 1234");
        assert.ok(ready.ms > 0);
        const status = await ready.stop();
        assert.equal(status.signal, "SIGTERM");
      },
    );

    await t.step(
      "spawnUntilLine reports a child that exits first, with its stderr",
      async () => {
        await assert.rejects(
          spawnUntilLine(
            Deno.execPath(),
            ["eval", "console.error('cannot bind'); Deno.exit(3);"],
            /ready/,
          ),
          /exited with code 3 .*cannot bind/,
        );
      },
    );
  },
});

Deno.test("the lag monitor stops cleanly", () => {
  const monitor = startLagMonitor(5);
  assert.deepEqual(monitor.stop(), []);
});
