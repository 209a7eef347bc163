/**
 * Certificates: self-signed ones for the registry and each peer's ephemeral
 * P2P identity, and the SHA-256 fingerprints used to pin them.
 */
import { createHash } from "node:crypto";
import * as x509 from "@peculiar/x509";

/** A certificate and its private key, both PEM, plus the pin. */
export interface CertifiedKey {
  certPem: string;
  keyPem: string;
  /** SHA-256 of the certificate's DER, 64 lower-case hex characters. */
  fingerprint: string;
}

const ALGORITHM = {
  name: "ECDSA",
  namedCurve: "P-256",
  hash: "SHA-256",
} as const;

/** Creates a self-signed leaf certificate (CA:FALSE) for the given names. */
export async function createSelfSigned(opts: {
  commonName: string;
  dnsNames: string[];
  ipAddresses?: string[];
  validDays: number;
  now?: Date;
}): Promise<CertifiedKey> {
  const now = opts.now ?? new Date();
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, [
    "sign",
    "verify",
  ]);
  const serial = new Uint8Array(16);
  crypto.getRandomValues(serial);
  serial[0] = serial[0]! & 0x7f;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Array.from(serial, (b) => b.toString(16).padStart(2, "0"))
      .join(""),
    name: `CN=${opts.commonName}`,
    notBefore: new Date(now.getTime() - 3_600_000),
    notAfter: new Date(now.getTime() + opts.validDays * 86_400_000),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension([
        ...opts.dnsNames.map((value) => ({ type: "dns" as const, value })),
        ...(opts.ipAddresses ?? []).map((value) => ({
          type: "ip" as const,
          value,
        })),
      ]),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  const certPem = cert.toString("pem");
  return {
    certPem,
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
    fingerprint: fingerprintDer(new Uint8Array(cert.rawData)),
  };
}

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
