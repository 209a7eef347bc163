import { assert, assertEquals } from "../helpers/assert.ts";
import { spawnRegistry } from "../helpers/registry.ts";
import { spawnPeer } from "../helpers/peer_process.ts";

Deno.test("two peer processes chat directly in both directions with delivery notices", async () => {
  await using reg = await spawnRegistry();
  await using alice = await spawnPeer(reg, { user: "alice" });
  await using bob = await spawnPeer(reg, { user: "bob" });

  const asked = await alice.send("/chat bob");
  assertEquals(asked.ok, true);
  assertEquals(asked.state, "requested");
  await bob.waitFor(
    (l) => l.type === "chat_request" && l.from === "alice",
    "chat_request",
  );
  const accepted = await bob.send("/accept alice");
  assertEquals(accepted.ok, true);
  await alice.waitFor(
    (l) => l.type === "chat_started" && l.with === "bob",
    "chat_started",
  );

  const sent = await alice.send("/msg bob hello bob");
  assertEquals(sent.state, "sent");
  const got = await bob.waitFor(
    (l) => l.type === "message" && l.text === "hello bob",
    "message",
  );
  assertEquals(got.from, "alice");
  assertEquals(got.id, sent.id);
  await alice.waitFor(
    (l) => l.type === "delivered" && l.to === "bob" && l.id === sent.id,
    "delivered",
  );

  const back = await bob.send("hi alice");
  assertEquals(back.command, "/msg");
  await alice.waitFor(
    (l) => l.type === "message" && l.text === "hi alice" && l.from === "bob",
    "reply",
  );
  await bob.waitFor(
    (l) => l.type === "delivered" && l.to === "alice" && l.id === back.id,
    "delivered back",
  );

  await alice.send("/close bob");
  await bob.waitFor(
    (l) => l.type === "chat_closed" && l.with === "alice",
    "chat_closed",
  );
  assert(alice.events("chat_closed").length === 1);
});
