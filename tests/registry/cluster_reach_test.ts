/**
 * Reachability across the instances of a cluster: alice logs in to
 * instance 1 and bob to instance 2 of two `chat registry` processes on one
 * PostgreSQL database. A peer listening on 127.0.0.2 cannot be reached (nor
 * probed) at the 127.0.0.1 its registry sees it at, as behind a home
 * router. So a link to bob is reversed when alice can be reached (instance
 * 1 asks instance 2 to have bob dial back), and relayed when neither can
 * (instance 1's relay token and address go to bob through instance 2, and
 * both meet at instance 1's relay), for chats and files alike.
 */
import { join } from "node:path";
import { silentLogger } from "../../common/log.ts";
import { Endpoint, type P2PLink } from "../../peer/net/mod.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { startCluster } from "../helpers/cluster.ts";
import { skipNote } from "../helpers/postgres.ts";
import type { RegistryProcess } from "../helpers/registry.ts";
import { until } from "../helpers/registry.ts";

async function endpoint(
  reg: RegistryProcess,
  root: string,
  user: string,
  host: "127.0.0.1" | "127.0.0.2",
) {
  const inbound: P2PLink[] = [];
  const e = await Endpoint.open({
    target: reg.target(join(root, user)),
    credentials: { user, password: `${user}-password` },
    kind: "peer",
    listen: { port: 0, host },
    signup: true,
    logger: silentLogger,
    onInbound: (link) => inbound.push(link),
  });
  return Object.assign(e, { inbound });
}

async function exchange(a: P2PLink, b: P2PLink, text: string): Promise<void> {
  a.conn.send({ type: "chat_request", text, id: 1 });
  const got = await b.frames.next();
  assert(!got.done && got.value.kind === "control", "b got a frame");
  const msg = JSON.parse(new TextDecoder().decode(got.value.payload));
  assertEquals(msg.text, text);
  b.conn.send({ type: "ack", id: 1 });
  const back = await a.frames.next();
  assert(!back.done && back.value.kind === "control", "a got the ack");
}

Deno.test({
  name: `cluster: reversed and relayed links between instances${skipNote()}`,
  ignore: skipNote() !== "",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    // Each instance advertises its address: relay tokens name it.
    await using cluster = await startCluster(2, {
      args: ["--advertise", "127.0.0.1"],
    });
    const [one, two] = cluster.instances;
    const root = await Deno.makeTempDir({ prefix: "chat-reach-" });

    await t.step(
      "alice (reachable, instance 1) → bob (unreachable, instance 2): reversed",
      async () => {
        await using alice = await endpoint(one!, root, "alice", "127.0.0.1");
        await using bob = await endpoint(two!, root, "bob", "127.0.0.2");
        for (const purpose of ["chat", "file"] as const) {
          const { link, path } = await alice.links.open("bob", purpose);
          assertEquals(path, "reversed", purpose);
          const there = await until(
            () => bob.inbound.find((l) => l.purpose === purpose),
            `bob's side of the ${purpose} link`,
          );
          assertEquals([there.user, there.inbound, there.path], [
            "alice",
            true,
            "reversed",
          ]);
          await exchange(link, there, `reversed ${purpose}`);
          link.conn.close();
        }
      },
    );

    await t.step(
      "neither reachable: both meet at the relay of the instance asked",
      async () => {
        const ends = (r: RegistryProcess) =>
          r.stderr.filter((l) => l.includes("relay end")).length;
        const before = [ends(one!), ends(two!)];
        await using alice = await endpoint(one!, root, "alice", "127.0.0.2");
        await using bob = await endpoint(two!, root, "bob", "127.0.0.2");
        // alice asks instance 1: its relay carries the link.
        for (const purpose of ["chat", "file"] as const) {
          const { link, path } = await alice.links.open("bob", purpose);
          assertEquals(path, "relayed", purpose);
          const there = await until(
            () => bob.inbound.find((l) => l.purpose === purpose),
            `bob's side of the ${purpose} link`,
          );
          assertEquals([there.user, there.inbound, there.path], [
            "alice",
            true,
            "relayed",
          ]);
          await exchange(link, there, `relayed ${purpose}`);
          await exchange(there, link, `and back ${purpose}`);
          link.conn.close();
          there.conn.close();
        }
        await until(
          () => ends(one!) >= before[0]! + 2 || undefined,
          "instance 1's relay logs both links",
        );
        // bob asks instance 2: its relay carries this one.
        const { link, path } = await bob.links.open("alice", "chat");
        assertEquals(path, "relayed");
        const there = await until(
          () => alice.inbound[0],
          "alice's side of bob's link",
        );
        await exchange(link, there, "from instance 2's relay");
        link.conn.close();
        there.conn.close();
        await until(
          () => ends(two!) >= before[1]! + 1 || undefined,
          "instance 2's relay logs bob's link",
        );
        const line = two!.stderr.filter((l) => l.includes("relay end")).at(-1)!;
        assert(line.includes("a=bob") && line.includes("b=alice"), line);
        assert(
          !one!.stderr.some((l) => l.includes("relayed chat")),
          "no content in the log",
        );
      },
    );
    await Deno.remove(root, { recursive: true }).catch(() => {});
  },
});
