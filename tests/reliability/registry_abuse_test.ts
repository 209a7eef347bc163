/**
 * Abuse of the registry by logged-in users and by anyone who can connect
 * (SPEC §3.1), against a real `chat registry` process that counts loopback
 * as an ordinary address (`--trusted-address none`), each while bystanders
 * are served normally (tests/reliability/bystander.ts):
 *
 * - an invitation bomb: six accounts create every room they may and invite
 *   alice to each; the rooms-owned and pending-invitation caps refuse the
 *   rest, and alice's login pushes one page and a count, not everything;
 * - an offline inbox flood: one sender fills its share of alice's inbox with
 *   messages of 8,000 characters; the per-pair cap refuses the rest, another
 *   sender still gets in, and alice receives every stored message at login;
 * - a sign-up flood: 150 sign-ups from one address at once; the per-address
 *   burst is created, the rest refused, and a password login meanwhile is
 *   answered within the bystanders' bound.
 */
import { RegistryError } from "../../peer/net/registry_client.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { spawnPeer } from "../helpers/peer_process.ts";
import { spawnRegistry, until } from "../helpers/registry.ts";
import {
  loggedIn,
  sealingTool,
  signup,
  TestClient,
} from "../registry/support.ts";
import {
  BYSTANDER_REPLY_MS,
  BYSTANDERS,
  startBystanders,
} from "./bystander.ts";

const ATTACKERS = Array.from({ length: 6 }, (_, i) => `mallory${i}`);
const pw = (u: string) => `${u}-password`;

/** The error code a request failed with, or "ok". */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    if (err instanceof RegistryError) return `${err.code}: ${err.message}`;
    throw err;
  }
}

