/**
 * Automatic reconnection (F18): a real `chat registry` process is killed with
 * SIGKILL and started again on the same database and ports. In-process peers
 * with a fast injected backoff report registry_lost, keep their direct chat
 * going meanwhile, log in again and report registry_restored, and presence
 * comes back.
 */
import { Logger } from "../../../common/log.ts";
import { isReply, Peer } from "../../../peer/core/mod.ts";
import type { PeerEvent } from "../../../peer/core/events.ts";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import {
  type RegistryProcess,
  spawnRegistry,
  until,
} from "../../helpers/registry.ts";

const FAST = { baseMs: 50, capMs: 200 };

interface Running extends AsyncDisposable {
  peer: Peer;
  events: PeerEvent[];
  since(type: PeerEvent["type"], from: number): PeerEvent | undefined;
}

async function startPeer(reg: RegistryProcess, user: string): Promise<Running> {
  const home = await Deno.makeTempDir({ prefix: `chat-rc-${user}-` });
  const events: PeerEvent[] = [];
  const peer = await Peer.start({
    target: reg.target(home),
    credentials: { user, password: `${user}-password` },
    home,
    port: 0,
    listenHost: "127.0.0.1",
    signup: true,
    backoff: FAST,
    logger: new Logger("warn", () => {}),
  }, (ev) => events.push(ev));
  return {
    peer,
    events,
    since: (type, from) => events.slice(from).find((e) => e.type === type),
    [Symbol.asyncDispose]: async () => {
      await peer.stop();
      await Deno.remove(home, { recursive: true }).catch(() => {});
    },
  };
}

async function ok(p: Running, line: string): Promise<Record<string, unknown>> {
  const r = await p.peer.run(line);
  assert(r.ok, `${p.peer.user}: ${line} → ${JSON.stringify(r)}`);
  return { ...r.data };
}

Deno.test("a registry killed and restarted on the same database brings every peer back", async () => {
  const home = await Deno.makeTempDir({ prefix: "chat-rc-reg-" });
  try {
    const first = await spawnRegistry({ home });
    const { port, udpPort, fingerprint } = first;
    await using alice = await startPeer(first, "alice");
    await using bob = await startPeer(first, "bob");
    await ok(alice, "/friend add bob");
    await ok(bob, "/friend accept alice");
    await ok(alice, "/status still here");

    // An open direct chat, which must survive the outage.
    await ok(alice, "/chat bob");
    // Friends: bob's side opens the chat at once.
    await until(
      () => bob.events.find((e) => e.type === "chat_started"),
      "bob's chat_started",
    );
    await until(
      () => alice.events.find((e) => e.type === "chat_started"),
      "chat_started",
    );

    const mark = { a: alice.events.length, b: bob.events.length };
    assertEquals(await first.stop("SIGKILL"), 137);
    await until(
      () =>
        alice.since("registry_lost", mark.a) &&
        bob.since("registry_lost", mark.b),
      "registry_lost at both peers",
    );

    await duringOutage(alice, bob);

    await using second = await spawnRegistry({ home, port, udpPort });
    assertEquals(second.fingerprint, fingerprint, "same identity on disk");
    await until(
      () =>
        alice.since("registry_restored", mark.a) &&
        bob.since("registry_restored", mark.b),
      "registry_restored at both peers",
      20_000,
    );
    const lost = alice.events.findIndex((e, i) =>
      i >= mark.a && e.type === "registry_lost"
    );
    const restored = alice.events.findIndex((e, i) =>
      i >= mark.a && e.type === "registry_restored"
    );
    assert(lost < restored, "lost comes before restored");
    assert(
      !alice.events.some((e) =>
        e.type === "timeout" || e.type === "session_ended"
      ),
      "the session was not ended",
    );

    // Presence is back: both online, friendship and status kept on disk.
    const who = await until(async () => {
      const w = await alice.peer.run("/who");
      if (!isReply(w, "who")) return null;
      const names = w.data.users.map((u) => u.user);
      return names.includes("alice") && names.includes("bob") ? names : null;
    }, "both online after the restart");
    assertEquals(who.sort(), ["alice", "bob"]);
    const friends = await ok(alice, "/friends");
    assertEquals(friends.friends, [{
      user: "bob",
      online: true,
      status: "Hey there! I am using chat",
    }]);
    assertEquals((await ok(bob, "/profile alice")).status, "still here");
    const found = await ok(alice, "/search bob");
    assertEquals(found.port, bob.peer.port, "the endpoint was re-registered");

    // Presence pushes work again on the new connection.
    const before = alice.events.length;
    await bob.peer.stop();
    await until(
      () =>
        alice.events.slice(before).find((e) =>
          e.type === "presence" && e.user === "bob" && !e.online
        ),
      "bob offline pushed after the restart",
    );
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});

/** While the registry is down: registry commands fail clearly, the chat goes on. */
async function duringOutage(alice: Running, bob: Running): Promise<void> {
  const who = await alice.peer.run("/who");
  assertEquals(who.ok, false);
  assertIncludes(
    who.ok ? "" : who.error,
    "the registry is unreachable — reconnecting in the background",
  );
  const sent = await ok(alice, "/msg bob through the outage");
  assertEquals(sent.state, "sent");
  await until(
    () =>
      bob.events.find((e) =>
        e.type === "message" && e.text === "through the outage"
      ),
    "a direct message while the registry is down",
  );
  await until(
    () => alice.events.find((e) => e.type === "delivered" && e.id === sent.id),
    "its delivery notice",
  );
}
