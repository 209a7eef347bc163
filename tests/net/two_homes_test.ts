/**
 * Two people at home behind different NAT routers (one remapping ports at
 * random), no port forwarding: neither can reach the other nor be dialled
 * back, so chats, files and pipes go through the registry's relay, which
 * carries only their own TLS. Runs as root in network namespaces; says why
 * when it is skipped.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  chatBothWays,
  labSkipReason,
  pipe,
  sendFile,
  world,
} from "../helpers/net_world.ts";

const skip = await labSkipReason("tests/net/two_homes_test.ts");
const MiB = 1024 * 1024;

Deno.test({
  name:
    "two homes behind different routers chat, send a file and pipe 64 MiB through the relay",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using w = await world();
    const alice = await w.peer("alice", "alice");
    const bob = await w.peer("bob", "bob");

    await t.step("a chat both ways, relayed, with deliveries", async () => {
      assertEquals(await chatBothWays(alice, bob), "relayed");
      const link = alice.events("link").find((l) => l.with === "bob");
      assertEquals(link?.path, "relayed");
    });

    await t.step("a file, relayed", async () => {
      assertEquals(await sendFile(bob, alice), "relayed");
    });

    await t.step("64 MiB piped byte for byte through the relay", async () => {
      const r = await pipe(
        w,
        { host: "alice", user: "alice" },
        { host: "bob", user: "bob" },
        64 * MiB,
      );
      assertEquals(r.bytes, 64 * MiB);
      assertEquals(r.received, r.sent);
      assert(
        r.sendLine.endsWith("verified by bob (relayed through the registry)"),
        r.sendLine,
      );
      assert(
        r.receiveLine.endsWith("(relayed through the registry)"),
        r.receiveLine,
      );
    });

    await t.step("the registry logged each relayed link, never content", () => {
      const ends = w.registryLog.filter((l) => l.includes("relay end"));
      assert(ends.length >= 2, ends.join("\n"));
      const big = ends.find((l) => /bytes_ab=(\d{8,})/.test(l));
      assert(big, `a line with the pipe's bytes:\n${ends.join("\n")}`);
      assert(big.includes("a=alice") && big.includes("b=bob"), big);
      assert(
        !w.registryLog.some((l) => l.includes("hello bob, this is alice")),
        "no message text in the registry's log",
      );
    });
  },
});
