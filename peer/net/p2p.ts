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
 */
import { type Clock, sleep, SYSTEM_CLOCK } from "../../common/clock.ts";
import { FramedConn } from "../../common/conn.ts";
import type { Logger } from "../../common/log.ts";
import {
  decodeP2P,
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
import { PEER_CERT_NAME, type PeerIdentity } from "./identity.ts";

/** What a connection is for; each purpose has its own handler. */
export type Purpose = "chat" | "file";

/** An authenticated P2P connection and the reader positioned after the handshake. */
export interface P2PLink {
  /** The user at the other end, as vouched for by the registry. */
  user: string;
  purpose: Purpose;
  inbound: boolean;
  conn: FramedConn;
  /** The frame reader; whoever takes the link reads it to the end. */
  frames: AsyncGenerator<Frame>;
}

/** Why a dial failed, phrased for the user. */
export class DialError extends Error {
  override name = "DialError";
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
    const addr = (conn.remoteAddr as Deno.NetAddr).hostname;
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
      await this.#hello(fc, addr);
    } finally {
      this.#unauthenticated.delete(fc);
    }
  }

  async #hello(fc: FramedConn, addr: string): Promise<void> {
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
    if (typeof first === "string") return refuse(first);
    if (first.kind !== "control") return refuse("data before hello");
    const d = decodeP2P(first.payload);
    if (!d.ok) return refuse(d.reason);
    if (d.msg.type !== "p2p_hello") return refuse(`${d.msg.type} before hello`);
    const claims = await this.#check(d.msg);
    if (typeof claims === "string") return refuse(claims);
    if (this.#o.isBlocked(claims.from)) return refuse("blocked user");
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
    fc.send({
      type: "p2p_welcome",
      v: PROTOCOL_VERSION,
      user: this.#o.self().user,
    });
    this.#o.logger.debug("p2p accepted", {
      user: claims.from,
      purpose: claims.purpose,
      addr,
    });
    this.#o.onInbound({
      user: claims.from,
      purpose: claims.purpose,
      inbound: true,
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

  /** Opens an authenticated link to the peer the registry introduced. */
  async dial(
    intro: ReplyData<"introduce">,
    purpose: Purpose,
  ): Promise<P2PLink> {
    const timeoutMs = this.#o.handshakeTimeoutMs ?? HANDSHAKE_MS;
    let tls: Deno.TlsConn;
    try {
      tls = await withTimeout(
        (async () => {
          const tcp = await Deno.connect({
            hostname: intro.host,
            port: intro.port,
          });
          try {
            const t = await Deno.startTls(tcp, {
              hostname: PEER_CERT_NAME,
              caCerts: [intro.cert],
            });
            await t.handshake();
            return t;
          } catch (err) {
            try {
              tcp.close();
            } catch {
              // Closed by the failed handshake.
            }
            throw err;
          }
        })(),
        timeoutMs,
        this.#clock,
      );
    } catch (err) {
      this.#o.logger.warn("p2p dial failed", {
        user: intro.user,
        error: String(err),
      });
      throw new DialError(
        `cannot reach ${intro.user} directly (${describe(err)})`,
      );
    }
    const fc = new FramedConn(tls, {
      readBufferBytes: purpose === "file" ? FILE_READ_BYTES : CHAT_READ_BYTES,
      maxQueuedBytes: this.#o.maxQueuedBytes ?? 8 * 1024 * 1024,
    });
    this.#track(fc);
    const sig = await signHello(intro.ticket, this.#o.identity.sessionKey);
    fc.send({
      type: "p2p_hello",
      v: PROTOCOL_VERSION,
      ticket: intro.ticket,
      sig,
      purpose,
    });
    const frames = fc.frames();
    const first = await firstFrame(frames, fc, timeoutMs, this.#clock);
    const d = typeof first !== "string" && first.kind === "control"
      ? decodeP2P(first.payload)
      : null;
    if (
      !d || !d.ok || d.msg.type !== "p2p_welcome" || d.msg.user !== intro.user
    ) {
      fc.close();
      throw new DialError(`${intro.user} is not available`);
    }
    return { user: intro.user, purpose, inbound: false, conn: fc, frames };
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
  }

  /** As `close`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
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

function describe(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/refused/i.test(msg)) return "connection refused";
  if (/certificate|UnknownIssuer|BadSignature|InvalidCertificate/i.test(msg)) {
    return "its certificate is not the one the registry vouched for";
  }
  return msg;
}
