/**
 * Crash consistency (SPEC §3: every acknowledged write survives `kill -9`).
 *
 * Several concurrent clients sign up, send friend requests and accept them,
 * create, join and leave rooms and store offline messages against a real
 * `chat registry` process, which is killed with SIGKILL at a seeded random
 * moment of each round and started again on the same database. Every write a
 * client saw acknowledged (an ok reply) is then checked twice: in the SQLite
 * file, opened read-only, and through the restarted registry's own replies.
 * Nothing may be half-written: PRAGMA integrity_check is ok, foreign keys
 * hold, every room has its owner among its members. The registry must start
 * cleanly every time, including after being killed during its first start.
 *
 * Replay a failure with CHAT_TEST_SEED=<seed printed in the step name>.
 */
import { DEFAULT_REGISTRY_LIMITS } from "../../registry/limits.ts";
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  mulberry32,
  pickOne,
  type Rand,
  randInt,
  testSeed,
} from "../helpers/random.ts";
import {
  MAIN,
  type RegistryProcess,
  spawnRegistry,
  until,
} from "../helpers/registry.ts";
import { RegistryError } from "../../peer/net/registry_client.ts";
import { loggedIn, standInTo, TestClient } from "../registry/support.ts";

const ROUNDS = 8;
const WORKERS = 6;
/** A kill lands this long after the workers start, at random (ms). */
const KILL_AFTER: [number, number] = [150, 900];

/** Everything the clients saw acknowledged, across all rounds. */
class Ledger {
  /** Accounts and their passwords. */
  readonly users = new Map<string, string>();
  /** "a|b" (sorted) → the least state the pair must be in. */
  readonly friends = new Map<string, "pending" | "accepted">();
  /** Room → owner (owners never leave in this test, so this stays true). */
  readonly rooms = new Map<string, string>();
  /** "room|user" → member or not; absent when a request was cut off. */
  readonly members = new Map<string, boolean>();
  /** Offline message text → sender and recipient. */
  readonly offline = new Map<string, { from: string; to: string }>();
  static pair(a: string, b: string): string {
    return [a, b].sort().join("|");
  }
}

/** What one request did, for the ledger. */
type Outcome = "ok" | "refused" | "lost";

/** Acknowledged requests, for the report. */
let acknowledged = 0;

/**
 * Whether `me` owns as many rooms as a user may (owners never leave their
 * rooms here, so the count only grows): another write is made instead.
 */
function ownsMostRooms(ledger: Ledger, me: string): boolean {
  const owned = [...ledger.rooms.values()].filter((o) => o === me).length;
  return owned >= DEFAULT_REGISTRY_LIMITS.maxRoomsOwned;
}

/** Sends a request; sorts the result into acknowledged, refused or lost. */
async function attempt<T>(p: Promise<T>): Promise<[Outcome, T | null]> {
  try {
    const r = await p;
    acknowledged++;
    return ["ok", r];
  } catch (err) {
    if (err instanceof RegistryError && err.code !== "network") {
      return ["refused", null];
    }
    return ["lost", null];
  }
}

/**
 * One client's burst: random writes until the registry goes away. Each
 * acknowledged write goes into the ledger; a request cut off by the kill
 * leaves its key uncertain.
 */
