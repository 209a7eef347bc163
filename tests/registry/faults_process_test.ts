/**
 * Faults against a real `chat registry` process: clients killed or frozen,
 * hostile bytes on both ports, secrets on disk and in logs, shutdown by
 * signal, and durability across `kill -9` (SPEC F3, F21, §3).
 */
import { DEFAULT_REGISTRY_LIMITS } from "../../registry/limits.ts";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { join } from "node:path";
import { FramedConn } from "../../common/conn.ts";
import { connectTlsUnverified } from "../../peer/mod.ts";
import {
  bytesToHex,
  decodeServerMessage,
  encodeFrame,
  encodeHeartbeat,
  encodeJson,
  FRAME_HEADER_BYTES,
  fromBase64url,
  MAX_FRAME_BYTES,
  REQUESTS,
  type RequestType,
  type ServerMessage,
} from "../../wire/mod.ts";
import {
  linesOf,
  nextLine,
  spawnRegistry,
  until,
} from "../helpers/registry.ts";
import {
  mulberry32,
  pickOne,
  type Rand,
  randBytes,
  randInt,
  testSeed,
} from "../helpers/random.ts";
import { FAKE_CLIENT, type FakeClientArgs } from "../helpers/fake_client.ts";
import {
  addDevice,
  loggedIn,
  refused,
  sealedTo,
  signup,
  TestClient,
  withRegistryProcess,
} from "./support.ts";

const PW = "correct horse";
const enc = new TextEncoder();

/** Log lines at error level: each one would be a bug in the registry. */
function errorLines(stderr: string[]): string[] {
  return stderr.filter((l) => /^\S+ error /.test(l));
}

/** A `fake_client.ts` process: logs in as a peer and heartbeats until killed. */
class FakeClient implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  readonly lines: AsyncGenerator<string>;
  #status: Promise<Deno.CommandStatus>;

  constructor(args: FakeClientArgs) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", FAKE_CLIENT, JSON.stringify(args)],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.lines = linesOf(this.child.stdout);
    this.#status = this.child.status;
  }

  /** The next JSON line it printed (skipping none), or null at its end. */
  async next(timeoutMs = 10_000): Promise<Record<string, unknown> | null> {
    const line = await nextLine(this.lines, timeoutMs);
    return line === null ? null : JSON.parse(line);
  }

  /** Reads lines until one of `type` arrives. */
  async waitFor(type: string, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const msg = await this.next(deadline - Date.now());
      if (msg === null) break;
      if (msg.type === type) return msg;
      if (msg.type === "failed") throw new Error(`fake client: ${msg.message}`);
    }
    throw new Error(`fake client printed no ${type} line`);
  }

  kill(signal: Deno.Signal): void {
    this.child.kill(signal);
  }

  /** Waits for it to exit and drains its output. */
  async exited(): Promise<Deno.CommandStatus> {
    const status = await this.#status;
    for await (const _ of this.lines) { /* drain */ }
    return status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await this.exited();
  }
}

