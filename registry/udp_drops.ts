/**
 * How many datagrams the kernel dropped at a UDP port because the socket's
 * receive buffer was full: the heartbeats a flood cost, which the registry
 * cannot see otherwise. Linux only (the per-socket `drops` column of
 * /proc/net/udp and udp6); null elsewhere or when it cannot be read.
 *
 * Read once per summary line about bad datagrams (BAD_DATAGRAM_LOG_MS), so
 * reading synchronously costs nothing worth a thread.
 */

/** The drops counted for every socket bound to local `port`, summed. */
export function kernelUdpDrops(port: number): number | null {
  if (Deno.build.os !== "linux") return null;
  let total = 0;
  let read = false;
  for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      continue;
    }
    read = true;
    total += dropsIn(text, port);
  }
  return read ? total : null;
}

/** The drops for local `port` in the text of /proc/net/udp (exported for tests). */
export function dropsIn(text: string, port: number): number {
  const suffix = ":" + port.toString(16).toUpperCase().padStart(4, "0");
  let total = 0;
  for (const line of text.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length >= 13 && cols[1]!.endsWith(suffix)) {
      total += Number(cols[12]) || 0;
    }
  }
  return total;
}
