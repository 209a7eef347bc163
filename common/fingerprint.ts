/**
 * Certificate fingerprints: the SHA-256 of a certificate's DER, as users see
 * and pin it (`sha256:` + 64 lower-case hex). Apart from the certificate
 * builder in tls.ts, so that parsing a fingerprint on the command line does
 * not load an X.509 library.
 */
import { createHash } from "node:crypto";

/** SHA-256 hex of DER bytes. */
export function fingerprintDer(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

/** SHA-256 hex of the first certificate in a PEM text; null if there is none. */
export function fingerprintPem(pem: string): string | null {
  const der = pemToDer(pem);
  return der ? fingerprintDer(der) : null;
}

/** The DER bytes of the first certificate in a PEM text, or null. */
export function pemToDer(pem: string): Uint8Array | null {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/
    .exec(pem);
  if (!m) return null;
  try {
    const bin = atob(m[1]!.replace(/\s+/g, ""));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.length > 0 ? out : null;
  } catch {
    return null;
  }
}

/** Formats a fingerprint as users see it: `sha256:` + hex. */
export function showFingerprint(hex: string): string {
  return `sha256:${hex}`;
}

/** Parses `sha256:HEX` or bare hex (any case, optional colons) into hex. */
export function parseFingerprint(text: string): string | null {
  const body = text.trim().replace(/^sha256:/i, "").replaceAll(":", "")
    .toLowerCase();
  return /^[0-9a-f]{64}$/.test(body) ? body : null;
}
