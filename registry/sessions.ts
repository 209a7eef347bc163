import type { HeartbeatKey } from "../wire/mod.ts";

/**
 * Live sessions, indexed by id and by user. In memory only: a registry
 * restart logs everyone out, and peers log in again on their own (F18).
 */

/** What the registry needs from a client connection to talk to it. */
export interface ClientLink {
  /**
   * True once the connection is gone, closed by either side. The server
   * reads one frame ahead of the request it handles, so a client that hangs
   * up while its request waits is seen.
   */
  readonly closed?: boolean;
  /** Queues a message; false if the connection is gone or was dropped. */
  send(msg: object): boolean;
  /** Sends what is queued, then closes. */
  closeAfterFlush(timeoutMs?: number): Promise<void>;
  close(): void;
}

/** The kinds of session; see the login request in wire/messages.ts. */
export type SessionKind = "peer" | "tool" | "receive";

/** One logged-in session. */
export interface Session {
  id: string;
  /**
   * The session token prepared for heartbeat MACs; the token itself goes to
   * the client and is not kept (at 10,000 sessions its bytes and their
   * views would be 2.5 MB).
   */
  macKey: HeartbeatKey;
  /** The connection state this session belongs to. */
  client?: { session: Session | null };
  user: string;
  kind: SessionKind;
  link: ClientLink;
  /** Address the registry sees the client at. */
  host: string;
  p2pPort: number | null;
  cert: string | null;
  certFingerprint: string | null;
  /** Ed25519 session public key, raw base64url. */
  key: string | null;
  /** The peer's own addresses with its P2P port, as it reported them at login. */
  candidates: { host: string; port: number }[];
  /**
   * Whether the connect-back probe reached the P2P port at `host`: null
   * while it runs or when there is nothing to probe.
   */
  reachable: boolean | null;
  /** The probe while it runs (resolves with `reachable`). */
  probe: Promise<boolean> | null;
  /** The device it logged in with or added; null for a password-only login. */
  device: string | null;
  loginAt: number;
  lastBeat: number;
  lastSeq: number;
  /** Allowance for the first heartbeat beyond the TTL (registry/presence.ts). */
  firstBeatMs: number;
  lastAction: number;
}

/** The table of live sessions. */
export class SessionTable {
  readonly #byId = new Map<string, Session>();
  /**
   * A user's sessions: the session itself while it is the only one (nearly
   * always), an array once there are more — a Set per user would be about
   * 200 bytes more for each of 10,000 users.
   */
  readonly #byUser = new Map<string, Session | Session[]>();
  #peers = 0;

  /** Number of sessions of every kind. */
  get size(): number {
    return this.#byId.size;
  }

  /** Number of interactive (online) sessions. */
  get online(): number {
    return this.#peers;
  }

  add(s: Session): void {
    if (this.#byId.get(s.id) === s) return;
    this.#byId.set(s.id, s);
    const had = this.#byUser.get(s.user);
    if (had === undefined) this.#byUser.set(s.user, s);
    else if (Array.isArray(had)) had.push(s);
    else this.#byUser.set(s.user, [had, s]);
    if (s.kind === "peer") this.#peers++;
  }

  /** Removes a session; false if it was already gone. */
  remove(s: Session): boolean {
    if (this.#byId.get(s.id) !== s) return false;
    this.#byId.delete(s.id);
    const had = this.#byUser.get(s.user);
    if (had === s) this.#byUser.delete(s.user);
    else if (Array.isArray(had)) {
      const i = had.indexOf(s);
      if (i >= 0) had.splice(i, 1);
      if (had.length === 1) this.#byUser.set(s.user, had[0]!);
    }
    if (s.kind === "peer") this.#peers--;
    return true;
  }

  byId(id: string): Session | undefined {
    return this.#byId.get(id);
  }

  /** The interactive session of a user: the one that makes them online. */
  peerOf(user: string): Session | undefined {
    const had = this.#byUser.get(user);
    if (Array.isArray(had)) return had.find((s) => s.kind === "peer");
    return had?.kind === "peer" ? had : undefined;
  }

  /** Where a file for `user` should go: the newest `chat receive`, else the peer. */
  fileTargetOf(user: string): Session | undefined {
    let best: Session | undefined;
    for (const s of this.of(user)) {
      if (s.kind === "receive" && (!best || s.loginAt >= best.loginAt)) {
        best = s;
      }
    }
    return best ?? this.peerOf(user);
  }

  /** Every session of a user. */
  of(user: string): Session[] {
    const had = this.#byUser.get(user);
    if (had === undefined) return [];
    return Array.isArray(had) ? [...had] : [had];
  }

  /** Every session. */
  all(): IterableIterator<Session> {
    return this.#byId.values();
  }

  /** Every interactive session. */
  *peers(): Generator<Session> {
    for (const s of this.#byId.values()) if (s.kind === "peer") yield s;
  }
}
