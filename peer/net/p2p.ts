/**
 * Authenticated, encrypted peer-to-peer connections (F20).
 *
 * The listener serves TLS with this run's ephemeral certificate. A dialer
 * first asks the registry for an introduction (the target's address, its
 * certificate and a signed ticket), opens TLS trusting only that certificate,
 * and sends `p2p_hello` with the ticket and its signature over the ticket made
 * with the session key the ticket names. The listener checks the registry's
 * signature, the names, its own certificate fingerprint, the time window and
 * that the nonce is fresh, then answers `p2p_welcome`. Anything else is closed
 * without producing a single event. See docs/security.md.
 *
 * The same handshake runs on every path (links.ts chooses): a race of direct
 * attempts (`dialAny`), a dial-back whose hello names the `ref` the dialer
 * waits for (`expectReverse`), and a relayed stream (`dialOver` on the
 * dialer's side; `acceptRelayed` joins it to our own listener on the other).
 * The registry's connect-back probe (`p2p_probe`) is answered and closed.
 */
import { type Clock, sleep, SYSTEM_CLOCK } from "../../common/clock.ts";
import { FramedConn } from "../../common/conn.ts";
import type { Logger } from "../../common/log.ts";
import { fingerprintPem } from "../../common/fingerprint.ts";
import {
  decodeP2P,
  deviceProofPayload,
  type Frame,
  FramingError,
  MAX_FRAME_BYTES,
  MemoryBudget,
  openTicket,
  type P2PMessage,
  PROTOCOL_VERSION,
  type ReplyData,
  signHello,
  type TicketClaims,
  ticketTimeError,
  verifyHello,
} from "../../wire/mod.ts";
import { joinConns, type RelayedConn } from "../../common/relay_dial.ts";
import { PEER_CERT_NAME, type PeerIdentity } from "./identity.ts";
import { RaceError, raceStaggered } from "./race.ts";

/** What a connection is for; each purpose has its own handler. */
export type Purpose = "chat" | "file";

/**
 * How a link reached the other peer: we dialled it (or it dialled us),
 * it dialled back because we could not reach it, or both went through the
 * registry's relay. The TLS and the ticket check inside are the same on
 * every path.
 */
export type LinkPath = "direct" | "reversed" | "relayed";

/** An authenticated P2P connection and the reader positioned after the handshake. */
export interface P2PLink {
  /** The user at the other end, as vouched for by the registry. */
  user: string;
  purpose: Purpose;
  /** True when the other side asked for the link. */
  inbound: boolean;
  path: LinkPath;
  conn: FramedConn;
  /** The frame reader; whoever takes the link reads it to the end. */
  frames: AsyncGenerator<Frame>;
}

/**
 * Why a dial failed, phrased for the user: `unreachable` when no connection
 * to the pinned certificate could be made (another path may work),
 * `refused` when the peer was reached and did not take the link.
 */
export class DialError extends Error {
  override name = "DialError";
  constructor(
    message: string,
    readonly kind: "unreachable" | "refused" = "unreachable",
  ) {
    super(message);
  }
}

/** Who to dial and how to prove ourselves to them. */
export interface DialTarget {
  user: string;
  /** Their certificate (PEM), pinned: nothing else is accepted. */
  cert: string;
  /** The registry's ticket that introduces us to them. */
  ticket: string;
  purpose: Purpose;
  /** On a reversed connection: the `ref` of the link they wait for. */
  reverse?: string;
}

/** How long each direct attempt may take, and when the next one starts. */
export interface RaceTiming {
  attemptMs: number;
  staggerMs: number;
}

/**
 * The device half of the handshake (F24): our own proof, and the check of
 * the other side's against its pinned device keys (contacts.ts).
 */
export interface DeviceAuth {
  /** Our device's signature over `payload`, or null on a machine that is no device. */
  prove(
    payload: Uint8Array<ArrayBuffer>,
  ): Promise<{ device: string; sig: string } | null>;
  /** Null when `user`'s proof is good, else why the link is refused. */
  check(
    user: string,
    proof: { device: string; sig: string } | null,
    payload: Uint8Array<ArrayBuffer>,
  ): Promise<string | null>;
}

