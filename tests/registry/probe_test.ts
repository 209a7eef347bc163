/**
 * The connect-back probe (registry/probe.ts) against a real P2P listener:
 * reachable only when TLS proves the registered certificate and the peer
 * answers inside; another certificate, a closed port or a plain TCP
 * listener that never answers count as unreachable.
 */
import { silentLogger } from "../../common/log.ts";
import { createPeerIdentity, P2PNode } from "../../peer/net/mod.ts";
import { probePeer } from "../../registry/probe.ts";
import { assertEquals } from "../helpers/assert.ts";

Deno.test("probe", async (t) => {
  const id = await createPeerIdentity();
  const other = await createPeerIdentity();
  await using node = new P2PNode({
    identity: id,
    self: () => ({ user: "alice", registryKey: null }),
    isBlocked: () => false,
    onInbound: (l) => l.conn.close(),
    logger: silentLogger,
  });
  const port = node.listen(0, "127.0.0.1");

  await t.step(
    "the peer's own listener and certificate: reachable",
    async () => {
      assertEquals(await probePeer("127.0.0.1", port, id.certPem), true);
    },
  );
  await t.step("another certificate at that port: not reachable", async () => {
    assertEquals(await probePeer("127.0.0.1", port, other.certPem), false);
  });
  await t.step("nothing listening: not reachable", async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closed = l.addr.port;
    l.close();
    assertEquals(await probePeer("127.0.0.1", closed, id.certPem), false);
  });
  await t.step(
    "a listener that never speaks TLS: not reachable, within the timeout",
    async () => {
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const held: Deno.Conn[] = [];
      const accepting = (async () => {
        for await (const c of l) held.push(c);
      })();
      assertEquals(
        await probePeer("127.0.0.1", l.addr.port, id.certPem, 300),
        false,
      );
      l.close();
      await accepting.catch(() => {});
      for (const c of held) c.close();
    },
  );
});
