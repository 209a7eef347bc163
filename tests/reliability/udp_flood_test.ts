/**
 * A UDP flood at the registry's heartbeat port (SPEC §3.1, F18 v2): a
 * sender process sends garbage as fast as this machine allows for 5 s
 * while a real `chat peer` keeps heartbeating. The peer stays logged in —
 * or, if the registry timed it out, it logs in again by itself and says so —
 * and the bystanders (a search, a chat between two others) are served
 * throughout. The registry logs the garbage as a few summary lines, not one
 * line per datagram.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { spawnPeer } from "../helpers/peer_process.ts";
import { spawnRegistry, until } from "../helpers/registry.ts";
import { startBystanders } from "./bystander.ts";

const FLOOD = new URL("../helpers/udp_flood.ts", import.meta.url).pathname;
const SECONDS = 5;
/** One process: more would only starve the tests running beside this one. */
const SENDERS = 1;

Deno.test("a UDP flood at the heartbeat port logs nobody out for good", async () => {
  await using reg = await spawnRegistry();
  const ref = { port: reg.port, fingerprint: reg.fingerprint };
  await using alice = await spawnPeer(ref, { user: "alice" });
  await using by = await startBystanders(reg, "alice");

  const before = alice.lines.length;
  const logBefore = reg.stderr.length;
  const senders = Array.from(
    { length: SENDERS },
    () =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-net",
          FLOOD,
          String(reg.udpPort),
          String(SECONDS),
          "2000000",
        ],
        stdout: "piped",
        stderr: "inherit",
      }).output(),
  );
  const sent = (await Promise.all(senders)).map((o) => {
    assertEquals(o.code, 0);
    return Number(/sent (\d+)/.exec(new TextDecoder().decode(o.stdout))![1]);
  });
  const total = sent.reduce((a, b) => a + b, 0);
  console.log(
    `  flood: ${total} datagrams in ${SECONDS} s (${
      Math.round(total / SECONDS)
    }/s) from ${SENDERS} processes`,
  );

  // Past a heartbeat TTL after the flood, alice is online: she never left,
  // or she logged in again by herself and said so.
  await new Promise((r) => setTimeout(r, 3_500));
  const since = alice.lines.slice(before);
  const timeouts = since.filter((l) => l.type === "timeout");
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
  await until(
    async () => (await by.searcher.request("search", { user: "alice" })).online,
    "alice online after the flood",
    15_000,
  );
  assertEquals(alice.events("session_ended").length, 0);
  const r = await alice.send("/who");
  assertEquals(r.ok, true, JSON.stringify(r));

  // A few summary lines, never one per datagram.
  const logged = reg.stderr.slice(logBefore).filter((l) =>
    l.includes("datagram")
  );
  console.log(`  registry log: ${logged.length} lines about datagrams`);
  assert(logged.length >= 1, "the flood is logged");
  assert(logged.length <= 5, `${logged.length} log lines for the flood`);
  console.log(`  ${await by.check()}`);
});
