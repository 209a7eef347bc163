/**
 * A UDP flood sender, run as its own process by the reliability tests:
 *
 *   deno run --allow-net tests/helpers/udp_flood.ts PORT SECONDS MAX
 *
 * Sends garbage datagrams to 127.0.0.1:PORT as fast as the machine allows,
 * for at most SECONDS and at most MAX datagrams, then prints one line
 * `sent N` and exits. The garbage is a mix: random bytes of random length,
 * heartbeat-sized datagrams with the wrong magic, and datagrams that look
 * like heartbeats (right magic and size) naming random sessions.
 */
import dgram from "node:dgram";

if (import.meta.main) {
  const port = Number(Deno.args[0]);
  const seconds = Number(Deno.args[1] ?? "5");
  const max = Number(Deno.args[2] ?? "1000000");
  if (!Number.isInteger(port) || port <= 0 || !(seconds > 0) || !(max > 0)) {
    console.error("usage: udp_flood.ts PORT SECONDS MAX");
    Deno.exit(2);
  }
  const sock = dgram.createSocket("udp4");
  // Connected: no address lookup per datagram.
  await new Promise<void>((r) => sock.connect(port, "127.0.0.1", () => r()));
  const kinds: Uint8Array[] = [];
  for (let i = 0; i < 16; i++) {
    const d = new Uint8Array(i % 4 === 0 ? 1 + i * 37 : 44);
    crypto.getRandomValues(d);
    if (i % 4 === 1) d.set([0x43, 0x48, 0x42, 1]); // "CHB" v1: a forgery
    kinds.push(d);
  }
  const end = performance.now() + seconds * 1000;
  let sent = 0;
  let inFlight = 0;
  const done = () => inFlight--;
  while (performance.now() < end && sent < max) {
    for (let i = 0; i < 256 && sent < max; i++, sent++) {
      inFlight++;
      sock.send(kinds[sent & 15]!, done);
    }
    while (inFlight > 4096) await new Promise((r) => setTimeout(r, 0));
  }
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 1));
  console.log(`sent ${sent}`);
  sock.close();
}
