/**
 * Registry outages seen by real `chat peer --json` processes (F18, SPEC §3),
 * beyond tests/peer/reconnect_test.ts (in-process peers with a fast injected
 * backoff, a short outage, one message): here the peers run with the backoff
 * they ship with.
 *
 * - A registry killed with SIGKILL and kept down long enough for the old 30 s
 *   backoff cap to matter, then restarted on the same ports and database:
 *   presence is back within 5 s of the restart.
 * - A registry that never comes back: direct chats and a room keep carrying a
 *   sustained series of messages, every one delivered and acknowledged.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { type JsonPeer, mark, ok, spawnPeer } from "../helpers/peer_process.ts";
import { spawnRegistry, until } from "../helpers/registry.ts";
import { loggedIn, TestClient } from "../registry/support.ts";

/** How long the restarted registry may take to have everyone back (SPEC F18). */
const PRESENCE_BACK_MS = 5_000;

/** Makes `a` and `b` friends through their own shells. */
async function befriend(a: JsonPeer, b: JsonPeer): Promise<void> {
  await ok(a, `/friend add ${b.user}`);
  await b.waitFor(
    (l) => l.type === "friend_request" && l.from === a.user,
    "the friend request",
  );
  await ok(b, `/friend accept ${a.user}`);
}

/**
 * Opens a direct chat from `a` to `b`: `b` accepts the request, or a
 * friend's is accepted at once.
 */
async function openChat(a: JsonPeer, b: JsonPeer): Promise<void> {
  const from = mark(a);
  const fromB = mark(b);
  await ok(a, `/chat ${b.user}`);
  const seen = await b.waitFor(
    (l) =>
      (l.type === "chat_request" && l.from === a.user) ||
      (l.type === "chat_started" && l.with === a.user),
    "chat_request or chat_started",
    15_000,
    fromB,
  );
  if (seen.type === "chat_request") await ok(b, `/accept ${a.user}`);
  await a.waitFor(
    (l) => l.type === "chat_started" && l.with === b.user,
    "chat_started",
    15_000,
    from,
  );
}

