/**
 * Device login (the challenge a device signs): what exactly the signature
 * covers, so the registry and the peer build the same bytes.
 *
 * The signed text binds the registry's fresh nonce (single use, valid only
 * on the connection that asked for it), the certificate fingerprint of the
 * registry the peer pinned (a registry that relays a challenge to a peer
 * connected to it gets a signature naming its own certificate, which the
 * real registry refuses), the user, the device, the session kind and the
 * session's P2P certificate and key, so nothing of the login can be swapped.
 */

/** The label at the head of every signed device login. */
export const DEVICE_LOGIN_LABEL = "chat device login v1";

/** How long a challenge nonce may wait for its login, in milliseconds. */
export const CHALLENGE_TTL_MS = 20_000;

/** A device name: letters, digits, `_ . -`, up to 32. */
export const DEVICE_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;

/** What a device login signs. */
export interface DeviceLoginClaims {
  /** SHA-256 hex of the registry certificate the peer verified. */
  registry: string;
  /** The challenge nonce, base64url, as the registry sent it. */
  nonce: string;
  user: string;
  device: string;
  kind: string;
  /** SHA-256 hex of the session's P2P certificate; "" when there is none. */
  cert: string;
  /** The session's Ed25519 public key (base64url); "" when there is none. */
  key: string;
}

/** The bytes a device signs for a login (user and device lower-cased). */
export function deviceLoginPayload(
  c: DeviceLoginClaims,
): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(
    [
      DEVICE_LOGIN_LABEL,
      `registry ${c.registry}`,
      `nonce ${c.nonce}`,
      `user ${c.user.toLowerCase()}`,
      `device ${c.device.toLowerCase()}`,
      `kind ${c.kind}`,
      `cert ${c.cert}`,
      `key ${c.key}`,
    ].join("\n"),
  );
}

/**
 * A device name made from a host name: lower-cased, other characters as
 * `-`, cut to 32; "device" when nothing usable is left.
 */
export function deviceNameFrom(host: string): string {
  const name = host.toLowerCase().replace(/[^a-z0-9_.-]+/g, "-")
    .replace(/^-+|-+$/g, "").slice(0, 32);
  return name || "device";
}
