/**
 * The relay of last resort: a plain-TCP listener that pairs two outbound
 * connections presenting the same registry-signed relay token and splices
 * their bytes.
 *
 * The relay never terminates the peers' TLS and never connects anywhere
 * itself, so it is no proxy to any other address: all it can do is join two
 * sockets that both came to it with a proof signed by the registry and by
 * each side's session key. Each role of a link is accepted once. Each
 * direction holds one buffer of at most `bufferBytes` and reads again only
 * once it wrote what it read, so a slow reader slows the writer through TCP
 * itself. A link rate cap and a
 * relay-wide cap (token buckets on the injected clock) pace writes; a user
 * holds at most `perUser` links (waiting or spliced) at once. Each link that
 * got as far as one accepted side ends with one log line: link id, the two
 * users, bytes each way, duration and why it ended, never content.
 *
 * Verification is injected (`relayVerifier` builds the registry's), so the
 * listener knows nothing of where keys live.
 */
import { type Logger, silentLogger } from "../common/log.ts";
import {
  encodeRelayReply,
  newRelayLinkId,
  openRelayToken,
  RELAY_SKEW_MS,
  RELAY_TOKEN_TTL_MS,
  type RelayHello,
  relayHelloDecoder,
  type RelayRefusalCode,
  type RelayRole,
  type RelayTokenClaims,
  relayTokenTimeError,
  signRelayToken,
  verifyRelayRole,
} from "../wire/mod.ts";
import { ByteBucket } from "./byte_bucket.ts";

/** The time and timers the relay uses; ManualClock from the tests fits. */
export interface RelayClock {
  now(): number;
  /** Returns an id that clearTimeout accepts. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** The real clock. */
export const SYSTEM_CLOCK: RelayClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};

/** A byte-rate cap: sustained rate and the burst allowed above it. */
export interface RateCap {
  bytesPerSecond: number;
  /** Default: a quarter second's worth, at least 64 KiB. */
  burstBytes?: number;
}

/** What verification concluded about a hello. */
export type RelayVerdict =
  | { ok: true; claims: RelayTokenClaims }
  | { ok: false; code: RelayRefusalCode; reason: string };

/** Checks a hello's token and role signature at `now`; injected into the listener. */
export type RelayVerifier = (
  hello: RelayHello,
  now: number,
) => Promise<RelayVerdict>;

/** Why a link ended. */
export type RelayEndReason =
  /** Both sides closed their direction. */
  | "closed"
  /** That side's connection failed (reset, or gone while written to). */
  | "a_reset"
  | "b_reset"
  /** The other side did not arrive in time. */
  | "unpaired"
  /** The listener closed. */
  | "shutdown";

/** What the end-of-link log line says, handed to `onLinkEnd` too. */
export interface RelayLinkSummary {
  link: string;
  a: string;
  b: string;
  purpose: RelayTokenClaims["purpose"];
  /** Spliced bytes from a to b and from b to a (preambles not counted). */
  bytesAtoB: number;
  bytesBtoA: number;
  /** From pairing (or from the first arrival, if unpaired) to the end. */
  ms: number;
  reason: RelayEndReason;
}

/** Options of RelayListener.listen. */
export interface RelayOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  verify: RelayVerifier;
  logger?: Logger;
  clock?: RelayClock;
  /** Most links a user may hold at once, waiting or spliced (default 16). */
  perUser?: number;
  /** Cap per link, both directions together (default none). */
  linkRate?: RateCap | null;
  /** Cap over every link of this relay (default none). */
  totalRate?: RateCap | null;
  /** Bytes buffered per direction of a link (default 256 KiB, at least 16 KiB). */
  bufferBytes?: number;
  /** How long the first side waits for the second (default 15 s; never past the token's expiry). */
  pairTimeoutMs?: number;
  /** How long a connection may take to send its hello (default 5 s). */
  helloTimeoutMs?: number;
  /** Connections still sending their hello at once (default 1024); more are closed. */
  maxHandshakes?: number;
  /** Links at once, waiting or spliced (default 10,000). */
  maxLinks?: number;
  /** Called once per link as it ends, with what the log line says. */
  onLinkEnd?: (summary: RelayLinkSummary) => void;
}

