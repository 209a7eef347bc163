/**
 * The one place the peer asks the registry for a user's device public keys
 * (`device_keys`): contact pinning and the P2P handshake check use it, and
 * so does anything that encrypts to a user's devices.
 */
import type { ReplyData } from "../../wire/mod.ts";
import type { RequestFields } from "./registry_client.ts";

/** A user's device as the registry vouches for it. */
export interface VouchedDevice {
  name: string;
  /** Ed25519 public key, raw, base64url. */
  sign: string;
  /** X25519 public key, raw, base64url. */
  dh: string;
  created_at: string;
}

/** Anything that sends a registry request (a session, a client). */
export interface DeviceKeysSource {
  request(
    type: "device_keys",
    fields: RequestFields<"device_keys">,
  ): Promise<ReplyData<"device_keys">>;
}

/**
 * `user`'s devices and their public keys as the registry vouches for them
 * now, sorted by name. Throws RegistryError (`not_found` for no such user).
 */
export async function fetchDeviceKeys(
  registry: DeviceKeysSource,
  user: string,
): Promise<VouchedDevice[]> {
  const r = await registry.request("device_keys", { user });
  return [...r.devices].sort((a, b) => a.name < b.name ? -1 : 1);
}

/**
 * Device keys remembered for a short while per user, so sealing a burst of
 * offline messages to one user, or opening a page of them from one sender,
 * asks the registry once rather than once per message (the registry limits
 * requests per session). Lookups for the same user at the same time share
 * one request. A caller that finds the answer stale (the registry refused
 * a box set, a sender's device is missing) asks again with `fresh`.
 */
export class DeviceKeysCache {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<
    string,
    { at: number; devices: Promise<VouchedDevice[]> }
  >();

  constructor(ttlMs = 15_000, now: () => number = Date.now) {
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /** `user`'s vouched devices, from memory when fetched under ttl ago. */
  get(
    registry: DeviceKeysSource,
    user: string,
    opts: { fresh?: boolean } = {},
  ): Promise<VouchedDevice[]> {
    const key = user.toLowerCase();
    const now = this.#now();
    const hit = this.#entries.get(key);
    if (!opts.fresh && hit && now - hit.at < this.#ttlMs) return hit.devices;
    const devices = fetchDeviceKeys(registry, user);
    const entry = { at: now, devices };
    this.#entries.set(key, entry);
    // A failed lookup is not remembered.
    devices.catch(() => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    });
    if (this.#entries.size > 1_000) {
      for (const [k, e] of this.#entries) {
        if (now - e.at >= this.#ttlMs) this.#entries.delete(k);
      }
    }
    return devices;
  }

  /** Keys fetched under ttl ago for `user`, or undefined. */
  peek(user: string): Promise<VouchedDevice[]> | undefined {
    const hit = this.#entries.get(user.toLowerCase());
    if (!hit || this.#now() - hit.at >= this.#ttlMs) return undefined;
    return hit.devices;
  }

  /** Remembers keys the registry gave in another answer (room_keys). */
  prime(user: string, devices: VouchedDevice[]): void {
    const sorted = [...devices].sort((a, b) => a.name < b.name ? -1 : 1);
    this.#entries.set(user.toLowerCase(), {
      at: this.#now(),
      devices: Promise.resolve(sorted),
    });
  }

  /** Forgets everything (a new session: the registry may have changed). */
  clear(): void {
    this.#entries.clear();
  }
}
