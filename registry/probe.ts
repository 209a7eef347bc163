/**
 * The connect-back probe: whether a logged-in peer's P2P port can be reached
 * from outside its network, so dialers know whether a direct connection or
 * a reversed one can work (F22).
 *
 * The registry dials only the address it sees the peer's own connection
 * come from, only the port the peer registered, once per login, and counts
 * the port reachable only if the TLS handshake proves the certificate the
 * peer registered and the peer answers `p2p_probe_ok` inside it. So nobody
 * can point it at another machine or port: a login can only make the
 * registry knock on the door of the address that logged in, and what it
 * learns is one bit about that peer.
 */
import { FramedConn } from "../common/conn.ts";
import { decodeP2P, PEER_CERT_NAME, PROTOCOL_VERSION } from "../wire/mod.ts";

/** How long a probe may take in all: connect, TLS, answer. */
export const PROBE_TIMEOUT_MS = 2_000;

/** Whether `host:port` answers as the peer holding `certPem`. Never throws. */
export async function probePeer(
  host: string,
  port: number,
  certPem: string,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<boolean> {
  let tcp: Deno.TcpConn | null = null;
  let tls: Deno.TlsConn | null = null;
  let fc: FramedConn | null = null;
  let timedOut = false;
  // Aborted by the timer, never fired otherwise: AbortSignal.timeout would
  // fire for every probe (a DOMException each) long after most are done.
  const abort = new AbortController();
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
    for (const c of [fc, tls, tcp]) {
      try {
        c?.close();
      } catch {
        // Closed already: nothing left to stop.
      }
    }
  }, timeoutMs);
  try {
    tcp = await Deno.connect({
      hostname: host,
      port,
      // A filtered port never answers: the timer cannot close what is not there yet.
      signal: abort.signal,
    });
    if (timedOut) return false;
    tls = await Deno.startTls(tcp, {
      hostname: PEER_CERT_NAME,
      caCerts: [certPem],
    });
    await tls.handshake();
    fc = new FramedConn(tls, { readBufferBytes: 4096, maxFrameBytes: 4096 });
    fc.send({ type: "p2p_probe", v: PROTOCOL_VERSION });
    const next = await fc.frames().next();
    if (next.done || next.value.kind !== "control") return false;
    const d = decodeP2P(next.value.payload);
    return d.ok && d.msg.type === "p2p_probe_ok";
  } catch {
    return false; // Refused, filtered, another certificate: not reachable.
  } finally {
    clearTimeout(timer);
    try {
      if (fc) fc.close();
      else (tls ?? tcp)?.close();
    } catch {
      // Closed by the timer or the peer.
    }
  }
}