/** What the node needs from its surroundings. */
export interface P2PNodeOptions {
  identity: PeerIdentity;
  /** Our user name and the registry's ticket key, as of now. */
  self: () => { user: string; registryKey: CryptoKey | null };
  /** True if we have blocked `user`: their connections are dropped silently. */
  isBlocked: (user: string) => boolean;
  /** Takes ownership of an authenticated inbound link. */
  onInbound: (link: P2PLink) => void;
  /** Device proofs in hello and welcome; absent: none given or asked for. */
  devices?: DeviceAuth;
  logger: Logger;
  /** Time for ticket checks, timers for handshakes. */
  clock?: Clock;
  /** Bytes queued per connection before a non-reading peer is dropped. */
  maxQueuedBytes?: number;
  handshakeTimeoutMs?: number;
  /** Overrides of the listener's limits (tests use small ones). */
  limits?: Partial<P2PLimits>;
}

const HANDSHAKE_MS = 10_000;

/** What the P2P listener lets other people hold of this peer. */
export interface P2PLimits {
  /**
   * Connections that have not yet said a valid hello. Past it the oldest
   * is closed to make room, so a flood cannot keep a real dialer out for
   * longer than it takes the flood to open this many more.
   */
  maxUnauthenticated: number;
  /** Largest frame before the hello is accepted (a hello is under 2 KiB). */
  preAuthFrameBytes: number;
  /** What partial frames of all unauthenticated connections may hold together. */
  preAuthMemoryBytes: number;
  /** Inbound links one remote user may hold open at once. */
  maxLinksPerUser: number;
  /** Time an accepted link may take to send its first frame. */
  firstFrameMs: number;
}

/** The defaults; each is documented in docs/security.md. */
export const P2P_LIMITS: P2PLimits = {
  maxUnauthenticated: 64,
  preAuthFrameBytes: 16 * 1024,
  preAuthMemoryBytes: 4 * 1024 * 1024,
  maxLinksPerUser: 16,
  firstFrameMs: 30_000,
};

/** The read buffer of a connection before its hello, and of a chat link. */
const SMALL_READ_BYTES = 4 * 1024;
const CHAT_READ_BYTES = 16 * 1024;
/** A file link reads big chunks: data frames are up to 256 KiB. */
const FILE_READ_BYTES = 256 * 1024;

/** The P2P listener and dialer of one peer. */
export class P2PNode implements AsyncDisposable {
  readonly #o: P2PNodeOptions;
  readonly #clock: Clock;
  #listener: Deno.TlsListener | null = null;
  #accepting: Promise<void> | null = null;
  readonly #handshakes = new Set<Promise<void>>();
  readonly #open = new Set<FramedConn>();
  /** Links we asked the other side to dial back, by their ref. */
  readonly #reversals = new Map<
    string,
    { user: string; purpose: Purpose; take: (link: P2PLink) => void }
  >();
  /** Local ports of our connections that carry relayed links into the listener. */
  readonly #relayPorts = new Set<number>();
  /** Relayed streams being joined to the listener. */
  readonly #joins = new Set<Promise<void>>();
  #host = "0.0.0.0";
  /** Nonces of accepted tickets, until they expire: a ticket works once. */
  readonly #seen = new Map<string, number>();
  readonly #limits: P2PLimits;
  /** Connections before their hello, oldest first. */
  readonly #unauthenticated = new Set<FramedConn>();
  readonly #preAuthBudget: MemoryBudget;
  /** Inbound authenticated links open, per remote user. */
  readonly #linksOf = new Map<string, number>();
  #closed = false;

  constructor(o: P2PNodeOptions) {
    this.#o = o;
    this.#clock = o.clock ?? SYSTEM_CLOCK;
    this.#limits = { ...P2P_LIMITS, ...o.limits };
    this.#preAuthBudget = new MemoryBudget(this.#limits.preAuthMemoryBytes);
  }

  /** Connections open now that have not said a valid hello (for tests). */
  get unauthenticated(): number {
    return this.#unauthenticated.size;
  }

  /** Inbound authenticated links open now from `user` (for tests). */
  linksFrom(user: string): number {
    return this.#linksOf.get(user) ?? 0;
  }

