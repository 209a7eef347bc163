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

/** Answers kept per prefix list before the cache starts again (bounds memory). */
const ANSWERS_KEPT = 4096;

/** One parsed prefix: its leading bits, of an address `length` bits long. */
interface Net {
  bits: string;
  length: number;
}

/** A prefix list parsed once, with the answers it gave so far. */
interface Prefixes {
  nets: Net[];
  answers: Map<string, boolean>;
}

const parsed = new WeakMap<readonly string[], Prefixes>();

/**
 * True if `address` lies in one of `prefixes` ("127.0.0.0/8", "::1/128",
 * "10.1.2.3"). Asked for every request (the trusted list), so a list is
 * parsed once and each address's answer is kept.
 */
export function inPrefixes(
  address: string,
  prefixes: readonly string[],
): boolean {
  let p = parsed.get(prefixes);
  if (!p) {
    p = { nets: parsePrefixes(prefixes), answers: new Map() };
    parsed.set(prefixes, p);
  }
  const known = p.answers.get(address);
  if (known !== undefined) return known;
  const answer = matches(address, p.nets);
  if (p.answers.size >= ANSWERS_KEPT) p.answers.clear();
  p.answers.set(address, answer);
  return answer;
}

function parsePrefixes(prefixes: readonly string[]): Net[] {
  const nets: Net[] = [];
  for (const prefix of prefixes) {
    const [net, len] = prefix.split("/");
    const bits = addressBits(net ?? "");
    if (!bits) continue;
    const n = len === undefined ? bits.length : Number(len);
    if (!Number.isInteger(n) || n < 0 || n > bits.length) continue;
    nets.push({ bits: bits.slice(0, n), length: bits.length });
  }
  return nets;
}

function matches(address: string, nets: Net[]): boolean {
  const bits = addressBits(address);
  if (!bits) return false;
  return nets.some((net) =>
    net.length === bits.length && bits.startsWith(net.bits)
  );
}