async function worker(
  reg: RegistryProcess,
  me: string,
  rand: Rand,
  ledger: Ledger,
  round: number,
): Promise<void> {
  let c: TestClient;
  try {
    // A new device each round: an offline message comes from a device.
    c = await loggedIn(reg.target(), me, ledger.users.get(me)!, {
      kind: "tool",
      device: true,
    });
  } catch {
    return; // Killed before this worker got in.
  }
  let n = 0;
  try {
    while (!c.client.isClosed) {
      n++;
      const others = [...ledger.users.keys()].filter((u) => u !== me);
      // Each burst opens with a sign-up: a sign-up waits for scrypt, hundreds
      // of milliseconds on a loaded machine, so one made at a random point
      // is usually the one the kill cuts off, and a run could end without a
      // single acknowledged sign-up to check.
      const roll = n === 1 ? 0 : rand();
      if (roll < 0.08) {
        const user = `u${round}_${me}_${n}`;
        const password = `password-${user}`;
        const [o] = await attempt(c.request("signup", { user, password }));
        if (o === "ok") ledger.users.set(user, password);
        if (o === "lost") break;
      } else if (roll < 0.28) {
        const user = pickOne(rand, others);
        const [o, r] = await attempt(c.request("friend_request", { user }));
        if (o === "ok") {
          const key = Ledger.pair(me, user);
          if (r!.state === "friends") ledger.friends.set(key, "accepted");
          else if (!ledger.friends.has(key)) ledger.friends.set(key, "pending");
        }
        if (o === "lost") break;
      } else if (roll < 0.36) {
        const [o, r] = await attempt(c.request("requests", {}));
        if (o === "lost") break;
        const from = r && r.incoming.length > 0
          ? pickOne(rand, r.incoming)
          : null;
        if (from) {
          const [o2] = await attempt(
            c.request("friend_accept", { user: from }),
          );
          if (o2 === "ok") {
            ledger.friends.set(Ledger.pair(me, from), "accepted");
          }
          if (o2 === "lost") break;
        }
      } else if (roll < 0.5 && !ownsMostRooms(ledger, me)) {
        const room = `r${round}_${me}_${n}`;
        const [o] = await attempt(
          c.request("room_create", {
            room,
            capacity: randInt(rand, 2, 40),
            description: `made by ${me} in round ${round}`,
          }),
        );
        if (o === "ok") {
          ledger.rooms.set(room, me);
          ledger.members.set(`${room}|${me}`, true);
        }
        if (o === "lost") break;
      } else if (roll < 0.68 && ledger.rooms.size > 0) {
        const room = pickOne(rand, [...ledger.rooms.keys()]);
        const key = `${room}|${me}`;
        const [o] = await attempt(c.request("room_join", { room }));
        if (o === "ok") ledger.members.set(key, true);
        if (o === "lost") {
          ledger.members.delete(key);
          break;
        }
      } else if (roll < 0.76) {
        const mine = [...ledger.members].filter(([k, v]) =>
          v && k.endsWith(`|${me}`) &&
          ledger.rooms.get(k.slice(0, -me.length - 1)) !== me
        ).map(([k]) => k.slice(0, -me.length - 1));
        if (mine.length === 0) continue;
        const room = pickOne(rand, mine);
        const key = `${room}|${me}`;
        const [o] = await attempt(c.request("room_leave", { room }));
        if (o === "ok") ledger.members.set(key, false);
        if (o === "lost") {
          ledger.members.delete(key);
          break;
        }
      } else {
        const to = pickOne(rand, others);
        const text = `from ${me} to ${to}, round ${round}, #${n}`;
        const [o, fields] = await attempt(
          (async () => {
            const f = await standInTo(c, to, text);
            await c.request("offline_send", f);
            return f;
          })(),
        );
        // Kept by the sender's message id (a tool sees no box).
        if (o === "ok") ledger.offline.set(fields!.mid, { from: me, to });
        if (o === "lost") break;
      }
      // Stay under the per-connection request rate (50/s after a 200 burst).
      await new Promise((r) => setTimeout(r, 8));
    }
  } finally {
    await c.close();
  }
}

type Row = Record<string, unknown>;