Deno.test("registry process: clients that die or freeze go offline within the TTL", async (t) => {
  const TTL = 1_000;
  const INTERVAL = 250;
  await withRegistryProcess(
    ["--heartbeat-ttl", "1s", "--heartbeat-interval", "250ms"],
    async (reg) => {
      const target = reg.target();
      await signup(target, "victim", PW);
      await signup(target, "watcher", PW);
      await using watcher = await loggedIn(target, "watcher", PW);
      assert.equal(watcher.client.hello.heartbeat_ttl_ms, TTL);
      assert.equal(watcher.client.hello.heartbeat_interval_ms, INTERVAL);
      await watcher.request("friend_request", { user: "victim" });
      {
        await using v = await loggedIn(target, "victim", PW);
        await v.request("friend_accept", { user: "watcher" });
      }
      await watcher.event("presence", (e) => e.user === "victim" && !e.online);
      const args: FakeClientArgs = {
        port: reg.port,
        fingerprint: reg.fingerprint,
        home: join(reg.home, "fake-home"),
        user: "victim",
        password: PW,
      };

      await t.step(
        "kill -9 of a client process: offline within the TTL",
        async () => {
          watcher.events.length = 0;
          await using fake = new FakeClient(args);
          await fake.waitFor("ready");
          await watcher.event(
            "presence",
            (e) => e.user === "victim" && e.online,
          );
          const killedAt = performance.now();
          fake.kill("SIGKILL");
          await watcher.event(
            "presence",
            (e) => e.user === "victim" && !e.online,
            TTL,
          );
          const took = performance.now() - killedAt;
          assert.ok(took <= TTL, `offline after ${took.toFixed(0)} ms`);
          assert.equal(
            (await watcher.request("search", { user: "victim" })).online,
            false,
          );
          assert.equal((await fake.exited()).signal, "SIGKILL");
        },
      );

      await t.step(
        "a frozen client (SIGSTOP) is timed out by the TTL and told so when it wakes",
        async () => {
          watcher.events.length = 0;
          await using fake = new FakeClient(args);
          await fake.waitFor("ready");
          await watcher.event(
            "presence",
            (e) => e.user === "victim" && e.online,
          );
          const stoppedAt = performance.now();
          fake.kill("SIGSTOP");
          await watcher.event(
            "presence",
            (e) => e.user === "victim" && !e.online,
            5_000,
          );
          const took = performance.now() - stoppedAt;
          // Its last beat was at most one interval before the stop, and the
          // sweep runs every TTL/4.
          assert.ok(
            took >= TTL - INTERVAL - 100 && took <= TTL + 2 * INTERVAL + 250,
            `offline after ${took.toFixed(0)} ms, TTL ${TTL} ms`,
          );
          assert.ok(
            reg.stderr.some((l) =>
              / info timeout user=victim kind=peer reason=heartbeat/.test(l)
            ),
          );
          fake.kill("SIGCONT");
          assert.deepEqual(await fake.waitFor("timeout"), {
            type: "timeout",
            reason: "heartbeat",
          });
          await fake.waitFor("closed");
          assert.equal((await fake.exited()).code, 0);
        },
      );
    },
  );
});

/** A raw TLS connection that speaks frames and records what comes back. */
class RawConn {
  readonly received: (ServerMessage | { undecodable: string })[] = [];
  readonly done: Promise<void>;

  private constructor(readonly fc: FramedConn) {
    this.done = (async () => {
      try {
        for await (const f of fc.frames()) {
          const d = decodeServerMessage(f.payload);
          this.received.push(d.ok ? d.msg : { undecodable: d.reason });
        }
      } catch {
        // A framing error from the registry would show up as a missing reply.
      }
    })();
  }

  static async open(port: number): Promise<RawConn> {
    const { conn } = await connectTlsUnverified("127.0.0.1", port, 5_000);
    return new RawConn(new FramedConn(conn));
  }

  /** Writes bytes as they are (they need not be a valid frame). */
  raw(bytes: Uint8Array): void {
    this.fc.sendFrame(bytes);
  }

  /** Writes one control frame holding `obj` as JSON. */
  json(obj: unknown): void {
    this.raw(encodeFrame("control", enc.encode(JSON.stringify(obj))));
  }

  /** Sends a request and waits for its reply. */
  async ask(type: string, id: number, fields: object = {}) {
    this.json({ type, id, ...fields });
    return await until(
      () =>
        this.received.find((m) =>
          "type" in m && m.type === "reply" && m.id === id
        ),
      `the reply to ${type} #${id}`,
      10_000,
      5,
    );
  }

  async close(): Promise<void> {
    this.fc.close();
    await this.done;
  }
}

/** Values of every JSON kind, most of them wrong for any field. */
const JUNK: unknown[] = [
  null,
  {},
  { toString: 1 },
  [],
  ["a", 1],
  -1,
  1.5,
  2 ** 60,
  "",
  "x".repeat(5000),
  "UPPER case ☃",
  true,
  "\u0000",
];

