/**
 * The three paths of Links.open on one machine: a peer that listens on
 * 127.0.0.2 cannot be reached at the 127.0.0.1 the registry sees it at (nor
 * probed there), which is what a home router does to a peer behind it. So a
 * link to it is reversed when the dialer listens where it is seen, and
 * relayed when neither does; both ends report the path, the TLS and ticket
 * hello inside are the usual ones, and the relay logs the link's bytes.
 */
import { join } from "node:path";
import { silentLogger } from "../../../common/log.ts";
import { Endpoint, LinkError, type P2PLink } from "../../../peer/net/mod.ts";
import type { RegistryOptions } from "../../../registry/mod.ts";
import { assert, assertEquals } from "../../helpers/assert.ts";
import {
  startRegistry,
  type TestRegistry,
  until,
} from "../../helpers/registry.ts";

async function endpoint(
  reg: TestRegistry,
  user: string,
  host: "127.0.0.1" | "127.0.0.2",
  o: { isBlocked?: (u: string) => boolean } = {},
) {
  const inbound: P2PLink[] = [];
  const e = await Endpoint.open({
    target: { ...reg.target(), home: join(reg.dir, user) },
    credentials: { user, password: `${user}-password` },
    kind: "peer",
    listen: { port: 0, host },
    signup: true,
    logger: silentLogger,
    ...(o.isBlocked ? { isBlocked: o.isBlocked } : {}),
    onInbound: (link) => inbound.push(link),
  });
  return Object.assign(e, { inbound });
}

async function exchange(a: P2PLink, b: P2PLink): Promise<void> {
  a.conn.send({ type: "chat_request", text: "over there?", id: 1 });
  const got = await b.frames.next();
  assert(!got.done && got.value.kind === "control");
  b.conn.send({ type: "ack", id: 1 });
  const back = await a.frames.next();
  assert(!back.done && back.value.kind === "control");
}

function registry(o: Partial<RegistryOptions> = {}) {
  return startRegistry({ relay: { port: 0 }, ...o });
}

Deno.test("a peer the registry cannot reach is dialled back by it (reversed), both ends say so", async () => {
  await using reg = await registry();
  await using alice = await endpoint(reg, "alice", "127.0.0.1");
  await using bob = await endpoint(reg, "bob", "127.0.0.2");
  const { link, path } = await alice.links.open("bob", "chat");
  assertEquals(path, "reversed");
  assertEquals([link.user, link.inbound, link.path], [
    "bob",
    false,
    "reversed",
  ]);
  const there = await until(() => bob.inbound[0], "bob's side of the link");
  assertEquals([there.user, there.inbound, there.path], [
    "alice",
    true,
    "reversed",
  ]);
  await exchange(link, there);
  // The other way round, bob reaches alice where the registry sees her.
  const direct = await bob.links.open("alice", "file");
  assertEquals(direct.path, "direct");
});

Deno.test("two peers nobody can reach meet at the relay; the relay logs users and bytes, never content", async () => {
  await using reg = await registry();
  await using alice = await endpoint(reg, "alice", "127.0.0.2");
  await using bob = await endpoint(reg, "bob", "127.0.0.2");
  const { link, path } = await alice.links.open("bob", "file");
  assertEquals(path, "relayed");
  const there = await until(() => bob.inbound[0], "bob's side of the link");
  assertEquals([there.user, there.purpose, there.inbound, there.path], [
    "alice",
    "file",
    true,
    "relayed",
  ]);
  await exchange(link, there);
  link.conn.close();
  there.conn.close();
  const line = await until(
    () => reg.logs.find((l) => l.includes("relay end")),
    "the relay's line for the link",
  );
  for (const part of ["a=alice", "b=bob", "bytes_ab=", "reason="]) {
    assert(line.includes(part), `${part} in ${line}`);
  }
  assert(!line.includes("over there"), "no content in the log");
});

Deno.test("a registry that does not relay refuses in one line; a blocked dialer gets nowhere through the relay", async (t) => {
  await t.step("relay off", async () => {
    await using reg = await registry({ relay: false });
    await using alice = await endpoint(reg, "alice", "127.0.0.2");
    await using _bob = await endpoint(reg, "bob", "127.0.0.2");
    try {
      await alice.links.open("bob", "chat");
      throw new Error("the link was opened");
    } catch (err) {
      assert(err instanceof LinkError);
      assertEquals(err.code, "unreachable");
      assertEquals(
        err.message,
        "the registry does not relay; bob cannot be reached directly",
      );
    }
  });
  await t.step("blocked", async () => {
    await using reg = await registry();
    await using alice = await endpoint(reg, "alice", "127.0.0.2");
    await using bob = await endpoint(reg, "bob", "127.0.0.2", {
      isBlocked: (u) => u === "alice",
    });
    try {
      await alice.links.open("bob", "chat");
      throw new Error("the link was opened");
    } catch (err) {
      assert(err instanceof LinkError);
      assertEquals(err.code, "unreachable");
    }
    assertEquals(bob.inbound, []);
  });
});
