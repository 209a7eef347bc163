/**
 * The heartbeat socket, owned by a worker thread.
 *
 * The kernel keeps only a few hundred small datagrams for a UDP socket; at
 * 10,000 heartbeats a second that is a few tens of milliseconds. A registry
 * busy with a burst of logins or a large reply would drop heartbeats and time
 * out healthy peers. This worker does nothing but drain the socket and hand
 * datagrams to the main thread in batches (every 20 ms at most), so a busy
 * main thread only delays heartbeats instead of losing them.
 *
 * Under a flood (hundreds of thousands of garbage datagrams a second) the
 * drain rate is what keeps real heartbeats in: the kernel drops whatever the
 * socket buffer cannot hold, garbage and heartbeats alike. So the worker
 * rejects garbage as cheaply as it can, before any copy: a datagram that is
 * not exactly HEARTBEAT_BYTES long or does not start with the heartbeat's
 * magic and version is only counted. The MAC and the session are checked
 * in the registry's one place for them (wire/datagram.ts, the service).
 *
 * Deno 2.9's node:dgram takes `recvBufferSize` but never sets the kernel's
 * SO_RCVBUF (measured with `ss -uam`: the socket keeps net.core.rmem_default,
 * 208 KiB on most Linux systems); an operator who expects floods raises
 * net.core.rmem_default (docs/security.md).
 *
 * The datagrams reach the main thread through a shared ring
 * (registry/heartbeat_ring.ts), not as messages: under a login storm the
 * main thread took messages seconds late, and a timer there reads the ring
 * on time.
 *
 * Messages in: {type: "bind", host, port, ring: SharedArrayBuffer},
 * {type: "close"}. Messages out: {type: "bound", port},
 * {type: "error", message}, {type: "closed"}.
 */
/// <reference lib="deno.worker" />
import dgram from "node:dgram";
import { HEARTBEAT_BYTES, looksLikeHeartbeat } from "../wire/mod.ts";
import { HeartbeatRing } from "./heartbeat_ring.ts";

let sock: dgram.Socket | null = null;
let ring: HeartbeatRing | null = null;

function take(msg: Uint8Array): void {
  if (!looksLikeHeartbeat(msg)) ring!.reject();
  else ring!.write(msg);
}

self.onmessage = (e: MessageEvent) => {
  const m = e.data as {
    type: string;
    host?: string;
    port?: number;
    ring?: SharedArrayBuffer;
  };
  if (m.type === "bind") {
    ring = new HeartbeatRing(m.ring!);
    const s = dgram.createSocket({
      type: m.host!.includes(":") ? "udp6" : "udp4",
      // Deno's node:dgram allocates this much for every read (it does not
      // size the kernel buffer): one byte over a heartbeat, so anything
      // longer arrives cut to HEARTBEAT_BYTES + 1 and is rejected by size.
      recvBufferSize: HEARTBEAT_BYTES + 1,
    });
    s.once(
      "error",
      (err: Error) => self.postMessage({ type: "error", message: err.message }),
    );
    s.bind(m.port!, m.host!, () => {
      s.removeAllListeners("error");
      s.on("error", () => {});
      s.on("message", (msg: Uint8Array) => take(msg));
      sock = s;
      self.postMessage({ type: "bound", port: s.address().port });
    });
  } else if (m.type === "close") {
    if (!sock) {
      self.postMessage({ type: "closed" });
      return;
    }
    sock.close(() => self.postMessage({ type: "closed" }));
  }
};