/** Checks the database file, read-only, against the ledger and the invariants. */
function checkDatabase(dbPath: string, ledger: Ledger): void {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const all = (sql: string, ...p: (string | number)[]) =>
      db.prepare(sql).all(...p) as Row[];
    assertEquals(
      all("PRAGMA integrity_check").map((r) => r.integrity_check),
      ["ok"],
    );
    assertEquals(
      all("PRAGMA foreign_key_check").map((r) => ({ ...r })),
      [],
      "foreign keys hold",
    );

    const users = new Set(all("SELECT name FROM users").map((r) => r.name));
    for (const u of ledger.users.keys()) {
      assert(users.has(u), `acknowledged sign-up of ${u} is missing`);
    }
    const friendships = new Map(
      all("SELECT requester, addressee, state FROM friendships").map((r) => [
        Ledger.pair(String(r.requester), String(r.addressee)),
        String(r.state),
      ]),
    );
    for (const [pair, least] of ledger.friends) {
      const state = friendships.get(pair);
      assert(state, `acknowledged friend request ${pair} is missing`);
      if (least === "accepted") {
        assertEquals(state, "accepted", `acknowledged acceptance of ${pair}`);
      }
    }
    const rooms = new Map(
      all("SELECT name, owner, capacity FROM rooms").map((r) => [
        String(r.name),
        { owner: String(r.owner), capacity: Number(r.capacity) },
      ]),
    );
    for (const [room, owner] of ledger.rooms) {
      assertEquals(rooms.get(room)?.owner, owner, `room ${room} and its owner`);
    }
    const members = new Set(
      all("SELECT room, user FROM room_members").map((r) =>
        `${r.room}|${r.user}`
      ),
    );
    for (const [key, member] of ledger.members) {
      assertEquals(members.has(key), member, `membership ${key}`);
    }
    // Nothing half-written: each room has members, its owner among them, and
    // no more than its capacity.
    for (const [room, r] of rooms) {
      const n = [...members].filter((k) => k.startsWith(`${room}|`)).length;
      assert(n >= 1, `room ${room} has no members`);
      assert(n <= r.capacity, `room ${room} has ${n} > ${r.capacity} members`);
      assert(
        members.has(`${room}|${r.owner}`),
        `room ${room}: owner ${r.owner} is not a member`,
      );
    }
    const offline = new Map(
      all("SELECT sender, recipient, text FROM offline_messages").map((r) => [
        // The sealed row, by the sender's message id.
        String(JSON.parse(String(r.text)).mid),
        { from: String(r.sender), to: String(r.recipient) },
      ]),
    );
    for (const [mid, m] of ledger.offline) {
      assertEquals(offline.get(mid), m, `offline message ${mid}`);
    }
  } finally {
    db.close();
  }
}

/** Checks the ledger through the restarted registry's own replies. */
async function checkThroughRegistry(
  reg: RegistryProcess,
  ledger: Ledger,
  rand: Rand,
): Promise<void> {
  // A few acknowledged accounts log in with their password: the hashes were
  // written whole.
  const users = [...ledger.users.keys()];
  const sample = Array.from({ length: 3 }, () => pickOne(rand, users));
  for (const u of new Set(sample)) {
    await using c = await loggedIn(reg.target(), u, ledger.users.get(u)!, {
      kind: "tool",
    });
    const { incoming, outgoing } = await c.request("requests", {});
    const friends = (await c.request("friends", {})).friends.map((f) => f.user);
    for (const [pair, least] of ledger.friends) {
      const [a, b] = pair.split("|") as [string, string];
      if (a !== u && b !== u) continue;
      const other = a === u ? b : a;
      const seen = friends.includes(other) || incoming.includes(other) ||
        outgoing.includes(other);
      assert(seen, `${u} does not see ${other} (${least})`);
      if (least === "accepted") assert(friends.includes(other), pair);
    }
    const { rooms } = await c.request("rooms", { detailed: true });
    const listed = new Map(rooms.map((r) => [r.room, r.owner]));
    for (const [room, owner] of ledger.rooms) {
      assertEquals(listed.get(room), owner, `rooms lists ${room}`);
    }
    for (const [key, member] of ledger.members) {
      if (!key.endsWith(`|${u}`)) continue;
      const room = key.slice(0, -u.length - 1);
      const joined = rooms.find((r) => r.room === room)?.joined ?? false;
      assertEquals(joined, member, `${u} in ${room}`);
    }
    const { messages } = await c.request("offline_fetch", {});
    const mids = new Set(messages.map((m) => m.mid));
    for (const [mid, m] of ledger.offline) {
      if (m.to === u) {
        assert(mids.has(mid), `${u} is missing ${m.from}'s ${mid}`);
      }
    }
  }
}

/** Log lines at error level: each one would be a bug in the registry. */
function errorLines(stderr: string[]): string[] {
  return stderr.filter((l) => /^\S+ error /.test(l));
}

