/**
 * The relay listener with real sockets on 127.0.0.1: pairing, a byte-exact
 * splice, TLS end to end through it, every refusal, the pairing timeout, the
 * per-user cap, rate caps on a manual clock, and backpressure from a reader
 * that stops.
 */
import assert from "node:assert/strict";
import { Logger } from "../../common/log.ts";
import { createSelfSigned } from "../../common/tls.ts";
import {
  dialRelay,
  joinConns,
  RelayDialError,
  type RelayedConn,
} from "../../common/relay_dial.ts";
import {
  FIRST_SLOT_BYTES,
  issueRelayToken,
  type RelayLinkSummary,
  RelayListener,
  type RelayOptions,
  relayVerifier,
  SHRINK_AFTER_READS,
} from "../../registry/relay.ts";
import {
  base64url,
  encodeRelayHello,
  formatRelayEndpoint,
  type RelayReply,
  relayReplyDecoder,
  type RelayRole,
  signRelayRole,
  signRelayToken,
} from "../../wire/mod.ts";
import { ManualClock } from "../helpers/clock.ts";
import { mulberry32, randBytes } from "../helpers/random.ts";

const START = Date.UTC(2026, 11, 1, 12);

async function ed25519(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey("Ed25519", true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
}

async function rawPublic(key: CryptoKey): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.exportKey("raw", key)));
}

/** Polls `check` every few ms until it holds; fails after `ms`. */
async function until(
  check: () => boolean,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Reads exactly `n` bytes (and throws if the connection ends first). */
async function readExactly(conn: Deno.Conn, n: number): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  for (let left = n; left > 0;) {
    const r = await conn.read(buf.subarray(0, Math.min(left, buf.length)));
    if (r === null) throw new Error(`closed with ${left} of ${n} bytes to go`);
    left -= r;
  }
}

/** Reads a connection to its end, counting into `progress.n`. */
async function readAll(
  conn: Deno.Conn,
  progress = { n: 0 },
): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    parts.push(buf.slice(0, n));
    progress.n += n;
  }
  const out = new Uint8Array(progress.n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface User {
  name: string;
  keys: CryptoKeyPair;
  pub: string;
}

/** A relay on a manual clock with its registry key, users and captured logs. */
class Fixture implements AsyncDisposable {
  readonly logs: string[] = [];
  readonly ended: RelayLinkSummary[] = [];
  readonly users = new Map<string, User>();
  relay!: RelayListener;
  endpoint = "";

  private constructor(
    readonly clock: ManualClock,
    readonly registry: CryptoKeyPair,
  ) {}

  static async start(
    opts: Partial<RelayOptions> = {},
    names = ["alice", "bob", "carol", "dave"],
  ): Promise<Fixture> {
    const f = new Fixture(new ManualClock(START), await ed25519());
    for (const name of names) {
      const keys = await ed25519();
      f.users.set(name, { name, keys, pub: await rawPublic(keys.publicKey) });
    }
    let verify: RelayOptions["verify"] | null = null;
    f.relay = RelayListener.listen({
      hostname: "127.0.0.1",
      port: 0,
      clock: f.clock,
      logger: new Logger("debug", (l) => f.logs.push(l), () => f.clock.now()),
      onLinkEnd: (s) => f.ended.push(s),
      verify: (h, now) => verify!(h, now),
      ...opts,
    });
    f.endpoint = formatRelayEndpoint("127.0.0.1", f.relay.port);
    verify = relayVerifier({
      registryKey: f.registry.publicKey,
      endpoints: [f.endpoint],
    });
    return f;
  }

  user(name: string): User {
    return this.users.get(name)!;
  }

  /** A token for a link from `a` to `b`, as the registry would issue it. */
  async token(
    a: string,
    b: string,
    o: { now?: number; endpoint?: string; key?: CryptoKey } = {},
  ): Promise<string> {
    const { token } = await issueRelayToken({
      a: { user: a, key: this.user(a).pub },
      b: { user: b, key: this.user(b).pub },
      purpose: "chat",
      endpoint: o.endpoint ?? this.endpoint,
      signingKey: o.key ?? this.registry.privateKey,
      now: o.now ?? this.clock.now(),
    });
    return token;
  }

  /** Dials the relay as `user` in `role`. */
  dial(token: string, role: RelayRole, user: string): Promise<RelayedConn> {
    return dialRelay({
      hostname: "127.0.0.1",
      port: this.relay.port,
      token,
      role,
      sessionKey: this.user(user).keys.privateKey,
    });
  }

  /** Both sides of a link from `a` to `b`, paired. */
  async pair(a: string, b: string): Promise<[RelayedConn, RelayedConn]> {
    const token = await this.token(a, b);
    return await Promise.all([
      this.dial(token, "a", a),
      this.dial(token, "b", b),
    ]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.relay.close();
  }
}

async function refusedWith(
  dial: Promise<RelayedConn>,
  code: string,
): Promise<RelayDialError> {
  try {
    const r = await dial;
    r.conn.close();
  } catch (err) {
    assert.ok(err instanceof RelayDialError, String(err));
    assert.equal(err.code, code, err.message);
    return err;
  }
  throw new assert.AssertionError({ message: `expected a ${code} refusal` });
}

/** Sends raw bytes and reads the relay's reply (null when it just closed). */
async function rawExchange(
  port: number,
  bytes: Uint8Array,
): Promise<RelayReply | null> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, bytes);
    const d = relayReplyDecoder();
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return null;
      const r = d.push(buf.subarray(0, n));
      if (r) return r.ok ? r.msg : null;
    }
  } finally {
    conn.close();
  }
}

