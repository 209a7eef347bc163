/**
 * IP addresses and prefixes as text, parsed without the network: what the
 * registry's per-address limits and the `--trusted-address` flag read.
 */

/** The address as a string of 32 or 128 bits; null if it is not an IP address. */
export function addressBits(address: string): string | null {
  const v4 = parseIpv4(address);
  if (v4) return v4.map((b) => b.toString(2).padStart(8, "0")).join("");
  const v6 = parseIpv6(address);
  if (!v6) return null;
  if (isMappedIpv4(v6)) return addressBits(mappedToIpv4(v6));
  return v6.map((h) => h.toString(2).padStart(16, "0")).join("");
}

/** The four bytes of a dotted IPv4 address; null if not one. */
export function parseIpv4(address: string): number[] | null {
  const parts = address.split(".");
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    out.push(Number(p));
  }
  return out;
}

/** The eight 16-bit groups of an IPv6 address (zone dropped); null if not one. */
export function parseIpv6(address: string): number[] | null {
  let a = address.replace(/^\[|\]$/g, "");
  const zone = a.indexOf("%");
  if (zone >= 0) a = a.slice(0, zone);
  if (!a.includes(":")) return null;
  // A trailing dotted IPv4 part stands for the last two groups.
  let v4: number[] | null = null;
  const lastColon = a.lastIndexOf(":");
  if (a.slice(lastColon + 1).includes(".")) {
    v4 = parseIpv4(a.slice(lastColon + 1));
    if (!v4) return null;
    a = a.slice(0, lastColon + 1) + "0:0";
  }
  const halves = a.split("::");
  if (halves.length > 2) return null;
  const group = (s: string) =>
    s === ""
      ? []
      : s.split(":").map((h) =>
        /^[0-9a-f]{1,4}$/i.test(h) ? parseInt(h, 16) : NaN
      );
  const head = group(halves[0]!);
  const rest = halves.length === 2 ? group(halves[1]!) : [];
  const known = head.length + rest.length;
  if ([...head, ...rest].some(Number.isNaN)) return null;
  if (halves.length === 1 && known !== 8) return null;
  if (halves.length === 2 && known > 7) return null;
  const out = halves.length === 2
    ? [...head, ...new Array(8 - known).fill(0), ...rest]
    : head;
  if (v4) {
    out[6] = (v4[0]! << 8) | v4[1]!;
    out[7] = (v4[2]! << 8) | v4[3]!;
  }
  return out;
}

/** True for an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
export function isMappedIpv4(g: number[]): boolean {
  return g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff;
}

/** The IPv4 address an IPv4-mapped one stands for. */
export function mappedToIpv4(g: number[]): string {
  return [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff].join(".");
}

/** True if `text` is an address or an address/length prefix ("10.0.0.0/8", "::1"). */
export function isIpPrefix(text: string): boolean {
  const [net, len, extra] = text.split("/");
  if (extra !== undefined) return false;
  const bits = addressBits(net ?? "");
  if (!bits) return false;
  if (len === undefined) return true;
  return /^\d{1,3}$/.test(len) && Number(len) <= bits.length;
}
