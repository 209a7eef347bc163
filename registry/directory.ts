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
  /** Its own addresses with its P2P port, as it reported them at login. */
  candidates: { host: string; port: number }[];
  /** The connect-back probe's verdict; null while it runs. */
  reachable: boolean | null;
  /** The session itself when this process holds it (its probe may still run). */
  session: Session | null;
}

/**
 * A session an introduction named, wherever it is held: what a reversal or
 * a relay needs of the target.
 */
export interface Introduced {
  id: string;
  user: string;
  /** Its session key (it signs its side of a relayed link). */
  key: string;
  /** Address the registry sees it at. */
  host: string;
  /** The cluster instance holding it; null when this process does. */
  instance: string | null;
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
  /**
   * The live session of `user` presenting the certificate `certFingerprint`
   * (the one a ticket introduced), wherever it is; null when it is gone or
   * has no key.
   */
  introduced(user: string, certFingerprint: string): Promise<Introduced | null>;
  /** Sends `ev` to one session (from `introduced`), wherever it is. */
  sendTo(target: Introduced, ev: RegistryEvent): void;
  /** Records the probe's verdict of a session of this process. */
  reached(s: Session): void;
  /**
   * Ends the sessions `user` has on device `name` held by the other
   * registries (this process ends its own), each told why; resolves with
   * how many of theirs were online.
   */
  endDevice(
    user: string,
    name: string,
    reason: "revoked" | "logout",
  ): Promise<number>;
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

  introduced(
    user: string,
    certFingerprint: string,
  ): Promise<Introduced | null> {
    return Promise.resolve(introducedOf(this.local, user, certFingerprint));
  }

  sendTo(target: Introduced, ev: RegistryEvent): void {
    this.local.byId(target.id)?.link.send(ev);
  }

  reached(_s: Session): void {}

  endDevice(_user: string, _name: string, _reason: string): Promise<number> {
    return Promise.resolve(0);
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
    candidates: s.candidates,
    reachable: s.reachable,
    session: s,
  };
}

/** The local session of `user` presenting `certFingerprint`, with a key. */
export function introducedOf(
  local: SessionTable,
  user: string,
  certFingerprint: string,
): Introduced | null {
  const s = local.of(user).find((s) => s.certFingerprint === certFingerprint);
  if (!s || !s.key) return null;
  return { id: s.id, user: s.user, key: s.key, host: s.host, instance: null };
}