  /** Starts listening on `port` (0 = any free port); returns the port. */
  listen(port: number, host = "0.0.0.0"): number {
    this.#host = host;
    try {
      this.#listener = Deno.listenTls({
        hostname: host,
        port,
        cert: this.#o.identity.certPem,
        key: this.#o.identity.keyPem,
      });
    } catch (err) {
      if (err instanceof Deno.errors.AddrInUse) {
        throw new DialError(
          `port ${port} is already in use — pick another with --port, or 0 for any`,
        );
      }
      throw err;
    }
    this.#accepting = this.#acceptLoop(this.#listener);
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** The listening port, or 0 before listen. */
  get port(): number {
    return this.#listener ? (this.#listener.addr as Deno.NetAddr).port : 0;
  }

  async #acceptLoop(listener: Deno.TlsListener): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.TlsConn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (this.#closed) return;
        this.#o.logger.warn("p2p accept failed", { error: String(err) });
        await sleep(this.#clock, 50);
        continue;
      }
      const p = this.#handshakeInbound(conn).catch((err) =>
        this.#o.logger.error("p2p handshake crashed", { error: String(err) })
      );
      this.#handshakes.add(p);
      p.finally(() => this.#handshakes.delete(p));
    }
  }

  #track(fc: FramedConn): void {
    this.#open.add(fc);
    fc.onClose(() => this.#open.delete(fc));
  }

  async #handshakeInbound(conn: Deno.TlsConn): Promise<void> {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const addr = remote.hostname;
    const lim = this.#limits;
    // Until the hello is checked, nothing needs more than a few KiB: a
    // small read buffer, small frames, and one budget for all such.
    const fc = new FramedConn(conn, {
      readBufferBytes: SMALL_READ_BYTES,
      maxQueuedBytes: this.#o.maxQueuedBytes ?? 8 * 1024 * 1024,
      maxFrameBytes: lim.preAuthFrameBytes,
      budget: this.#preAuthBudget,
    });
    this.#track(fc);
    if (this.#unauthenticated.size >= lim.maxUnauthenticated) {
      const [oldest] = this.#unauthenticated;
      this.#unauthenticated.delete(oldest!);
      oldest!.close();
      this.#o.logger.from(addr, "warn", "p2p refused", {
        addr,
        reason:
          `an older connection closed: ${lim.maxUnauthenticated} unauthenticated connections at once is the limit`,
      });
    }
    this.#unauthenticated.add(fc);
    fc.onClose(() => this.#unauthenticated.delete(fc));
    try {
      await this.#inboundHello(fc, remote);
    } finally {
      this.#unauthenticated.delete(fc);
    }
  }

  async #inboundHello(fc: FramedConn, remote: Deno.NetAddr): Promise<void> {
    const addr = remote.hostname;
    const lim = this.#limits;
    const frames = fc.frames();
    const refuse = (why: string) => {
      this.#o.logger.from(addr, "warn", "p2p refused", { addr, reason: why });
      fc.close();
    };
    const first = await firstFrame(
      frames,
      fc,
      this.#o.handshakeTimeoutMs ?? HANDSHAKE_MS,
      this.#clock,
    );
    // Looked up once bytes came: they flow only after the port is noted.
    const relayed = this.#relayPorts.delete(remote.port) &&
      isLoopback(remote.hostname);
    if (typeof first === "string") return refuse(first);
    if (first.kind !== "control") return refuse("data before hello");
    const d = decodeP2P(first.payload);
    if (!d.ok) return refuse(d.reason);
    if (d.msg.type === "p2p_probe") {
      // The registry's connect-back probe: it found our port and certificate.
      fc.send({ type: "p2p_probe_ok", v: PROTOCOL_VERSION });
      await fc.closeAfterFlush(1000);
      return;
    }
    if (d.msg.type !== "p2p_hello") return refuse(`${d.msg.type} before hello`);
    const claims = await this.#check(d.msg);
    if (typeof claims === "string") return refuse(claims);
    if (this.#o.isBlocked(claims.from)) return refuse("blocked user");
    const devices = this.#o.devices;
    let welcomeProof: { device: string; sig: string } | null = null;
    if (devices) {
      const why = await devices.check(
        claims.from,
        proofOf(d.msg),
        await deviceProofPayload(
          "hello",
          d.msg.ticket,
          this.#o.identity.fingerprint,
        ),
      );
      if (why !== null) return refuse(why);
      welcomeProof = await devices.prove(
        await deviceProofPayload(
          "welcome",
          d.msg.ticket,
          this.#o.identity.fingerprint,
        ),
      );
    }
    const held = this.#linksOf.get(claims.from) ?? 0;
    if (held >= lim.maxLinksPerUser) {
      return refuse(
        `${claims.from} has ${held} links open (${lim.maxLinksPerUser}, the limit per user)`,
      );
    }
    if (fc.closed) return;
    this.#linksOf.set(claims.from, held + 1);
    fc.onClose(() => {
      const n = (this.#linksOf.get(claims.from) ?? 1) - 1;
      if (n > 0) this.#linksOf.set(claims.from, n);
      else this.#linksOf.delete(claims.from);
    });
    fc.setFrameLimits(MAX_FRAME_BYTES, null);
    fc.setReadBufferBytes(
      claims.purpose === "file" ? FILE_READ_BYTES : CHAT_READ_BYTES,
    );
    let take = this.#o.onInbound;
    let path: LinkPath = relayed ? "relayed" : "direct";
    let inbound = true;
    if (d.msg.reverse !== undefined) {
      const waiting = this.#reversals.get(d.msg.reverse);
      if (
        !waiting || waiting.user !== claims.from ||
        waiting.purpose !== claims.purpose
      ) {
        return refuse("dial-back nobody waits for");
      }
      this.#reversals.delete(d.msg.reverse);
      take = waiting.take;
      path = "reversed";
      inbound = false;
    }
    fc.send({
      type: "p2p_welcome",
      v: PROTOCOL_VERSION,
      user: this.#o.self().user,
      ...(welcomeProof
        ? { device: welcomeProof.device, device_sig: welcomeProof.sig }
        : {}),
    });
    this.#o.logger.debug("p2p accepted", {
      user: claims.from,
      purpose: claims.purpose,
      addr,
      path,
    });
    take({
      user: claims.from,
      purpose: claims.purpose,
      inbound,
      path,
      conn: fc,
      frames: firstFrameWithin(frames, fc, lim.firstFrameMs, this.#clock),
    });
  }

  /** Verifies a hello; returns the ticket's claims or the reason for refusal. */
  async #check(
    hello: Extract<P2PMessage, { type: "p2p_hello" }>,
  ): Promise<TicketClaims | string> {
    if (hello.v !== PROTOCOL_VERSION) return `protocol version ${hello.v}`;
    const { user, registryKey } = this.#o.self();
    if (!registryKey) return "no registry key yet";
    const opened = await openTicket(hello.ticket, registryKey);
    if (!opened.ok) return opened.reason;
    const c = opened.msg;
    const now = this.#clock.now();
    const timeError = ticketTimeError(c, now);
    if (timeError) return timeError;
    if (c.to !== user) return `ticket is for ${c.to}`;
    if (c.to_cert !== this.#o.identity.fingerprint) {
      return "ticket is for another certificate";
    }
    if (c.purpose !== hello.purpose) return "ticket is for another purpose";
    if (!(await verifyHello(hello.ticket, hello.sig, c.from_key))) {
      return "bad hello signature";
    }
    this.#prune(now);
    if (this.#seen.has(c.nonce)) return "ticket replayed";
    this.#seen.set(c.nonce, c.exp);
    return c;
  }

  #prune(now: number): void {
    if (this.#seen.size < 256) return;
    for (const [nonce, exp] of this.#seen) {
      if (exp + 60_000 < now) this.#seen.delete(nonce);
    }
  }

  /** Dials the one address an introduction names, as a direct link. */
  dial(intro: ReplyData<"introduce">, purpose: Purpose): Promise<P2PLink> {
    const ms = this.#o.handshakeTimeoutMs ?? HANDSHAKE_MS;
    return this.dialAny([{ host: intro.host, port: intro.port }], {
      user: intro.user,
      cert: intro.cert,
      ticket: intro.ticket,
      purpose,
    }, { attemptMs: ms, staggerMs: ms });
  }

  /**
   * Races direct attempts to `endpoints` (in order, staggered) and opens an
   * authenticated link over the first that completes TLS with the pinned
   * certificate. `path` is what the link will report.
   */
  async dialAny(
    endpoints: readonly { host: string; port: number }[],
    target: DialTarget,
    timing: RaceTiming,
    path: LinkPath = "direct",
  ): Promise<P2PLink> {
    let tls: Deno.TlsConn;
    try {
      tls = await raceStaggered(
        endpoints.map((e) => () =>
          withTimeout(
            this.#tlsTo(e.host, e.port, target.cert, timing.attemptMs),
            timing.attemptMs,
            this.#clock,
          )
        ),
        timing.staggerMs,
        this.#clock,
        (late) => closeQuietly(late),
      );
    } catch (err) {
      const errors = err instanceof RaceError ? err.errors : [err];
      this.#o.logger.warn("p2p dial failed", {
        user: target.user,
        tried: endpoints.map((e) => `${e.host}:${e.port}`).join(","),
        error: errors.map(describe).join("; "),
      });
      throw new DialError(
        `cannot reach ${target.user} directly (${
          errors.length > 0 ? describe(errors[errors.length - 1]) : "no address"
        })`,
      );
    }
    return await this.#hello(tls, target, path);
  }

  /** Opens an authenticated link over a stream that already reaches the peer (a relay). */
  async dialOver(
    tcp: Deno.TcpConn,
    target: DialTarget,
    path: LinkPath,
  ): Promise<P2PLink> {
    let tls: Deno.TlsConn;
    try {
      tls = await withTimeout(
        this.#startTls(tcp, target.cert),
        this.#o.handshakeTimeoutMs ?? HANDSHAKE_MS,
        this.#clock,
      );
    } catch (err) {
      closeQuietly(tcp);
      throw new DialError(
        `cannot reach ${target.user} through the relay (${describe(err)})`,
      );
    }
    return await this.#hello(tls, target, path);
  }

  /**
   * Waits for the dial-back a `reverse` request asked for: the link whose
   * hello names `ref`, from `user`, for `purpose`. Cancel it on giving up.
   */
  expectReverse(
    ref: string,
    user: string,
    purpose: Purpose,
    timeoutMs: number,
  ): { link: Promise<P2PLink>; cancel: () => void } {
    let cancel = () => {};
    const link = new Promise<P2PLink>((resolve, reject) => {
      const stopTimer = this.#clock.after(timeoutMs, () => {
        this.#reversals.delete(ref);
        reject(
          new DialError(
            `${user} did not dial back within ${timeoutMs / 1000} s`,
          ),
        );
      });
      this.#reversals.set(ref, {
        user,
        purpose,
        take: (l) => {
          stopTimer();
          resolve(l);
        },
      });
      cancel = () => {
        stopTimer();
        this.#reversals.delete(ref);
        reject(new DialError(`gave up waiting for ${user} to dial back`));
      };
    });
    link.catch(() => {}); // The caller awaits it or cancels it.
    return { link, cancel };
  }

  /**
   * Joins a paired relay connection to our own listener, so the link that
   * arrives through it is authenticated like any other; it reports the
   * path `relayed`.
   */
  async acceptRelayed(relayed: RelayedConn): Promise<void> {
    if (this.#closed || !this.#listener) {
      closeQuietly(relayed.conn);
      return;
    }
    let local: Deno.TcpConn;
    try {
      local = await Deno.connect({
        hostname: loopbackFor(this.#host),
        port: this.port,
      });
    } catch (err) {
      closeQuietly(relayed.conn);
      throw err;
    }
    this.#relayPorts.add((local.localAddr as Deno.NetAddr).port);
    const join = joinConns(relayed, local).finally(() =>
      this.#joins.delete(join)
    );
    this.#joins.add(join);
  }

  async #tlsTo(
    host: string,
    port: number,
    cert: string,
    ms: number,
  ): Promise<Deno.TlsConn> {
    // A filtered address never answers: give its SYNs up with the attempt.
    const tcp = await Deno.connect({
      hostname: host,
      port,
      signal: AbortSignal.timeout(ms),
    });
    return await this.#startTls(tcp, cert);
  }

  async #startTls(tcp: Deno.TcpConn, cert: string): Promise<Deno.TlsConn> {
    try {
      const t = await Deno.startTls(tcp, {
        hostname: PEER_CERT_NAME,
        caCerts: [cert],
      });
      await t.handshake();
      return t;
    } catch (err) {
      closeQuietly(tcp); // Closed by the failed handshake, or now.
      throw err;
    }
  }

  /** Presents the ticket inside the pinned TLS and waits for the welcome. */
  async #hello(
    tls: Deno.TlsConn,
    target: DialTarget,
    path: LinkPath,
  ): Promise<P2PLink> {
    const timeoutMs = this.#o.handshakeTimeoutMs ?? HANDSHAKE_MS;
    const fc = new FramedConn(tls, {
      readBufferBytes: target.purpose === "file"
        ? FILE_READ_BYTES
        : CHAT_READ_BYTES,
      maxQueuedBytes: this.#o.maxQueuedBytes ?? 8 * 1024 * 1024,
    });
    this.#track(fc);
    const sig = await signHello(target.ticket, this.#o.identity.sessionKey);
    const devices = this.#o.devices;
    const targetCert = fingerprintPem(target.cert) ?? "";
    const proof = devices
      ? await devices.prove(
        await deviceProofPayload("hello", target.ticket, targetCert),
      )
      : null;
    fc.send({
      type: "p2p_hello",
      v: PROTOCOL_VERSION,
      ticket: target.ticket,
      sig,
      purpose: target.purpose,
      ...(target.reverse !== undefined ? { reverse: target.reverse } : {}),
      ...(proof ? { device: proof.device, device_sig: proof.sig } : {}),
    });
    const frames = fc.frames();
    const first = await firstFrame(frames, fc, timeoutMs, this.#clock);
    const d = typeof first !== "string" && first.kind === "control"
      ? decodeP2P(first.payload)
      : null;
    if (
      !d || !d.ok || d.msg.type !== "p2p_welcome" ||
      d.msg.user !== target.user
    ) {
      fc.close();
      throw new DialError(`${target.user} is not available`, "refused");
    }
    if (devices) {
      const why = await devices.check(
        target.user,
        proofOf(d.msg),
        await deviceProofPayload("welcome", target.ticket, targetCert),
      );
      if (why !== null) {
        fc.close();
        this.#o.logger.warn("p2p refused", { user: target.user, reason: why });
        throw new DialError(why, "refused");
      }
    }
    return {
      user: target.user,
      purpose: target.purpose,
      inbound: false,
      path,
      conn: fc,
      frames,
    };
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener?.close();
    } catch {
      // Already closed.
    }
    for (const fc of [...this.#open]) fc.close();
    await this.#accepting;
    await Promise.all([...this.#handshakes]);
    await Promise.all([...this.#joins]);
  }

  /** As `close`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The device proof a hello or welcome carries, if any. */
function proofOf(
  m: { device?: string; device_sig?: string },
): { device: string; sig: string } | null {
  return m.device !== undefined && m.device_sig !== undefined
    ? { device: m.device, sig: m.device_sig }
    : null;
}

/**
 * The frames of an accepted link, closing it if the first one does not come
 * within `ms`: every real link opens with a chat request or a file offer,
 * and a link that says nothing would otherwise be held for good.
 */
function firstFrameWithin(
  frames: AsyncGenerator<Frame>,
  fc: FramedConn,
  ms: number,
  clock: Clock,
): AsyncGenerator<Frame> {
  // Started now, not at the first read: a link nobody reads is idle too.
  const cancel = clock.after(ms, () => fc.close());
  fc.onClose(() => cancel());
  async function* watched(): AsyncGenerator<Frame> {
    try {
      for await (const frame of frames) {
        cancel();
        yield frame;
      }
    } finally {
      cancel();
    }
  }
  return watched();
}

/** The first frame, or why there is none (a framing error, or no frame in time). */
async function firstFrame(
  frames: AsyncGenerator<Frame>,
  fc: FramedConn,
  timeoutMs: number,
  clock: Clock,
): Promise<Frame | string> {
  let late = false;
  const cancel = clock.after(timeoutMs, () => {
    late = true;
    fc.close();
  });
  try {
    const next = await frames.next();
    if (!next.done) return next.value;
    return late ? "no hello in time" : "closed before hello";
  } catch (err) {
    return err instanceof FramingError ? err.message : "no hello in time";
  } finally {
    cancel();
  }
}

/** Races a connection attempt against a timer; a late winner is closed. */
function withTimeout<T extends { close(): void }>(
  p: Promise<T>,
  ms: number,
  clock: Clock,
): Promise<T> {
  let cancel = () => {};
  let late = false;
  p.then((conn) => {
    if (late) conn.close();
  }, () => {});
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      cancel = clock.after(ms, () => {
        late = true;
        reject(new Error(`no answer within ${ms / 1000} s`));
      });
    }),
  ]).finally(() => cancel());
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch {
    // Closed already.
  }
}

function isLoopback(host: string): boolean {
  return host.startsWith("127.") || host === "::1" ||
    host === "::ffff:127.0.0.1";
}

/** Where to reach our own listener from this machine. */
function loopbackFor(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}

function describe(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/refused/i.test(msg)) return "connection refused";
  if (/certificate|UnknownIssuer|BadSignature|InvalidCertificate/i.test(msg)) {
    return "its certificate is not the one the registry vouched for";
  }
  return msg;
}
