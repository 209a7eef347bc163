/**
 * Which registry address to try, and in which order: a registry cluster has
 * several instances, given as a list (`--registry h1:15600,h2:15600`) or as
 * one name with several addresses. A session picks one at random, so peers
 * spread over the instances, and moves on to the next when it fails.
 */
import { isIP } from "node:net";
import type { RegistryTarget } from "./registry_client.ts";

/** How long a name's address records are waited for. */
export const RESOLVE_TIMEOUT_MS = 3000;

/** Looks up the addresses of a host name (A and AAAA). */
export type Resolver = (host: string) => Promise<string[]>;

/** The system's DNS, A and AAAA records; empty when the name has none. */
export const resolveAll: Resolver = async (host) => {
  const signal = AbortSignal.timeout(RESOLVE_TIMEOUT_MS);
  const out: string[] = [];
  for (const type of ["A", "AAAA"] as const) {
    try {
      out.push(...await Deno.resolveDns(host, type, { signal }));
    } catch {
      // No records of this type, or no DNS: the name is dialled as given.
    }
  }
  return out;
};

/**
 * Every address of the target as a target of its own: the list given, a
 * name with several address records expanded (each dialled by address,
 * trusted by the name).
 */
export async function expandTargets(
  target: RegistryTarget,
  resolve: Resolver = resolveAll,
): Promise<RegistryTarget[]> {
  const given = [
    { host: target.host, port: target.port },
    ...(target.alternates ?? []),
  ];
  const out: RegistryTarget[] = [];
  for (const a of given) {
    // Every address is a sibling of the others (one trusted, all trusted).
    const base = { ...target, host: a.host, port: a.port, alternates: given };
    delete base.dialHost;
    // A name with one address is left to the system's resolver, which
    // also reads /etc/hosts.
    const ips = isIP(a.host) || a.host === "localhost"
      ? []
      : await resolve(a.host);
    if (ips.length > 1) {
      for (const ip of ips) out.push({ ...base, dialHost: ip });
    } else out.push(base);
  }
  return out;
}

/** `list` starting at index `start` (wrapping round). */
export function rotate<T>(list: readonly T[], start: number): T[] {
  if (list.length === 0) return [];
  const at = ((start % list.length) + list.length) % list.length;
  return [...list.slice(at), ...list.slice(0, at)];
}

/** The key of a target's address, to find it again in a fresh list. */
export function addressKey(t: RegistryTarget): string {
  return `${t.dialHost ?? t.host}:${t.port}`;
}
