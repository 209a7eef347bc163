/**
 * F11: transcripts are appended live to $CHAT_HOME/transcripts/<user>.log
 * with timestamps and both sides' lines, only while saving.
 */
import { join } from "node:path";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { spawnRegistry, until } from "../../helpers/registry.ts";
import { type JsonPeer, spawnPeer } from "../../helpers/peer_process.ts";
import { Transcripts } from "../../../peer/core/transcripts.ts";

const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "";
    throw err;
  }
}

function transcript(peer: JsonPeer, other: string): string {
  return join(peer.home, "transcripts", `${other}.log`);
}

/** Waits until the transcript has a line ending with `tail`; returns its lines. */
async function linesUntil(path: string, tail: string): Promise<string[]> {
  const text = await until(
    async () => {
      const t = await readOrEmpty(path);
      return t.split("\n").some((l) => l.endsWith(tail)) ? t : null;
    },
    `a transcript line ending with ${tail} in ${path}`,
  );
  return text.split("\n").filter((l) => l !== "");
}

/** Sends `text` from `a` to `b` and waits until it was delivered. */
async function say(a: JsonPeer, b: JsonPeer, text: string): Promise<void> {
  const r = await a.send(`/msg ${b.user} ${text}`);
  assertEquals(r.ok, true, JSON.stringify(r));
  await a.waitFor(
    (l) => l.type === "delivered" && l.id === r.id && l.to === b.user,
    `delivery of ${text}`,
  );
}

