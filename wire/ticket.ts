/**
 * Introduction tickets: the registry's signed statement that lets one peer
 * prove its identity to another.
 *
 * A ticket names the dialer, the dialer's session public key, the target, the
 * fingerprint of the target's current certificate, an expiry and a nonce. It is
 * signed by the registry's Ed25519 key, which peers learn over the pinned
 * registry connection. The dialer presents the ticket inside the TLS session
 * it opened to the pinned target certificate, together with its own signature
 * over the ticket, proving it holds the session key the registry vouched for.
 */
import { checkShape, int, oneOf, type Shape, str } from "./schema.ts";
import { userName } from "./messages.ts";
import type { Decoded } from "./decode.ts";

/** How long a ticket is valid after issue. */
export const TICKET_TTL_MS = 120_000;
/** Clock difference between registry and peer that is tolerated. */
export const TICKET_SKEW_MS = 30_000;

const CLAIMS = {
  v: int(1, 1),
  from: userName,
  from_key: str({ min: 43, max: 43, pattern: /^[A-Za-z0-9_-]+$/ }),
  to: userName,
  to_cert: str({ min: 64, max: 64, pattern: /^[0-9a-f]{64}$/ }),
  purpose: oneOf("chat", "file"),
  iat: int(0, Number.MAX_SAFE_INTEGER),
  exp: int(0, Number.MAX_SAFE_INTEGER),
  nonce: str({ min: 16, max: 64, pattern: /^[A-Za-z0-9_-]+$/ }),
} as const satisfies Shape;

/** What a ticket asserts. */
export interface TicketClaims {
  v: 1;
  from: string;
  /** The dialer's Ed25519 session public key, raw, base64url. */
  from_key: string;
  to: string;
  /** SHA-256 hex of the target's certificate (DER). */
  to_cert: string;
  purpose: "chat" | "file";
  iat: number;
  exp: number;
  nonce: string;
}

const HELLO_CONTEXT = "chat-p2p-hello-v1\n";
const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** Signs claims with the registry's private key; returns the ticket string. */
export async function signTicket(
  claims: TicketClaims,
  key: CryptoKey,
): Promise<string> {
  const body = base64url(enc.encode(JSON.stringify(claims)));
  const sig = await crypto.subtle.sign("Ed25519", key, enc.encode(body));
  return `${body}.${base64url(new Uint8Array(sig))}`;
}

/** Verifies a ticket's signature and shape; does not check time or names. */
export async function openTicket(
  ticket: string,
  registryKey: CryptoKey,
): Promise<Decoded<TicketClaims>> {
  const parts = ticket.split(".");
  if (parts.length !== 2) return { ok: false, reason: "malformed ticket" };
  const [body, sigText] = parts as [string, string];
  const sig = fromBase64url(sigText);
  const bytes = fromBase64url(body);
  if (!sig || !bytes || sig.length !== 64) {
    return { ok: false, reason: "malformed ticket" };
  }
  let good = false;
  try {
    good = await crypto.subtle.verify(
      "Ed25519",
      registryKey,
      sig,
      enc.encode(body),
    );
  } catch {
    good = false;
  }
  if (!good) return { ok: false, reason: "ticket signature is not valid" };
  let claims: unknown;
  try {
    claims = JSON.parse(dec.decode(bytes));
  } catch {
    return { ok: false, reason: "malformed ticket" };
  }
  const reason = checkShape(CLAIMS, claims);
  if (reason) return { ok: false, reason: `ticket ${reason}` };
  return { ok: true, msg: claims as TicketClaims };
}

/** Checks a ticket's time window against `now` (ms since the epoch). */
export function ticketTimeError(
  claims: TicketClaims,
  now: number,
): string | null {
  if (claims.exp + TICKET_SKEW_MS < now) return "ticket has expired";
  if (claims.iat - TICKET_SKEW_MS > now) return "ticket is not valid yet";
  if (claims.exp - claims.iat > TICKET_TTL_MS) return "ticket lives too long";
  return null;
}

/** The dialer's proof of its session key: a signature over the ticket. */
export async function signHello(
  ticket: string,
  sessionKey: CryptoKey,
): Promise<string> {
  const sig = await crypto.subtle.sign(
    "Ed25519",
    sessionKey,
    enc.encode(HELLO_CONTEXT + ticket),
  );
  return base64url(new Uint8Array(sig));
}

/** Verifies the dialer's proof against the key named in the ticket. */
export async function verifyHello(
  ticket: string,
  sig: string,
  fromKey: string,
): Promise<boolean> {
  const raw = fromBase64url(fromKey);
  const sigBytes = fromBase64url(sig);
  if (!raw || raw.length !== 32 || !sigBytes || sigBytes.length !== 64) {
    return false;
  }
  try {
    const key = await importEd25519Public(raw);
    return await crypto.subtle.verify(
      "Ed25519",
      key,
      sigBytes,
      enc.encode(HELLO_CONTEXT + ticket),
    );
  } catch {
    return false;
  }
}

/** Imports a raw 32-byte Ed25519 public key. */
export function importEd25519Public(raw: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    raw as Uint8Array<ArrayBuffer>,
    { name: "Ed25519" },
    true,
    ["verify"],
  );
}

const B64URL =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** base64url without padding. */
export function base64url(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]!);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Decodes unpadded base64url; null when it is not exactly what `base64url`
 * writes. Spare bits in the last character must be zero, so each value has
 * one spelling and a signed ticket cannot be re-spelled into another string.
 */
export function fromBase64url(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const spare = [0, 0, 0x0f, 0x03][text.length % 4]!;
  if (spare && B64URL.indexOf(text[text.length - 1]!) & spare) return null;
  const b64 = text.replaceAll("-", "+").replaceAll("_", "/");
  try {
    const bin = atob(b64 + "=".repeat((4 - b64.length % 4) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}
