/**
 * The bystanders of the reliability suite: people who have nothing to do
 * with an attack and must be served normally while it runs.
 *
 * - a searcher: a logged-in client (heartbeating like any peer) that looks a
 *   user up every 100 ms; every search must be answered, each within
 *   BYSTANDER_REPLY_MS (a generous bound, not a benchmark);
 * - a chat: two real `chat peer --json` processes, friends with a direct chat
 *   open, exchanging a message every 250 ms; every message must arrive.
 *
 * `check()` stops both and asserts; call it after the attack.
 */
import { assert } from "../helpers/assert.ts";
import { type JsonPeer, spawnPeer } from "../helpers/peer_process.ts";
import { type RegistryProcess, until } from "../helpers/registry.ts";
import { loggedIn, signup, type TestClient } from "../registry/support.ts";

/** How long a bystander's search may take while an attack runs. */
export const BYSTANDER_REPLY_MS = 2_000;

/** Sends a command and insists on an ok reply. */
export async function ok(
  p: JsonPeer,
  line: string,
): Promise<Record<string, unknown>> {
  const r = await p.send(line);
  assert(r.ok === true, `${p.user}: ${line} → ${JSON.stringify(r)}`);
  return r;
}

/** Makes `a` and `b` friends through their own shells. */
export async function befriend(a: JsonPeer, b: JsonPeer): Promise<void> {
  await ok(a, `/friend add ${b.user}`);
  await b.waitFor(
    (l) => l.type === "friend_request" && l.from === a.user,
    "the friend request",
  );
  await ok(b, `/friend accept ${a.user}`);
}

/** Opens a direct chat from `a` to `b`, friends: `b` accepts it at once. */
export async function openChat(a: JsonPeer, b: JsonPeer): Promise<void> {
  const from = a.lines.length;
  const seen = b.lines.length;
  await ok(a, `/chat ${b.user}`);
  await b.waitFor(
    (l) => l.type === "chat_started" && l.with === a.user && l.auto === true,
    "the friend's chat opened at once",
    15_000,
    seen,
  );
  await a.waitFor(
    (l) => l.type === "chat_started" && l.with === b.user,
    "chat_started",
    15_000,
    from,
  );
}

/** The running bystanders; see the module doc. */
export interface Bystanders extends AsyncDisposable {
  searcher: TestClient;
  bob: JsonPeer;
  carol: JsonPeer;
  /** Stops the traffic and asserts everyone was served throughout. */
  check(): Promise<string>;
}

/** The bystanders' user names (password: name + "-password"). */
export const BYSTANDERS = ["searcher", "bob", "carol"];

/**
 * Starts the bystanders against `reg`: `searcher` looks up `lookFor` (a user
 * that exists), bob and carol chat. Their accounts are created here unless
 * `o.created` says they exist already.
 */
export async function startBystanders(
  reg: RegistryProcess,
  lookFor: string,
  o: { created?: boolean } = {},
): Promise<Bystanders> {
  const target = reg.target();
  if (!o.created) await signup(target, "searcher", "searcher-password");
  const searcher = await loggedIn(target, "searcher", "searcher-password");
  const ref = { port: reg.port, fingerprint: reg.fingerprint };
  const bob = await spawnPeer(ref, {
    user: "bob",
    home: await Deno.makeTempDir({ prefix: "chat-bob-" }),
    signup: !o.created,
  });
  const carol = await spawnPeer(ref, {
    user: "carol",
    home: await Deno.makeTempDir({ prefix: "chat-carol-" }),
    signup: !o.created,
  });
  await befriend(bob, carol);
  await openChat(bob, carol);

  let running = true;
  const slow: string[] = [];
  const failed: string[] = [];
  let searches = 0;
  let worst = 0;
  const searching = (async () => {
    while (running) {
      const start = performance.now();
      try {
        const r = await searcher.request("search", { user: lookFor });
        const took = performance.now() - start;
        worst = Math.max(worst, took);
        if (r.user !== lookFor) failed.push(`search answered ${r.user}`);
        if (took > BYSTANDER_REPLY_MS) slow.push(`${took.toFixed(0)} ms`);
        searches++;
      } catch (err) {
        failed.push(`search: ${err instanceof Error ? err.message : err}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  let sent = 0;
  const chatting = (async () => {
    while (running) {
      const r = await bob.send(`/msg carol bystander ${sent}`).catch((e) => ({
        ok: false,
        error: String(e),
      }));
      if (r.ok !== true) failed.push(`bob's message ${sent}: ${r.error}`);
      sent++;
      await new Promise((r) => setTimeout(r, 250));
    }
  })();

  const stop = async () => {
    running = false;
    await searching;
    await chatting;
  };
  const cleanup = async () => {
    await stop();
    await searcher.close().catch(() => {});
    for (const p of [bob, carol]) {
      await p.quit().catch(() => 0);
      await Deno.remove(p.home, { recursive: true }).catch(() => {});
    }
  };
  return {
    searcher,
    bob,
    carol,
    async check() {
      await stop();
      const last = `bystander ${sent - 1}`;
      await until(
        () => carol.lines.some((l) => l.type === "message" && l.text === last),
        `carol got bob's last message\n${carol.stderr.slice(-3).join("\n")}`,
        10_000,
      );
      const got = new Set(
        carol.lines.filter((l) => l.type === "message").map((l) => l.text),
      );
      const missing: number[] = [];
      for (let i = 0; i < sent; i++) {
        if (!got.has(`bystander ${i}`)) missing.push(i);
      }
      for (const p of [bob, carol, searcher]) {
        const ended = "lines" in p
          ? p.events("timeout").length + p.events("session_ended").length
          : p.eventsOf("timeout").length;
        if (ended > 0) {
          failed.push(`${"user" in p ? p.user : "searcher"} logged out`);
        }
      }
      assert(failed.length === 0, `bystanders failed: ${failed.join("; ")}`);
      assert(
        slow.length === 0,
        `bystander searches over ${BYSTANDER_REPLY_MS} ms: ${slow.join(", ")}`,
      );
      assert(missing.length === 0, `messages lost: ${missing.join(", ")}`);
      assert(searches > 0 && sent > 0, "the bystanders did something");
      return `bystanders: ${searches} searches (slowest ${
        worst.toFixed(0)
      } ms), ${sent} chat messages, all delivered`;
    },
    [Symbol.asyncDispose]: cleanup,
  };
}
