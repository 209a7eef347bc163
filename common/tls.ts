/**
 * Certificates: self-signed ones for the registry and each peer's ephemeral
 * P2P identity (their fingerprints are in fingerprint.ts).
 */
import * as x509 from "@peculiar/x509";
import { fingerprintDer } from "./fingerprint.ts";

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
