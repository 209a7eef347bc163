/**
 * Sends the UDP heartbeat (F3) for one session every interval. The datagram
 * proves knowledge of the session token without carrying it; see
 * wire/datagram.ts.
 *
 * Nothing is ever sent back to the socket the heartbeats leave from, but the
 * runtime reads whatever arrives there (its `connect` does not make the
 * kernel filter by sender), on the peer's only event loop. So anything that
 * arrives marks the socket as found, and the next beat leaves from a new
 * socket on a new port: a flood aimed at the old port then meets a closed
 * port, which costs the kernel, not the peer. The registry does not care
 * which port a heartbeat comes from.
 */
import dgram from "node:dgram";
import { type Cancel, type Clock, SYSTEM_CLOCK } from "../../common/clock.ts";
import { encodeHeartbeat, fromBase64url } from "../../wire/mod.ts";

/** A running heartbeat; stop it when the session ends. */
export class HeartbeatSender {
  #socket: dgram.Socket;
  readonly #stopTimer: Cancel;
  readonly #token: Uint8Array;
  #seq = 0;
  #stopped = false;
  /** Something arrived on the socket: the next beat moves to a new one. */
  #found = false;
  /** How often the heartbeats moved to a new port because of stray datagrams. */
  moves = 0;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly session: string,
    token: string,
    intervalMs: number,
    clock: Clock = SYSTEM_CLOCK,
  ) {
    this.#token = fromBase64url(token) ?? new Uint8Array();
    this.#socket = this.#open();
    this.beat();
    this.#stopTimer = clock.every(intervalMs, () => this.beat());
  }

  #open(): dgram.Socket {
    const s = dgram.createSocket({
      type: this.host.includes(":") ? "udp6" : "udp4",
      // The runtime allocates this much for every read; nothing legitimate
      // arrives here, so a byte is enough.
      recvBufferSize: 1,
    });
    s.on("error", () => {
      // ICMP unreachable while the registry restarts: the next beat retries.
    });
    s.on("message", () => {
      this.#found = true;
    });
    return s;
  }

  /** Sends one heartbeat now. */
  beat(): void {
    if (this.#stopped) return;
    if (this.#found) {
      this.#found = false;
      this.moves++;
      this.#closeSocket();
      this.#socket = this.#open();
    }
    const bytes = encodeHeartbeat(this.session, ++this.#seq, this.#token);
    this.#socket.send(bytes, this.port, this.host);
  }

  #closeSocket(): void {
    const old = this.#socket;
    old.removeAllListeners("message");
    try {
      old.close();
    } catch {
      // Already closed.
    }
  }

  /** Stops sending and releases the socket. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopTimer();
    this.#closeSocket();
  }
}
