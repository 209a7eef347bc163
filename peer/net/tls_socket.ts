/**
 * A TLS client connection whose server certificate we check ourselves.
 *
 * Deno.connectTls can only verify against CA roots, but a self-signed registry
 * is pinned by fingerprint (F19), like ssh known_hosts. node:tls lets us finish
 * the handshake, read the certificate and decide before a single byte of ours
 * is sent. The handshake still proves the server holds the certificate's key,
 * so a matching fingerprint authenticates it. The socket is adapted to the
 * ByteConn interface that FramedConn reads and writes.
 */
import tls from "node:tls";
import type { ByteConn } from "../../common/conn.ts";
import { fingerprintDer } from "../../common/fingerprint.ts";

/** What the server presented. */
export interface PresentedCert {
  /** SHA-256 hex of the DER certificate. */
  fingerprint: string;
  /** True when the chain is valid for the host under the system's CA roots. */
  caTrusted: boolean;
}

/** A connected TLS socket, not yet trusted by the caller. */
export interface CheckedTls {
  conn: ByteConn;
  cert: PresentedCert;
}

/**
 * Connects and completes the TLS handshake; the caller decides on trust.
 * `timeoutMs` bounds the TCP connect; once the server has accepted,
 * `handshakeMs` (default the same) bounds the TLS handshake: a server that
 * accepted is up, and one busy with a storm of reconnections (a restart
 * under thousands of peers) answers late rather than never.
 */
export function connectTlsUnverified(
  host: string,
  port: number,
  timeoutMs: number,
  handshakeMs = timeoutMs,
): Promise<CheckedTls> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      servername: isIp(host) ? undefined : host,
      rejectUnauthorized: false,
    });
    const giveUp = (message: string, code?: string) => () => {
      socket.destroy();
      reject(Object.assign(new Error(message), code ? { code } : {}));
    };
    // A connect without an answer never reached the server process (down,
    // filtered, or its accept queue full): ETIMEDOUT, as the OS says it.
    let timer = setTimeout(
      giveUp(
        `no answer from ${host}:${port} within ${timeoutMs / 1000} s`,
        "ETIMEDOUT",
      ),
      timeoutMs,
    );
    socket.once("connect", () => {
      clearTimeout(timer);
      timer = setTimeout(
        giveUp(
          `${host}:${port} accepted but did not finish TLS within ${
            handshakeMs / 1000
          } s`,
        ),
        handshakeMs,
      );
    });
    socket.once("error", (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      const peer = socket.getPeerCertificate(true);
      if (!peer || !peer.raw) {
        socket.destroy();
        reject(new Error(`${host}:${port} presented no certificate`));
        return;
      }
      socket.removeAllListeners("error");
      resolve({
        conn: new NodeSocketConn(socket),
        cert: {
          fingerprint: fingerprintDer(new Uint8Array(peer.raw)),
          caTrusted: socket.authorized === true,
        },
      });
    });
  });
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}

/** Adapts a node socket to pull-style reads with bounded buffering. */
class NodeSocketConn implements ByteConn {
  readonly #socket: tls.TLSSocket;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered > 1024 * 1024) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (err: Error) => {
      this.#error = err;
      this.#notify();
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let n = 0;
    while (n < p.length && this.#chunks.length > 0) {
      const head = this.#chunks[0]!;
      const take = Math.min(head.length, p.length - n);
      p.set(head.subarray(0, take), n);
      n += take;
      if (take === head.length) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(take);
    }
    this.#buffered -= n;
    if (this.#buffered <= 256 * 1024 && this.#socket.isPaused()) {
      this.#socket.resume();
    }
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#ended || this.#socket.destroyed) {
        reject(new Error("connection closed"));
        return;
      }
      this.#socket.write(
        p,
        (err?: Error | null) => (err ? reject(err) : resolve(p.length)),
      );
    });
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(() => resolve()));
  }

  close(): void {
    this.#ended = true;
    this.#socket.destroy();
    this.#notify();
  }
}
