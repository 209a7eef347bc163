/**
 * What the kernel knows about UDP sockets (Linux, /proc/net/udp and udp6),
 * for the flood tests: how many datagrams a socket had to drop because its
 * receive buffer was full, and which UDP ports a process has open. Both are
 * null where /proc is not there to read.
 */
async function procRows(): Promise<string[][] | null> {
  const rows: string[][] = [];
  for (const f of ["/proc/net/udp", "/proc/net/udp6"]) {
    let text: string;
    try {
      text = await Deno.readTextFile(f);
    } catch {
      if (f.endsWith("6")) continue;
      return null;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length >= 13) rows.push(cols);
    }
  }
  return rows;
}

function portOf(cols: string[]): number {
  const local = cols[1]!;
  return parseInt(local.slice(local.lastIndexOf(":") + 1), 16);
}

/**
 * Datagrams dropped so far by the sockets bound to local `port` (the
 * kernel's per-socket count; summed over IPv4 and IPv6).
 */
export async function udpDrops(port: number): Promise<number | null> {
  const rows = await procRows();
  if (!rows) return null;
  return rows.filter((c) => portOf(c) === port)
    .reduce((sum, c) => sum + Number(c[12]), 0);
}

/** The local ports of the UDP sockets process `pid` holds open. */
export async function udpPortsOf(pid: number): Promise<number[] | null> {
  const inodes = new Set<string>();
  try {
    for await (const e of Deno.readDir(`/proc/${pid}/fd`)) {
      const link = await Deno.readLink(`/proc/${pid}/fd/${e.name}`).catch(
        () => "",
      );
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m) inodes.add(m[1]!);
    }
  } catch {
    return null;
  }
  const rows = await procRows();
  if (!rows) return null;
  return [...new Set(rows.filter((c) => inodes.has(c[9]!)).map(portOf))];
}
