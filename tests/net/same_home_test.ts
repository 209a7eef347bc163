/**
 * Two people on one home network: the registry sees both at the router's
 * public address, and the router does not hairpin, so they must find each
 * other at the LAN addresses they reported at login — directly, with no
 * relay. Runs as root in network namespaces; says why when it is skipped.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  chatBothWays,
  labSkipReason,
  pipe,
  sendFile,
  world,
} from "../helpers/net_world.ts";

const skip = await labSkipReason("tests/net/same_home_test.ts");
const MiB = 1024 * 1024;

Deno.test({
  name:
    "two peers on one home network reach each other directly at their LAN addresses",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using w = await world();
    const alice = await w.peer("alice", "alice");
    const carol = await w.peer("carol", "carol");

    await t.step("a chat both ways, direct, with deliveries", async () => {
      assertEquals(await chatBothWays(carol, alice), "direct");
    });

    await t.step("a file, direct", async () => {
      assertEquals(await sendFile(alice, carol), "direct");
    });

    await t.step("64 MiB piped byte for byte, direct", async () => {
      const r = await pipe(
        w,
        { host: "carol", user: "carol" },
        { host: "alice", user: "alice" },
        64 * MiB,
      );
      assertEquals([r.bytes, r.received], [64 * MiB, r.sent]);
      assert(r.sendLine.endsWith("verified by alice (direct)"), r.sendLine);
      assert(r.receiveLine.endsWith("(direct)"), r.receiveLine);
    });

    await t.step("nothing went through the relay", () => {
      assertEquals(
        w.registryLog.filter((l) => l.includes("relay issued")),
        [],
      );
    });
  },
});
