/**
 * Abuse of a peer by strangers (SPEC §3.1): a real `chat peer` (alice) is
 * attacked at its P2P port and through an authenticated link, while
 * bystanders are served normally (tests/reliability/bystander.ts) and a
 * friend of alice's can still reach her:
 *
 * - a P2P port flood: 300 TLS connections from another process, each
 *   announcing a 1 MiB frame, sending 64 KiB of it and then nothing; alice's
 *   memory stays bounded, and dave opens a chat with her meanwhile;
 * - a peer.log flood: a stranger's link sends 20,000 `error` frames and room
 *   messages for a room alice is not in; alice logs a handful of lines for
 *   that stranger, stays logged in and keeps answering.
 */
import { join } from "node:path";
import { Logger } from "../../common/log.ts";
import { PEER_LOG_LIMITS } from "../../common/log.ts";
import { Endpoint } from "../../peer/mod.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { spawnPeer } from "../helpers/peer_process.ts";
import { spawnRegistry, until } from "../helpers/registry.ts";
import { signup } from "../registry/support.ts";
import { befriend, ok, openChat, startBystanders } from "./bystander.ts";

const FLOOD = new URL("../helpers/p2p_flood.ts", import.meta.url).pathname;
const MiB = 1024 * 1024;

/** Resident memory of a process (VmRSS), in bytes. */
function rss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(
    Deno.readTextFileSync(`/proc/${pid}/status`),
  );
  assert(m, "VmRSS missing");
  return Number(m[1]) * 1024;
}

Deno.test("a P2P port flood and a peer.log flood leave the victim reachable and everyone served", async (t) => {
  await using reg = await spawnRegistry();
  const ref = { port: reg.port, fingerprint: reg.fingerprint };
  await using alice = await spawnPeer(ref, { user: "alice" });
  await using dave = await spawnPeer(ref, { user: "dave" });
  await befriend(alice, dave);
  await using by = await startBystanders(reg, "alice");

  await t.step(
    "300 connections that announce 1 MiB frames hold alice's memory bounded; dave still gets in",
    async () => {
      const pid = alice.child.pid;
      const before = rss(pid);
      let peak = before;
      const sampling = setInterval(() => {
        peak = Math.max(peak, rss(pid));
      }, 100);
      try {
        const flood = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-net",
            "--unsafely-ignore-certificate-errors",
            FLOOD,
            String(alice.port),
            "300",
            "5000",
          ],
          stdout: "piped",
          stderr: "null",
        }).output();
        // While it holds its connections, a friend opens a chat.
        await new Promise((r) => setTimeout(r, 1500));
        await openChat(dave, alice);
        await ok(dave, "/msg alice through the flood");
        await alice.waitFor(
          (l) => l.type === "message" && l.text === "through the flood",
          "dave's message",
        );
        const out = await flood;
        assertEquals(out.code, 0);
        const line = new TextDecoder().decode(out.stdout).trim();
        console.log(
          `  flood: ${line}; alice ${(before / MiB).toFixed(0)} → peak ${
            (peak / MiB).toFixed(0)
          } MiB`,
        );
        assert(
          peak - before < 64 * MiB,
          `alice grew by ${((peak - before) / MiB).toFixed(0)} MiB`,
        );
      } finally {
        clearInterval(sampling);
      }
    },
  );

  await t.step(
    "20,000 error frames and non-member room messages: a few lines in peer.log, alice stays on",
    async () => {
      await signup(reg.target(), "mallory", "mallory-password");
      const home = await Deno.makeTempDir({ prefix: "chat-mallory-" });
      const mallory = await Endpoint.open({
        target: { ...reg.target(), home },
        credentials: { user: "mallory", password: "mallory-password" },
        kind: "tool",
        home,
        logger: new Logger("error", () => {}),
      });
      try {
        const { link } = await mallory.links.open("alice", "chat");
        let sent = 0;
        for (; sent < 20_000 && !link.conn.closed; sent++) {
          if (sent % 2 === 0) {
            link.conn.send({ type: "error", reason: "x".repeat(250) });
          } else {
            link.conn.send({
              type: "msg",
              id: sent,
              text: "y".repeat(250),
              room: "nowhere",
            });
          }
          if (sent % 200 === 199) await link.conn.flush();
        }
        await link.conn.flush();
        // alice answers while (and after) it reads all of that.
        const r = await alice.send("/who", 10_000);
        assertEquals(r.ok, true, JSON.stringify(r));
        const logFile = join(alice.home, "peer.log");
        const log = await Deno.readTextFile(logFile);
        const size = (await Deno.stat(logFile)).size;
        const about = log.split("\n").filter((l) =>
          l.includes("mallory") &&
          (l.includes("peer reported an error") ||
            l.includes("room message from a non-member"))
        ).length;
        console.log(
          `  ${sent} frames sent; alice's peer.log ${
            (size / 1024).toFixed(0)
          } KiB, ${about} lines about mallory`,
        );
        assertEquals(sent, 20_000, "the link stayed open for the whole flood");
        assert(
          about <= PEER_LOG_LIMITS.perWindow,
          `${about} lines about mallory`,
        );
        assert(size < 1 * MiB, `peer.log is ${size} bytes`);
        link.conn.close();
      } finally {
        await mallory.close();
        await Deno.remove(home, { recursive: true }).catch(() => {});
      }
      assertEquals(alice.events("timeout").length, 0);
      assertEquals(alice.events("session_ended").length, 0);
      await until(
        async () =>
          (await by.searcher.request("search", { user: "alice" })).online,
        "alice online",
      );
    },
  );

  await t.step("the bystanders were served throughout", async () => {
    console.log(`  ${await by.check()}`);
  });
});
