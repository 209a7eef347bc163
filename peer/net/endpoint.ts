/**
 * A peer's place on the network for one run: a fresh identity, the links
 * (listening for inbound ones when asked to) and the logged-in registry
 * session they are introduced through. The Peer, `chat send` and `chat
 * receive` each open one and dispose of it in one place; the order —
 * listen, log in with the port, close the session, then the links — lives
 * only here.
 */
import type { Clock } from "../../common/clock.ts";
import type { Logger } from "../../common/log.ts";
import type { RegistryEvent } from "../../wire/mod.ts";
import type { BackoffPolicy } from "./backoff.ts";
import { createPeerIdentity, type PeerIdentity } from "./identity.ts";
import { localCandidates } from "./candidates.ts";
import { Links } from "./links.ts";
import type { P2PLink } from "./p2p.ts";
import type { RegistryTarget } from "./registry_client.ts";
import {
  type Credentials,
  RegistrySession,
  type SessionStatus,
} from "./registry_session.ts";

/** How to open an endpoint. */
export interface EndpointOptions {
  target: RegistryTarget;
  credentials: Credentials;
  /** The session kind: an interactive peer, a dialling tool, or `chat receive`. */
  kind: "peer" | "tool" | "receive";
  /** Where to listen for inbound links; absent for a session that only dials. */
  listen?: { port: number; host?: string };
  signup?: boolean;
  replace?: boolean;
  /** CHAT_HOME, where this machine's device file lives. */
  home?: string;
  backoff?: BackoffPolicy;
  logger: Logger;
  /** Time for ticket checks, timers for handshakes. */
  clock?: Clock;
  /** True if we have blocked `user`; nobody is blocked when absent. */
  isBlocked?: (user: string) => boolean;
  /** Takes ownership of an inbound link; absent: inbound links are closed. */
  onInbound?: (link: P2PLink) => void;
  onEvent?: (ev: RegistryEvent) => void;
  onStatus?: (s: SessionStatus) => void;
}

/** See the module doc. */
export class Endpoint implements AsyncDisposable {
  readonly identity: PeerIdentity;
  readonly links: Links;
  readonly session: RegistrySession;
  #closed = false;

  private constructor(
    identity: PeerIdentity,
    links: Links,
    session: RegistrySession,
  ) {
    this.identity = identity;
    this.links = links;
    this.session = session;
  }

  /** Makes an identity, listens if asked, and logs in. */
  static async open(o: EndpointOptions): Promise<Endpoint> {
    const identity = await createPeerIdentity();
    let session: RegistrySession | null = null;
    const links = new Links({
      identity,
      user: () => session?.user ?? o.credentials.user,
      session: () => session,
      isBlocked: o.isBlocked ?? (() => false),
      onInbound: o.onInbound ?? ((link) => link.conn.close()),
      logger: o.logger,
      ...(o.clock ? { clock: o.clock } : {}),
    });
    try {
      const port = o.listen ? links.listen(o.listen.port, o.listen.host) : null;
      session = await RegistrySession.open({
        target: o.target,
        credentials: o.credentials,
        kind: o.kind,
        ...(port !== null
          ? {
            p2pPort: port,
            cert: identity.certPem,
            candidates: localCandidates(port, o.listen?.host),
          }
          : {}),
        key: identity.publicKey,
        ...(o.replace !== undefined ? { replace: o.replace } : {}),
        ...(o.signup !== undefined ? { signup: o.signup } : {}),
        ...(o.home !== undefined ? { home: o.home } : {}),
        ...(o.backoff ? { backoff: o.backoff } : {}),
        logger: o.logger,
        // Dial-back and relay requests are the links' business.
        onEvent: (ev) => {
          if (!links.handleEvent(ev)) o.onEvent?.(ev);
        },
        onStatus: o.onStatus ?? (() => {}),
      });
    } catch (err) {
      await links.close();
      throw err;
    }
    return new Endpoint(identity, links, session);
  }

  /** The logged-in user. */
  get user(): string {
    return this.session.user;
  }

  /** Logs out, then closes every link; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.session.close();
    await this.links.close();
  }

  /** As `close`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
