/**
 * Sends the UDP heartbeat (F3) for one session every interval. The datagram
 * proves knowledge of the session token without carrying it; see
 * wire/datagram.ts.
 */
import dgram from "node:dgram";
import { type Cancel, type Clock, SYSTEM_CLOCK } from "../../common/clock.ts";
import { encodeHeartbeat, fromBase64url } from "../../wire/mod.ts";

/** A running heartbeat; stop it when the session ends. */
export class HeartbeatSender {
  readonly #socket: dgram.Socket;
  readonly #stopTimer: Cancel;
  readonly #token: Uint8Array;
  #seq = 0;
  #stopped = false;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly session: string,
    token: string,
    intervalMs: number,
    clock: Clock = SYSTEM_CLOCK,
  ) {
    this.#token = fromBase64url(token) ?? new Uint8Array();
    this.#socket = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
    this.#socket.on("error", () => {
      // ICMP unreachable while the registry restarts: the next beat retries.
    });
    this.beat();
    this.#stopTimer = clock.every(intervalMs, () => this.beat());
  }

  /** Sends one heartbeat now. */
  beat(): void {
    if (this.#stopped) return;
    const bytes = encodeHeartbeat(this.session, ++this.#seq, this.#token);
    this.#socket.send(bytes, this.port, this.host);
  }

  /** Stops sending and releases the socket. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopTimer();
    try {
      this.#socket.close();
    } catch {
      // Already closed.
    }
  }
}
