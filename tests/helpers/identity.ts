/**
 * Key material a peer-kind login needs (p2p_port, cert, key): an ephemeral
 * self-signed certificate and a raw Ed25519 public key in base64url, made the
 * way a real peer makes them. One identity per process is enough for tests,
 * since the registry does not require them to differ between users.
 */
import { createPeerIdentity } from "../../peer/net/identity.ts";

/** What a peer login carries besides name and password. */
export interface PeerIdentity {
  /** PEM certificate registered at login. */
  cert: string;
  /** Its private key (PEM), for tests that serve P2P. */
  keyPem: string;
  /** SHA-256 hex of the certificate. */
  fingerprint: string;
  /** Raw Ed25519 session public key, base64url (43 characters). */
  key: string;
}

/** Creates a fresh peer identity, exactly as a peer does (peer/identity.ts). */
export async function makePeerIdentity(): Promise<PeerIdentity> {
  const id = await createPeerIdentity();
  return {
    cert: id.certPem,
    keyPem: id.keyPem,
    fingerprint: id.fingerprint,
    key: id.publicKey,
  };
}

let shared: Promise<PeerIdentity> | null = null;

/** One identity shared by every peer login of this process. */
export function peerIdentity(): Promise<PeerIdentity> {
  shared ??= makePeerIdentity();
  return shared;
}
