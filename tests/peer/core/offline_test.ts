/**
 * F12: a message to an offline user is stored by the registry and delivered
 * at the recipient's next login as offline_message, oldest first, exactly
 * once, then deleted from the store.
 */
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { spawnRegistry, until } from "../../helpers/registry.ts";
import { type JsonPeer, spawnPeer } from "../../helpers/peer_process.ts";

/** Messages waiting in the registry's database for `user`. */
function stored(dbPath: string, user: string): string[] {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    return db.prepare(
      "SELECT text FROM offline_messages WHERE recipient = ? ORDER BY id",
    ).all(user).map((r) => String(r.text));
  } finally {
    db.close();
  }
}

/** Stores a message from `from` for the offline `to`. */
async function leave(from: JsonPeer, to: string, text: string) {
  const r = await from.send(`/msg ${to} ${text}`);
  assertEquals(r.ok, true, JSON.stringify(r));
  assertEquals(r.state, "stored");
  assertEquals(
    r.notice,
    `${to} is offline — your message was stored and will be delivered when ${to} logs in`,
  );
  assert(!Number.isNaN(Date.parse(String(r.sent_at))), String(r.sent_at));
  return r;
}

Deno.test("offline messages", async (t) => {
  await using reg = await spawnRegistry();
  const carolHome = await Deno.makeTempDir({ prefix: "chat-carol-" });
  try {
    // carol has an account but is offline.
    const first = await spawnPeer(reg, { user: "carol", home: carolHome });
    assertEquals(await first.quit(), 0);
    await using alice = await spawnPeer(reg, { user: "alice" });
    await using bob = await spawnPeer(reg, { user: "bob" });

    await t.step(
      "a message to an offline user is stored with a notice",
      async () => {
        await leave(alice, "carol", "one from alice");
        await leave(bob, "carol", "two from bob");
        await leave(alice, "carol", "three from alice");
        // Sealed to carol's device: the registry holds no text.
        const rows = stored(reg.dbPath, "carol");
        assertEquals(rows.length, 3);
        for (const row of rows) {
          assert(!row.includes("from alice") && !row.includes("from bob"), row);
          assertEquals(Object.keys(JSON.parse(row).boxes).length, 1);
        }
      },
    );

    await t.step(
      "bad input to an offline user is refused and stores nothing",
      async () => {
        for (
          const [line, error] of [
            ["/msg nobody hello", "no such user 'nobody'"],
            ["/msg carol", "usage: /msg NAME TEXT"],
            ["/msg carol " + "y".repeat(8193), "longer than 8192 characters"],
            [
              "/chat carol",
              "carol is offline — /msg carol TEXT leaves a message",
            ],
            ["/inbox now", "usage: /inbox"],
          ]
        ) {
          const r = await alice.send(line!);
          assertEquals(r.ok, false, line);
          assertIncludes(String(r.error), error!, `${line}: ${r.error}`);
        }
        assertEquals(stored(reg.dbPath, "carol").length, 3);
      },
    );

    await t.step(
      "the next login gets them oldest first, exactly once, and the store empties",
      async () => {
        await using carol = await spawnPeer(reg, {
          user: "carol",
          home: carolHome,
          signup: false,
        });
        await carol.waitFor(
          () => carol.events("offline_message").length === 3,
          "three offline messages",
        );
        const got = carol.events("offline_message");
        assertEquals(got.map((m) => [m.from, m.text]), [
          ["alice", "one from alice"],
          ["bob", "two from bob"],
          ["alice", "three from alice"],
        ]);
        const times = got.map((m) => Date.parse(String(m.sent_at)));
        assert(
          times.every((x, i) =>
            !Number.isNaN(x) && (i === 0 || x >= times[i - 1]!)
          ),
        );
        // Offline messages come after ready.
        const ready = carol.lines.findIndex((l) => l.type === "ready");
        const firstMsg = carol.lines.findIndex((l) =>
          l.type === "offline_message"
        );
        assert(ready >= 0 && ready < firstMsg);

        await until(
          () => stored(reg.dbPath, "carol").length === 0,
          "the store to be emptied",
        );
        // /inbox shows this session's offline messages again, without new events.
        const inbox = await carol.send("/inbox");
        assertEquals(inbox.ok, true);
        assertEquals(
          (inbox.messages as { from: string; text: string }[]).map((m) =>
            m.text
          ),
          ["one from alice", "two from bob", "three from alice"],
        );
        assertEquals(carol.events("offline_message").length, 3);

        // Killed after receiving: nothing is lost or repeated on restart.
        await carol.kill("SIGKILL");
      },
    );

    await t.step("after a restart nothing is delivered twice", async () => {
      await until(
        async () => (await alice.send("/search carol")).online === false,
        "carol to be offline",
      );
      await leave(alice, "carol", "four, after the restart");
      await using carol = await spawnPeer(reg, {
        user: "carol",
        home: carolHome,
        signup: false,
      });
      // The reply to /inbox comes after the login's own fetch.
      const inbox = await carol.send("/inbox");
      assertEquals(
        (inbox.messages as { text: string }[]).map((m) => m.text),
        ["four, after the restart"],
      );
      assertEquals(
        carol.events("offline_message").map((m) => m.text),
        ["four, after the restart"],
      );
      await until(
        () => stored(reg.dbPath, "carol").length === 0,
        "the store to be emptied",
      );
    });

    await t.step(
      "an online recipient gets a direct chat request, not a stored message",
      async () => {
        await using carol = await spawnPeer(reg, {
          user: "carol",
          home: carolHome,
          signup: false,
        });
        const r = await alice.send("/msg carol are you online now?");
        assertEquals(r.state, "requested");
        await carol.waitFor(
          (l) => l.type === "chat_request" && l.text === "are you online now?",
          "the chat request",
        );
        assertEquals(stored(reg.dbPath, "carol"), []);
        assertEquals(carol.events("offline_message"), []);
      },
    );
  } finally {
    await Deno.remove(carolHome, { recursive: true });
  }
});