/** A well-framed control payload that is not a valid request. */
function badPayload(rand: Rand): Uint8Array {
  const types = Object.keys(REQUESTS) as RequestType[];
  switch (randInt(rand, 0, 9)) {
    case 0:
      return randBytes(rand, randInt(rand, 0, 300));
    case 1: {
      // Truncated JSON.
      const full = JSON.stringify({ type: "search", id: 5, user: "bob" });
      return enc.encode(full.slice(0, randInt(rand, 0, full.length - 1)));
    }
    case 2:
      return enc.encode(JSON.stringify(pickOne(rand, [1, "s", null, [1, 2]])));
    case 3:
      return enc.encode(
        JSON.stringify({ type: `no_such_${randInt(rand, 0, 99)}`, id: 1 }),
      );
    case 4:
      // Invalid UTF-8 inside otherwise JSON-looking bytes.
      return new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]);
    case 5: {
      // A request whose id is wrong.
      const id = pickOne(rand, [-1, 1.5, "7", null, 2 ** 60, {}]);
      return enc.encode(JSON.stringify({ type: pickOne(rand, types), id }));
    }
    case 6:
      // Deep nesting, within the frame size allowed before login.
      return enc.encode(
        "[".repeat(randInt(rand, 1, 16_000)) + "]".repeat(randInt(rand, 0, 5)),
      );
    case 7:
      return enc.encode(
        `{"__proto__":{"type":"search"},"type":"constructor","id":3}`,
      );
    default: {
      // A real request type with wrong field types: at least one field gets
      // an object, which no request field accepts, so nothing is executed.
      const type = pickOne(rand, types);
      const fields = Object.keys(REQUESTS[type]);
      const msg: Record<string, unknown> = { type, id: randInt(rand, 0, 1e6) };
      if (fields.length === 0) {
        msg.id = { oops: true };
        return enc.encode(JSON.stringify(msg));
      }
      for (const f of fields) {
        if (rand() < 0.6) msg[f] = pickOne(rand, JUNK);
      }
      msg[pickOne(rand, fields)] = pickOne(rand, [{}, { a: [1] }]);
      return enc.encode(JSON.stringify(msg));
    }
  }
}

/** Bytes that break the framing rules; the registry must close the connection. */
function framingViolation(rand: Rand): Uint8Array {
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  const view = new DataView(header.buffer);
  switch (randInt(rand, 0, 3)) {
    case 0:
      view.setUint32(0, randInt(rand, MAX_FRAME_BYTES + 1, 0xffffffff));
      header[4] = pickOne(rand, [1, 2]);
      return header;
    case 1:
      view.setUint32(0, randInt(rand, 0, 100));
      header[4] = pickOne(rand, [0, 3, 7, 255]);
      return header;
    case 2: {
      // Garbage whose first bytes make an impossible header.
      const g = randBytes(rand, randInt(rand, 5, 400));
      g[0] = randInt(rand, 1, 255); // length of at least 16 MiB
      return g;
    }
    default: {
      const g = randBytes(rand, randInt(rand, 5, 400));
      g[4] = randInt(rand, 3, 255); // unknown kind
      return g;
    }
  }
}

