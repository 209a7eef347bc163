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
