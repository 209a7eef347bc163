/**
 * A peer with a public address and one at home behind a router that remaps
 * ports at random: home → public is direct; public → home is reversed (the
 * registry asks the one at home to dial back, still pinned and ticketed).
 * `chat send` does not listen, so a pipe into a home goes through the
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

const skip = await labSkipReason("tests/net/public_home_test.ts");
const MiB = 1024 * 1024;

Deno.test({
  name:
    "public and home reach each other both ways: direct out of the home, reversed into it",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using w = await world();
    const dave = await w.peer("dave", "dave");
    const alice = await w.peer("alice", "alice");

    await t.step("public → home: a chat both ways, reversed", async () => {
      assertEquals(await chatBothWays(dave, alice), "reversed");
      const log = w.registryLog.find((l) => l.includes("reverse "));
      assert(log?.includes("user=dave"), String(log));
    });

    await t.step("files both ways: reversed in, direct out", async () => {
      assertEquals(await sendFile(dave, alice), "reversed");
      assertEquals(await sendFile(alice, dave), "direct");
    });

    await t.step("64 MiB home → public, direct", async () => {
      const r = await pipe(
        w,
        { host: "alice", user: "alice" },
        { host: "dave", user: "dave" },
        64 * MiB,
      );
      assertEquals([r.bytes, r.received], [64 * MiB, r.sent]);
      assert(r.sendLine.endsWith("(direct)"), r.sendLine);
    });

    await t.step(
      "64 MiB public → home, relayed (chat send does not listen)",
      async () => {
        const r = await pipe(
          w,
          { host: "dave", user: "dave" },
          { host: "alice", user: "alice" },
          64 * MiB,
        );
        assertEquals([r.bytes, r.received], [64 * MiB, r.sent]);
        assert(
          r.sendLine.endsWith("(relayed through the registry)"),
          r.sendLine,
        );
      },
    );
  },
});
