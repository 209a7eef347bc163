/**
 * Device proofs inside the P2P handshake and safety numbers (contact
 * verification): what exactly a device signs when it opens or takes a link,
 * and how two users compute the same short code from their device keys.
 *
 * A link's TLS session is pinned to the listener's per-run certificate and
 * its hello carries the registry's ticket; both sides then prove a device
 * key the other has pinned. The dialer signs the ticket (which names the
 * listener's certificate, the dialer's session key and a single-use nonce);
 * the listener signs the same ticket and its own certificate's fingerprint.
 * A registry that introduces a peer to its own certificate can forge the
 * ticket, but not a signature by a device key the peer pinned before.
 */

/** The label at the head of every device proof. */
export const DEVICE_PROOF_LABEL = "chat p2p device proof v1";

/** The label at the head of the text a safety number hashes. */
export const SAFETY_NUMBER_LABEL = "chat safety number v1";

/** Digits in a safety number (shown in groups of five). */
export const SAFETY_NUMBER_DIGITS = 20;

/** Which side of the handshake signs. */
export type ProofRole = "hello" | "welcome";

/**
 * The bytes a device signs for one side of a link: the role, the SHA-256 of
 * the ticket as sent, and the listener's certificate fingerprint (hex).
 */
export async function deviceProofPayload(
  role: ProofRole,
  ticket: string,
  listenerCert: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const enc = new TextEncoder();
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", enc.encode(ticket)),
  );
  return enc.encode([
    DEVICE_PROOF_LABEL,
    `role ${role}`,
    `ticket ${hex(digest)}`,
    `cert ${listenerCert}`,
  ].join("\n"));
}

/** One device's public keys as both sides of a safety number see them. */
export interface DeviceKeyPair {
  name: string;
  /** Ed25519 public key, raw, base64url. */
  sign: string;
  /** X25519 public key, raw, base64url. */
  dh: string;
}

/**
 * The safety number of two users: the SHA-256 of both users' device keys,
 * users and devices sorted, as SAFETY_NUMBER_DIGITS decimal digits in groups
 * of five. Either side computes it from the same inputs in any order.
 */
export async function safetyNumber(
  a: { user: string; devices: readonly DeviceKeyPair[] },
  b: { user: string; devices: readonly DeviceKeyPair[] },
): Promise<string> {
  const half = (h: { user: string; devices: readonly DeviceKeyPair[] }) =>
    [
      `user ${h.user.toLowerCase()}`,
      ...h.devices
        .map((d) => `device ${d.name.toLowerCase()} ${d.sign} ${d.dh}`)
        .sort(),
    ].join("\n");
  const halves = [half(a), half(b)].sort();
  const digest = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode([SAFETY_NUMBER_LABEL, ...halves].join("\n\n")),
    ),
  );
  // 12 bytes (96 bits) reduced to 20 digits: the bias is far below a digit.
  let n = 0n;
  for (const byte of digest.subarray(0, 12)) n = (n << 8n) | BigInt(byte);
  const digits = (n % 10n ** BigInt(SAFETY_NUMBER_DIGITS)).toString()
    .padStart(SAFETY_NUMBER_DIGITS, "0");
  return digits.match(/.{5}/g)!.join(" ");
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
