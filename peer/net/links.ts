/**
 * Links: how this peer gets an authenticated connection to another user for
 * a purpose, and takes the ones others open to it. One place for the whole
 * path — the registry's introduction, then the dial — shared by chats, room
 * messages, files and pipes alike (F22).
 *
 * `open(user, purpose)` is the one question the rest of the peer asks. It
 * tries, in order: direct attempts to the target's candidate endpoints
 * (LAN addresses first when both share a public address, then the public
 * one), raced with short timeouts; then a reversed connection, when the
 * registry's probe reached us and not them (the registry asks them to dial
 * us back); then the registry's relay, where both sides meet with a token
 * the registry signed for this pair, purpose and both sessions. Every path
 * carries the same pinned TLS and ticket hello, and the answer says which
 * path the link took. The other side of a reversal or relay arrives as a
 * registry event (`handleEvent`).
 */
import type { Clock } from "../../common/clock.ts";
import { SYSTEM_CLOCK } from "../../common/clock.ts";
import type { Logger } from "../../common/log.ts";
import { dialRelay, RelayDialError } from "../../common/relay_dial.ts";
import {
  openTicket,
  type RegistryEvent,
  type ReplyData,
} from "../../wire/mod.ts";
import type { PeerIdentity } from "./identity.ts";
import {
  type DeviceAuth,
  DialError,
  type DialTarget,
  type LinkPath,
  type P2PLink,
  P2PNode,
  type Purpose,
  type RaceTiming,
} from "./p2p.ts";
import { RegistryError } from "./registry_client.ts";
import type { RegistrySession } from "./registry_session.ts";

export type { LinkPath };

/** Direct attempts: each may take this long; the next starts this much later. */
export const DIRECT_TIMING: RaceTiming = { attemptMs: 2_000, staggerMs: 250 };
/** How long we wait for a target to dial back. */
export const REVERSE_WAIT_MS = 5_000;
/** How long a relay may take to pair us with the other side. */
export const RELAY_PAIR_MS = 15_000;

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
  /** Device proofs in every handshake (see p2p.ts). */
  devices?: DeviceAuth;
  logger: Logger;
  /** Time for ticket checks, timers for handshakes. */
  clock?: Clock;
  /** Timing of the direct attempts (tests shorten it). */
  direct?: RaceTiming;
}

/** The P2P listener and every way out of it. See the module doc. */
export class Links implements AsyncDisposable {
  readonly #o: LinksOptions;
  readonly #node: P2PNode;
  readonly #clock: Clock;
  /** Relay and dial-back work started by registry events. */
  readonly #tasks = new Set<Promise<void>>();
  #closed = false;