Deno.test("invitation bomb, inbox flood and sign-up flood are capped while bystanders are served", async (t) => {
  const home = await Deno.makeTempDir({ prefix: "chat-abuse-" });
  const aliceHome = `${home}/alice-home`;
  try {
    // The accounts first, from a registry that trusts loopback…
    {
      await using first = await spawnRegistry({ home });
      for (const u of [...BYSTANDERS, "alice", "dave", ...ATTACKERS]) {
        await signup(first.target(), u, pw(u));
      }
    }
    // …then the same database served as if everyone came from the internet.
    await using reg = await spawnRegistry({
      home,
      args: ["--trusted-address", "none"],
    });
    const target = reg.target();
    await using by = await startBystanders(reg, "alice", { created: true });
    const attackers: TestClient[] = [];
    for (const u of ATTACKERS) {
      attackers.push(await loggedIn(target, u, pw(u), { kind: "tool" }));
    }
    try {
      await t.step(
        "invitation bomb: rooms and invitations are capped",
        async () => {
          const results = await Promise.all(
            attackers.map(async (m, k) => {
              const out: string[] = [];
              for (let i = 0; i < 21; i++) {
                const room = `bomb-${k}-${i}`;
                const made = await outcome(m.request("room_create", { room }));
                out.push(`create ${made}`);
                if (made !== "ok") continue;
                out.push(
                  `invite ${await outcome(
                    m.request("room_invite", { room, user: "alice" }),
                  )}`,
                );
              }
              return out;
            }),
          );
          const all = results.flat();
          const created = all.filter((r) => r === "create ok").length;
          const invited = all.filter((r) => r === "invite ok").length;
          const refusedRooms = all.filter((r) => r.startsWith("create limit"));
          const refusedInvites = all.filter((r) =>
            r.startsWith("invite limit")
          );
          console.log(
            `  ${created} rooms, ${invited} invitations; refused: ${refusedRooms.length} rooms (${
              refusedRooms[0]
            }), ${refusedInvites.length} invitations (${refusedInvites[0]})`,
          );
          assertEquals(created, 6 * 20, "20 rooms owned per user");
          assertEquals(refusedRooms.length, 6);
          assertEquals(invited, 100, "100 pending invitations per recipient");
          assertEquals(refusedInvites.length, 20);
        },
      );

      await t.step(
        "inbox flood: one sender's share is capped, another still gets in",
        async () => {
          // alice's machine becomes her device (a first login), and the
          // flood is sealed to it as a peer seals, by a device of mallory0.
          const aliceDevice = await spawnPeer(
            { port: reg.port, fingerprint: reg.fingerprint },
            { user: "alice", signup: false, home: aliceHome },
          );
          assertEquals(await aliceDevice.quit(), 0);
          const { client: m, seal } = await sealingTool(
            target,
            ATTACKERS[0]!,
            pw(ATTACKERS[0]!),
          );
          await using _m = m;
          const text = "x".repeat(8_000);
          const outcomes: string[] = [];
          for (let i = 0; i < 110; i++) {
            outcomes.push(
              await outcome(
                m.request("offline_send", await seal("alice", text)),
              ),
            );
          }
          const stored = outcomes.filter((o) => o === "ok").length;
          const refused = outcomes.filter((o) => o.startsWith("limit"));
          console.log(
            `  mallory0: ${stored} stored, ${refused.length} refused (${
              refused[0]
            })`,
          );
          assertEquals(stored, 100, "100 per sender → recipient");
          assertEquals(refused.length, 10);
          const { client: dave, seal: daveSeals } = await sealingTool(
            target,
            "dave",
            pw("dave"),
          );
          await using _dave = dave;
          await dave.request(
            "offline_send",
            await daveSeals("alice", "hi alice"),
          );
        },
      );

      await t.step(
        "alice logs in through it all: one page of invitations and a count, every stored message",
        async () => {
          await using alice = await spawnPeer(
            { port: reg.port, fingerprint: reg.fingerprint },
            { user: "alice", signup: false, home: aliceHome },
          );
          const pending = await alice.waitFor(
            (l) => l.type === "pending",
            "the pending count",
          );
          assertEquals(pending.invites, 100);
          await until(
            () => alice.events("offline_message").length >= 101,
            `101 offline messages (${alice.events("offline_message").length})`,
            20_000,
          );
          const pushed = alice.events("room_invite").length;
          console.log(
            `  alice: ${pushed} invitations pushed, ${pending.invites} pending, ${
              alice.events("offline_message").length
            } offline messages`,
          );
          assert(pushed <= 20, `${pushed} invitations pushed at login`);
          assert(
            alice.events("offline_message").some((l) => l.text === "hi alice"),
            "dave's message delivered",
          );
          // She can act on them, and an owner can withdraw his.
          const r = await alice.send("/invite decline bomb-0-0");
          assertEquals(r.ok, true, JSON.stringify(r));
          await attackers[1]!.request("invite_withdraw", {
            room: "bomb-1-0",
            user: "alice",
          });
          await alice.waitFor(
            (l) => l.type === "invite_withdrawn" && l.room === "bomb-1-0",
            "the withdrawal pushed",
          );
          assertEquals(alice.events("session_ended").length, 0);
        },
      );

      await t.step(
        "sign-up flood: the per-address burst, the rest refused, a login meanwhile answered",
        async () => {
          const conns = await Promise.all(
            Array.from({ length: 15 }, () => TestClient.connect(target)),
          );
          try {
            const flood = Promise.all(
              conns.flatMap((c, k) =>
                Array.from(
                  { length: 10 },
                  (_, i) =>
                    outcome(c.request("signup", {
                      user: `spam${k}x${i}`,
                      password: "spam-password",
                    })),
                )
              ),
            );
            const start = performance.now();
            await using _dave = await loggedIn(target, "dave", pw("dave"), {
              kind: "tool",
            });
            const took = performance.now() - start;
            const results = await flood;
            const ok = results.filter((r) => r === "ok").length;
            const refused = results.filter((r) => r.startsWith("throttled"));
            console.log(
              `  150 sign-ups: ${ok} created, ${refused.length} refused (${
                refused[0]
              }); a login meanwhile took ${took.toFixed(0)} ms`,
            );
            assert(ok <= 10, `${ok} accounts created`);
            assertEquals(ok + refused.length, 150, results.join("; "));
            assert(
              took < BYSTANDER_REPLY_MS,
              `a login took ${took.toFixed(0)} ms during the flood`,
            );
          } finally {
            for (const c of conns) await c.close();
          }
        },
      );

      await t.step("the bystanders were served throughout", async () => {
        console.log(`  ${await by.check()}`);
      });
    } finally {
      for (const m of attackers) await m.close();
    }
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});
