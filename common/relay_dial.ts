/**
 * A peer's half of the relay handshake: open plain TCP to the relay, present
 * the token with this side's role and signature, wait for `relay_paired`.
 * What follows on the connection is the other peer's byte stream, so the
 * peers' own TLS runs over it exactly as over a direct connection.
 *
 * The side that speaks first inside (the TLS client, role `a`) gets no bytes
 * before it sends, so it may start TLS on `conn` directly. The other side may
 * find the first inner bytes already read (`rest`); `joinConns` hands them,
 * and everything after, to a local connection such as one to its own P2P
 * listener.
 */
import {
  encodeRelayHello,
  type RelayRefusalCode,
  relayReplyDecoder,
  type RelayRole,
  signRelayRole,
} from "../wire/mod.ts";

/** Why dialing a relay failed: the relay's refusal code or a local cause. */
export type RelayDialErrorCode =
  | RelayRefusalCode
  /** The relay's address did not answer. */
  | "unreachable"
  /** The relay closed without a reply. */
  | "closed"
  /** No reply within the time limit. */
  | "timeout"
  /** The reply was not a relay reply. */
  | "protocol";

/** Raised by dialRelay; match on `code`. */
export class RelayDialError extends Error {
  override name = "RelayDialError";
  constructor(readonly code: RelayDialErrorCode, message: string) {
    super(message);
  }
}

/** What dialRelay needs. */
export interface RelayDialOptions {
  hostname: string;
  port: number;
  /** The relay token the registry issued for this link. */
  token: string;
  role: RelayRole;
  /** This session's Ed25519 private signing key (the one registered at login). */
  sessionKey: CryptoKey;
  /** Covers connecting and waiting for the other side (default 20 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A paired relay connection. */
export interface RelayedConn {
  conn: Deno.TcpConn;
  /** Inner-stream bytes that arrived with the reply; send them on first. */
  rest: Uint8Array;
  link: string;
}

/** Connects to a relay and waits until the other side is there too. */
export async function dialRelay(o: RelayDialOptions): Promise<RelayedConn> {
  const where = `${o.hostname}:${o.port}`;
  const timeoutMs = o.timeoutMs ?? 20_000;
  let conn: Deno.TcpConn | null = null;
  let why: RelayDialError | null = null;
  const stop = (err: RelayDialError) => {
    why ??= err;
    try {
      conn?.close();
    } catch {
      // Closed already.
    }
  };
  const timer = setTimeout(
    () =>
      stop(
        new RelayDialError(
          "timeout",
          `The relay at ${where} did not pair this link within ${timeoutMs} ms; try again`,
        ),
      ),
    timeoutMs,
  );
  const onAbort = () =>
    stop(new RelayDialError("closed", `Relay dial to ${where} was cancelled`));
  o.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const sig = await signRelayRole(o.token, o.role, o.sessionKey);
    try {
      conn = await Deno.connect({ hostname: o.hostname, port: o.port });
    } catch (err) {
      throw new RelayDialError(
        "unreachable",
        `Cannot reach the relay at ${where}: ${
          err instanceof Error ? err.message : err
        }`,
      );
    }
    if (why) throw why;
    conn.setNoDelay(true);
    const hello = encodeRelayHello({ token: o.token, role: o.role, sig });
    const decoder = relayReplyDecoder();
    const buf = new Uint8Array(8192);
    try {
      await writeAll(conn, hello);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        const r = decoder.push(buf.subarray(0, n));
        if (!r) continue;
        if (!r.ok) {
          throw new RelayDialError(
            "protocol",
            `The relay at ${where} sent something else than a relay reply: ${r.reason}`,
          );
        }
        if (r.msg.type === "relay_refused") {
          throw new RelayDialError(r.msg.code, r.msg.reason);
        }
        return { conn, rest: r.rest, link: r.msg.link };
      }
    } catch (err) {
      if (err instanceof RelayDialError) throw err;
      if (why) throw why;
      throw new RelayDialError(
        "closed",
        `The relay at ${where} dropped the connection: ${
          err instanceof Error ? err.message : err
        }`,
      );
    }
    throw why ?? new RelayDialError(
      "closed",
      `The relay at ${where} closed the connection without a reply`,
    );
  } catch (err) {
    stop(
      err instanceof RelayDialError
        ? err
        : new RelayDialError("closed", String(err)),
    );
    throw err;
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Splices a paired relay connection to a local connection (its `rest` first)
 * until both directions end; closes both. Each write is awaited, so either
 * side's slowness pushes back through TCP.
 */
export async function joinConns(
  relayed: RelayedConn,
  local: Deno.Conn,
): Promise<void> {
  const close = () => {
    for (const c of [relayed.conn, local]) {
      try {
        c.close();
      } catch {
        // Closed already.
      }
    }
  };
  const copy = async (from: Deno.Conn, to: Deno.Conn, first?: Uint8Array) => {
    try {
      if (first && first.length > 0) await writeAll(to, first);
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        await writeAll(to, buf.subarray(0, n));
      }
      await to.closeWrite().catch(() => {}); // Its reader has gone: nothing to end.
    } catch {
      close(); // One side failed: the other direction cannot go on either.
    }
  };
  try {
    await Promise.all([
      copy(relayed.conn, local, relayed.rest),
      copy(local, relayed.conn),
    ]);
  } finally {
    close();
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}
