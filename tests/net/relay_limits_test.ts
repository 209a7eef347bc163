/**
 * What an operator controls about relaying, and how a relayed link lives:
 * `--relay off` refuses in one clear line at the peer (chat and pipe),
 * `--relay-per-user` caps a user's relayed links, a relayed chat rides out
 * a brief outage at a home router, and one whose relayed connections are
 * cut is opened again through the relay and goes on. Runs as root in
 * network namespaces; says why when it is skipped.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { chatBothWays, labSkipReason, world } from "../helpers/net_world.ts";
import { until } from "../helpers/registry.ts";
import type { JsonPeer } from "../helpers/peer_process.ts";

const skip = await labSkipReason("tests/net/relay_limits_test.ts");
const lab = {
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
};

async function say(from: JsonPeer, to: JsonPeer, text: string): Promise<void> {
  const at = { f: from.lines.length, t: to.lines.length };
  const sent = await from.send(`/msg ${to.user} ${text}`, 60_000);
  assert(sent.ok === true, JSON.stringify(sent));
  await to.waitFor(
    (l) => l.type === "message" && l.from === from.user && l.text === text,
    `"${text}" at ${to.user}`,
    60_000,
    at.t,
  );
  await from.waitFor(
    (l) => l.type === "delivered" && l.to === to.user && l.id === sent.id,
    `the delivery of "${text}"`,
    60_000,
    at.f,
  );
}

Deno.test({
  name:
    "a registry run with --relay off refuses in one line at the peer, for a chat and a pipe",
  ...lab,
  async fn() {
    await using w = await world(undefined, ["--relay", "off"]);
    const alice = await w.peer("alice", "alice");
    const bob = await w.peer("bob", "bob");
    const r = await alice.send("/chat bob", 60_000);
    assertEquals(r.ok, false);
    assertEquals(
      r.error,
      "the registry does not relay; bob cannot be reached directly",
    );
    await bob.quit();
    const recv = w.spawnChat("bob", "bob", ["receive", "-o", "-"]);
    const recvDone = recv.output();
    await until(
      () =>
        w.registryLog.some((l) =>
          l.includes("login") && l.includes("user=bob") &&
          l.includes("kind=receive")
        ),
      "bob's chat receive logged in",
      60_000,
    );
    const send = w.spawnChat("alice", "alice", ["send", "bob", "-"], {
      stdin: "piped",
    });
    const writer = send.stdin.getWriter();
    await writer.write(new TextEncoder().encode("never arrives"));
    await writer.close();
    const out = await send.output();
    assertEquals(out.code, 1);
    assertEquals(
      new TextDecoder().decode(out.stderr).trim(),
      "chat: the registry does not relay; bob cannot be reached directly",
    );
    recv.kill("SIGTERM");
    await recvDone;
  },
});

Deno.test({
  name: "--relay-per-user caps a user's relayed links with a clear refusal",
  ...lab,
  async fn() {
    await using w = await world(undefined, ["--relay-per-user", "1"]);
    const alice = await w.peer("alice", "alice");
    const bob = await w.peer("bob", "bob");
    assertEquals(await chatBothWays(alice, bob), "relayed");
    const file = `${alice.home}/second.txt`;
    await Deno.writeTextFile(file, "a second relayed link");
    const r = await alice.send(`/send bob ${file}`, 60_000);
    assertEquals(r.ok, false);
    assertEquals(
      r.error,
      "you already have 1 relayed link (the most this registry allows) — close one and try again",
    );
    // The chat's own relayed link is untouched.
    await say(alice, bob, "still here");
  },
});

Deno.test({
  name:
    "a relayed chat rides out a brief outage, and is relayed again when its connections are cut",
  ...lab,
  async fn(t) {
    await using w = await world();
    const alice = await w.peer("alice", "alice");
    const bob = await w.peer("bob", "bob");
    assertEquals(await chatBothWays(alice, bob), "relayed");

    await t.step(
      "a few seconds of the relayed link's packets dropped at bob's router",
      async () => {
        const home2 = w.lab.host("home2").ns;
        const rule = ["netns", "exec", home2, "iptables", "-w"];
        const run = async (args: string[]) => {
          const out = await new Deno.Command("ip", { args, stderr: "piped" })
            .output();
          assert(out.success, new TextDecoder().decode(out.stderr));
        };
        // Only the link's packets: heartbeats going on keep bob logged in.
        const link = [
          ["-p", "tcp", "--dport", "15601", "-j", "DROP"],
          ["-p", "tcp", "--sport", "15601", "-j", "DROP"],
        ];
        for (const r of link) await run([...rule, "-I", "FORWARD", "1", ...r]);
        let dropped = true;
        try {
          const at = bob.lines.length;
          const sent = await alice.send(
            "/msg bob sent into the outage",
            30_000,
          );
          assert(sent.ok === true, JSON.stringify(sent));
          await new Promise((r) => setTimeout(r, 3_000));
          assert(
            !bob.lines.slice(at).some((l) => l.type === "message"),
            "nothing gets through while the router drops everything",
          );
          for (const r of link) await run([...rule, "-D", "FORWARD", ...r]);
          dropped = false;
          await bob.waitFor(
            (l) => l.type === "message" && l.text === "sent into the outage",
            "the message sent during the outage",
            60_000,
            at,
          );
        } finally {
          if (dropped) {
            for (const r of link) await run([...rule, "-D", "FORWARD", ...r]);
          }
        }
        assertEquals(
          alice.events("chat_closed").length + bob.events("chat_closed").length,
          0,
        );
        await say(bob, alice, "back again");
      },
    );

    await t.step(
      "the relay's connections cut: the chat is relayed again",
      async () => {
        const at = { a: alice.lines.length, b: bob.lines.length };
        const registry = w.lab.host("registry").ns;
        const out = await new Deno.Command("ip", {
          args: ["netns", "exec", registry, "ss", "-K", "sport", "=", ":15601"],
          stdout: "null",
          stderr: "piped",
        }).output();
        assert(out.success, new TextDecoder().decode(out.stderr));
        for (const [p, from] of [[alice, at.a], [bob, at.b]] as const) {
          const back = await p.waitFor(
            (l) => l.type === "link" && l.restored === true,
            `${p.user}'s link restored`,
            60_000,
            from,
          );
          assertEquals(back.path, "relayed");
        }
        await say(alice, bob, "after the cut");
        await say(bob, alice, "and back");
        assertEquals(
          alice.events("chat_closed").length + bob.events("chat_closed").length,
          0,
        );
        const ends = w.registryLog.filter((l) => l.includes("relay end"));
        assert(ends.length >= 1, "the cut link has its log line");
      },
    );
  },
});
