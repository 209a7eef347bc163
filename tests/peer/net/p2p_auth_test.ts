/**
 * F20: a P2P listener accepts only a dialer the registry introduced, and a
 * dialer talks only to the certificate the registry vouched for. Every
 * refused connection is closed without a single event at the listener.
 *
 * In-process: a real registry over TLS on 127.0.0.1, real P2PNode listeners
 * and dialers, and raw TLS and TCP clients playing the attacker.
 */
import { SYSTEM_CLOCK } from "../../../common/clock.ts";
import { Logger } from "../../../common/log.ts";
import { FramedConn } from "../../../common/conn.ts";
import {
  createPeerIdentity,
  PEER_CERT_NAME,
  type PeerIdentity,
} from "../../../peer/net/identity.ts";
import {
  DialError,
  type P2PLimits,
  type P2PLink,
  P2PNode,
} from "../../../peer/net/p2p.ts";
import { RegistryClient } from "../../../peer/net/registry_client.ts";
import {
  base64url,
  decodeP2P,
  encodeFrame,
  encodeJson,
  fromBase64url,
  importEd25519Public,
  PROTOCOL_VERSION,
  type ReplyData,
  signHello,
  signTicket,
  TICKET_SKEW_MS,
  TICKET_TTL_MS,
  type TicketClaims,
} from "../../../wire/mod.ts";
import {
  assert,
  assertEquals,
  assertIncludes,
  assertRejects,
} from "../../helpers/assert.ts";
import {
  startRegistry,
  type TestRegistry,
  until,
} from "../../helpers/registry.ts";

/** One user: a registry session and a P2P node listening with its identity. */
interface Party {
  user: string;
  identity: PeerIdentity;
  node: P2PNode;
  client: RegistryClient;
  /** Links the listener handed over: every one is an event. */
  inbound: P2PLink[];
  /** Reasons the listener logged for refusing connections. */
  refusals: string[];
  /** Added to the listener's clock (ms), to play with ticket lifetimes. */
  skew: number;
  blocked: Set<string>;
}

async function party(
  reg: TestRegistry,
  user: string,
  limits: Partial<P2PLimits> = {},
): Promise<Party> {
  const identity = await createPeerIdentity();
  const inbound: P2PLink[] = [];
  const refusals: string[] = [];
  const p = {} as Party;
  const client = await RegistryClient.connect(reg.target());
  const registryKey = await importEd25519Public(
    fromBase64url(client.hello.signing_key)!,
  );
  const node = new P2PNode({
    identity,
    self: () => ({ user, registryKey }),
    isBlocked: (u) => p.blocked.has(u),
    onInbound: (link) => inbound.push(link),
    logger: new Logger("debug", (line) => {
      const m = / p2p refused .*reason=(.*)$/.exec(line);
      if (m) refusals.push(m[1]!);
    }),
    // Real timers, and a wall clock the test can set ahead or behind.
    clock: { ...SYSTEM_CLOCK, now: () => Date.now() + p.skew },
    limits,
  });
  const port = node.listen(0, "127.0.0.1");
  await client.request("signup", { user, password: `${user}-password` });
  await client.request("login", {
    user,
    password: `${user}-password`,
    kind: "peer",
    p2p_port: port,
    cert: identity.certPem,
    key: identity.publicKey,
  });
  Object.assign(p, {
    user,
    identity,
    node,
    client,
    inbound,
    refusals,
    skew: 0,
    blocked: new Set<string>(),
  });
  return p;
}

async function closeParty(p: Party): Promise<void> {
  await p.node.close();
  p.client.close();
  await p.client.closed;
}

/** A registry with alice (the dialer), bob (the listener) and carol. */
async function world() {
  const reg = await startRegistry({ sweepEveryMs: 0 });
  const alice = await party(reg, "alice");
  const bob = await party(reg, "bob");
  const carol = await party(reg, "carol");
  return {
    reg,
    alice,
    bob,
    carol,
    intro: (
      from: Party,
      to: string,
      purpose: "chat" | "file" = "chat",
    ): Promise<ReplyData<"introduce">> =>
      from.client.request("introduce", { user: to, purpose }),
    [Symbol.asyncDispose]: async () => {
      for (const p of [alice, bob, carol]) await closeParty(p);
      await reg.close();
    },
  };
}

