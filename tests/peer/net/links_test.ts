/**
 * Links (peer/net/links.ts) over endpoints (peer/net/endpoint.ts): one call
 * gets an authenticated link to a user for a purpose and says which path it
 * took; the other side takes it as inbound; the ways it cannot be had are
 * LinkErrors with a code, never a text to compare.
 */
import { join } from "node:path";
import { silentLogger } from "../../../common/log.ts";
import {
  Endpoint,
  LinkError,
  type LinkErrorCode,
  type P2PLink,
} from "../../../peer/net/mod.ts";
import { assert, assertEquals } from "../../helpers/assert.ts";
import {
  startRegistry,
  type TestRegistry,
  until,
} from "../../helpers/registry.ts";

async function endpoint(
  reg: TestRegistry,
  user: string,
  o: { listen?: boolean; isBlocked?: (u: string) => boolean } = {},
) {
  const inbound: P2PLink[] = [];
  const e = await Endpoint.open({
    target: { ...reg.target(), home: join(reg.dir, user) },
    credentials: { user, password: `${user}-password` },
    kind: o.listen === false ? "tool" : "peer",
    ...(o.listen === false ? {} : { listen: { port: 0, host: "127.0.0.1" } }),
    signup: true,
    logger: silentLogger,
    ...(o.isBlocked ? { isBlocked: o.isBlocked } : {}),
    onInbound: (link) => inbound.push(link),
  });
  return Object.assign(e, { inbound });
}

async function refusal(p: Promise<unknown>): Promise<LinkErrorCode> {
  try {
    await p;
  } catch (err) {
    if (err instanceof LinkError) return err.code;
    throw err;
  }
  throw new Error("the link was opened");
}

Deno.test("a link to an online user is direct, authenticated both ways, and arrives as inbound there", async () => {
  await using reg = await startRegistry();
  await using alice = await endpoint(reg, "alice");
  await using bob = await endpoint(reg, "bob");
  const { link, path } = await alice.links.open("bob", "chat");
  assertEquals(path, "direct");
  assertEquals([link.user, link.purpose, link.inbound], ["bob", "chat", false]);
  const there = await until(() => bob.inbound[0], "bob's inbound link");
  assertEquals([there.user, there.purpose, there.inbound], [
    "alice",
    "chat",
    true,
  ]);
  link.conn.send({ type: "chat_request" });
  const first = await there.frames.next();
  assert(!first.done && first.value.kind === "control");
});

Deno.test("a tool endpoint dials without listening; offline, unknown and blocking users are coded refusals", async () => {
  await using reg = await startRegistry();
  {
    // carol has an account and is offline.
    await using _carol = await endpoint(reg, "carol");
  }
  await using dave = await endpoint(reg, "dave", {
    isBlocked: (u) => u === "tool",
  });
  await using tool = await endpoint(reg, "tool", { listen: false });
  assertEquals(tool.links.port, 0);
  assertEquals(await refusal(tool.links.open("carol", "file")), "offline");
  assertEquals(await refusal(tool.links.open("nobody", "file")), "not_found");
  // dave drops connections from users he blocked: they are not told why.
  assertEquals(await refusal(tool.links.open("dave", "file")), "unreachable");
  assertEquals(dave.inbound, []);
  await tool.close();
  assertEquals(await refusal(tool.links.open("dave", "file")), "logged_out");
});