/** Counters for tests, the bench and the operator. */
export interface RelayStats {
  /** Connections still sending their hello. */
  handshakes: number;
  /** Links with one side waiting for the other. */
  pending: number;
  /** Links being spliced. */
  links: number;
  /** Bytes held in the relay's buffers now, all links. */
  bufferedBytes: number;
  /** Most bytes any one direction of any link has held at once. */
  peakBufferedBytes: number;
  /** Bytes of buffers the links hold now, full or not (what RSS pays). */
  slotBytes: number;
  /** Directions waiting for rate tokens now. */
  throttled: number;
  /** Refusals so far, by code. */
  refused: Partial<Record<RelayRefusalCode, number>>;
}

const DEFAULT_BUFFER = 256 * 1024;
const MIN_BUFFER = 16 * 1024;
/**
 * The buffer a direction starts with. A quiet direction (a chat, or the way
 * back of a pipe) always has a read pending, and a pending read holds its
 * buffer: at 100 links that is 200 buffers, so they start small and grow
 * (×4 at a time, up to `bufferBytes`) only once two reads in a row fill one.
 */
export const FIRST_SLOT_BYTES = 16 * 1024;
/** A grown buffer goes back to FIRST_SLOT_BYTES after this many reads in a row that used a quarter of it or less. */
export const SHRINK_AFTER_READS = 64;
const EMPTY = new Uint8Array(0);
const HELLO_READ_BYTES = 8 * 1024;
/** Rate-limited writes wait for at least this much, so they are not dribbled byte by byte. */
const MIN_GRANT = 4096;

/** Builds the registry's verifier: its ticket key, and the endpoints this relay answers as. */
export function relayVerifier(opts: {
  /** The public half of the registry's ticket-signing key. */
  registryKey: CryptoKey;
  /** `host:port` strings tokens may name to be accepted here. */
  endpoints: readonly string[];
}): RelayVerifier {
  const mine = new Set(opts.endpoints);
  return async (hello, now) => {
    const opened = await openRelayToken(hello.token, opts.registryKey);
    if (!opened.ok) return opened;
    const claims = opened.msg;
    const late = relayTokenTimeError(claims, now);
    if (late) return { ok: false, code: "expired", reason: late };
    if (!mine.has(claims.relay)) {
      return {
        ok: false,
        code: "invalid",
        reason:
          `this relay token is for the relay at ${claims.relay}, not this one`,
      };
    }
    const key = hello.role === "a" ? claims.a_key : claims.b_key;
    if (!(await verifyRelayRole(hello.token, hello.role, hello.sig, key))) {
      return {
        ok: false,
        code: "forged",
        reason: `the signature for role ${hello.role} does not match ${
          hello.role === "a" ? claims.a : claims.b
        }'s session key`,
      };
    }
    return { ok: true, claims };
  };
}

/** One session of a relayed link: its user and the session's public signing key. */
export interface RelayParty {
  user: string;
  /** Raw Ed25519 public key, base64url, as registered at login. */
  key: string;
}

/**
 * Issues a relay token for a link from `a` (who asked) to `b`. Deterministic
 * for a given link id and time; the registry calls it and hands the token to
 * both sides with the endpoint.
 */
export async function issueRelayToken(opts: {
  a: RelayParty;
  b: RelayParty;
  purpose: RelayTokenClaims["purpose"];
  /** `host:port` of the relay listener the peers should connect to. */
  endpoint: string;
  /** The registry's ticket-signing private key. */
  signingKey: CryptoKey;
  now: number;
  /** Default RELAY_TOKEN_TTL_MS (30 s), the most a token may live. */
  ttlMs?: number;
  /** Default: a fresh random id. */
  link?: string;
}): Promise<{ token: string; claims: RelayTokenClaims }> {
  const ttl = Math.min(opts.ttlMs ?? RELAY_TOKEN_TTL_MS, RELAY_TOKEN_TTL_MS);
  const claims: RelayTokenClaims = {
    v: 1,
    link: opts.link ?? newRelayLinkId(),
    a: opts.a.user,
    a_key: opts.a.key,
    b: opts.b.user,
    b_key: opts.b.key,
    purpose: opts.purpose,
    iat: opts.now,
    exp: opts.now + ttl,
    relay: opts.endpoint,
  };
  return { token: await signRelayToken(claims, opts.signingKey), claims };
}

