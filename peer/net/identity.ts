/**
 * A peer's identity for one run (F20): an ephemeral TLS certificate for its
 * P2P listener, whose fingerprint the registry hands to dialers, and an
 * Ed25519 session key whose public half the registry puts into tickets.
 */
import { createSelfSigned } from "../../common/tls.ts";
import { base64url, PEER_CERT_NAME } from "../../wire/mod.ts";

export { PEER_CERT_NAME };

/** What a peer proves itself with. */
export interface PeerIdentity {
  certPem: string;
  keyPem: string;
  fingerprint: string;
  sessionKey: CryptoKey;
  /** Raw Ed25519 public key, base64url. */
  publicKey: string;
}

/** Makes a fresh identity (a few milliseconds). */
export async function createPeerIdentity(): Promise<PeerIdentity> {
  const cert = await createSelfSigned({
    commonName: PEER_CERT_NAME,
    dnsNames: [PEER_CERT_NAME],
    validDays: 30,
  });
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const raw = new Uint8Array(
    await crypto.subtle.exportKey("raw", pair.publicKey),
  );
  return {
    certPem: cert.certPem,
    keyPem: cert.keyPem,
    fingerprint: cert.fingerprint,
    sessionKey: pair.privateKey,
    publicKey: base64url(raw),
  };
}
