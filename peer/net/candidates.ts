/**
 * A peer's candidate endpoints: its own interface addresses with the P2P
 * port, reported at login so that a peer on the same home network can dial
 * it there (routers rarely hairpin to their own public address). Loopback
 * and link-local addresses are left out; without permission to list
 * interfaces there are none, and the public address the registry sees
 * still serves.
 */
import { MAX_CANDIDATES } from "../../wire/mod.ts";

/** Our LAN endpoints for `port` when listening on `host`. */
export function localCandidates(
  port: number,
  host = "0.0.0.0",
  list: () => Deno.NetworkInterfaceInfo[] = Deno.networkInterfaces,
): { host: string; port: number }[] {
  if (port <= 0) return [];
  let addrs: Deno.NetworkInterfaceInfo[];
  if (host !== "0.0.0.0" && host !== "::") {
    return isUseful(host) ? [{ host, port }] : [];
  }
  try {
    addrs = list();
  } catch {
    return []; // Not allowed to list interfaces: the public address serves.
  }
  const out: { host: string; port: number }[] = [];
  for (const a of addrs) {
    if (out.length >= MAX_CANDIDATES) break;
    if (host === "0.0.0.0" && a.family !== "IPv4") continue;
    if (!isUseful(a.address)) continue;
    if (out.some((c) => c.host === a.address)) continue;
    out.push({ host: a.address, port });
  }
  return out;
}

function isUseful(addr: string): boolean {
  if (addr.startsWith("127.") || addr === "::1") return false;
  if (addr.startsWith("169.254.")) return false;
  if (/^fe80:/i.test(addr)) return false;
  return true;
}