Deno.test("registry process: survives random frames and datagrams", async (t) => {
  const seed = testSeed(1_337);
  const rand = mulberry32(seed);
  await withRegistryProcess(
    ["--heartbeat-ttl", "1s", "--heartbeat-interval", "250ms"],
    async (reg) => {
      const target = reg.target();
      await signup(target, "steady", PW);
      // A live peer that must stay online through everything below.
      await using steady = await loggedIn(target, "steady", PW);
      let frames = 0;
      let datagrams = 0;

      await t.step(
        `well-framed garbage gets one error each and the connection stays (seed ${seed})`,
        async () => {
          for (let c = 0; c < 10; c++) {
            const conn = await RawConn.open(reg.port);
            try {
              const before = c % 2 === 0; // half of them before hello
              if (!before) await conn.ask("hello", 1, { v: 1 });
              const start = conn.received.length;
              const n = 90;
              for (let i = 0; i < n; i++) {
                if (rand() < 0.05) {
                  // A data frame: refused with an error, connection stays.
                  conn.raw(encodeFrame("data", randBytes(rand, 50)));
                } else conn.raw(encodeFrame("control", badPayload(rand)));
              }
              // One frame of garbage as big as one may be before login.
              conn.raw(
                encodeFrame(
                  "control",
                  randBytes(rand, DEFAULT_REGISTRY_LIMITS.preAuthFrameBytes),
                ),
              );
              frames += n + 1;
              if (before) await conn.ask("hello", 999_001, { v: 1 });
              const reply = await conn.ask("who", 999_002);
              assert.ok("ok" in reply && !reply.ok);
              assert.equal(reply.code, "auth", "log in first: still talking");
              const answers = conn.received.length - start - (before ? 2 : 1);
              assert.equal(answers, n + 1, "one answer per bad frame");
              assert.ok(!conn.fc.closed);
            } finally {
              await conn.close();
            }
          }
        },
      );

      await t.step(
        "framing violations close only that connection",
        async () => {
          const batch = async () => {
            const conn = await RawConn.open(reg.port);
            try {
              if (rand() < 0.5) await conn.ask("hello", 1, { v: 1 });
              conn.raw(framingViolation(rand));
              frames++;
              await until(
                () => conn.fc.closed,
                "the registry to close the connection",
                5_000,
                5,
              );
            } finally {
              await conn.close();
            }
          };
          for (let i = 0; i < 20; i++) {
            await Promise.all(Array.from({ length: 10 }, batch));
          }
          // A frame cut off by a clean end of the stream (TLS close_notify).
          const caCerts = [
            await Deno.readTextFile(join(reg.home, "registry-cert.pem")),
          ];
          for (let i = 0; i < 20; i++) {
            const conn = await Deno.connectTls({
              hostname: "127.0.0.1",
              port: reg.port,
              caCerts,
            });
            try {
              const f = encodeFrame(
                "control",
                encodeJson({ type: "who", id: 1 }),
              );
              await conn.write(f.subarray(0, randInt(rand, 1, f.length - 1)));
              await conn.closeWrite();
              frames++;
              const buf = new Uint8Array(1024);
              while ((await conn.read(buf)) !== null) { /* until closed */ }
            } finally {
              conn.close();
            }
          }
          assert.ok(
            reg.stderr.some((l) => / warn drop reason="frame of/.test(l)),
          );
          assert.ok(
            reg.stderr.some((l) => /connection ended inside a frame/.test(l)),
          );
        },
      );

      await t.step("random and forged datagrams are ignored", async () => {
        const sock = dgram.createSocket("udp4");
        const send = (b: Uint8Array) =>
          new Promise<void>((resolve) =>
            sock.send(b, reg.udpPort, "127.0.0.1", () => resolve())
          );
        const s = steady.session!;
        const token = fromBase64url(s.token)!;
        try {
          for (let i = 0; i < 1_000; i++) {
            let d: Uint8Array;
            switch (randInt(rand, 0, 6)) {
              case 0:
                d = randBytes(rand, randInt(rand, 1, 1300));
                break;
              case 1:
                d = randBytes(rand, randInt(rand, 1201, 9000));
                break;
              case 2: // right layout, unknown session, junk MAC
                d = encodeHeartbeat(
                  bytesToHex(randBytes(rand, 16)),
                  randInt(rand, 1, 2 ** 40),
                  randBytes(rand, 32),
                );
                break;
              case 3: // steady's session, a huge counter, forged MAC
                d = encodeHeartbeat(
                  s.session,
                  randInt(rand, 2 ** 40, 2 ** 50),
                  randBytes(rand, 32),
                );
                break;
              case 4: // steady's own old heartbeats replayed
                d = encodeHeartbeat(s.session, randInt(rand, 1, 3), token);
                break;
              case 5: { // one bit flipped in a real heartbeat
                d = encodeHeartbeat(s.session, 2 ** 45, token);
                const bit = randInt(rand, 0, d.length * 8 - 1);
                d[bit >> 3]! ^= 1 << (bit & 7);
                break;
              }
              default: { // right magic, wrong version or length
                d = encodeHeartbeat(s.session, 5, token);
                d[3] = randInt(rand, 2, 255);
                if (rand() < 0.5) d = d.subarray(0, randInt(rand, 1, 43));
              }
            }
            await send(d);
            datagrams++;
          }
        } finally {
          await new Promise<void>((r) => sock.close(() => r()));
        }
      });

      await t.step(
        `it still serves sign-up, login and search (${frames} frames, ${datagrams} datagrams)`,
        async () => {
          assert.ok(frames >= 1_000, `${frames} frames`);
          assert.ok(datagrams >= 1_000, `${datagrams} datagrams`);
          await signup(target, "after", PW);
          await using after = await loggedIn(target, "after", PW);
          // steady must stay online for over a TTL after the storm: a forged
          // or replayed heartbeat, had it been accepted, would lock its real
          // heartbeats out, and it would time out within that second.
          const end = Date.now() + 1_500;
          while (Date.now() < end) {
            const found = await after.request("search", { user: "steady" });
            assert.equal(found.online, true, "steady's session survived");
            await new Promise((r) => setTimeout(r, 50));
          }
          assert.equal(steady.eventsOf("timeout").length, 0);
          assert.equal(steady.client.isClosed, false);
          assert.equal(
            (await after.request("search", { user: "after" })).online,
            true,
          );
          assert.deepEqual(errorLines(reg.stderr), []);
          const status = await Promise.race([
            reg.child.status.then(() => "exited"),
            Promise.resolve("running"),
          ]);
          assert.equal(status, "running");
        },
      );
    },
  );
});

/** True if `needle` occurs in `hay`. */
function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (hay[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

async function readIfThere(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return new Uint8Array();
    throw err;
  }
}

Deno.test("registry process: passwords are never stored or logged in clear", async (t) => {
  const secrets = {
    account: "Tr0ub4dor&3-unique-7f3a",
    wrong: "wrong-Pa55word-unique-91c2",
    short: "Sh0rt!x",
    room: "room-Secret-unique-5d1e",
  };
  await withRegistryProcess(["--log-level", "debug"], async (reg) => {
    const target = reg.target();
    let token = "";
    {
      await using c = await TestClient.connect(target);
      await c.request("signup", { user: "alice", password: secrets.account });
      await refused(
        c.request("signup", { user: "bob", password: secrets.short }),
        "invalid",
        /too short/,
      );
      await refused(
        c.login("alice", secrets.wrong),
        "auth",
        /wrong password/,
      );
      await c.login("alice", secrets.account);
      token = c.session!.token;
      await c.request("room_create", { room: "vault", password: secrets.room });
      await c.request("status", { text: "busy" });
      await c.request("logout", {});
    }
    const check = async (when: string) => {
      const db = await readIfThere(reg.dbPath);
      const wal = await readIfThere(reg.dbPath + "-wal");
      const log = enc.encode(reg.stderr.join("\n"));
      assert.ok(
        contains(db, enc.encode("alice")) || contains(wal, enc.encode("alice")),
        "the account is on disk",
      );
      for (const [what, pw] of Object.entries(secrets)) {
        for (
          const [file, bytes] of [["db", db], ["wal", wal], [
            "log",
            log,
          ]] as const
        ) {
          assert.equal(
            contains(bytes, enc.encode(pw)),
            false,
            `the ${what} password is in the ${file} ${when}`,
          );
        }
      }
      assert.equal(contains(log, enc.encode(token)), false, "token in the log");
      return { db, wal };
    };

    await t.step(
      "not in registry.db, registry.db-wal or the log while running",
      async () => {
        const { wal } = await check("while running");
        assert.ok(wal.length > 0, "the WAL holds the recent writes");
        assert.ok(
          reg.stderr.some((l) => / login user=alice kind=peer/.test(l)),
          "the log saw the login it must not leak from",
        );
      },
    );

    await t.step("not in the database after a clean shutdown", async () => {
      assert.equal(await reg.stop("SIGTERM"), 0);
      await check("after shutdown");
    });
  });
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`registry process: ${signal} tells connected clients and exits 0`, async (t) => {
    await withRegistryProcess([], async (reg) => {
      const target = reg.target();
      await signup(target, "alice", PW);
      await using alice = await loggedIn(target, "alice", PW);
      await using anon = await TestClient.connect(target);

      await t.step(
        "every connected client gets session_ended shutdown",
        async () => {
          const code = reg.stop(signal);
          for (const c of [alice, anon]) {
            assert.deepEqual(await c.event("session_ended"), {
              type: "session_ended",
              reason: "shutdown",
            });
            await c.client.closed;
          }
          assert.equal(await code, 0);
        },
      );

      await t.step("the log says it shut down cleanly, with no errors", () => {
        assert.ok(reg.stderr.some((l) => / info shutting down/.test(l)));
        assert.ok(reg.stderr.some((l) => / info stopped/.test(l)));
        assert.deepEqual(errorLines(reg.stderr), []);
      });
    });
  });
}

Deno.test("registry process: acknowledged writes survive kill -9", async (t) => {
  const first = await spawnRegistry();
  const home = first.home;
  const users = Array.from({ length: 24 }, (_, i) => `user${i}`);
  try {
    await t.step(
      "sign up users, befriend, create a room, store a message",
      async () => {
        const target = first.target();
        const conns = await Promise.all(
          Array.from({ length: 4 }, () => TestClient.connect(target)),
        );
        try {
          await Promise.all(conns.map(async (c, k) => {
            for (let i = k; i < users.length; i += conns.length) {
              await c.request("signup", { user: users[i]!, password: PW });
            }
          }));
        } finally {
          for (const c of conns) await c.close();
        }
        await addDevice(target, "user2", PW);
        await using a = await loggedIn(target, "user0", PW, {
          kind: "tool",
          device: true,
        });
        await a.request("friend_request", { user: "user1" });
        await a.request("room_create", { room: "den", capacity: 5 });
        await a.request(
          "offline_send",
          sealedTo(a, "user2", "remember me"),
        );
        await a.request("status", { text: "persisted" });
        await using b = await loggedIn(target, "user1", PW, { kind: "tool" });
        await b.request("friend_accept", { user: "user0" });
        // Everything above was acknowledged; now pull the plug.
        await first.stop("SIGKILL");
      },
    );

    await t.step(
      "a registry restarted on the same database has all of it",
      async () => {
        await using second = await spawnRegistry({ home });
        assert.equal(second.fingerprint, first.fingerprint, "same identity");
        const target = second.target();
        const conns = await Promise.all(
          Array.from({ length: 4 }, () => TestClient.connect(target)),
        );
        try {
          await Promise.all(conns.map(async (c, k) => {
            for (let i = k; i < users.length; i += conns.length) {
              await c.login(users[i]!, PW, { kind: "tool", beat: false });
              await c.request("logout", {});
            }
          }));
        } finally {
          for (const c of conns) await c.close();
        }
        await using a = await loggedIn(target, "user0", PW, { kind: "tool" });
        assert.deepEqual(
          (await a.request("friends", {})).friends.map((f) => f.user),
          ["user1"],
        );
        assert.deepEqual(
          (await a.request("rooms", { detailed: true })).rooms.map((r) => [
            r.room,
            r.owner,
            r.capacity,
          ]),
          [["den", "user0", 5]],
        );
        assert.equal((await a.request("status", {})).status, "persisted");
        // A password-only session of user2: it sees the sealed message
        // but not the box, which is for the device.
        await using c = await loggedIn(target, "user2", PW, { kind: "tool" });
        assert.deepEqual(
          (await c.request("offline_fetch", {})).messages.map((m) => [
            m.from,
            m.from_device,
            m.box,
          ]),
          [["user0", "desk", undefined]],
        );
        assert.deepEqual(errorLines(second.stderr), []);
      },
    );
  } finally {
    await first.stop("SIGKILL");
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});

Deno.test("registry process: the first message must be hello with protocol version 1", async (t) => {
  await withRegistryProcess([], async (reg) => {
    const refusals: [string, string, object, RegExp][] = [
      [
        "a request before hello is refused with code version and the connection closed",
        "search",
        { user: "alice" },
        /first message must be hello/,
      ],
      [
        "another protocol version is refused, naming both, and the connection closed",
        "hello",
        { v: 2 },
        /protocol version 2 is not supported \(this registry speaks 1\)/,
      ],
    ];
    for (const [name, type, fields, error] of refusals) {
      await t.step(name, async () => {
        const conn = await RawConn.open(reg.port);
        try {
          const reply = await conn.ask(type, 1, fields);
          assert.ok("ok" in reply && !reply.ok);
          assert.equal(reply.code, "version");
          assert.match(reply.error, error);
          await until(() => conn.fc.closed, "the registry to close it");
        } finally {
          await conn.close();
        }
      });
    }

    await t.step(
      "hello with version 1 is answered and the client served",
      async () => {
        const conn = await RawConn.open(reg.port);
        try {
          const hello = await conn.ask("hello", 1, { v: 1 });
          assert.ok("ok" in hello && hello.ok, JSON.stringify(hello));
          const who = await conn.ask("who", 2);
          assert.ok("ok" in who && !who.ok && who.code === "auth");
          assert.ok(!conn.fc.closed);
        } finally {
          await conn.close();
        }
        assert.deepEqual(errorLines(reg.stderr), []);
      },
    );
  });
});
