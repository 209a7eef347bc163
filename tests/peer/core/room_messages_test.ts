/**
 * Room messages peer to peer (peer/core/conversations.ts with the room
 * book): a room keeps talking while the registry is stopped, and a flood
 * of forged messages from a non-member costs the receiver at most one
 * registry request.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../../helpers/assert.ts";
import { isReply, type Peer } from "../../../peer/mod.ts";
import { spawnRegistry, startRegistry, until } from "../../helpers/registry.ts";
import type { JsonPeer } from "../../helpers/peer_process.ts";
import {
  corePeer,
  crowd,
  deliveredTo,
  ok,
  roomMessage,
} from "./rooms_support.ts";

Deno.test("a room keeps talking while the registry is stopped longer than the heartbeat TTL", async () => {
  const ttlMs = 1500;
  await using reg = await spawnRegistry({
    args: ["--heartbeat-interval", "250ms", "--heartbeat-ttl", `${ttlMs}ms`],
  });
  await using c = await crowd(reg);
  const peers = await c.spawnAll(["alice", "bob", "carol"]);
  const [alice, bob, carol] = peers as [JsonPeer, JsonPeer, JsonPeer];
  await ok(alice, "/room create ops");
  await ok(bob, "/join ops");
  await ok(carol, "/join ops");
  const round = async (tag: string) => {
    for (const p of peers) {
      const rest = peers.filter((o) => o !== p);
      const said = await ok(p, `/say ops ${tag} from ${p.user}`);
      assertEquals(said.recipients, rest.map((o) => o.user));
      for (const o of rest) {
        await roomMessage(o, "ops", p.user, `${tag} from ${p.user}`);
      }
      await deliveredTo(p, "ops", said.id, rest.map((o) => o.user));
    }
  };
  // Everyone speaks once so every member has its links (dialing needs the registry).
  await round("warm-up");

  reg.child.kill("SIGSTOP");
  let rounds = 0;
  try {
    // The room talks for the whole outage, which lasts well over the TTL.
    const stoppedAt = Date.now();
    while (Date.now() - stoppedAt < 2 * ttlMs) await round(`round ${++rounds}`);
  } finally {
    reg.child.kill("SIGCONT");
  }
  assert(rounds >= 1);

  // Once the registry runs again it notices its own stall and does not
  // blame the peers for the heartbeats it could not hear.
  await until(
    () =>
      reg.stderr.some((l) => l.includes("registry stalled")) ||
      peers.some((p) => p.events("timeout").length > 0),
    "the registry to notice its stall",
  );
  const m = await ok(carol, "/members ops");
  assertEquals(
    (m.members as { user: string; online: boolean }[]).map((x) => x.online),
    [true, true, true],
  );
  for (const p of peers) {
    assertEquals(p.events("timeout"), [], `${p.user} was not timed out`);
    assertEquals(
      p.events("presence").filter((l) => l.online === false),
      [],
      `${p.user} saw nobody go offline`,
    );
  }
  await round("after");
});

Deno.test("a flood of forged room messages costs the receiver at most one registry request", async () => {
  await using reg = await startRegistry();
  const root = await Deno.makeTempDir({ prefix: "chat-flood-" });
  await using _root = {
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
  const target = (user: string) => ({
    ...reg.target(),
    home: join(root, user),
  });
  await using alice = await corePeer(target("alice"), "alice");
  await using carol = await corePeer(target("carol"), "carol");
  const run = async (p: Peer, line: string) => {
    const r = await p.run(line);
    assert(r.ok, `${p.user}: ${line}: ${JSON.stringify(r)}`);
    return r;
  };
  await run(alice.peer, "/room create club");
  await run(carol.peer, "/join club");
  await run(carol.peer, "/say club hello");
  await until(
    () => alice.events.find((e) => e.type === "message" && e.room === "club"),
    "alice hears carol",
  );
  await run(alice.peer, "/kick club carol");
  await until(
    () => carol.events.find((e) => e.type === "room_left"),
    "carol told she was kicked",
  );
  // Carol forges her membership and floods the room.
  carol.peer.rooms.load({
    room: "club",
    owner: "alice",
    members: ["alice", "carol"].map((user) => ({
      user,
      online: true,
      role: "member" as const,
    })),
  });
  const before = reg.registry.service.stats.requests;
  const flood = [];
  for (let i = 0; i < 300; i++) {
    flood.push(carol.peer.conversations.say("club", `forged ${i}`));
  }
  await Promise.all(flood);
  // The link is read in order: once this arrives the flood was handled.
  await run(carol.peer, "/chat alice");
  await until(
    () => alice.events.find((e) => e.type === "chat_request"),
    "the chat request behind the flood",
  );
  const spent = reg.registry.service.stats.requests - before;
  assert(spent <= 3, `the flood cost ${spent} registry requests`);
  assertEquals(
    alice.events.filter((e) => e.type === "message" && e.from === "carol")
      .length,
    1,
  );
  const members = await run(alice.peer, "/members club");
  assert(isReply(members, "members"), JSON.stringify(members));
  assertEquals(members.data.owner, "alice");
});
