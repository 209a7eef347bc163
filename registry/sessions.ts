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
  token: Uint8Array;
  /** The token prepared for heartbeat MACs. */
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
  readonly #byUser = new Map<string, Set<Session>>();
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
    this.#byId.set(s.id, s);
    let set = this.#byUser.get(s.user);
    if (!set) this.#byUser.set(s.user, set = new Set());
    set.add(s);
    if (s.kind === "peer") this.#peers++;
  }

  /** Removes a session; false if it was already gone. */
  remove(s: Session): boolean {
    if (this.#byId.get(s.id) !== s) return false;
    this.#byId.delete(s.id);
    const set = this.#byUser.get(s.user);
    set?.delete(s);
    if (set?.size === 0) this.#byUser.delete(s.user);
    if (s.kind === "peer") this.#peers--;
    return true;
  }

  byId(id: string): Session | undefined {
    return this.#byId.get(id);
  }

  /** The interactive session of a user: the one that makes them online. */
  peerOf(user: string): Session | undefined {
    for (const s of this.#byUser.get(user) ?? []) {
      if (s.kind === "peer") return s;
    }
    return undefined;
  }

  /** Where a file for `user` should go: the newest `chat receive`, else the peer. */
  fileTargetOf(user: string): Session | undefined {
    let best: Session | undefined;
    for (const s of this.#byUser.get(user) ?? []) {
      if (s.kind === "receive" && (!best || s.loginAt >= best.loginAt)) {
        best = s;
      }
    }
    return best ?? this.peerOf(user);
  }

  /** Every session of a user. */
  of(user: string): Session[] {
    return [...(this.#byUser.get(user) ?? [])];
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
