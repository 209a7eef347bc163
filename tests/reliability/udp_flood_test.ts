/**
 * UDP floods (SPEC §3.1, F18 v2): garbage at about 200,000 datagrams a
 * second for 5 s, first at the registry's heartbeat port, then at the UDP
 * port of a real `chat peer` (the socket its heartbeats leave from), while
 * that peer keeps heartbeating. Flooded, the peer's heartbeats move to a new
 * port, and the flood meets a closed one. The peer stays logged in — or, if the
 * registry timed it out, it logs in again by itself and says so — and the
 * bystanders (a search, a chat between two others) are served throughout.
 * The registry logs the garbage as a few summary lines, not one line per
 * datagram.
 *
 * The rate is what the senders achieved (printed), and what the flooded
 * socket read and dropped is the kernel's count for that socket
 * (/proc/net/udp); on a busy machine the senders may fall short of the aim.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { type JsonPeer, spawnPeer } from "../helpers/peer_process.ts";
import { spawnRegistry, until } from "../helpers/registry.ts";
import { flood } from "../helpers/udp_flood.ts";
import { cpuSeconds, udpDrops, udpPortsOf } from "../helpers/udp_stats.ts";
import { startBystanders } from "./bystander.ts";

const SECONDS = 5;
/** The aim: what one attacker's machine sends without trying hard. */
const RATE = 200_000;
/** Two processes: one sendmmsg loop alone falls short on a busy machine. */
const SENDERS = 2;

/** Floods `port`, prints what was sent, read and dropped, returns the rate. */
async function floodAndReport(
  port: number,
  what: string,
  pid: number,
): Promise<number> {
  const dropsBefore = await udpDrops(port);
  const cpuBefore = await cpuSeconds(pid);
  const r = await flood(port, {
    seconds: SECONDS,
    rate: RATE,
    senders: SENDERS,
  });
  const dropsAfter = await udpDrops(port);
  const cpuAfter = await cpuSeconds(pid);
  let read = "";
  const open = (await udpPortsOf(pid))?.includes(port) ?? true;
  if (!open) {
    read = "; the port was closed during the flood";
  } else if (dropsBefore !== null && dropsAfter !== null) {
    const dropped = dropsAfter - dropsBefore;
    const taken = r.sent - dropped;
    read = `; the socket took ${taken} (${
      Math.round(taken / SECONDS)
    }/s), the kernel dropped ${dropped} (buffer full)`;
  }
  if (cpuBefore !== null && cpuAfter !== null) {
    read += `; its process used ${
      Math.round((cpuAfter - cpuBefore) / SECONDS * 100)
    } % of a core`;
  }
  console.log(
    `  flood at ${what}: ${r.sent} datagrams in ${SECONDS} s (${r.perSecond}/s, ${SENDERS} ${r.via} senders)${read}`,
  );
  return r.perSecond;
}

/**
 * A TTL past the flood, alice is online: she never left, or she logged in
 * again by herself and said so. Returns how often she was timed out.
 */
async function stillThere(
  alice: JsonPeer,
  before: number,
  online: () => Promise<boolean>,
): Promise<number> {
  // Long enough for a timeout the flood caused to be noticed (the
  // registry's TTL is 3 s), then checked, not timed.
  await new Promise((r) => setTimeout(r, 3_500));
  const timeouts = alice.lines.slice(before).filter((l) =>
    l.type === "timeout"
  );
  if (timeouts.length > 0) {
    console.log(`  alice was timed out ${timeouts.length}×; she logs in again`);
    assert(
      timeouts.every((l) => l.again === true),
      `a timeout that ends the session: ${JSON.stringify(timeouts)}`,
    );
    await alice.waitFor(
      (l) => l.type === "registry_restored",
      "alice logged in again",
      15_000,
      before,
    );
  } else {
    console.log("  alice stayed logged in throughout");
  }
  await until(online, "alice online after the flood", 15_000);
  assertEquals(alice.events("session_ended").length, 0);
  const r = await alice.send("/who");
  assertEquals(r.ok, true, JSON.stringify(r));
  return timeouts.length;
}

Deno.test("a UDP flood at the heartbeat ports logs nobody out for good", async () => {
  await using reg = await spawnRegistry();
  const ref = { port: reg.port, fingerprint: reg.fingerprint };
  await using alice = await spawnPeer(ref, { user: "alice" });
  await using by = await startBystanders(reg, "alice");
  const online = async () =>
    (await by.searcher.request("search", { user: "alice" })).online === true;

  // At the registry's heartbeat port.
  let before = alice.lines.length;
  const logBefore = reg.stderr.length;
  await floodAndReport(reg.udpPort, "the registry", reg.child.pid);
  await stillThere(alice, before, online);
  // A few summary lines, never one per datagram.
  const logged = reg.stderr.slice(logBefore).filter((l) =>
    l.includes("datagram")
  );
  console.log(`  registry log: ${logged.length} lines about datagrams`);
  assert(logged.length >= 1, "the flood is logged");
  assert(logged.length <= 5, `${logged.length} log lines for the flood`);

  // At alice's own UDP port: the one her heartbeats leave from.
  const ports = await udpPortsOf(alice.child.pid);
  if (ports === null) {
    console.log("  no /proc here: alice's UDP port not flooded");
  } else {
    assertEquals(ports.length, 1, `alice's UDP ports: ${ports}`);
    before = alice.lines.length;
    await floodAndReport(
      ports[0]!,
      "alice's heartbeat socket",
      alice.child.pid,
    );
    await stillThere(alice, before, online);
    // Her heartbeats left the flooded port for a new one.
    const now = await udpPortsOf(alice.child.pid);
    console.log(`  alice's heartbeats moved from port ${ports[0]} to ${now}`);
    assertEquals(now?.length, 1, `alice's UDP ports: ${now}`);
    assert(now![0] !== ports[0], "alice's heartbeats still use the port");
  }
  // The flood's summary: the window's count, and what the kernel dropped
  // unread (heartbeats among them), not one line per datagram.
  const datagramLines = () =>
    reg.stderr.slice(logBefore).filter((l) => l.includes("bad datagrams"));
  // The first bad datagrams' line at once, the window's summary at its end.
  const summary = await until(
    () => datagramLines()[1],
    "the flood's summary line",
    15_000,
  );
  console.log(`  registry: ${summary}`);
  if (Deno.build.os === "linux") {
    assert(/dropped_unread[=":\s]+[1-9]/.test(summary), summary);
  }
  assert(/count[=":\s]+\d{4,}/.test(summary), summary);
  const lines = datagramLines();
  assert(lines.length <= 5, `${lines.length} log lines for the flood`);
  console.log(`  ${await by.check()}`);
});