Deno.test("transcripts", async (t) => {
  await using reg = await spawnRegistry();
  await using alice = await spawnPeer(reg, { user: "alice" });
  await using bob = await spawnPeer(reg, { user: "bob" });

  await t.step(
    "accept --save records both sides with timestamps, the other side records nothing",
    async () => {
      await alice.send("/msg bob first words");
      await bob.waitFor((l) => l.type === "chat_request", "chat_request");
      const r = await bob.send("/accept alice --save");
      assertEquals(r.ok, true);
      assertEquals(r.saving, true);
      const started = await alice.waitFor(
        (l) => l.type === "chat_started",
        "chat_started",
      );
      assertEquals(started.saving, false, "alice did not ask to save");
      assertEquals(bob.events("chat_started")[0]?.saving, true);
      await say(alice, bob, "hello from alice");
      await say(bob, alice, "hello from bob");
      // Terminal escapes from the other side never reach the file.
      await say(
        alice,
        bob,
        "\x1b[2J\x1b[31mred\x1b[0m and a \x07bell\x1b]0;title\x07",
      );
      // Nor do bidirectional controls, and no line break makes a line
      // that looks like one of its own.
      await say(alice, bob, "rtl \u202eevil\u2069\u2028T bob: fake\rT x: y");

      const lines = await linesUntil(
        transcript(bob, "alice"),
        "    T x: y",
      );
      for (const line of lines) {
        assert(STAMP.test(line) || line.startsWith("    "), line);
      }
      assertEquals(lines.map((l) => l.replace(STAMP, "")), [
        "-- chat with alice started",
        "alice: first words",
        "alice: hello from alice",
        "bob: hello from bob",
        "alice: red and a bell",
        "alice: rtl evil",
        "    T bob: fake",
        "    T x: y",
      ]);
      assertEquals(await readOrEmpty(transcript(alice, "bob")), "");
      // Only the owner may read them.
      assertEquals(
        (await Deno.stat(transcript(bob, "alice"))).mode! & 0o777,
        0o600,
      );
      assertEquals(
        (await Deno.stat(join(bob.home, "transcripts"))).mode! & 0o777,
        0o700,
      );
    },
  );

  await t.step(
    "/save on starts a transcript mid-chat and /save off stops it",
    async () => {
      const on = await alice.send("/save bob on");
      assertEquals(on.ok, true);
      assertEquals(on.saving, true);
      assertEquals(on.path, transcript(alice, "bob"));
      await say(bob, alice, "now alice saves too");
      await say(alice, bob, "yes I do");
      const off = await alice.send("/save bob off");
      assertEquals(off.saving, false);
      await say(alice, bob, "this is not in alice's file");
      await say(bob, alice, "nor this");
      // Saving again appends to the same file.
      await alice.send("/save bob on");
      await say(alice, bob, "back on");

      const lines = await linesUntil(
        transcript(alice, "bob"),
        "alice: back on",
      );
      for (const line of lines) assert(STAMP.test(line), line);
      assertEquals(lines.map((l) => l.replace(STAMP, "")), [
        "-- transcript started",
        "bob: now alice saves too",
        "alice: yes I do",
        "-- transcript stopped",
        "-- transcript started",
        "alice: back on",
      ]);
      // bob kept saving all along.
      const bobs = await linesUntil(transcript(bob, "alice"), "alice: back on");
      assertIncludes(bobs.join("\n"), "alice: this is not in alice's file");
      assertIncludes(bobs.join("\n"), "bob: nor this");
      // Turning on what is on already changes nothing.
      const again = await alice.send("/save bob on");
      assertEquals(again.ok, true);
    },
  );

  await t.step("closing a saved chat notes it in the transcript", async () => {
    await alice.send("/close bob");
    await bob.waitFor((l) => l.type === "chat_closed", "chat_closed");
    await linesUntil(
      transcript(alice, "bob"),
      "-- chat closed: closed by alice",
    );
    await linesUntil(
      transcript(bob, "alice"),
      "-- chat closed: closed by alice",
    );
  });

  await t.step(
    "a chat that is not saved leaves no transcript at all",
    async () => {
      await using carol = await spawnPeer(reg, { user: "carol" });
      await carol.send("/chat alice");
      await alice.waitFor(
        (l) => l.type === "chat_request" && l.from === "carol",
        "carol's request",
      );
      await alice.send("/accept carol");
      await carol.waitFor((l) => l.type === "chat_started", "chat_started");
      await say(carol, alice, "not saved");
      await say(alice, carol, "not saved either");
      await alice.send("/close carol");
      await carol.waitFor((l) => l.type === "chat_closed", "chat_closed");
      assertEquals(await readOrEmpty(transcript(alice, "carol")), "");
      assertEquals(await readOrEmpty(transcript(carol, "alice")), "");
    },
  );

  await t.step("/save with bad input is refused", async () => {
    for (
      const [line, error] of [
        ["/save bob on", "no open chat with bob"],
        ["/save bob", "usage: /save NAME on|off"],
        ["/save bob yes", "say on or off"],
        ["/save ../etc on", "is not a valid user name"],
      ]
    ) {
      const r = await alice.send(line!);
      assertEquals(r.ok, false, line);
      assertIncludes(String(r.error), error!, `${line}: ${r.error}`);
    }
  });
});

Deno.test("a transcript that cannot be written is reported once, and again after it recovered", async () => {
  const home = await Deno.makeTempDir({ prefix: "chat-transcripts-" });
  try {
    const failures: string[] = [];
    const t = new Transcripts(home, (user, err) => {
      failures.push(`${user}: ${(err as Error).name}`);
    });
    // A file where the folder should be: every write fails.
    await Deno.writeTextFile(join(home, "transcripts"), "in the way");
    await t.append("bob", 0, "bob", "one");
    await t.append("bob", 1, "alice", "two");
    await t.note("bob", 2, "still failing");
    assertEquals(failures.length, 1, "one report for a run of failures");
    assert(failures[0]!.startsWith("bob: "), failures[0]);

    await Deno.remove(join(home, "transcripts"));
    await t.append("bob", 3, "bob", "written");
    assertEquals(
      (await Deno.readTextFile(t.pathFor("bob"))).replace(STAMP, ""),
      "bob: written\n",
    );
    assertEquals(failures.length, 1);

    // A folder where the file should be (fails for root too).
    await Deno.remove(t.pathFor("bob"));
    await Deno.mkdir(t.pathFor("bob"));
    await t.append("bob", 4, "bob", "refused");
    assertEquals(failures.length, 2, "reported again after a success");
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