/** A hello read off a new connection; `reason: null` means gone or timed out, no answer due. */
type HelloRead =
  | { ok: true; msg: RelayHello; rest: Uint8Array }
  | { ok: false; reason: string | null };

/** One accepted side of a link. */
interface Side {
  role: RelayRole;
  conn: Deno.TcpConn;
  /** Stream bytes that arrived with the hello. */
  rest: Uint8Array;
}

/** A link whose first side waits for the second. */
interface Pending {
  claims: RelayTokenClaims;
  token: string;
  side: Side;
  since: number;
  timer: unknown;
  /** Ends the wait: "paired" hands the side to the partner's task. */
  settle(outcome: "paired" | "unpaired" | "shutdown"): void;
}

/** A link being spliced. */
interface Active {
  claims: RelayTokenClaims;
  a: Side;
  b: Side;
  /** The link's cap and the relay's, whichever are set (made once). */
  buckets: ByteBucket[];
  bytes: { ab: number; ba: number };
  /** First failure wins; null while healthy. */
  failure: RelayEndReason | null;
  abort: AbortController;
}

/** The relay listener; `close` (or disposal) ends every link with reason shutdown. */
export class RelayListener implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #o: Required<
    Omit<RelayOptions, "linkRate" | "totalRate" | "onLinkEnd">
  >;
  readonly #linkRate: RateCap | null;
  readonly #total: ByteBucket | null;
  readonly #onLinkEnd: ((s: RelayLinkSummary) => void) | null;
  readonly #pending = new Map<string, Pending>();
  readonly #active = new Set<Active>();
  /** `link:role` → when the entry may be forgotten (the token is dead by then). */
  readonly #used = new Map<string, number>();
  readonly #userLinks = new Map<string, number>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #refused: Partial<Record<RelayRefusalCode, number>> = {};
  #handshakes = 0;
  #buffered = 0;
  #peak = 0;
  #slotBytes = 0;
  #throttled = 0;
  #closing = false;
  #closed: Promise<void> | null = null;
  readonly #accepting: Promise<void>;

  private constructor(listener: Deno.TcpListener, o: RelayOptions) {
    this.#listener = listener;
    const clock = o.clock ?? SYSTEM_CLOCK;
    this.#o = {
      hostname: o.hostname,
      port: o.port,
      verify: o.verify,
      logger: o.logger ?? silentLogger,
      clock,
      perUser: o.perUser ?? 16,
      bufferBytes: Math.max(MIN_BUFFER, o.bufferBytes ?? DEFAULT_BUFFER),
      pairTimeoutMs: o.pairTimeoutMs ?? 15_000,
      helloTimeoutMs: o.helloTimeoutMs ?? 5_000,
      maxHandshakes: o.maxHandshakes ?? 1024,
      maxLinks: o.maxLinks ?? 10_000,
    };
    this.#linkRate = o.linkRate ?? null;
    this.#total = o.totalRate ? bucketFor(o.totalRate, clock.now()) : null;
    this.#onLinkEnd = o.onLinkEnd ?? null;
    this.#accepting = this.#acceptLoop();
  }

  /** Starts listening; throws what Deno.listen throws (e.g. AddrInUse). */
  static listen(opts: RelayOptions): RelayListener {
    for (
      const [name, v] of [["perUser", opts.perUser], [
        "maxLinks",
        opts.maxLinks,
      ]] as const
    ) {
      if (v !== undefined && !(Number.isInteger(v) && v >= 1)) {
        throw new RangeError(
          `relay ${name} must be a whole number of at least 1, got ${v}`,
        );
      }
    }
    const listener = Deno.listen({
      hostname: opts.hostname,
      port: opts.port,
      transport: "tcp",
    });
    return new RelayListener(listener, opts);
  }

  /** The address the listener is bound to. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** Links `user` holds now, waiting or spliced (what --relay-per-user caps). */
  linksOf(user: string): number {
    return this.#userLinks.get(user) ?? 0;
  }

  /** The most links a user may hold at once. */
  get perUser(): number {
    return this.#o.perUser;
  }

  /** A snapshot of the counters. */
  stats(): RelayStats {
    return {
      handshakes: this.#handshakes,
      pending: this.#pending.size,
      links: this.#active.size,
      bufferedBytes: this.#buffered,
      peakBufferedBytes: this.#peak,
      slotBytes: this.#slotBytes,
      throttled: this.#throttled,
      refused: { ...this.#refused },
    };
  }

  /** Stops accepting, refuses waiting sides, ends every link; resolves when all is closed. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  /** Same as close. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#closing = true;
    try {
      this.#listener.close();
    } catch {
      // Already closed by a failed accept loop.
    }
    await this.#accepting;
    for (const p of [...this.#pending.values()]) p.settle("shutdown");
    for (const link of this.#active) this.#fail(link, "shutdown");
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
  }

  async #acceptLoop(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        if (this.#closing) {
          conn.close();
          continue;
        }
        if (this.#handshakes >= this.#o.maxHandshakes) {
          // Too many silent or slow connections at once: drop without a word.
          this.#count("limit");
          conn.close();
          continue;
        }
        const task = this.#serve(conn).catch((err) => {
          this.#o.logger.error("relay bug", { error: String(err) });
        });
        this.#tasks.add(task);
        task.finally(() => this.#tasks.delete(task));
      }
    } catch (err) {
      if (!this.#closing) {
        this.#o.logger.error("relay listener failed", { error: String(err) });
      }
    }
  }

  /** Owns one connection from accept until it is refused, waits, or joins a link. */
  async #serve(conn: Deno.TcpConn): Promise<void> {
    let owned = true;
    const addr = conn.remoteAddr as Deno.NetAddr;
    const from = `${addr.hostname}:${addr.port}`;
    try {
      this.#handshakes++;
      let hello: HelloRead;
      try {
        hello = await this.#readHello(conn);
      } finally {
        this.#handshakes--;
      }
      if (!hello.ok) {
        if (hello.reason !== null) {
          await this.#refuse(conn, from, "invalid", hello.reason);
        }
        return;
      }
      const now = this.#o.clock.now();
      const verdict = await this.#o.verify(hello.msg, now);
      if (!verdict.ok) {
        await this.#refuse(conn, from, verdict.code, verdict.reason);
        return;
      }
      if (this.#closing) {
        await this.#refuse(
          conn,
          from,
          "shutdown",
          "the relay is shutting down",
        );
        return;
      }
      const claims = verdict.claims;
      const role = hello.msg.role;
      const usedKey = `${claims.link}:${role}`;
      if (this.#used.has(usedKey)) {
        await this.#refuse(
          conn,
          from,
          "replayed",
          `role ${role} of relay link ${claims.link} was already presented`,
        );
        return;
      }
      const side: Side = { role, conn, rest: hello.rest };
      const waiting = this.#pending.get(claims.link);
      if (waiting) {
        if (waiting.token !== hello.msg.token) {
          await this.#refuse(
            conn,
            from,
            "invalid",
            `relay link ${claims.link} was opened with another token`,
          );
          return;
        }
        this.#remember(usedKey, claims);
        this.#pending.delete(claims.link);
        this.#o.clock.clearTimeout(waiting.timer);
        waiting.settle("paired");
        owned = false;
        const [a, b] = role === "a"
          ? [side, waiting.side]
          : [waiting.side, side];
        await this.#splice(claims, a, b);
        return;
      }
      const full = this.#limitReason(claims);
      if (full) {
        await this.#refuse(conn, from, "limit", full);
        return;
      }
      this.#remember(usedKey, claims);
      owned = false;
      await this.#wait(claims, hello.msg.token, side, from);
    } finally {
      if (owned) closeQuietly(conn);
    }
  }

  /**
   * Reads the hello within the hello timeout. `reason: null` means the
   * connection is gone or timed out and gets no answer.
   */
  async #readHello(
    conn: Deno.TcpConn,
  ): Promise<HelloRead> {
    const decoder = relayHelloDecoder();
    const buf = new Uint8Array(HELLO_READ_BYTES);
    let timedOut = false;
    const timer = this.#o.clock.setTimeout(() => {
      timedOut = true;
      closeQuietly(conn);
    }, this.#o.helloTimeoutMs);
    try {
      for (;;) {
        let n: number | null;
        try {
          n = await conn.read(buf);
        } catch {
          return { ok: false, reason: null }; // Reset, or closed by the timer.
        }
        if (n === null) return { ok: false, reason: null };
        const r = decoder.push(buf.subarray(0, n));
        if (r) return r.ok ? r : { ok: false, reason: r.reason };
      }
    } finally {
      this.#o.clock.clearTimeout(timer);
      if (timedOut) this.#count("invalid");
    }
  }

  #limitReason(claims: RelayTokenClaims): string | null {
    if (this.#pending.size + this.#active.size >= this.#o.maxLinks) {
      return `the relay carries ${this.#o.maxLinks} links already (its limit); try again later`;
    }
    for (const user of usersOf(claims)) {
      const n = this.#userLinks.get(user) ?? 0;
      if (n >= this.#o.perUser) {
        return `${user} already has ${n} relayed links (the most this registry allows); close one and try again`;
      }
    }
    return null;
  }

  #remember(key: string, claims: RelayTokenClaims): void {
    const now = this.#o.clock.now();
    for (const [k, until] of this.#used) {
      if (until >= now) break; // Entries come in about expiry order.
      this.#used.delete(k);
    }
    this.#used.set(key, claims.exp + RELAY_SKEW_MS);
  }

  /** The first side waits for its partner; counted against both users meanwhile. */
  async #wait(
    claims: RelayTokenClaims,
    token: string,
    side: Side,
    from: string,
  ): Promise<void> {
    const users = usersOf(claims);
    for (const u of users) {
      this.#userLinks.set(u, (this.#userLinks.get(u) ?? 0) + 1);
    }
    const since = this.#o.clock.now();
    const deadline = Math.min(
      this.#o.pairTimeoutMs,
      Math.max(0, claims.exp + RELAY_SKEW_MS - since),
    );
    let settle!: Pending["settle"];
    const outcome = new Promise<"paired" | "unpaired" | "shutdown">(
      (resolve) => {
        settle = resolve;
      },
    );
    const entry: Pending = {
      claims,
      token,
      side,
      since,
      timer: this.#o.clock.setTimeout(() => entry.settle("unpaired"), deadline),
      settle: (o) => {
        // Runs once: the first outcome removes the entry.
        if (this.#pending.get(claims.link) === entry) {
          this.#pending.delete(claims.link);
        }
        this.#o.clock.clearTimeout(entry.timer);
        settle(o);
      },
    };
    this.#pending.set(claims.link, entry);
    const result = await outcome;
    if (result === "paired") return; // The partner's task owns this side now.
    // Still counted: the users' slots are released only after the side is closed.
    try {
      if (result === "unpaired") {
        await this.#refuse(
          side.conn,
          from,
          "unpaired",
          `the other side of relay link ${claims.link} did not arrive within ${
            Math.round(deadline / 1000)
          } s`,
          false,
        );
      } else {
        await this.#refuse(
          side.conn,
          from,
          "shutdown",
          "the relay is shutting down",
          false,
        );
      }
    } finally {
      closeQuietly(side.conn);
      for (const u of users) this.#release(u);
      this.#ended({
        claims,
        bytes: { ab: 0, ba: 0 },
        ms: this.#o.clock.now() - since,
        reason: result,
      });
    }
  }

  #release(user: string): void {
    const n = (this.#userLinks.get(user) ?? 1) - 1;
    if (n <= 0) this.#userLinks.delete(user);
    else this.#userLinks.set(user, n);
  }

  /** Owns both sides of a paired link until it ends; closes them and logs once. */
  async #splice(claims: RelayTokenClaims, a: Side, b: Side): Promise<void> {
    const started = this.#o.clock.now();
    const link: Active = {
      claims,
      a,
      b,
      buckets: [
        ...(this.#linkRate ? [bucketFor(this.#linkRate, started)] : []),
        ...(this.#total ? [this.#total] : []),
      ],
      bytes: { ab: 0, ba: 0 },
      failure: this.#closing ? "shutdown" : null,
      abort: new AbortController(),
    };
    this.#active.add(link);
    try {
      for (const s of [a, b]) {
        try {
          s.conn.setNoDelay(true);
        } catch {
          // Already reset: the first write below finds out.
        }
      }
      const paired = encodeRelayReply({
        type: "relay_paired",
        link: claims.link,
      });
      const told = await Promise.all([
        writeAll(a.conn, paired).then(() => true, () => false),
        writeAll(b.conn, paired).then(() => true, () => false),
      ]);
      if (!told[0]) this.#fail(link, "a_reset");
      else if (!told[1]) this.#fail(link, "b_reset");
      if (link.failure === null) {
        await Promise.all([
          this.#pump(link, "ab", a, b),
          this.#pump(link, "ba", b, a),
        ]);
      }
    } finally {
      closeQuietly(a.conn);
      closeQuietly(b.conn);
      this.#active.delete(link);
      for (const u of usersOf(claims)) this.#release(u);
      this.#ended({
        claims,
        bytes: link.bytes,
        ms: this.#o.clock.now() - started,
        reason: link.failure ?? "closed",
      });
    }
  }

  /** Ends a link for `reason` (the first failure is the one reported). */
  #fail(link: Active, reason: RelayEndReason): void {
    link.failure ??= reason;
    link.abort.abort();
    closeQuietly(link.a.conn);
    closeQuietly(link.b.conn);
  }

  /**
   * One direction: read into the direction's buffer, write what was read,
   * read again. Nothing is read while a write waits, so a slow receiver
   * stops the relay reading and TCP pushes back on the sender; the relay
   * holds at most the one buffer. A quiet direction (a chat, or the way back
   * of a pipe) keeps a small buffer, which its pending read holds; two reads
   * in a row that fill it mean a stream is coming, so the buffer grows (up
   * to `bufferBytes`) for fewer, larger reads and writes, and shrinks back
   * once reads stay small. Per chunk this costs one read and one write, with no
   * queue, timer or promise of its own (rate caps, when set, pace the
   * writes). Resolves when the direction ended, by EOF (then the far side
   * gets FIN) or by failure.
   */
  async #pump(
    link: Active,
    dir: "ab" | "ba",
    src: Side,
    dst: Side,
  ): Promise<void> {
    const size = this.#o.bufferBytes;
    const small = Math.min(FIRST_SLOT_BYTES, size);
    const signal = link.abort.signal;
    const caps = link.buckets.length > 0;
    const srcRole = src.role === "a" ? "a_reset" : "b_reset";
    const dstRole = dst.role === "a" ? "a_reset" : "b_reset";
    let buf = new Uint8Array(small);
    this.#slotBytes += buf.length;
    /** Reads in a row that filled the buffer. */
    let fullReads = 0;
    /** Reads in a row that used at most a quarter of a grown buffer. */
    let smallReads = 0;
    /** The last view written, reused while chunks come in the same size. */
    let view = buf;
    let moved = 0;
    let pending = src.rest;
    src.rest = EMPTY;
    try {
      for (;;) {
        let n: number;
        let chunk: Uint8Array;
        if (pending.length > 0) {
          chunk = pending;
          n = chunk.length;
          pending = EMPTY;
        } else {
          if (signal.aborted) return;
          let got: number | null;
          try {
            got = await src.conn.read(buf);
          } catch {
            this.#fail(link, srcRole);
            return;
          }
          if (got === null) {
            if (signal.aborted) return;
            try {
              await dst.conn.closeWrite();
            } catch {
              // Everything was written; a side that already closed its
              // socket needs no FIN, and its own direction reports it.
            }
            return;
          }
          n = got;
          if (n === buf.length) {
            chunk = buf;
          } else {
            if (view.buffer !== buf.buffer || view.length !== n) {
              view = buf.subarray(0, n);
            }
            chunk = view;
          }
        }
        this.#buffered += n;
        if (n > this.#peak) this.#peak = n;
        let off = 0;
        try {
          while (off < n) {
            let grant = n - off;
            if (caps) {
              grant = await this.#grant(link, grant);
              if (grant === 0) return; // Aborted while waiting.
            } else if (signal.aborted) return;
            const end = off + grant;
            while (off < end) {
              off += await dst.conn.write(
                off === 0 && end === n ? chunk : chunk.subarray(off, end),
              );
            }
            moved += grant;
          }
        } catch {
          this.#fail(link, dstRole);
          return;
        } finally {
          this.#buffered -= n;
        }
        if (chunk !== buf && chunk !== view) continue; // The hello's leftovers.
        // Size the buffer for the next read.
        let next = buf.length;
        if (n === buf.length) {
          // Two full reads in a row: a stream, not a few chats that piled up.
          smallReads = 0;
          if (++fullReads >= 2) next = Math.min(size, buf.length * 4);
        } else {
          fullReads = 0;
          if (buf.length > small && n <= buf.length / 4) {
            if (++smallReads >= SHRINK_AFTER_READS) next = small;
          } else smallReads = 0;
        }
        if (next !== buf.length) {
          smallReads = 0;
          fullReads = 0;
          this.#slotBytes += next - buf.length;
          buf = new Uint8Array(next);
        }
      }
    } finally {
      link.bytes[dir] = moved;
      this.#slotBytes -= buf.length;
    }
  }

  /** How many of `want` bytes may be written now; waits for tokens; 0 once aborted. */
  async #grant(link: Active, want: number): Promise<number> {
    const clock = this.#o.clock;
    const signal = link.abort.signal;
    while (!signal.aborted) {
      const now = clock.now();
      const buckets = link.buckets;
      if (buckets.length === 0) return want;
      let avail = want;
      let need = Math.min(want, MIN_GRANT);
      for (const b of buckets) {
        avail = Math.min(avail, b.available(now));
        need = Math.min(need, b.burstBytes);
      }
      if (avail >= need) {
        for (const b of buckets) b.take(avail, now);
        return avail;
      }
      let ms = 1;
      for (const b of buckets) ms = Math.max(ms, b.msUntil(need, now));
      this.#throttled++;
      try {
        await new Promise<void>((resolve) => {
          const id = clock.setTimeout(done, ms);
          function done() {
            clock.clearTimeout(id);
            signal.removeEventListener("abort", done);
            resolve();
          }
          signal.addEventListener("abort", done, { once: true });
        });
      } finally {
        this.#throttled--;
      }
    }
    return 0;
  }

  async #refuse(
    conn: Deno.TcpConn,
    from: string,
    code: RelayRefusalCode,
    reason: string,
    close = true,
  ): Promise<void> {
    this.#count(code);
    this.#o.logger.warn("relay refused", { code, addr: from, why: reason });
    try {
      await writeAll(
        conn,
        encodeRelayReply({ type: "relay_refused", code, reason }),
      );
    } catch {
      // The connection is gone: there is no one left to tell.
    }
    if (close) closeQuietly(conn);
  }

  #count(code: RelayRefusalCode): void {
    this.#refused[code] = (this.#refused[code] ?? 0) + 1;
  }

  #ended(e: {
    claims: RelayTokenClaims;
    bytes: { ab: number; ba: number };
    ms: number;
    reason: RelayEndReason;
  }): void {
    const summary: RelayLinkSummary = {
      link: e.claims.link,
      a: e.claims.a,
      b: e.claims.b,
      purpose: e.claims.purpose,
      bytesAtoB: e.bytes.ab,
      bytesBtoA: e.bytes.ba,
      ms: e.ms,
      reason: e.reason,
    };
    this.#o.logger.info("relay end", {
      link: summary.link,
      a: summary.a,
      b: summary.b,
      purpose: summary.purpose,
      bytes_ab: summary.bytesAtoB,
      bytes_ba: summary.bytesBtoA,
      ms: summary.ms,
      reason: summary.reason,
    });
    this.#onLinkEnd?.(summary);
  }
}

function usersOf(claims: RelayTokenClaims): string[] {
  return claims.a === claims.b ? [claims.a] : [claims.a, claims.b];
}

function bucketFor(cap: RateCap, now: number): ByteBucket {
  const burst = cap.burstBytes ?? Math.max(64 * 1024, cap.bytesPerSecond / 4);
  return new ByteBucket(cap.bytesPerSecond, burst, now);
}

/** Closes a connection that may be closed already (by a timer or a failure). */
function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed: nothing left to release.
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}
