/**
 * R1 (bench/reliability_load.ts) at a size CI can afford: 200 sessions in a
 * load-generator process, heartbeating, searching and churning against a real
 * registry, which is killed with SIGKILL and restarted on the same ports and
 * database under that load. No timing is asserted — only that nothing is
 * lost: every session logs in (by device key, as a peer on a device does),
 * every search and re-login succeeds, every session is back after the
 * restart, P8's burst of device logins has no failure, and the registry
 * exits 0 on SIGTERM.
 * The 10,000-session run is `deno task bench --only R1`.
 */
import { measure, planFor } from "../../bench/reliability_load.ts";
import { assert, assertEquals } from "../helpers/assert.ts";

Deno.test("200 sessions with churn survive a registry restart under load, none lost", async () => {
  const m = await measure({
    ...planFor(true),
    n: 200,
    window1Ms: 2_000,
    window2Ms: 1_500,
    churnPerSecond: 10,
    backDeadlineMs: 60_000,
    burst: { workers: 4, ms: 400 },
  });
  assertEquals(m.online, 200, "every session logged in");
  assertEquals(m.auth, "device");
  assert(m.burst !== null && m.burst.logins > 0, "the burst logged in");
  assertEquals(
    [m.burst.failed, m.burst.fresh.failed],
    [0, 0],
    `burst failures: ${m.burst.firstError}`,
  );
  for (const [name, w] of [["before", m.w1], ["after", m.w2]] as const) {
    const sum = (k: "searchErrors" | "churnFailures" | "lostOutsideRestart") =>
      w.reports.reduce((a, r) => a + r[k], 0);
    const errors = {
      searchErrors: sum("searchErrors"),
      churnFailures: sum("churnFailures"),
      lostOutsideRestart: sum("lostOutsideRestart"),
      timeouts: w.reports.reduce((a, r) => a + r.timeouts, 0),
    };
    assertEquals(
      errors,
      { searchErrors: 0, churnFailures: 0, lostOutsideRestart: 0, timeouts: 0 },
      `${name} the restart: ${w.reports.flatMap((r) => r.firstErrors)}`,
    );
    assertEquals(w.reports.reduce((a, r) => a + r.online, 0), 200);
  }
  assertEquals(m.restart.notBack, 0, "every session back after the restart");
  assertEquals(m.restart.backTimes.length, 200);
  assertEquals(m.exitCode, 0, "the registry exits 0 on SIGTERM");
});