/** Advances the relay's clock a second at a time while writers wait, until `check` holds. */
async function runClock(
  f: Fixture,
  check: () => boolean,
  what: string,
): Promise<void> {
  await until(() => {
    if (check()) return true;
    if (f.relay.stats().throttled > 0) f.clock.advance(1_000);
    return false;
  }, what);
}

function close(...conns: RelayedConn[]): void {
  for (const c of conns) c.conn.close();
}

Deno.test("relay splice", async (t) => {
  await t.step(
    "pairs two sides and carries a few MiB each way byte for byte",
    async () => {
      await using f = await Fixture.start();
      const [a, b] = await f.pair("alice", "bob");
      assert.equal(a.link, b.link);
      assert.deepEqual([a.rest.length, b.rest.length], [0, 0]);
      assert.equal(f.relay.stats().links, 1);
      const rand = mulberry32(5);
      const ab = randBytes(rand, 3 * 1024 * 1024 + 17);
      const ba = randBytes(rand, 2 * 1024 * 1024 + 5);
      const send = async (c: RelayedConn, bytes: Uint8Array) => {
        await writeAll(c.conn, bytes);
        await c.conn.closeWrite();
      };
      const [, , gotB, gotA] = await Promise.all([
        send(a, ab),
        send(b, ba),
        readAll(b.conn),
        readAll(a.conn),
      ]);
      assert.ok(gotB.length === ab.length && gotB.every((x, i) => x === ab[i]));
      assert.ok(gotA.length === ba.length && gotA.every((x, i) => x === ba[i]));
      close(a, b);
      await until(() => f.ended.length === 1, "the link's end");
      assert.deepEqual(f.ended[0], {
        link: a.link,
        a: "alice",
        b: "bob",
        purpose: "chat",
        bytesAtoB: ab.length,
        bytesBtoA: ba.length,
        ms: 0,
        reason: "closed",
      });
      const line = f.logs.find((l) => l.includes(" relay end "))!;
      assert.match(
        line,
        new RegExp(
          `relay end link=${a.link} a=alice b=bob purpose=chat bytes_ab=${ab.length} bytes_ba=${ba.length} ms=0 reason=closed$`,
        ),
      );
      assert.ok(
        f.logs.every((l) => !l.includes("token") && !l.includes("sig")),
      );
      const s = f.relay.stats();
      assert.deepEqual([s.links, s.pending, s.bufferedBytes], [0, 0, 0]);
    },
  );

  await t.step(
    "carries TLS end to end, so the relay is transparent",
    async () => {
      await using f = await Fixture.start();
      const id = await createSelfSigned({
        commonName: "chat-peer",
        dnsNames: ["chat-peer"],
        validDays: 1,
      });
      // b's side: a TLS server behind the relay, as a peer's P2P listener.
      using server = Deno.listenTls({
        hostname: "127.0.0.1",
        port: 0,
        cert: id.certPem,
        key: id.keyPem,
      });
      const payload = randBytes(mulberry32(9), 1024 * 1024);
      const served = (async () => {
        const conn = await server.accept();
        try {
          const got = await readAll(conn);
          const digest = new Uint8Array(
            await crypto.subtle.digest("SHA-256", got),
          );
          await writeAll(conn, digest);
        } finally {
          conn.close();
        }
      })();
      const [a, b] = await f.pair("alice", "bob");
      const local = await Deno.connect({
        hostname: "127.0.0.1",
        port: server.addr.port,
      });
      const bridged = joinConns(b, local);
      // a's side: TLS straight over the relayed connection, pinned to b's cert.
      const tls = await Deno.startTls(a.conn, {
        hostname: "chat-peer",
        caCerts: [id.certPem],
      });
      await tls.handshake();
      await writeAll(tls, payload);
      await tls.closeWrite();
      const reply = await readAll(tls);
      tls.close();
      await served;
      await bridged;
      const want = new Uint8Array(
        await crypto.subtle.digest("SHA-256", payload),
      );
      assert.deepEqual(reply, want);
      await until(() => f.ended.length === 1, "the link's end");
      // TLS adds records and a handshake: more than the payload went through.
      assert.ok(f.ended[0]!.bytesAtoB > payload.length);
    },
  );

  await t.step("hands over inner bytes that came with the hello", async () => {
    await using f = await Fixture.start();
    const token = await f.token("alice", "bob");
    const sig = await signRelayRole(token, "b", f.user("bob").keys.privateKey);
    // b pipelines its first inner bytes right behind the hello.
    const early = new TextEncoder().encode("early bytes");
    const raw = await Deno.connect({
      hostname: "127.0.0.1",
      port: f.relay.port,
    });
    await writeAll(
      raw,
      new Uint8Array([
        ...encodeRelayHello({ token, role: "b", sig }),
        ...early,
      ]),
    );
    await until(() => f.relay.stats().pending === 1, "b waiting");
    const a = await f.dial(token, "a", "alice");
    const got = new Uint8Array(early.length);
    let at = 0;
    at += a.rest.length;
    got.set(a.rest);
    while (at < early.length) {
      const n = await a.conn.read(got.subarray(at));
      assert.ok(n !== null);
      at += n;
    }
    assert.deepEqual(got, early);
    raw.close();
    a.conn.close();
  });
});