/** Opens TLS to `port` trusting only `certPem`, like a dialer does. */
async function rawTls(port: number, certPem: string): Promise<Deno.TlsConn> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const tls = await Deno.startTls(tcp, {
      hostname: PEER_CERT_NAME,
      caCerts: [certPem],
    });
    await tls.handshake();
    return tls;
  } catch (err) {
    tcp.close();
    throw err;
  }
}

/**
 * Sends `bytes` and reads until the other side closes; returns the types of
 * the messages that came back. Fails if the connection is still open after
 * `timeoutMs`.
 */
async function answers(
  conn: Deno.Conn,
  bytes: Uint8Array,
  timeoutMs = 15_000,
): Promise<string[]> {
  const fc = new FramedConn(conn);
  const got: string[] = [];
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    fc.close();
  }, timeoutMs);
  try {
    if (bytes.length > 0) fc.sendFrame(bytes);
    for await (const frame of fc.frames()) {
      const d = decodeP2P(frame.payload);
      got.push(d.ok ? d.msg.type : `undecodable: ${d.reason}`);
    }
  } catch {
    // A framing error from the listener also ends the connection.
  } finally {
    clearTimeout(timer);
    fc.close();
  }
  assert(!timedOut, "the listener kept the connection open");
  return got;
}

function control(msg: object): Uint8Array {
  return encodeFrame("control", encodeJson(msg));
}

async function hello(
  ticket: string,
  key: CryptoKey,
  purpose: "chat" | "file" = "chat",
): Promise<Uint8Array> {
  return control({
    type: "p2p_hello",
    v: PROTOCOL_VERSION,
    ticket,
    sig: await signHello(ticket, key),
    purpose,
  });
}

/** The claims inside a ticket, unverified. */
function claimsOf(ticket: string): TicketClaims {
  const body = fromBase64url(ticket.split(".")[0]!)!;
  return JSON.parse(new TextDecoder().decode(body));
}

