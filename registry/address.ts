/**
 * Client addresses as the registry's limits see them: an IPv6 client is one
 * /64 (a home or a host usually gets a whole /64, so rotating within it must
 * not buy new attempts), an IPv4-mapped address is its IPv4 address, and a
 * list of trusted prefixes (loopback by default) is exempt from the limits
 * that count per address.
 */
import {
  addressBits,
  isMappedIpv4,
  mappedToIpv4,
  parseIpv6,
} from "../common/ip.ts";

/** The key an address is counted under: IPv4 as is, IPv6 as its /64. */
export function addressKey(address: string): string {
  const v6 = parseIpv6(address);
  if (!v6) return address;
  if (isMappedIpv4(v6)) return mappedToIpv4(v6);
  const head = v6.slice(0, 4).map((h) => h.toString(16)).join(":");
  return `${head}::/64`;
}

/** True if `address` lies in one of `prefixes` ("127.0.0.0/8", "::1/128", "10.1.2.3"). */
export function inPrefixes(
  address: string,
  prefixes: readonly string[],
): boolean {
  const bits = addressBits(address);
  if (!bits) return false;
  for (const prefix of prefixes) {
    const [net, len] = prefix.split("/");
    const netBits = addressBits(net ?? "");
    if (!netBits || netBits.length !== bits.length) continue;
    const n = len === undefined ? netBits.length : Number(len);
    if (!Number.isInteger(n) || n < 0 || n > netBits.length) continue;
    if (bits.slice(0, n) === netBits.slice(0, n)) return true;
  }
  return false;
}