Deno.test("acknowledged writes survive a registry killed at random moments", async (t) => {
  const seed = testSeed(9_009);
  const rand = mulberry32(seed);
  const home = await Deno.makeTempDir({ prefix: "chat-crash-" });
  const ledger = new Ledger();
  const workers = Array.from({ length: WORKERS }, (_, k) => `w${k}`);
  let dbPath = "";
  try {
    await t.step("the workers' accounts exist", async () => {
      await using reg = await spawnRegistry({ home });
      dbPath = reg.dbPath;
      for (const w of workers) {
        const password = `password-${w}`;
        await using c = await TestClient.connect(reg.target());
        await c.request("signup", { user: w, password });
        ledger.users.set(w, password);
      }
      await reg.stop("SIGKILL");
    });

    for (let round = 0; round < ROUNDS; round++) {
      const killAfter = randInt(rand, ...KILL_AFTER);
      await t.step(
        `round ${round}: kill -9 ${killAfter} ms after the first acknowledged write (seed ${seed})`,
        async () => {
          const reg = await spawnRegistry({ home });
          try {
            assertEquals(errorLines(reg.stderr), []);
            // What earlier rounds saw acknowledged is there.
            checkDatabase(dbPath, ledger);
            if (round > 0) await checkThroughRegistry(reg, ledger, rand);
            const before = acknowledged;
            const running = workers.map((w, k) =>
              worker(
                reg,
                w,
                mulberry32(seed + 7_919 * (round * 31 + k)),
                ledger,
                round,
              )
            );
            // The kill falls killAfter ms after the first write was
            // acknowledged: the workers log in first (scrypt, one at a time),
            // and on a loaded machine that can take longer than the kill delay.
            await until(
              () => acknowledged > before,
              `round ${round}: a first write acknowledged`,
              30_000,
              5,
            );
            await new Promise((r) => setTimeout(r, killAfter));
            assertEquals(await reg.stop("SIGKILL"), 137);
            await Promise.all(running);
          } finally {
            await reg.stop("SIGKILL");
          }
        },
      );
    }

    await t.step(
      "after the last kill: everything acknowledged is there, nothing half-written",
      async () => {
        await using reg = await spawnRegistry({ home });
        assertEquals(errorLines(reg.stderr), []);
        checkDatabase(dbPath, ledger);
        await checkThroughRegistry(reg, ledger, rand);
        console.log(
          `  ${acknowledged} acknowledged requests: ${ledger.users.size} accounts, ` +
            `${ledger.friends.size} friendships, ${ledger.rooms.size} rooms, ` +
            `${
              [...ledger.members.values()].filter(Boolean).length
            } memberships, ${ledger.offline.size} offline messages`,
        );
        assert(ledger.rooms.size > 0 && ledger.offline.size > 0);
        assert(ledger.friends.size > 0 && ledger.users.size > WORKERS);
      },
    );
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});

Deno.test("a registry killed during its first start starts cleanly afterwards", async (t) => {
  const seed = testSeed(4_242);
  const rand = mulberry32(seed);
  for (let i = 0; i < 6; i++) {
    const killAfter = randInt(rand, 0, 600);
    await t.step(
      `killed ${killAfter} ms into a first start (seed ${seed})`,
      async () => {
        const home = await Deno.makeTempDir({ prefix: "chat-crash-start-" });
        try {
          const child = new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "--allow-all",
              MAIN,
              "registry",
              "--host",
              "127.0.0.1",
              "--port",
              "0",
              "--udp-port",
              "0",
              "--db",
              `${home}/registry.db`,
            ],
            env: { CHAT_HOME: home, NO_COLOR: "1" },
            stdin: "null",
            stdout: "null",
            stderr: "null",
          }).spawn();
          await new Promise((r) => setTimeout(r, killAfter));
          child.kill("SIGKILL");
          await child.status;
          await using reg = await spawnRegistry({ home });
          assertEquals(errorLines(reg.stderr), []);
          checkDatabase(reg.dbPath, new Ledger());
          await using c = await TestClient.connect(reg.target());
          await c.request("signup", { user: "first", password: "first-pw!" });
        } finally {
          await Deno.remove(home, { recursive: true }).catch(() => {});
        }
      },
    );
  }
});