  constructor(o: LinksOptions) {
    this.#o = o;
    this.#clock = o.clock ?? SYSTEM_CLOCK;
    this.#node = new P2PNode({
      identity: o.identity,
      self: () => ({
        user: o.user(),
        registryKey: o.session()?.registryKey ?? null,
      }),
      isBlocked: o.isBlocked,
      onInbound: o.onInbound,
      ...(o.devices ? { devices: o.devices } : {}),
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
    let intro: ReplyData<"introduce">;
    try {
      intro = await session.request("introduce", { user, purpose });
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
      throw new LinkError(linkErrorCode(err, session), user, err.message);
    }
    const target: DialTarget = {
      user: intro.user,
      cert: intro.cert,
      ticket: intro.ticket,
      purpose,
    };
    const logger = this.#o.logger;
    const endpoints = intro.candidates ??
      (intro.port > 0 ? [{ host: intro.host, port: intro.port }] : []);
    const lan = endpoints.some((e) => e.host !== intro.host);
    let why = `cannot reach ${intro.user} directly`;
    // 1. Direct, unless the probe found them unreachable and no LAN address may help.
    if (endpoints.length > 0 && (intro.reachable !== false || lan)) {
      try {
        const link = await this.#node.dialAny(
          endpoints,
          target,
          this.#o.direct ?? DIRECT_TIMING,
        );
        return { link, path: "direct" };
      } catch (err) {
        if (!(err instanceof DialError)) throw err;
        if (err.kind === "refused") {
          throw new LinkError("unreachable", user, err.message);
        }
        why = err.message;
      }
    }
    // 2. Reversed: they dial us, when the registry's probe reached us.
    if (intro.you_reachable === true && this.port > 0) {
      const opened = await openTicket(intro.ticket, session.registryKey);
      if (opened.ok) {
        const wait = this.#node.expectReverse(
          opened.msg.nonce,
          intro.user,
          purpose,
          REVERSE_WAIT_MS,
        );
        try {
          await session.request("reverse", { ticket: intro.ticket });
          return { link: await wait.link, path: "reversed" };
        } catch (err) {
          wait.cancel();
          if (err instanceof DialError || err instanceof RegistryError) {
            logger.info("reversal failed", {
              user,
              error: err.message,
            });
          } else throw err;
        }
      }
    }
    // 3. The relay of last resort.
    if (intro.relay === false || session.relayPort === null) {
      throw new LinkError(
        "unreachable",
        user,
        `the registry does not relay; ${intro.user} cannot be reached directly`,
      );
    }
    let grant: ReplyData<"relay">;
    try {
      grant = await session.request("relay", { ticket: intro.ticket });
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
      throw new LinkError(
        err.code === "limit" ? "refused" : linkErrorCode(err, session),
        user,
        err.message,
      );
    }
    try {
      const relayed = await dialRelay({
        hostname: grant.host ?? session.registryHost,
        port: grant.port,
        token: grant.token,
        role: "a",
        sessionKey: this.#o.identity.sessionKey,
        timeoutMs: RELAY_PAIR_MS,
      });
      const link = await this.#node.dialOver(relayed.conn, target, "relayed");
      return { link, path: "relayed" };
    } catch (err) {
      if (err instanceof RelayDialError) {
        throw new LinkError(
          err.code === "limit" ? "refused" : "unreachable",
          user,
          `${why}, and not through the registry's relay either (${err.message})`,
        );
      }
      if (err instanceof DialError) {
        throw new LinkError("unreachable", user, err.message);
      }
      throw err;
    }
  }

  /**
   * Takes the registry events that are about links: a `reverse` asks us to
   * dial a user back, a `relay` to meet one at the relay. Returns whether
   * the event was one of those.
   */
  handleEvent(ev: RegistryEvent): boolean {
    if (ev.type !== "reverse" && ev.type !== "relay") return false;
    if (this.#closed || this.port === 0) return true;
    // We never dial a user we blocked; a relay we do meet, and our listener
    // refuses them inside as it refuses their direct connections.
    if (ev.type === "reverse" && this.#o.isBlocked(ev.from)) return true;
    const task = (ev.type === "reverse" ? this.#dialBack(ev) : this.#meet(ev))
      .catch((err) =>
        this.#o.logger.warn(`${ev.type} failed`, {
          user: ev.from,
          error: err instanceof Error ? err.message : String(err),
        })
      ).finally(() => this.#tasks.delete(task));
    this.#tasks.add(task);
    return true;
  }

  async #dialBack(ev: Extract<RegistryEvent, { type: "reverse" }>) {
    const link = await this.#node.dialAny(
      ev.candidates,
      {
        user: ev.from,
        cert: ev.cert,
        ticket: ev.ticket,
        purpose: ev.purpose,
        reverse: ev.ref,
      },
      this.#o.direct ?? DIRECT_TIMING,
      "reversed",
    );
    if (this.#closed) {
      link.conn.close();
      return;
    }
    this.#o.onInbound({ ...link, inbound: true });
  }

  async #meet(ev: Extract<RegistryEvent, { type: "relay" }>) {
    const session = this.#o.session();
    if (!session) return;
    const relayed = await dialRelay({
      hostname: ev.host ?? session.registryHost,
      port: ev.port,
      token: ev.token,
      role: "b",
      sessionKey: this.#o.identity.sessionKey,
      timeoutMs: RELAY_PAIR_MS,
    });
    await this.#node.acceptRelayed(relayed);
  }

  /** Stops listening and closes every link. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#node.close();
    await Promise.all([...this.#tasks]);
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
