/**
 * A room with members in every place at once: two on one home network, one
 * at another home, one with a public address. Every member's message
 * reaches every other member, each over the path its pair needs (LAN,
 * reversed, relayed), with a delivery from each. Runs as root in network
 * namespaces; says why when it is skipped.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { labSkipReason, world } from "../helpers/net_world.ts";
import { until } from "../helpers/registry.ts";

const skip = await labSkipReason("tests/net/room_test.ts");

Deno.test({
  name:
    "a room with members at two homes and on a public address gets everyone's messages",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using w = await world();
    const members = await Promise.all([
      w.peer("alice", "alice"),
      w.peer("carol", "carol"),
      w.peer("bob", "bob"),
      w.peer("dave", "dave"),
    ]);
    const [alice] = members;
    const made = await alice!.send("/room create lobby", 30_000);
    assert(made.ok === true, JSON.stringify(made));
    for (const m of members.slice(1)) {
      const joined = await m.send("/join lobby", 30_000);
      assert(joined.ok === true, JSON.stringify(joined));
    }
    // dave (public) speaks first, so his links into the homes are reversed;
    // the homes' to each other are LAN (direct) and relayed.
    for (const from of [...members].reverse()) {
      const text = `${from.user} says hi to the room`;
      const at = members.map((m) => m.lines.length);
      const said = await from.send(`/say lobby ${text}`, 90_000);
      assert(said.ok === true, JSON.stringify(said));
      const others = members.filter((m) => m !== from);
      assertEquals(
        [...(said.recipients as string[])].sort(),
        others.map((m) => m.user).sort(),
        JSON.stringify(said),
      );
      await Promise.all(others.map((m) =>
        m.waitFor(
          (l) =>
            l.type === "message" && l.room === "lobby" &&
            l.from === from.user && l.text === text,
          `${from.user}'s room message at ${m.user}`,
          60_000,
          at[members.indexOf(m)],
        )
      ));
      await until(
        () =>
          from.lines.slice(at[members.indexOf(from)]).filter((l) =>
            l.type === "delivered" && l.room === "lobby" && l.id === said.id
          ).length === others.length,
        `deliveries of ${from.user}'s room message`,
        60_000,
      );
    }
    const paths = new Set(
      members.flatMap((m) => m.events("link").map((l) => String(l.path))),
    );
    for (const p of ["direct", "reversed", "relayed"]) {
      assert(paths.has(p), `a ${p} link among ${[...paths]}`);
    }
  },
});