Deno.test("relay refusals", async (t) => {
  await using f = await Fixture.start();

  await t.step("garbage gets a one-frame refusal and the door", async () => {
    const reply = await rawExchange(
      f.relay.port,
      new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    assert.equal(reply?.type, "relay_refused");
    assert.equal(reply.type === "relay_refused" && reply.code, "invalid");
  });

  await t.step(
    "it is no open proxy: a CONNECT or a hello naming another address reaches nothing",
    async () => {
      // A listener the relay would reach if it could be asked to.
      using target = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      let reached = 0;
      const accepting = (async () => {
        for await (const c of target) {
          reached++;
          c.close();
        }
      })();
      const to = `127.0.0.1:${target.addr.port}`;
      const connect = await rawExchange(
        f.relay.port,
        new TextEncoder().encode(
          `CONNECT ${to} HTTP/1.1\r\nHost: ${to}\r\n\r\n`,
        ),
      );
      assert.equal(
        connect?.type === "relay_refused" && connect.code,
        "invalid",
      );
      // A well-formed hello whose token names the target as its relay.
      const token = await f.token("alice", "bob", { endpoint: to });
      await refusedWith(f.dial(token, "a", "alice"), "invalid");
      // Both were refused, so anything the relay dialled came before this
      // connection of our own, which must be the only one counted.
      (await Deno.connect({ hostname: "127.0.0.1", port: target.addr.port }))
        .close();
      await until(() => reached >= 1, "our own connection");
      assert.equal(reached, 1, "the relay connected to the target");
      target.close();
      await accepting.catch(() => {});
    },
  );

  await t.step("a token signed by another key is forged", async () => {
    const mallory = await ed25519();
    const token = await f.token("alice", "bob", { key: mallory.privateKey });
    await refusedWith(f.dial(token, "a", "alice"), "forged");
  });

  await t.step("a changed token is forged", async () => {
    const token = await f.token("alice", "bob");
    const bad = token.slice(0, 10) + (token[10] === "A" ? "B" : "A") +
      token.slice(11);
    await refusedWith(f.dial(bad, "a", "alice"), "forged");
  });

  await t.step("an expired token is refused", async () => {
    const token = await f.token("alice", "bob", {
      now: f.clock.now() - 60_000,
    });
    await refusedWith(f.dial(token, "a", "alice"), "expired");
  });

  await t.step("a token for another relay is refused", async () => {
    const token = await f.token("alice", "bob", {
      endpoint: "203.0.113.9:15601",
    });
    const err = await refusedWith(f.dial(token, "a", "alice"), "invalid");
    assert.match(err.message, /203\.0\.113\.9:15601/);
  });

  await t.step("a token whose claims do not fit is refused", async () => {
    const token = await signRelayToken({
      v: 1,
      link: "short",
      a: "alice",
      a_key: f.user("alice").pub,
      b: "bob",
      b_key: f.user("bob").pub,
      purpose: "chat",
      iat: f.clock.now(),
      exp: f.clock.now() + 10_000,
      relay: f.endpoint,
    }, f.registry.privateKey);
    await refusedWith(f.dial(token, "a", "alice"), "invalid");
  });

  await t.step(
    "a stolen token is useless without the role's session key",
    async () => {
      const token = await f.token("alice", "bob");
      // bob presents as a, mallory (carol's key) as b.
      await refusedWith(f.dial(token, "a", "bob"), "forged");
      await refusedWith(f.dial(token, "b", "carol"), "forged");
      // The failed attempts used nothing up: the real sides still pair.
      const [a, b] = await Promise.all([
        f.dial(token, "a", "alice"),
        f.dial(token, "b", "bob"),
      ]);
      close(a, b);
    },
  );

  await t.step("each role of a link is accepted once", async () => {
    const token = await f.token("alice", "bob");
    const a = f.dial(token, "a", "alice");
    await until(() => f.relay.stats().pending === 1, "a waiting");
    await refusedWith(f.dial(token, "a", "alice"), "replayed");
    const b = await f.dial(token, "b", "bob");
    const first = await a;
    close(first, b);
    await refusedWith(f.dial(token, "a", "alice"), "replayed");
    await refusedWith(f.dial(token, "b", "bob"), "replayed");
  });

  await t.step("counts refusals by code", () => {
    const r = f.relay.stats().refused;
    assert.deepEqual(r, {
      invalid: 5,
      forged: 4,
      expired: 1,
      replayed: 3,
    });
  });

  await t.step("the relay module never dials out", async () => {
    const source = await Deno.readTextFile(
      new URL("../../registry/relay.ts", import.meta.url),
    );
    for (const dial of ["Deno.connect", "connectTls", "fetch(", "node:net"]) {
      assert.ok(!source.includes(dial), `registry/relay.ts uses ${dial}`);
    }
  });
});

Deno.test("relay timeouts and caps", async (t) => {
  await t.step(
    "a side whose partner never comes is refused after the pairing time",
    async () => {
      await using f = await Fixture.start({ pairTimeoutMs: 10_000 });
      const token = await f.token("alice", "bob");
      const a = f.dial(token, "a", "alice");
      await until(() => f.relay.stats().pending === 1, "a waiting");
      f.clock.advance(9_999);
      assert.equal(f.relay.stats().pending, 1);
      f.clock.advance(1);
      await refusedWith(a, "unpaired");
      assert.equal(f.relay.stats().pending, 0);
      assert.equal(f.ended[0]!.reason, "unpaired");
      assert.equal(f.ended[0]!.ms, 10_000);
      // The token is spent: b arriving late is a replay of nothing useful.
      await refusedWith(f.dial(token, "a", "alice"), "replayed");
    },
  );

  await t.step(
    "a connection that sends no hello is closed without a word",
    async () => {
      await using f = await Fixture.start({ helloTimeoutMs: 3_000 });
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: f.relay.port,
      });
      await until(() => f.relay.stats().handshakes === 1, "the handshake");
      f.clock.advance(3_000);
      const n = await conn.read(new Uint8Array(16)).catch(() => null);
      assert.equal(n, null);
      conn.close();
      await until(
        () => f.relay.stats().handshakes === 0,
        "the handshake's end",
      );
    },
  );

  await t.step(
    "a user holds at most perUser links, waiting or spliced",
    async () => {
      await using f = await Fixture.start({ perUser: 1 });
      const [a, b] = await f.pair("alice", "bob");
      const toCarol = await f.token("alice", "carol");
      const err = await refusedWith(f.dial(toCarol, "a", "alice"), "limit");
      assert.match(err.message, /alice already has 1 relayed link/);
      // bob is at his cap too, even as the side that was asked.
      const fromDave = await f.token("dave", "bob");
      await refusedWith(f.dial(fromDave, "b", "bob"), "limit");
      // A waiting side counts as well.
      const daveCarol = await f.token("dave", "carol");
      const waiting = f.dial(daveCarol, "a", "dave");
      await until(() => f.relay.stats().pending === 1, "dave waiting");
      await refusedWith(
        f.dial(await f.token("carol", "dave"), "a", "carol"),
        "limit",
      );
      const other = await f.dial(daveCarol, "b", "carol");
      close(await waiting, other);
      // Once alice's link ends she may open another.
      close(a, b);
      await until(() => f.relay.stats().links === 0, "the links' end");
      const [c, d] = await f.pair("alice", "carol");
      close(c, d);
    },
  );

  await t.step(
    "the per-link rate cap paces bytes on the relay's clock",
    async () => {
      await using f = await Fixture.start({
        linkRate: { bytesPerSecond: 100_000, burstBytes: 50_000 },
      });
      const [a, b] = await f.pair("alice", "bob");
      const total = 200_000;
      const sent = writeAll(a.conn, new Uint8Array(total)).then(() =>
        a.conn.closeWrite()
      );
      const got = { n: 0 };
      const reading = readAll(b.conn, got);
      // At each stop the writer waits for tokens and all it wrote has arrived.
      // The burst comes first; 250 ms later 25,000 bytes more; after 750 ms
      // more the bucket has refilled only to its burst (not 75,000). A write
      // waits for at least 4096 bytes' worth, so less than that may be left
      // unspent at a stop.
      for (
        const [at, allowed] of [[0, 50_000], [250, 75_000], [
          1_000,
          125_000,
        ]] as const
      ) {
        f.clock.advance(START + at - f.clock.now());
        await until(
          () => f.relay.stats().throttled === 1 && got.n > allowed - 4096,
          `the writer to stop near ${allowed} bytes at ${at} ms`,
        );
        assert.ok(got.n <= allowed, `${got.n} bytes after ${at} ms`);
      }
      await runClock(f, () => got.n === total, "the rest");
      await sent;
      await reading;
      close(a, b);
    },
  );

  await t.step("the relay-wide rate cap holds across links", async () => {
    await using f = await Fixture.start({
      totalRate: { bytesPerSecond: 100_000, burstBytes: 50_000 },
    });
    const links = [await f.pair("alice", "bob"), await f.pair("carol", "dave")];
    const got = [{ n: 0 }, { n: 0 }];
    const sum = () => got[0]!.n + got[1]!.n;
    const work = links.map(([a, b], i) =>
      Promise.all([
        writeAll(a.conn, new Uint8Array(100_000)).then(() =>
          a.conn.closeWrite()
        ),
        readAll(b.conn, got[i]),
      ])
    );
    for (const [at, allowed] of [[0, 50_000], [400, 90_000]] as const) {
      f.clock.advance(START + at - f.clock.now());
      await until(
        () => f.relay.stats().throttled === 2 && sum() > allowed - 2 * 4096,
        `both writers to stop near ${allowed} bytes at ${at} ms`,
      );
      assert.ok(sum() <= allowed, `${sum()} bytes after ${at} ms`);
    }
    await runClock(f, () => sum() === 200_000, "the rest");
    await Promise.all(work);
    for (const [a, b] of links) close(a, b);
  });

  await t.step(
    "quiet links hold one small buffer each way; a busy direction grows within its bound",
    async () => {
      await using f = await Fixture.start({ bufferBytes: 256 * 1024 });
      const links = [];
      for (let i = 0; i < 10; i++) links.push(await f.pair("alice", "bob"));
      // A chat's worth each way on every link.
      for (const [a, b] of links) {
        await writeAll(a.conn, new Uint8Array(6_000));
        await writeAll(b.conn, new Uint8Array(6_000));
        await b.conn.read(new Uint8Array(6_000));
        await a.conn.read(new Uint8Array(6_000));
      }
      await until(() => f.relay.stats().links === 10, "10 links");
      assert.equal(f.relay.stats().slotBytes, 10 * 2 * 16 * 1024);
      // A pipe on the first link: its direction grows to 64 KiB slots.
      const [a, b] = links[0]!;
      const bulk = new Uint8Array(4 * 1024 * 1024);
      const sending = writeAll(a.conn, bulk);
      const got = readAll(b.conn, { n: 0 });
      await sending;
      await a.conn.closeWrite();
      await b.conn.closeWrite();
      assert.equal((await got).length, bulk.length);
      assert.ok(f.relay.stats().peakBufferedBytes <= 256 * 1024);
      await until(() => f.relay.stats().links === 9, "the pipe's link ended");
      assert.equal(f.relay.stats().slotBytes, 9 * 2 * 16 * 1024);
      for (const [x, y] of links) close(x, y);
      await until(() => f.relay.stats().slotBytes === 0, "every buffer freed");
    },
  );

  await t.step(
    "a few chats that pile up into one full read do not grow the buffer",
    async () => {
      await using f = await Fixture.start({ bufferBytes: 256 * 1024 });
      const [a, b] = await f.pair("alice", "bob");
      // At most one read of 16 KiB can come out of it, never two in a row.
      const burst = new Uint8Array(FIRST_SLOT_BYTES + 4_000);
      for (let i = 0; i < 5; i++) {
        await writeAll(a.conn, burst);
        await readExactly(b.conn, burst.length);
      }
      assert.equal(f.relay.stats().slotBytes, 2 * FIRST_SLOT_BYTES);
      close(a, b);
    },
  );

  await t.step(
    "a grown buffer shrinks back once reads stay small",
    async () => {
      await using f = await Fixture.start({ bufferBytes: 256 * 1024 });
      const [a, b] = await f.pair("alice", "bob");
      const quiet = 2 * FIRST_SLOT_BYTES;
      await until(() => f.relay.stats().slotBytes === quiet, "two buffers");
      const bulk = new Uint8Array(4 * 1024 * 1024);
      const got = readExactly(b.conn, bulk.length);
      await writeAll(a.conn, bulk);
      await got;
      assert.ok(f.relay.stats().slotBytes > quiet, "the busy direction grew");
      assert.ok(f.relay.stats().slotBytes <= 256 * 1024 + FIRST_SLOT_BYTES);
      // One small message at a time, each its own read at the relay.
      const small = new Uint8Array(100);
      for (let i = 0; i <= SHRINK_AFTER_READS; i++) {
        await writeAll(a.conn, small);
        await readExactly(b.conn, small.length);
      }
      await until(
        () => f.relay.stats().slotBytes === quiet,
        "the grown buffer to shrink back",
      );
      close(a, b);
    },
  );

  await t.step(
    "a reader that stops stops the writer; the relay holds at most its buffer",
    async () => {
      const bufferBytes = 64 * 1024;
      await using f = await Fixture.start({ bufferBytes });
      const [a, b] = await f.pair("alice", "bob");
      // More than every kernel buffer on the path can hold.
      const total = 64 * 1024 * 1024;
      const chunk = new Uint8Array(256 * 1024);
      let written = 0;
      const sending = (async () => {
        while (written < total) {
          for (let i = 0; i < chunk.length; i++) {
            chunk[i] = (written + i) * 7 & 0xff;
          }
          await writeAll(a.conn, chunk);
          written += chunk.length;
        }
        await a.conn.closeWrite();
      })();
      // b reads nothing: the writer must come to a standstill well short.
      let last = -1;
      let still = 0;
      await until(
        () => {
          still = written === last ? still + 1 : 0;
          last = written;
          return still >= 40 && f.relay.stats().bufferedBytes > 0;
        },
        "the writer to stall",
        60_000,
      );
      assert.ok(
        written < total,
        `${written} of ${total} bytes written without a reader`,
      );
      assert.ok(f.relay.stats().peakBufferedBytes <= bufferBytes);
      // Now b reads everything, and checks every byte.
      const buf = new Uint8Array(64 * 1024);
      let at = 0;
      for (;;) {
        const n = await b.conn.read(buf);
        if (n === null) break;
        for (let i = 0; i < n; i++) {
          if (buf[i] !== ((at + i) * 7 & 0xff)) {
            throw new Error(`byte ${at + i} differs`);
          }
        }
        at += n;
      }
      await sending;
      assert.equal(at, total);
      assert.ok(f.relay.stats().peakBufferedBytes <= bufferBytes);
      close(a, b);
    },
  );

  await t.step(
    "closing the relay refuses waiting sides and ends links",
    async () => {
      const f = await Fixture.start();
      const [a, b] = await f.pair("alice", "bob");
      const waiting = f.dial(await f.token("carol", "dave"), "a", "carol");
      await until(() => f.relay.stats().pending === 1, "carol waiting");
      await f.relay.close();
      await refusedWith(waiting, "shutdown");
      assert.equal(
        await a.conn.read(new Uint8Array(8)).catch(() => null),
        null,
      );
      close(a, b);
      assert.deepEqual(f.ended.map((e) => e.reason).sort(), [
        "shutdown",
        "shutdown",
      ]);
    },
  );
});
