/**
 * F8: a blocked user cannot request a chat, send a message (stored offline
 * included), a file, an invitation or a friend request, and the blocker sees
 * nothing of it. Where an unblocked user would be answered "not available"
 * too (a chat request, a file, an invitation) the blocked one is; a friend
 * request and a stored message are answered as for anyone else (pending,
 * stored) and then dropped, so the block cannot be told apart. An open chat
 * ends when blocked.
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../../helpers/assert.ts";
import { spawnRegistry, until } from "../../helpers/registry.ts";
import { type JsonPeer, spawnPeer } from "../../helpers/peer_process.ts";

function storedFor(dbPath: string, user: string): number {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const row = db.prepare(
      "SELECT COUNT(*) AS n FROM offline_messages WHERE recipient = ?",
    ).get(user);
    return Number(row?.n);
  } finally {
    db.close();
  }
}

/** Event types a blocked sender must never cause at the blocker. */
const FROM_ALICE = new Set([
  "chat_request",
  "message",
  "friend_request",
  "file_offer",
  "offline_message",
  "chat_started",
  "room_invite",
]);

function heardFromAlice(bob: JsonPeer, from = 0): unknown[] {
  return bob.lines.slice(from).filter((l) =>
    FROM_ALICE.has(l.type) &&
    (l.from === "alice" || l.with === "alice" || l.user === "alice")
  );
}

Deno.test("blocks", async (t) => {
  await using reg = await spawnRegistry();
  const bobHome = await Deno.makeTempDir({ prefix: "chat-bob-" });
  const file = join(bobHome, "..", `chat-block-${crypto.randomUUID()}.txt`);
  await Deno.writeTextFile(file, "a file for bob\n");
  try {
    await using alice = await spawnPeer(reg, { user: "alice" });
    let bob = await spawnPeer(reg, { user: "bob", home: bobHome });
    try {
      await t.step("blocking ends an open chat", async () => {
        await alice.send("/chat bob");
        await bob.waitFor((l) => l.type === "chat_request", "chat_request");
        await bob.send("/accept alice");
        await alice.waitFor((l) => l.type === "chat_started", "chat_started");
        const from = alice.lines.length;
        const r = await bob.send("/block alice");
        assertEquals(r.ok, true, JSON.stringify(r));
        const closed = await alice.waitFor(
          (l) => l.type === "chat_closed" && l.with === "bob",
          "alice's chat_closed",
          undefined,
          from,
        );
        assertEquals(closed.reason, "lost the connection to bob");
        // The blocker cannot open a way back in either.
        for (const line of ["/msg alice are you there", "/chat alice"]) {
          const back = await bob.send(line);
          assertEquals(back.ok, false, line);
          assertEquals(
            back.error,
            "you have blocked alice — /unblock alice first",
          );
        }
      });

      const mark = bob.lines.length;
      await t.step(
        "a blocked user cannot request a chat, message, send a file or invite to a room",
        async () => {
          assertEquals((await alice.send("/room create alicesroom")).ok, true);
          for (
            const line of [
              "/chat bob",
              "/msg bob let me in",
              `/send bob ${file}`,
              "/invite alicesroom bob",
            ]
          ) {
            const r = await alice.send(line);
            assertEquals(r.ok, false, line);
            assertEquals(r.error, "bob is not available", line);
          }
          // The blocker sees bob as unreachable, not as blocking.
          const search = await alice.send("/search bob");
          assertEquals(search.online, false);
        },
      );

      await t.step(
        "a friend request is answered as pending, as to anyone",
        async () => {
          const f = await alice.send("/friend add bob");
          assertEquals(f.ok, true, JSON.stringify(f));
          assertEquals(f.state, "pending");
          const mine = await alice.send("/requests");
          assertEquals(mine.outgoing, ["bob"]);
        },
      );

      await t.step(
        "nor leave a message while the blocker is offline",
        async () => {
          assertEquals(await bob.quit(), 0);
          await until(
            async () => (await alice.send("/search bob")).online === false,
            "bob to be offline",
          );
          // Answered as stored, so the block cannot be told apart, but
          // nothing is kept.
          const r = await alice.send("/msg bob for later");
          assertEquals(r.ok, true, JSON.stringify(r));
          assertEquals(r.state, "stored");
          assertEquals(storedFor(reg.dbPath, "bob"), 0);
          const f = await alice.send("/friend add bob");
          assertEquals(f.state, "pending");
        },
      );

      await t.step("the blocker sees nothing of any of it", async () => {
        assertEquals(heardFromAlice(bob, mark), []);
        bob = await spawnPeer(reg, {
          user: "bob",
          home: bobHome,
          signup: false,
        });
        const blocks = await bob.send("/blocks");
        assertEquals(blocks.users, ["alice"]);
        const inbox = await bob.send("/inbox");
        assertEquals(inbox.messages, []);
        const requests = await bob.send("/requests");
        assertEquals(requests.incoming, []);
        const invites = await bob.send("/invites");
        assertEquals(invites.invites, []);
        assertEquals(heardFromAlice(bob), []);
      });

      await t.step("after /unblock the two can chat again", async () => {
        assertEquals((await bob.send("/unblock alice")).ok, true);
        const r = await alice.send("/msg bob hello again");
        assertEquals(r.state, "requested", JSON.stringify(r));
        await bob.waitFor(
          (l) => l.type === "chat_request" && l.text === "hello again",
          "the request after unblocking",
        );
        await bob.send("/accept alice");
        await alice.waitFor(
          (l) => l.type === "delivered" && l.id === r.id,
          "delivery after unblocking",
        );
      });

      await t.step("block and unblock with bad input are refused", async () => {
        for (
          const [line, error] of [
            ["/block bob", "you cannot block yourself"],
            ["/block nobody", "no such user 'nobody'"],
            ["/unblock carol", "carol is not blocked"],
            ["/block", "usage: /block NAME"],
            ["/block a b", "usage: /block NAME"],
          ]
        ) {
          const r = await bob.send(line!);
          assertEquals(r.ok, false, line);
          assert(String(r.error).includes(error!), `${line}: ${r.error}`);
        }
      });
    } finally {
      await bob.quit();
    }
  } finally {
    await Deno.remove(bobHome, { recursive: true });
    await Deno.remove(file);
  }
});
