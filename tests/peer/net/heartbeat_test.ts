/**
 * The heartbeat sender's socket: whatever arrives there moves the next beat
 * to a new socket on a new port, and the heartbeats carry on (counter and
 * MAC unchanged), so a flood aimed at the port the peer was found on meets a
 * closed port.
 */
import dgram from "node:dgram";
import { assert, assertEquals } from "../../helpers/assert.ts";
import { until } from "../../helpers/registry.ts";
import { HeartbeatSender } from "../../../peer/net/heartbeat.ts";
import { decodeHeartbeat, verifyHeartbeat } from "../../../wire/mod.ts";

const SESSION = "ab".repeat(16);
const TOKEN = new Uint8Array(32).fill(7);
const TOKEN_B64 = btoa(String.fromCharCode(...TOKEN)).replace(/\+/g, "-")
  .replace(/\//g, "_").replace(/=+$/, "");

Deno.test("a stray datagram moves the heartbeats to a new port", async () => {
  const reg = dgram.createSocket("udp4");
  const got: { port: number; seq: number; ok: boolean }[] = [];
  reg.on("message", (msg: Uint8Array, r: { port: number }) => {
    const d = decodeHeartbeat(new Uint8Array(msg));
    got.push({
      port: r.port,
      seq: d.ok ? d.msg.seq : -1,
      ok: d.ok && verifyHeartbeat(d.msg, TOKEN),
    });
  });
  await new Promise<void>((r) => reg.bind(0, "127.0.0.1", () => r()));
  const stray = dgram.createSocket("udp4");
  // An hour between timed beats: this test calls beat() itself.
  const hb = new HeartbeatSender(
    "127.0.0.1",
    reg.address().port,
    SESSION,
    TOKEN_B64,
    3_600_000,
  );
  try {
    hb.beat();
    await until(() => got.length >= 2, "two heartbeats");
    const first = got[0]!.port;
    assertEquals(got[1]!.port, first);
    assertEquals(hb.moves, 0);

    stray.send(new Uint8Array([1, 2, 3]), first, "127.0.0.1");
    await until(() => {
      hb.beat();
      return got.at(-1)!.port !== first;
    }, "a heartbeat from a new port");
    const moved = got.at(-1)!.port;
    assertEquals(hb.moves, 1);
    hb.beat();
    hb.beat();
    await until(() => got.length >= 3 && got.at(-3)!.port === moved, "more");
    assert(got.slice(-3).every((g) => g.port === moved), "it stays there");
    assertEquals(hb.moves, 1);
    assert(got.every((g) => g.ok), "every heartbeat verifies");
    // Each counter once, none skipped (the first two may cross on the way).
    assertEquals(
      got.map((g) => g.seq).sort((a, b) => a - b),
      got.map((_, i) => i + 1),
    );
  } finally {
    hb.stop();
    stray.close();
    reg.close();
  }
});
