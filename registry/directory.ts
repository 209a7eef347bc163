/**
 * The directory: who is online anywhere in the registry, and how an event
 * reaches a user wherever their session is.
 *
 * A registry on SQLite is one process, so its directory is its own session
 * table (`LocalDirectory`). Registries sharing a PostgreSQL database each hold
 * the sessions connected to them and see the others' through the database and
 * its notifications (`registry/cluster.ts`). Handlers ask only this interface,
 * so both behave the same.
 */
import type { RegistryEvent } from "../wire/mod.ts";
import type { Session, SessionKind, SessionTable } from "./sessions.ts";

/** An online session as the whole registry sees it. */
export interface Presence {
  id: string;
  user: string;
  kind: SessionKind;
  /** Address the registry sees the client at. */
  host: string;
  p2pPort: number | null;
  certFingerprint: string | null;
  loginAt: number;
}

/** Where to dial a user, with the certificate an introduction names. */
export interface DialTarget {
  /** The session dialled; the caller's own session is never a target. */
  id: string;
  host: string;
  p2pPort: number;
  cert: string;
  certFingerprint: string;
}

/**
 * Failed attempts counted by every registry of a cluster together, so that
 * guessing through several of them gains nothing. Each registry still
 * counts attempts in flight itself (registry/throttle.ts).
 */
export interface SharedFailures {
  /**
   * Milliseconds until `key` may try again, given the failures every
   * registry recorded in the last `windowMs`; 0 when fewer than `limit`.
   */
  wait(key: string, limit: number, windowMs: number): Promise<number>;
  /** Records one failure of `key`. */
  record(key: string): Promise<void>;
  /** Forgets the failures of `key` (after a success). */
  clear(key: string): Promise<void>;
}

/** What claiming the interactive slot of a user found. */
export type Claim =
  | { ok: true; replaced: Session | null }
  | { ok: false };

/** See the module doc. */
export interface Directory {
  /** The sessions connected to this process. */
  readonly local: SessionTable;
  /** Failures shared with the other registries; null when alone. */
  readonly failures: SharedFailures | null;
  /** The interactive session of `user` anywhere, if they are online. */
  peerOf(user: string): Presence | undefined;
  /** Every interactive session anywhere. */
  peers(): Iterable<Presence>;
  /**
   * Where a link to `user` for `purpose` goes: for files the newest `chat
   * receive`, else the interactive session; null when there is none.
   */
  dialTarget(
    user: string,
    purpose: "chat" | "file",
  ): Promise<DialTarget | null>;
  /**
   * Records a new session of this process. For an interactive one it takes
   * the user's one interactive slot: refused ({ok: false}) while another
   * holds it, unless `replace`; then the older one is ended wherever it is
   * (`replaced` is it when it was ours, for the caller to end).
   */
  claim(s: Session, replace: boolean): Promise<Claim>;
  /** Forgets a session of this process that ended. */
  release(s: Session): Promise<void>;
  /** Sends `ev` to the interactive session of each of `users`, wherever it is. */
  deliver(users: Iterable<string>, ev: RegistryEvent): void;
  /** Stops timers and subscriptions. */
  close(): Promise<void>;
}

/** The directory of a registry that is alone: its session table. */
export class LocalDirectory implements Directory {
  readonly local: SessionTable;
  readonly failures = null;

  constructor(local: SessionTable) {
    this.local = local;
  }

  peerOf(user: string): Presence | undefined {
    return this.local.peerOf(user);
  }

  peers(): Iterable<Presence> {
    return this.local.peers();
  }

  dialTarget(
    user: string,
    purpose: "chat" | "file",
  ): Promise<DialTarget | null> {
    return Promise.resolve(
      dialTargetOf(
        purpose === "file"
          ? this.local.fileTargetOf(user)
          : this.local.peerOf(user),
      ),
    );
  }

  claim(s: Session, replace: boolean): Promise<Claim> {
    if (s.kind !== "peer") return Promise.resolve({ ok: true, replaced: null });
    const older = this.local.peerOf(s.user);
    if (older && !replace) return Promise.resolve({ ok: false });
    return Promise.resolve({ ok: true, replaced: older ?? null });
  }

  release(_s: Session): Promise<void> {
    return Promise.resolve();
  }

  deliver(users: Iterable<string>, ev: RegistryEvent): void {
    for (const user of users) this.local.peerOf(user)?.link.send(ev);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A local session as a dial target, if it can be dialled. */
export function dialTargetOf(s: Session | undefined): DialTarget | null {
  if (!s || !s.cert || !s.certFingerprint) return null;
  return {
    id: s.id,
    host: s.host,
    p2pPort: s.p2pPort ?? 0,
    cert: s.cert,
    certFingerprint: s.certFingerprint,
  };
}