async function ed25519(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey("Ed25519", false, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
}

/** Asserts bob refused exactly once more, for `reason`, and made no event. */
async function refusedFor(bob: Party, before: number, reason: string) {
  await until(() => bob.refusals.length > before, "the refusal to be logged");
  assertIncludes(bob.refusals.slice(before).join(" | "), reason);
  assertEquals(bob.inbound.length, 0, "no event at the listener");
}

Deno.test("p2p authentication", async (t) => {
  await using w = await world();
  const { alice, bob, carol } = w;

  await t.step(
    "a connection that sends no hello is closed without any event",
    async () => {
      const before = bob.refusals.length;
      const conn = await rawTls(bob.node.port, bob.identity.certPem);
      const got = await answers(
        conn,
        control({ type: "chat_request", text: "hi, I am alice" }),
      );
      assertEquals(got, []);
      await refusedFor(bob, before, "chat_request before hello");
    },
  );

  await t.step(
    "a hello without a ticket is closed without any event",
    async () => {
      const before = bob.refusals.length;
      const conn = await rawTls(bob.node.port, bob.identity.certPem);
      const got = await answers(
        conn,
        control({
          type: "p2p_hello",
          v: PROTOCOL_VERSION,
          sig: "A".repeat(86),
          purpose: "chat",
        }),
      );
      assertEquals(got, []);
      await refusedFor(bob, before, "ticket");
    },
  );

  await t.step(
    "a ticket signed by another Ed25519 key is refused",
    async () => {
      const real = claimsOf((await w.intro(alice, "bob")).ticket);
      const forger = await ed25519();
      const forged = await signTicket(
        {
          ...real,
          nonce: base64url(crypto.getRandomValues(new Uint8Array(18))),
        },
        forger.privateKey,
      );
      const before = bob.refusals.length;
      const conn = await rawTls(bob.node.port, bob.identity.certPem);
      assertEquals(
        await answers(conn, await hello(forged, alice.identity.sessionKey)),
        [],
      );
      await refusedFor(bob, before, "ticket signature is not valid");
    },
  );

  await t.step(
    "a dialer with a forged ticket is told only that bob is not available",
    async () => {
      const intro = await w.intro(alice, "bob");
      const forger = await ed25519();
      const ticket = await signTicket(
        claimsOf(intro.ticket),
        forger.privateKey,
      );
      const before = bob.refusals.length;
      await assertRejects(
        () => alice.node.dial({ ...intro, ticket }, "chat"),
        /^bob is not available$/,
      );
      await refusedFor(bob, before, "ticket signature is not valid");
    },
  );

  await t.step("an expired ticket is refused", async () => {
    const intro = await w.intro(alice, "bob");
    bob.skew = TICKET_TTL_MS + TICKET_SKEW_MS + 1000;
    const before = bob.refusals.length;
    try {
      await assertRejects(() => alice.node.dial(intro, "chat"), DialErrorText);
    } finally {
      bob.skew = 0;
    }
    await refusedFor(bob, before, "ticket has expired");
  });

  await t.step(
    "a ticket from the future (beyond the clock skew) is refused",
    async () => {
      const intro = await w.intro(alice, "bob");
      bob.skew = -(TICKET_SKEW_MS + 5000);
      const before = bob.refusals.length;
      try {
        await assertRejects(
          () => alice.node.dial(intro, "chat"),
          DialErrorText,
        );
      } finally {
        bob.skew = 0;
      }
      await refusedFor(bob, before, "ticket is not valid yet");
    },
  );

  await t.step("a ticket within the clock skew is still accepted", async () => {
    const intro = await w.intro(alice, "bob");
    bob.skew = TICKET_TTL_MS + TICKET_SKEW_MS - 5000;
    try {
      const link = await alice.node.dial(intro, "chat");
      link.conn.close();
    } finally {
      bob.skew = 0;
    }
    await until(() => bob.inbound.length === 1, "the inbound link");
    bob.inbound.splice(0).forEach((l) => l.conn.close());
  });

  await t.step("a ticket for another target is refused", async () => {
    const toBob = await w.intro(alice, "bob");
    const toCarol = await w.intro(alice, "carol");
    const before = bob.refusals.length;
    await assertRejects(
      () => alice.node.dial({ ...toBob, ticket: toCarol.ticket }, "chat"),
      DialErrorText,
    );
    await refusedFor(bob, before, "ticket is for carol");
    assertEquals(carol.inbound.length, 0);
  });

  await t.step("a ticket for another certificate is refused", async () => {
    // bob restarted with a new certificate: a ticket for the old one is void.
    const intro = await w.intro(alice, "bob");
    const renewed = await createPeerIdentity();
    const inbound: P2PLink[] = [];
    const refusals: string[] = [];
    const registryKey = await importEd25519Public(
      fromBase64url(bob.client.hello.signing_key)!,
    );
    const bob2 = new P2PNode({
      identity: renewed,
      self: () => ({ user: "bob", registryKey }),
      isBlocked: () => false,
      onInbound: (link) => inbound.push(link),
      logger: new Logger("debug", (line) => refusals.push(line)),
    });
    try {
      const port = bob2.listen(0, "127.0.0.1");
      const conn = await rawTls(port, renewed.certPem);
      assertEquals(
        await answers(
          conn,
          await hello(intro.ticket, alice.identity.sessionKey),
        ),
        [],
      );
      await until(() => refusals.length > 0, "the refusal");
      assertIncludes(refusals.join("\n"), "ticket is for another certificate");
      assertEquals(inbound.length, 0);
    } finally {
      await bob2.close();
    }
  });

  await t.step(
    "a ticket presented for another purpose is refused",
    async () => {
      const intro = await w.intro(alice, "bob", "chat");
      const before = bob.refusals.length;
      await assertRejects(() => alice.node.dial(intro, "file"), DialErrorText);
      await refusedFor(bob, before, "ticket is for another purpose");
    },
  );

  await t.step(
    "a stolen ticket signed with another session key is refused",
    async () => {
      const intro = await w.intro(alice, "bob");
      const mallory = await ed25519();
      const before = bob.refusals.length;
      const conn = await rawTls(bob.node.port, bob.identity.certPem);
      assertEquals(
        await answers(conn, await hello(intro.ticket, mallory.privateKey)),
        [],
      );
      await refusedFor(bob, before, "bad hello signature");
    },
  );

  await t.step("a hello of another protocol version is refused", async () => {
    const intro = await w.intro(alice, "bob");
    const before = bob.refusals.length;
    const conn = await rawTls(bob.node.port, bob.identity.certPem);
    const frame = control({
      type: "p2p_hello",
      v: PROTOCOL_VERSION + 1,
      ticket: intro.ticket,
      sig: await signHello(intro.ticket, alice.identity.sessionKey),
      purpose: "chat",
    });
    assertEquals(await answers(conn, frame), []);
    await refusedFor(bob, before, "protocol version");
  });

  await t.step(
    "a valid introduction works once and its replay is refused",
    async () => {
      const intro = await w.intro(alice, "bob");
      const link = await alice.node.dial(intro, "chat");
      assertEquals(link.user, "bob");
      assertEquals(link.inbound, false);
      await until(() => bob.inbound.length === 1, "bob's inbound link");
      const theirs = bob.inbound[0]!;
      assertEquals(theirs.user, "alice");
      assertEquals(theirs.purpose, "chat");
      assertEquals(theirs.inbound, true);

      // Both directions carry frames.
      link.conn.send({ type: "msg", id: 1, text: "hello bob" });
      const atBob = await theirs.frames.next();
      assert(!atBob.done);
      const d1 = decodeP2P(atBob.value.payload);
      assert(d1.ok && d1.msg.type === "msg" && d1.msg.text === "hello bob");
      theirs.conn.send({ type: "ack", id: 1 });
      const atAlice = await link.frames.next();
      assert(!atAlice.done);
      const d2 = decodeP2P(atAlice.value.payload);
      assert(d2.ok && d2.msg.type === "ack" && d2.msg.id === 1);
      link.conn.close();
      theirs.conn.close();
      bob.inbound.splice(0);

      // The same ticket and signature a second time: refused.
      const before = bob.refusals.length;
      await assertRejects(() => alice.node.dial(intro, "chat"), DialErrorText);
      await refusedFor(bob, before, "ticket replayed");
      const conn = await rawTls(bob.node.port, bob.identity.certPem);
      assertEquals(
        await answers(
          conn,
          await hello(intro.ticket, alice.identity.sessionKey),
        ),
        [],
      );
      await refusedFor(bob, before + 1, "ticket replayed");
    },
  );

  await t.step(
    "a dialer bob has blocked is refused without any event",
    async () => {
      bob.blocked.add("alice");
      const intro = await w.intro(alice, "bob");
      const before = bob.refusals.length;
      try {
        await assertRejects(
          () => alice.node.dial(intro, "chat"),
          /^bob is not available$/,
        );
      } finally {
        bob.blocked.delete("alice");
      }
      await refusedFor(bob, before, "blocked user");
    },
  );

  await t.step(
    "garbage bytes inside TLS are closed without any event",
    async () => {
      const before = bob.refusals.length;
      const conn = await rawTls(bob.node.port, bob.identity.certPem);
      const junk = crypto.getRandomValues(new Uint8Array(300));
      junk[0] = 0xff; // an absurd length: a framing violation
      assertEquals(await answers(conn, junk), []);
      await refusedFor(bob, before, "exceeds the limit of 16384 bytes");
    },
  );

  await t.step(
    "a frame that is not JSON is closed without any event",
    async () => {
      const before = bob.refusals.length;
      const conn = await rawTls(bob.node.port, bob.identity.certPem);
      const frame = encodeFrame("control", new TextEncoder().encode("{nope"));
      assertEquals(await answers(conn, frame), []);
      await refusedFor(bob, before, "");
    },
  );

  await t.step(
    "a data frame before the hello is closed without any event",
    async () => {
      const before = bob.refusals.length;
      const conn = await rawTls(bob.node.port, bob.identity.certPem);
      const frame = encodeFrame("data", new Uint8Array(64));
      assertEquals(await answers(conn, frame), []);
      await refusedFor(bob, before, "data before hello");
    },
  );

  await t.step("a plain TCP client is closed without any event", async () => {
    const before = bob.refusals.length;
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: bob.node.port,
    });
    const got = await answers(
      conn,
      new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"),
    ).catch((err) => [String(err)]);
    assertEquals(got, []);
    await refusedFor(bob, before, "closed before hello");
  });

  await t.step(
    "silent clients are given up on after the handshake timeout without any event",
    async () => {
      // A listener for bob with a short handshake timeout.
      const registryKey = await importEd25519Public(
        fromBase64url(bob.client.hello.signing_key)!,
      );
      const inbound: P2PLink[] = [];
      const refusals: string[] = [];
      const quick = new P2PNode({
        identity: bob.identity,
        self: () => ({ user: "bob", registryKey }),
        isBlocked: () => false,
        onInbound: (link) => inbound.push(link),
        logger: new Logger("debug", (line) => {
          if (line.includes("p2p refused")) refusals.push(line);
        }),
        handshakeTimeoutMs: 500,
      });
      try {
        const port = quick.listen(0, "127.0.0.1");
        // TLS done, then nothing: the listener closes the connection.
        const tls = await rawTls(port, bob.identity.certPem);
        assertEquals(await answers(tls, new Uint8Array()), []);
        await until(() => refusals.length === 1, "the first refusal");
        assertIncludes(refusals[0]!, "no hello in time");
        // Plain TCP, then nothing. Deno cannot abort a TLS handshake that
        // never started (the socket is released when the client goes away),
        // so the listener only stops waiting: it logs the refusal and
        // produces no event.
        const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
        try {
          await until(() => refusals.length === 2, "the second refusal");
          assertIncludes(refusals[1]!, "no hello in time");
        } finally {
          tcp.close();
        }
        assertEquals(inbound.length, 0);
      } finally {
        await quick.close();
      }
    },
  );

  await t.step(
    "a listener posing as bob is refused by the dialer's pin",
    async () => {
      // mallory took the port the registry advertised for bob.
      const mallory = await createPeerIdentity();
      const listener = Deno.listenTls({
        hostname: "127.0.0.1",
        port: 0,
        cert: mallory.certPem,
        key: mallory.keyPem,
      });
      const heard: number[] = [];
      const serving = (async () => {
        const conn = await listener.accept();
        const buf = new Uint8Array(4096);
        try {
          for (
            let n = await conn.read(buf);
            n !== null;
            n = await conn.read(buf)
          ) {
            heard.push(n);
          }
        } catch {
          // The dialer aborted the handshake.
        } finally {
          conn.close();
        }
      })();
      try {
        const intro = await w.intro(alice, "bob");
        const port = (listener.addr as Deno.NetAddr).port;
        const err = await assertRejects(
          () => alice.node.dial({ ...intro, port }, "chat"),
          /not the one the registry vouched for/,
        );
        assert(err instanceof DialError);
        await serving;
        assertEquals(heard, [], "the impostor never saw the hello or ticket");
      } finally {
        listener.close();
      }
    },
  );

  await t.step("after all that, a fresh introduction still works", async () => {
    const link = await alice.node.dial(await w.intro(alice, "bob"), "chat");
    await until(() => bob.inbound.length === 1, "bob's inbound link");
    assertEquals(bob.inbound[0]!.user, "alice");
    link.conn.close();
    bob.inbound.splice(0).forEach((l) => l.conn.close());
  });
});

