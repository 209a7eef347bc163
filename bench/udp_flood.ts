/**
 * R3: what a UDP flood at the registry's heartbeat port costs and how much
 * of it the registry reads (SPEC §3.1, F18).
 *
 * A registry process (no sessions) is flooded with garbage
 * (tests/helpers/udp_flood.ts: sendmmsg, the mix of random lengths, wrong
 * magic and forged heartbeats) for 5 s at each of several aimed rates. For
 * each: the rate sent, the rate the socket took in (sent minus the kernel's
 * drops for that socket, /proc/net/udp), the share of what reached the
 * socket that it read — a real heartbeat gets in with about that
 * probability, since the kernel drops without looking — and the registry's
 * CPU.
 *
 * On a machine with 2 or more cores the senders are pinned to the first and
 * the registry to the second (taskset), standing in for an attacker on
 * another machine: loopback delivers a datagram on the sender's core.
 *
 * Then the same with the nftables rules docs/security.md gives operators
 * (drop what is not 44 bytes with the heartbeat's magic before it reaches
 * the socket), the registry in a network namespace of its own; skipped with
 * a note without root, `unshare` or `nft`.
 *
 * Run alone: `deno run -A bench/udp_flood.ts [--quick]` (about 45 s; quick
 * 10 s: 200,000 a second only).
 */
import { spawnRegistry } from "../tests/helpers/registry.ts";
import { flood } from "../tests/helpers/udp_flood.ts";
import {
  cpuSeconds,
  udpDrops,
  udpInDatagrams,
} from "../tests/helpers/udp_stats.ts";
import {
  info,
  type Metric,
  notMeasured,
  type RunOptions,
  runStandalone,
  type Scenario,
} from "./harness.ts";

const SECONDS = 5;
/** The heartbeat port inside the namespace (nothing else is there). */
const NS_UDP_PORT = 15500;

/** The nftables rules docs/security.md gives for heartbeat port `port`. */
export function nftRules(port: number): string {
  return `table inet chat_heartbeat {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport ${port} udp length != 52 drop
    udp dport ${port} @th,64,32 != 0x43484201 drop
  }
}
`;
}

async function has(cmd: string): Promise<boolean> {
  try {
    const o = await new Deno.Command("sh", {
      args: ["-c", `command -v ${cmd}`],
      stdout: "null",
      stderr: "null",
    }).output();
    return o.success;
  } catch {
    return false;
  }
}

interface Round {
  aim: number;
  sentPerS: number;
  tookPerS: number;
  share: number;
  cpu: number;
}

async function rounds(
  udpPort: number,
  pid: number,
  aims: number[],
  prefix: string[],
  ns: boolean,
): Promise<Round[]> {
  const out: Round[] = [];
  for (const aim of aims) {
    const d0 = await udpDrops(udpPort, ns ? pid : undefined);
    const in0 = ns ? await udpInDatagrams(pid) : null;
    const c0 = await cpuSeconds(pid);
    const r = await flood(udpPort, {
      seconds: SECONDS,
      rate: aim,
      senders: 1,
      prefix,
    });
    const d1 = await udpDrops(udpPort, ns ? pid : undefined);
    const in1 = ns ? await udpInDatagrams(pid) : null;
    const c1 = await cpuSeconds(pid);
    const dropped = (d1 ?? 0) - (d0 ?? 0);
    // In the namespace the rules drop some before the socket: count what
    // was queued to it (nothing else there receives UDP).
    const took = ns ? (in1 ?? 0) - (in0 ?? 0) : r.sent - dropped;
    out.push({
      aim,
      sentPerS: r.perSecond,
      tookPerS: Math.round(took / SECONDS),
      share: took + dropped > 0 ? 100 * took / (took + dropped) : NaN,
      cpu: c0 !== null && c1 !== null ? 100 * (c1 - c0) / SECONDS : NaN,
    });
  }
  return out;
}

function metricsOf(label: string, rs: Round[], note: string): Metric[] {
  const m: Metric[] = [];
  for (const r of rs) {
    const at = r.aim > 0 ? `${r.aim / 1000}k/s aimed` : "as fast as possible";
    m.push(info(`${label}, ${at}: sent`, r.sentPerS, "datagrams/s", note));
    m.push(
      info(`${label}, ${at}: read by the registry`, r.tookPerS, "datagrams/s"),
    );
    m.push(info(`${label}, ${at}: share read`, r.share, "%"));
    m.push(info(`${label}, ${at}: registry CPU`, r.cpu, "% of a core"));
  }
  return m;
}

async function measure(quick: boolean): Promise<Metric[]> {
  const aims = quick ? [200_000] : [50_000, 100_000, 200_000, 0];
  const pin = navigator.hardwareConcurrency >= 2 && await has("taskset");
  const regPin = pin ? ["taskset", "-c", "1"] : [];
  const sendPin = pin ? ["taskset", "-c", "0"] : [];
  const where = pin
    ? "senders pinned to core 0, the registry to core 1"
    : "senders and registry share the cores";
  const metrics: Metric[] = [];
  {
    await using reg = await spawnRegistry({
      spawn: (cmd, args, o) =>
        new Deno.Command(regPin[0] ?? cmd, {
          ...o,
          args: [...regPin.slice(1), ...(pin ? [cmd] : []), ...args],
        }).spawn(),
    });
    metrics.push(
      ...metricsOf(
        "plain",
        await rounds(reg.udpPort, reg.child.pid, aims, sendPin, false),
        where,
      ),
    );
  }

  const nsOk = Deno.uid?.() === 0 && await has("unshare") &&
    await has("nft") && await has("nsenter");
  if (!nsOk) {
    metrics.push(
      notMeasured(
        "with the nftables rules: read by the registry",
        "datagrams/s",
        "needs root, unshare, nsenter and nft",
      ),
    );
    return metrics;
  }
  await using reg = await spawnRegistry({
    udpPort: NS_UDP_PORT,
    spawn: (cmd, args, o) =>
      new Deno.Command("unshare", {
        ...o,
        args: [
          "-n",
          "sh",
          "-c",
          `ip link set lo up && printf '%s' "$0" | nft -f - && exec "$@"`,
          nftRules(NS_UDP_PORT),
          ...regPin,
          cmd,
          ...args,
        ],
      }).spawn(),
  });
  const enter = ["nsenter", "-t", String(reg.child.pid), "-n", ...sendPin];
  metrics.push(
    ...metricsOf(
      "nft rules",
      await rounds(NS_UDP_PORT, reg.child.pid, aims, enter, true),
      `${where}; the rules drop 3 in 4 of the flood's datagrams before the socket`,
    ),
  );
  return metrics;
}

/** R3: see the module doc. */
export const udpFloodScenario: Scenario = {
  id: "R3",
  name:
    "UDP flood at the registry's heartbeat port: what it reads, what it costs",
  run(opts: RunOptions): Promise<Metric[]> {
    return measure(opts.quick);
  },
};

if (import.meta.main) {
  await runStandalone(udpFloodScenario);
}
