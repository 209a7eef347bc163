/**
 * What the kernel knows about UDP sockets (Linux, /proc/net/udp and udp6),
 * for the flood tests: how many datagrams a socket had to drop because its
 * receive buffer was full, and which UDP ports a process has open. Both are
 * null where /proc is not there to read.
 */
/** The rows of /proc/net/udp[6], or of process `pid`'s network namespace. */
async function procRows(pid?: number): Promise<string[][] | null> {
  const rows: string[][] = [];
  const base = pid === undefined ? "/proc/net" : `/proc/${pid}/net`;
  for (const f of [`${base}/udp`, `${base}/udp6`]) {
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
 * kernel's per-socket count; summed over IPv4 and IPv6), in this network
 * namespace or in process `pid`'s.
 */
export async function udpDrops(
  port: number,
  pid?: number,
): Promise<number | null> {
  const rows = await procRows(pid);
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
  const rows = await procRows(pid);
  if (!rows) return null;
  return [...new Set(rows.filter((c) => inodes.has(c[9]!)).map(portOf))];
}

/** CPU time (user + system, all threads) process `pid` used so far, in s. */
export async function cpuSeconds(pid: number): Promise<number | null> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // The fields after the command name, which is in parentheses.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

/**
 * The kernel's count of UDP datagrams queued to a socket (Udp InDatagrams,
 * /proc/net/snmp) in this network namespace or in process `pid`'s.
 */
export async function udpInDatagrams(pid?: number): Promise<number | null> {
  try {
    const text = await Deno.readTextFile(
      pid === undefined ? "/proc/net/snmp" : `/proc/${pid}/net/snmp`,
    );
    const [names, values] = text.split("\n").filter((l) =>
      l.startsWith("Udp: ")
    ).map((l) => l.split(/\s+/));
    const at = names?.indexOf("InDatagrams") ?? -1;
    return at > 0 && values ? Number(values[at]) : null;
  } catch {
    return null;
  }
}
