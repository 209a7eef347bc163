/**
 * The registry's long-lived identity, kept beside its database: the TLS
 * certificate peers pin (F19) and the Ed25519 key that signs introduction
 * tickets (F20). Both are created on first start; private keys are 0600.
 */
import { join } from "node:path";
import { fingerprintPem } from "../common/fingerprint.ts";
import { createSelfSigned } from "../common/tls.ts";
import { base64url } from "../wire/mod.ts";

/** What the registry presents and signs with. */
export interface RegistryIdentity {
  certPem: string;
  keyPem: string;
  fingerprint: string;
  signingKey: CryptoKey;
  /** Raw Ed25519 public key, base64url. */
  signingPublicKey: string;
}

/** File names inside the state folder. */
export const CERT_FILE = "registry-cert.pem";
export const KEY_FILE = "registry-key.pem";
export const SIGNING_FILE = "registry-signing-key.json";

/** Loads the identity from `dir`, creating what is missing. */
export async function loadIdentity(
  dir: string,
  tls?: { certFile: string; keyFile: string },
): Promise<RegistryIdentity> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  let certPem: string;
  let keyPem: string;
  if (tls) {
    certPem = await readOrExplain(tls.certFile, "--tls-cert");
    keyPem = await readOrExplain(tls.keyFile, "--tls-key");
  } else {
    const certPath = join(dir, CERT_FILE);
    const keyPath = join(dir, KEY_FILE);
    const existing = await readPair(certPath, keyPath);
    if (existing) {
      [certPem, keyPem] = existing;
    } else {
      const made = await createSelfSigned({
        commonName: "chat registry",
        dnsNames: ["chat-registry", "localhost"],
        ipAddresses: ["127.0.0.1", "::1"],
        validDays: 3650,
      });
      await writeWhole(keyPath, made.keyPem, 0o600);
      await writeWhole(certPath, made.certPem, 0o644);
      certPem = made.certPem;
      keyPem = made.keyPem;
    }
  }
  const fingerprint = fingerprintPem(certPem);
  if (!fingerprint) {
    throw new Error("the TLS certificate file holds no PEM certificate");
  }
  const { privateKey, publicRaw } = await loadSigningKey(
    join(dir, SIGNING_FILE),
  );
  return {
    certPem,
    keyPem,
    fingerprint,
    signingKey: privateKey,
    signingPublicKey: base64url(publicRaw),
  };
}

/**
 * Writes a file so that it is either absent or whole, even if the process is
 * killed half-way (a first start cut short by kill -9 must not leave an empty
 * certificate that stops every later start): a temporary file, synced, then
 * renamed over the name.
 */
async function writeWhole(
  path: string,
  text: string,
  mode: number,
): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(tmp, text, { mode, createNew: true });
    using f = await Deno.open(tmp, { read: true });
    await f.sync();
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

async function readOrExplain(path: string, flag: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw new Error(
      `cannot read ${flag} ${path}: ${
        err instanceof Error ? err.message : err
      }`,
    );
  }
}

async function readPair(
  a: string,
  b: string,
): Promise<[string, string] | null> {
  try {
    return [await Deno.readTextFile(a), await Deno.readTextFile(b)];
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

async function loadSigningKey(
  path: string,
): Promise<{ privateKey: CryptoKey; publicRaw: Uint8Array }> {
  let jwk: JsonWebKey;
  try {
    jwk = JSON.parse(await Deno.readTextFile(path));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
    await writeWhole(path, JSON.stringify(jwk), 0o600);
  }
  const privateKey = await crypto.subtle.importKey(
    "jwk",
    jwk,
    { name: "Ed25519" },
    false,
    [
      "sign",
    ],
  );
  const publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  const publicKey = await crypto.subtle.importKey(
    "jwk",
    publicJwk,
    { name: "Ed25519" },
    true,
    [
      "verify",
    ],
  );
  const publicRaw = new Uint8Array(
    await crypto.subtle.exportKey("raw", publicKey),
  );
  return { privateKey, publicRaw };
}
