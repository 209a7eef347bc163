/**
 * Links: how this peer gets an authenticated connection to another user for
 * a purpose, and takes the ones others open to it. One place for the whole
 * path — the registry's introduction, then the dial — shared by the Peer
 * and the pipe commands alike.
 *
 * `open(user, purpose)` is the one question the rest of the peer asks; the
 * answer says which path the link took. Today every link is direct (we dial
 * the address the registry vouched for); a peer behind NAT will later be
 * reached by a reversed connection or through a relay, as other paths of
 * the same call.
 */
import type { Clock } from "../../common/clock.ts";
import type { Logger } from "../../common/log.ts";
import type { PeerIdentity } from "./identity.ts";
import { DialError, type P2PLink, P2PNode, type Purpose } from "./p2p.ts";
import { RegistryError } from "./registry_client.ts";
import type { RegistrySession } from "./registry_session.ts";

/** How a link reached the other peer. */
export type LinkPath = "direct";

/** An authenticated link and the path it took. */
export interface OpenLink {
  link: P2PLink;
  path: LinkPath;
}

/**
 * Why no link could be had: the user is offline or unknown, we are not
 * logged in, the registry cannot be reached just now or refused the
 * introduction, or the peer could not be reached or did not take the
 * connection.
 */
export type LinkErrorCode =
  | "offline"
  | "not_found"
  | "logged_out"
  | "registry"
  | "refused"
  | "unreachable";

/** A failed `open`, with a code to act on and a one-line reason. */
export class LinkError extends Error {
  override name = "LinkError";
  constructor(
    readonly code: LinkErrorCode,
    /** The user we tried to reach. */
    readonly user: string,
    message: string,
  ) {
    super(message);
  }
}

/** What links need from their surroundings. */
export interface LinksOptions {
  identity: PeerIdentity;
  /** Our user name as of now. */
  user: () => string;
  /** The logged-in registry session, once there is one. */
  session: () => RegistrySession | null;
  /** True if we have blocked `user`: their connections are dropped silently. */
  isBlocked: (user: string) => boolean;
  /** Takes ownership of an authenticated inbound link. */
  onInbound: (link: P2PLink) => void;
  logger: Logger;
  /** Time for ticket checks, timers for handshakes. */
  clock?: Clock;
}

/** The P2P listener and every way out of it. See the module doc. */
export class Links implements AsyncDisposable {
  readonly #o: LinksOptions;
  readonly #node: P2PNode;

  constructor(o: LinksOptions) {
    this.#o = o;
    this.#node = new P2PNode({
      identity: o.identity,
      self: () => ({
        user: o.user(),
        registryKey: o.session()?.registryKey ?? null,
      }),
      isBlocked: o.isBlocked,
      onInbound: o.onInbound,
      logger: o.logger,
      ...(o.clock ? { clock: o.clock } : {}),
    });
  }

  /** Starts listening on `port` (0 = any free port); returns the port. */
  listen(port: number, host?: string): number {
    return this.#node.listen(port, host);
  }

  /** The listening port, or 0 before listen. */
  get port(): number {
    return this.#node.port;
  }

  /** An authenticated link to `user` for `purpose`; throws LinkError. */
  async open(user: string, purpose: Purpose): Promise<OpenLink> {
    const session = this.#o.session();
    if (!session) throw new LinkError("logged_out", user, "not logged in");
    let intro;
    try {
      intro = await session.request("introduce", { user, purpose });
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
      throw new LinkError(linkErrorCode(err, session), user, err.message);
    }
    try {
      return { link: await this.#node.dial(intro, purpose), path: "direct" };
    } catch (err) {
      if (err instanceof DialError) {
        throw new LinkError("unreachable", user, err.message);
      }
      throw err;
    }
  }

  /** Stops listening and closes every link. */
  close(): Promise<void> {
    return this.#node.close();
  }

  /** As `close`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function linkErrorCode(
  err: RegistryError,
  session: RegistrySession,
): LinkErrorCode {
  switch (err.code) {
    case "offline":
    case "not_found":
      return err.code;
    case "network":
      return session.ended ? "logged_out" : "registry";
    default:
      return "refused";
  }
}