const DialErrorText = /^bob is not available$/;

Deno.test("the P2P listener bounds what strangers and one user can hold", async (t) => {
  const reg = await startRegistry({ sweepEveryMs: 0 });
  const alice = await party(reg, "alice");
  const carol = await party(reg, "carol");
  const bob = await party(reg, "bob", {
    maxUnauthenticated: 32,
    maxLinksPerUser: 4,
    firstFrameMs: 1000,
  });
  const intro = (from: Party, purpose: "chat" | "file" = "chat") =>
    from.client.request("introduce", { user: "bob", purpose });
  try {
    await t.step(
      "200 connections that never say hello hold at most the cap, and a real dialer still gets in",
      async () => {
        const raws: Deno.TlsConn[] = [];
        let most = 0;
        for (let i = 0; i < 200; i++) {
          try {
            raws.push(await rawTls(bob.node.port, bob.identity.certPem));
          } catch {
            // Closed to make room for a newer one before its handshake ended.
          }
          most = Math.max(most, bob.node.unauthenticated);
        }
        assert(most <= 32, `${most} unauthenticated connections held`);
        const link = await alice.node.dial(await intro(alice), "chat");
        assertEquals(link.user, "bob");
        link.conn.close();
        for (const c of raws) {
          try {
            c.close();
          } catch {
            // Already closed by the listener.
          }
        }
        await until(() => bob.node.unauthenticated === 0, "the flood to end");
      },
    );

    await t.step(
      "a frame announced over the pre-hello limit is refused at its header",
      async () => {
        const before = bob.refusals.length;
        const conn = await rawTls(bob.node.port, bob.identity.certPem);
        // All but one byte of a 1 MiB frame: nothing of it is kept.
        const header = new Uint8Array(5);
        new DataView(header.buffer).setUint32(0, 1024 * 1024);
        header[4] = 1;
        const got = await answers(conn, header);
        assertEquals(got, []);
        await until(() => bob.refusals.length > before, "the refusal");
        assertIncludes(bob.refusals.slice(before).join(" | "), "16384");
      },
    );

    await t.step(
      "one user's links are capped per user, and another user still gets in",
      async () => {
        const links: P2PLink[] = [];
        // Links nobody reads here end when their first frame is late.
        await until(() => bob.node.linksFrom("alice") === 0, "no links yet");
        for (let i = 0; i < 4; i++) {
          links.push(await alice.node.dial(await intro(alice), "chat"));
        }
        await until(() => bob.node.linksFrom("alice") === 4, "4 links");
        const before = bob.refusals.length;
        const refused = await alice.node.dial(await intro(alice), "chat")
          .then(() => null, (err) => err);
        assert(refused instanceof DialError, String(refused));
        await until(() => bob.refusals.length > before, "the refusal");
        assertIncludes(
          bob.refusals.slice(before).join(" | "),
          "4, the limit per user",
        );
        const other = await carol.node.dial(await intro(carol, "file"), "file");
        assertEquals(other.user, "bob");
        other.conn.close();
        links.pop()!.conn.close();
        await until(() => bob.node.linksFrom("alice") === 3, "a freed place");
        links.push(await alice.node.dial(await intro(alice), "chat"));
        for (const l of links) l.conn.close();
      },
    );

    await t.step(
      "a link that says nothing after the handshake is closed, one that speaks stays",
      async () => {
        await until(() => bob.node.linksFrom("alice") === 0, "no links yet");
        // The speaking link is opened first: its timer would fire first.
        const speaking = await alice.node.dial(await intro(alice), "chat");
        speaking.conn.send({ type: "chat_request" });
        const spoke = await until(
          () => bob.inbound.findLast((l) => l.user === "alice"),
          "the speaking link",
        );
        assert(!(await spoke.frames.next()).done);
        const silent = await alice.node.dial(await intro(alice), "chat");
        const quiet = await until(
          () => bob.inbound.findLast((l) => l !== spoke && !l.conn.closed),
          "the silent link",
        );
        await until(() => quiet.conn.closed, "the silent link to close");
        assert((await silent.frames.next()).done, "the dialer sees it end");
        assert(!spoke.conn.closed, "a link that spoke was closed");
        speaking.conn.close();
      },
    );
  } finally {
    for (const p of [alice, bob, carol]) await closeParty(p);
    await reg.close();
  }
});
