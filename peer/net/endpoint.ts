/**
 * A peer's place on the network for one run: a fresh identity, the links
 * (listening for inbound ones when asked to) and the logged-in registry
 * session they are introduced through. The Peer, `chat send` and `chat
 * receive` each open one and dispose of it in one place; the order —
 * listen, log in with the port, close the session, then the links — lives
 * only here.
 */
import { type Clock, SYSTEM_CLOCK } from "../../common/clock.ts";
import type { Logger } from "../../common/log.ts";
import { base64url, type RegistryEvent } from "../../wire/mod.ts";
import type { BackoffPolicy } from "./backoff.ts";
import { type ContactNotice, Contacts } from "./contacts.ts";
import { DeviceKeysCache } from "./device_keys.ts";
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

/** How long a session remembers a user's device keys for offline messages. */
const DEVICE_KEYS_TTL_MS = 15_000;

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
  /**
   * A contact's device keys changed, a new device appeared, or a contact
   * was met (and pinned) for the first time.
   */
  onContact?: (n: ContactNotice) => void;
}

/** See the module doc. */
export class Endpoint implements AsyncDisposable {
  readonly identity: PeerIdentity;
  readonly links: Links;
  readonly session: RegistrySession;
  /** Contacts' pinned device keys, checked in every link's handshake. */
  readonly contacts: Contacts | null;
  /**
   * Device keys this session looked up a moment ago, for bursts of offline
   * messages sealed or opened (links and /verify always ask afresh).
   */
  readonly deviceKeys: DeviceKeysCache;
  #closed = false;

  private constructor(
    identity: PeerIdentity,
    links: Links,
    session: RegistrySession,
    contacts: Contacts | null,
    deviceKeys: DeviceKeysCache,
  ) {
    this.deviceKeys = deviceKeys;
    this.identity = identity;
    this.links = links;
    this.session = session;
    this.contacts = contacts;
  }

  /** Makes an identity, listens if asked, and logs in. */
  static async open(o: EndpointOptions): Promise<Endpoint> {
    const identity = await createPeerIdentity();
    let session: RegistrySession | null = null;
    const creds = o.credentials;
    // The pins live in CHAT_HOME: without one (some tests, benches) no
    // device proofs are given or checked.
    const clock = o.clock ?? SYSTEM_CLOCK;
    const deviceKeys = new DeviceKeysCache(
      DEVICE_KEYS_TTL_MS,
      () => clock.now(),
    );
    const contacts = o.home === undefined ? null : new Contacts({
      home: o.home,
      registry: creds.device?.registry ?? `${o.target.host}:${o.target.port}`,
      self: () => session?.user ?? creds.user,
      device: () => creds.device ?? null,
      source: () => session,
      cache: deviceKeys,
      onNotice: o.onContact ?? (() => {}),
      logger: o.logger,
      ...(o.clock ? { clock: o.clock } : {}),
    });
    const links = new Links({
      identity,
      user: () => session?.user ?? o.credentials.user,
      session: () => session,
      isBlocked: o.isBlocked ?? (() => false),
      onInbound: o.onInbound ?? ((link) => link.conn.close()),
      ...(contacts
        ? {
          devices: {
            prove: async (payload) => {
              // Read each time: a login may have renewed the device.
              const device = creds.device;
              if (!device?.enrolled) return null;
              return {
                device: device.name,
                sig: base64url(await device.sign(payload)),
              };
            },
            check: (user, proof, payload) =>
              contacts.checkLink(user, proof, payload),
          },
        }
        : {}),
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
    return new Endpoint(identity, links, session, contacts, deviceKeys);
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