Deno.test("peers are back online within 5 s of a registry restarted after a long outage", async (t) => {
  const home = await Deno.makeTempDir({ prefix: "chat-outage-" });
  const first = await spawnRegistry({ home });
  const { port, udpPort, fingerprint } = first;
  const reg = { port, fingerprint };
  await using alice = await spawnPeer(reg, { user: "alice" });
  await using bob = await spawnPeer(reg, { user: "bob" });
  try {
    await t.step("alice and bob are friends with an open chat", async () => {
      await befriend(alice, bob);
      await openChat(alice, bob);
      // dora watches presence from the test process after the restart.
      {
        await using d = await TestClient.connect(first.target());
        await d.request("signup", { user: "dora", password: "dora-password" });
      }
      await using dora = await loggedIn(
        first.target(),
        "dora",
        "dora-password",
      );
      for (const p of [alice, bob]) {
        await dora.request("friend_request", { user: p.user });
        await p.waitFor(
          (l) => l.type === "friend_request" && l.from === "dora",
          "dora's request",
        );
        await ok(p, "/friend accept dora");
      }
    });

    const lost = { a: mark(alice), b: mark(bob) };
    await t.step("the registry is killed and both peers say so", async () => {
      assertEquals(await first.stop("SIGKILL"), 137);
      await alice.waitFor(
        (l) => l.type === "registry_lost",
        "registry_lost",
        10_000,
        lost.a,
      );
      await bob.waitFor(
        (l) => l.type === "registry_lost",
        "registry_lost",
        10_000,
        lost.b,
      );
    });

    await t.step(
      "it stays down for 12 s, long enough for a 30 s cap to bite",
      async () => {
        // With the old policy (0.5 s doubling to 30 s for every failure) a
        // peer would be sleeping up to 8–16 s by now; with the refused-cap
        // of 2 s it tries again at most 2 s apart.
        const end = Date.now() + 12_000;
        while (Date.now() < end) {
          const r = await alice.send("/who");
          assertEquals(r.ok, false, "registry commands fail while it is down");
          assert(
            String(r.error).includes("the registry is unreachable"),
            String(r.error),
          );
          await new Promise((r) => setTimeout(r, 1_000));
        }
        assertEquals(alice.events("registry_restored").length, 0);
      },
    );

    await t.step(
      "restarted on the same ports and database, both are online within 5 s",
      async () => {
        await using second = await spawnRegistry({ home, port, udpPort });
        const restartedAt = performance.now();
        assertEquals(second.fingerprint, fingerprint, "same identity on disk");
        await using dora = await loggedIn(
          second.target(),
          "dora",
          "dora-password",
        );
        const online = async () => {
          const { friends } = await dora.request("friends", {});
          const pushed = (u: string) =>
            dora.eventsOf("presence").some((e) => e.user === u && e.online);
          return ["alice", "bob"].every((u) =>
            pushed(u) || friends.some((f) => f.user === u && f.online)
          );
        };
        await until(online, "alice and bob online again", 30_000, 50);
        const took = performance.now() - restartedAt;
        console.log(`  presence back ${took.toFixed(0)} ms after the restart`);
        assert(
          took <= PRESENCE_BACK_MS,
          `presence back after ${took.toFixed(0)} ms`,
        );
        for (const [p, from] of [[alice, lost.a], [bob, lost.b]] as const) {
          await p.waitFor(
            (l) => l.type === "registry_restored",
            "registry_restored",
            10_000,
            from,
          );
        }
        // The session went on: no timeout, no end, the chat still open.
        for (const p of [alice, bob]) {
          assertEquals(p.events("timeout").length, 0);
          assertEquals(p.events("session_ended").length, 0);
          assertEquals(p.events("chat_closed").length, 0);
        }
        const sent = await ok(alice, "/msg bob back again");
        assertEquals(sent.state, "sent");
        await bob.waitFor(
          (l) => l.type === "message" && l.text === "back again",
          "a message after the restart",
        );
        // Presence pushes flow again on the new connections.
        const before = dora.events.length;
        assertEquals(await bob.quit(), 0);
        await until(
          () =>
            dora.events.slice(before).some((e) =>
              e.type === "presence" && e.user === "bob" && !e.online
            ),
          "bob's logout pushed to dora",
        );
      },
    );
  } finally {
    await first.stop("SIGKILL");
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});

Deno.test("a registry that never comes back leaves direct chats and rooms working", async (t) => {
  const home = await Deno.makeTempDir({ prefix: "chat-outage-" });
  const registry = await spawnRegistry({ home });
  const reg = { port: registry.port, fingerprint: registry.fingerprint };
  await using alice = await spawnPeer(reg, { user: "alice" });
  await using bob = await spawnPeer(reg, { user: "bob" });
  await using carol = await spawnPeer(reg, { user: "carol" });
  const everyone = [alice, bob, carol];
  try {
    await t.step(
      "a direct chat alice–bob and a room of three, each link used once",
      async () => {
        await openChat(alice, bob);
        await ok(alice, "/room create ops");
        await ok(bob, "/join ops");
        await ok(carol, "/join ops");
        // Each earlier member hears of each later one.
        const joined = (p: JsonPeer, user: string) =>
          p.waitFor(
            (l) =>
              l.type === "room_joined" && l.room === "ops" && l.user === user,
            `${user} joined ops`,
          );
        await joined(alice, "bob");
        await joined(alice, "carol");
        await joined(bob, "carol");
        // One room message from each: every pair now has a P2P link.
        for (const p of everyone) {
          const r = await ok(p, `/say ops hello from ${p.user}`);
          assertEquals((r.recipients as string[]).length, 2, JSON.stringify(r));
          for (const other of everyone.filter((o) => o !== p)) {
            await other.waitFor(
              (l) =>
                l.type === "message" && l.room === "ops" &&
                l.text === `hello from ${p.user}`,
              "the first room message",
            );
          }
        }
      },
    );

    const from = everyone.map(mark);
    await t.step("the registry dies for good", async () => {
      assertEquals(await registry.stop("SIGKILL"), 137);
      for (const [i, p] of everyone.entries()) {
        await p.waitFor(
          (l) => l.type === "registry_lost",
          "registry_lost",
          10_000,
          from[i],
        );
      }
    });

    const DIRECT = 150;
    const ROOM = 40;
    await t.step(
      `${2 * DIRECT} direct and ${
        3 * ROOM
      } room messages over several seconds all arrive, in order`,
      async () => {
        const sentIds: Record<string, number[]> = { alice: [], bob: [] };
        const roomIds: Record<string, number[]> = {
          alice: [],
          bob: [],
          carol: [],
        };
        // Three senders at once, each pacing itself a little: a sustained
        // conversation rather than one burst.
        const direct = async (p: JsonPeer, to: JsonPeer) => {
          for (let i = 0; i < DIRECT; i++) {
            const r = await ok(p, `/msg ${to.user} ${p.user} says ${i}`);
            assertEquals(r.state, "sent");
            sentIds[p.user]!.push(Number(r.id));
            if (i % 10 === 9) await new Promise((r) => setTimeout(r, 100));
          }
        };
        const room = async (p: JsonPeer) => {
          for (let i = 0; i < ROOM; i++) {
            const r = await ok(p, `/say ops ${p.user} to all ${i}`);
            assertEquals(r.unreached, [], "every member reached");
            roomIds[p.user]!.push(Number(r.id));
            await new Promise((r) => setTimeout(r, 60));
          }
        };
        await Promise.all([
          (async () => {
            await direct(alice, bob);
            await room(alice);
          })(),
          (async () => {
            await room(bob);
            await direct(bob, alice);
          })(),
          room(carol),
        ]);
        // Every direct message arrived once and in order, and came back
        // acknowledged.
        for (const [p, to] of [[alice, bob], [bob, alice]] as const) {
          const texts = await until(() => {
            const got = to.lines.filter((l) =>
              l.type === "message" && l.from === p.user && !l.room &&
              String(l.text).startsWith(`${p.user} says `)
            ).map((l) => l.text);
            return got.length >= DIRECT ? got : null;
          }, `${p.user}'s messages at ${to.user}`);
          assertEquals(
            texts,
            Array.from({ length: DIRECT }, (_, i) => `${p.user} says ${i}`),
          );
          await until(() => {
            const acked = new Set(
              p.lines.filter((l) =>
                l.type === "delivered" && l.to === to.user && !l.room
              ).map((l) => Number(l.id)),
            );
            return sentIds[p.user]!.every((id) => acked.has(id));
          }, `delivery notices at ${p.user}`);
        }
        // Every room message reached both other members, in order, and each
        // member acknowledged it.
        for (const p of everyone) {
          for (const other of everyone.filter((o) => o !== p)) {
            const texts = await until(() => {
              const got = other.lines.filter((l) =>
                l.type === "message" && l.room === "ops" &&
                l.from === p.user &&
                String(l.text).startsWith(`${p.user} to all `)
              ).map((l) => l.text);
              return got.length >= ROOM ? got : null;
            }, `${p.user}'s room messages at ${other.user}`);
            assertEquals(
              texts,
              Array.from({ length: ROOM }, (_, i) => `${p.user} to all ${i}`),
            );
            await until(() => {
              const acked = new Set(
                p.lines.filter((l) =>
                  l.type === "delivered" && l.room === "ops" &&
                  l.to === other.user
                ).map((l) => Number(l.id)),
              );
              return roomIds[p.user]!.every((id) => acked.has(id));
            }, `room delivery notices from ${other.user} at ${p.user}`);
          }
        }
      },
    );

    await t.step(
      "nobody was restored, timed out or crashed; each exits 0",
      async () => {
        for (const p of everyone) {
          assertEquals(p.events("registry_restored").length, 0);
          assertEquals(p.events("timeout").length, 0);
          assertEquals(p.events("chat_closed").length, 0);
          assertEquals(p.events("error").length, 0, JSON.stringify(p.lines));
        }
        for (const p of everyone) assertEquals(await p.quit(), 0);
      },
    );
  } finally {
    await registry.stop("SIGKILL");
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});
