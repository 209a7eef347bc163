/**
 * P8: device logins (F23) while the registry carries P1's load, and the
 * registry killed and restarted under N peers that all log in again with
 * their device keys.
 *
 * One run of R1's machinery (bench/reliability_load.ts) with its own plan:
 * the N bench accounts each have a device record (one shared key pair, see
 * bench/registry_load.ts benchDevice), the load generators log their N peer
 * sessions in by signing the registry's challenge, heartbeat at 1 Hz and
 * search about once per 10 s each, as in P1. In the middle of the first
 * window, workers in the bench's own process log in with the device key as
 * fast as they go (challenge, signed login, logout, on kept connections;
 * then each on a new TLS connection). Then the registry is killed with
 * SIGKILL and started again on the same ports and database, and every
 * session reconnects the way a peer does, its re-login a signature check
 * instead of scrypt.
 *
 * Run alone: `deno run -A bench/device_login.ts [--quick]`.
 * CHAT_BENCH_P8_N overrides N.
 */
import {
  atLeast,
  atMost,
  info,
  type Metric,
  percentile,
  type RunOptions,
  runStandalone,
  type Scenario,
} from "./harness.ts";
import { measure, type Measured, type Plan } from "./reliability_load.ts";

/** SPEC.md §4 P8 targets. */
export const P8_TARGETS = { deviceLoginsPerSecond: 500, allBackSeconds: 15 };

/** P8's plan: short windows around the burst and the restart. */
export function p8Plan(quick: boolean): Plan {
  const n = Number(Deno.env.get("CHAT_BENCH_P8_N") ?? "");
  const plan: Plan = quick
    ? {
      n: 300,
      window1Ms: 6_000,
      window2Ms: 2_000,
      settleMs: 500,
      searchEveryMs: 10_000,
      churnPerSecond: 0,
      backDeadlineMs: 60_000,
      auth: "device",
      burst: { workers: 64, ms: 3_000 },
    }
    : {
      n: 10_000,
      window1Ms: 20_000,
      window2Ms: 5_000,
      settleMs: 3_000,
      searchEveryMs: 10_000,
      churnPerSecond: 0,
      backDeadlineMs: 120_000,
      auth: "device",
      burst: { workers: 96, ms: 10_000 },
    };
  return Number.isInteger(n) && n > 0 ? { ...plan, n } : plan;
}

function metrics(m: Measured): Metric[] {
  const b = m.burst;
  const r = m.restart;
  const out: Metric[] = [
    info(
      "sessions logged in",
      m.online,
      "sessions",
      `of ${m.n} peer sessions, by device key, over TLS in ${
        m.rampSeconds.toFixed(1)
      } s; each heartbeats at 1 Hz and searches about every 10 s`,
    ),
  ];
  if (b) {
    out.push(
      atLeast(
        `N=${m.n} device logins/s`,
        b.logins / b.seconds,
        "logins/s",
        P8_TARGETS.deviceLoginsPerSecond,
        `${b.logins} logins in ${
          b.seconds.toFixed(1)
        } s on kept connections (challenge, signed login, logout; each connection at most 15 a second) ` +
          `while the N sessions carry on; ${b.failed} failed${
            b.firstError ? ` (first: ${b.firstError})` : ""
          }`,
      ),
      info(
        `N=${m.n} device login p50`,
        percentile(b.perLoginMs, 50),
        "ms",
        `challenge and login; p99 ${
          percentile(b.perLoginMs, 99).toFixed(1)
        } ms`,
      ),
      info(
        `N=${m.n} device logins/s on a new TLS connection each`,
        b.fresh.logins / b.fresh.seconds,
        "logins/s",
        `connect, TLS, hello, challenge and login; ${b.fresh.logins} in ${
          b.fresh.seconds.toFixed(1)
        } s, ${b.fresh.failed} failed`,
      ),
    );
    if (b.cpu) {
      out.push(info(
        "burst: machine busy",
        b.cpu.machinePercent,
        "%",
        `of all cores while the burst ran; the load generators took ${
          b.cpu.loadersPercent.toFixed(0)
        } % of one core, the burst's own clients ${
          b.cpu.benchPercent.toFixed(0)
        } %`,
      ));
    }
  }
  out.push(
    info(
      "before restart: registry CPU",
      m.w1.cpuPercent,
      "%",
      `% of one core over ${m.w1.seconds} s, the burst included`,
    ),
    info(
      "restart: down for",
      r.downMs,
      "ms",
      "SIGKILL to the new registry's listening line",
    ),
    atMost(
      "restart: every peer back after",
      r.allBackMs / 1000,
      "s",
      P8_TARGETS.allBackSeconds,
      `from the new registry listening to the last of ${m.online} sessions logged in again by device key; p50 ${
        (percentile(r.backTimes, 50) / 1000).toFixed(1)
      } s, p99 ${
        (percentile(r.backTimes, 99) / 1000).toFixed(1)
      } s; ${r.attempts} reconnect attempts, ${r.refused} never reached it (refused while down, or a TCP connect unanswered)${
        r.listenOverflows === null
          ? ""
          : `; ${r.listenOverflows} connections dropped at full accept queues (machine-wide)`
      }${kernelQueues()}${
        Object.keys(r.errorKinds).length
          ? `; failed attempts that reached it: ${
            Object.entries(r.errorKinds).sort((a, b) => b[1] - a[1])
              .map(([k, n]) => `${n} ${k}`).join(", ")
          }`
          : ""
      }`,
    ),
    atMost("restart: sessions lost", r.notBack, "sessions", 0),
    info(
      "restart: sessions timed out while coming back",
      m.w2.reports.reduce((a, x) => a + x.timeouts, 0),
      "sessions",
      "logged in again, then ended by the registry for want of heartbeats (and logged in once more)",
    ),
    info(
      "restart: machine busy while they came back",
      r.loaders.machinePercent,
      "%",
      `of all cores; the load generators took ${
        r.loaders.processesPercent.toFixed(0)
      } % of one core`,
    ),
    info(
      "restart: registry CPU while they came back",
      r.cpuPercent,
      "%",
      `peak RSS ${r.peakRssMiB.toFixed(0)} MiB; lag p99 ${
        percentile(r.lagDuring, 99).toFixed(1)
      } ms`,
    ),
    atMost("registry exit code on SIGTERM", m.exitCode, "code", 0),
  );
  return out;
}

/** P8: device logins per second under load; restart under N peers. */
export const deviceLoginScenario: Scenario = {
  id: "P8",
  name:
    "device logins per second while P1 runs; registry killed and restarted under N peers",
  async run(opts: RunOptions): Promise<Metric[]> {
    return metrics(await measure(p8Plan(opts.quick)));
  },
};

if (import.meta.main) await runStandalone(deviceLoginScenario);

/** The kernel's caps on the listener's queues, as the note of a restart. */
function kernelQueues(): string {
  const read = (name: string) => {
    try {
      return Deno.readTextFileSync(`/proc/sys/net/${name}`).trim();
    } catch {
      return null;
    }
  };
  const accept = read("core/somaxconn");
  const syn = read("ipv4/tcp_max_syn_backlog");
  return accept === null
    ? ""
    : `; net.core.somaxconn ${accept}, net.ipv4.tcp_max_syn_backlog ${syn}`;
}
