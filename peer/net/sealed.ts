/**
 * Sealed messages: what a peer leaves at the registry for another user's
 * device (an offline message, a room's backlog), readable by that device
 * only and provably written by the sender's device.
 *
 * For each recipient device the sender makes a fresh X25519 key pair and
 * derives an AES-256-GCM key with HKDF-SHA256 from two agreements, the
 * ephemeral key with the recipient device's X25519 key and the sender
 * device's X25519 key with it (so only that device can open it, and only
 * the sender's device could have made it). The header names the kind
 * (a message or a room's), the sender and its device, the recipient and
 * its device and a random message id; it is the HKDF info and the GCM
 * additional data, and the sender's Ed25519 device key signs it with the
 * ephemeral key, nonce and ciphertext. A registry that alters a byte,
 * moves a box to another user or device, or swaps the sender is caught.
 *
 * A box, base64url: 1 byte version (1), 32 bytes ephemeral public key,
 * 12 bytes nonce, 64 bytes signature, then the ciphertext (with its tag).
 */
import { base64url, fromBase64url } from "../../wire/mod.ts";
import type { Device } from "./device.ts";

const VERSION = 1;
const EPH = 32;
const NONCE = 12;
const SIG = 64;
const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** What a box is bound to; every field is checked on opening. */
export interface SealHeader {
  /** "msg" for an offline message, "room:NAME" for a room's backlog. */
  kind: string;
  from: string;
  fromDevice: string;
  to: string;
  toDevice: string;
  /** Random, chosen by the sender: the same in every device's box. */
  mid: string;
}

/** A box that cannot be opened or whose signature is not the sender's. */
export class SealError extends Error {
  override name = "SealError";
}

/** A fresh message id (16 random bytes, base64url). */
export function newMessageId(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(16)));
}

function headerBytes(h: SealHeader): Uint8Array<ArrayBuffer> {
  return enc.encode(
    [
      "chat-sealed-v1",
      h.kind,
      h.from.toLowerCase(),
      h.fromDevice.toLowerCase(),
      h.to.toLowerCase(),
      h.toDevice.toLowerCase(),
      h.mid,
    ].join("\0"),
  );
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function importX(raw: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", raw, { name: "X25519" }, false, []);
}

function key(b64: string, what: string): Uint8Array<ArrayBuffer> {
  const raw = fromBase64url(b64);
  if (!raw || raw.length !== 32) throw new SealError(`malformed ${what} key`);
  return raw;
}

async function agree(priv: CryptoKey, pub: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.deriveBits({ name: "X25519", public: pub }, priv, 256),
  );
}

async function aesKey(
  ikm: Uint8Array<ArrayBuffer>,
  salt: Uint8Array<ArrayBuffer>,
  info: Uint8Array<ArrayBuffer>,
): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey("raw", ikm, "HKDF", false, [
    "deriveKey",
  ]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt, info },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

function signed(
  header: Uint8Array,
  eph: Uint8Array,
  nonce: Uint8Array,
  ct: Uint8Array,
): Uint8Array<ArrayBuffer> {
  return concat(enc.encode("chat-sealed-sig-v1\0"), header, eph, nonce, ct);
}

/**
 * Seals `plain` for one recipient device (its X25519 public key `toDh`,
 * raw base64url) from our `device`, bound to `h`.
 */
export async function seal(
  device: Device,
  toDh: string,
  h: SealHeader,
  plain: string,
): Promise<string> {
  const them = await importX(key(toDh, "recipient"));
  const eph = await crypto.subtle.generateKey({ name: "X25519" }, true, [
    "deriveBits",
  ]) as CryptoKeyPair;
  const ephPub = new Uint8Array(
    await crypto.subtle.exportKey("raw", eph.publicKey),
  );
  const ikm = concat(
    await agree(eph.privateKey, them),
    await agree(device.dhKey, them),
  );
  const header = headerBytes(h);
  const k = await aesKey(ikm, concat(ephPub, key(toDh, "recipient")), header);
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: header },
      k,
      enc.encode(plain),
    ),
  );
  const sig = await device.sign(signed(header, ephPub, nonce, ct));
  return base64url(concat(new Uint8Array([VERSION]), ephPub, nonce, sig, ct));
}

/** The sender device's public keys (raw base64url), as pinned or vouched. */
export interface SenderKeys {
  sign: string;
  dh: string;
}

/**
 * Opens a box sealed for our `device` by `sender`, bound to `h`; throws
 * SealError when it was altered, is not for this device or header, or was
 * not signed by the sender's device key.
 */
export async function open(
  device: Device,
  sender: SenderKeys,
  h: SealHeader,
  box: string,
): Promise<string> {
  const raw = fromBase64url(box);
  if (!raw || raw.length < 1 + EPH + NONCE + SIG + 16 || raw[0] !== VERSION) {
    throw new SealError("not a sealed message of this version");
  }
  const ephPub = raw.slice(1, 1 + EPH);
  const nonce = raw.slice(1 + EPH, 1 + EPH + NONCE);
  const sig = raw.slice(1 + EPH + NONCE, 1 + EPH + NONCE + SIG);
  const ct = raw.slice(1 + EPH + NONCE + SIG);
  const header = headerBytes(h);
  const verifyKey = await crypto.subtle.importKey(
    "raw",
    key(sender.sign, "sender signing"),
    { name: "Ed25519" },
    false,
    ["verify"],
  );
  const ok = await crypto.subtle.verify(
    "Ed25519",
    verifyKey,
    sig,
    signed(header, ephPub, nonce, ct),
  );
  if (!ok) {
    throw new SealError(
      `the signature is not that of ${h.from}'s device '${h.fromDevice}'`,
    );
  }
  const ikm = concat(
    await agree(device.dhKey, await importX(ephPub)),
    await agree(device.dhKey, await importX(key(sender.dh, "sender"))),
  );
  const mine = key(device.dhPublic, "device");
  const k = await aesKey(ikm, concat(ephPub, mine), header);
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce, additionalData: header },
      k,
      ct,
    );
  } catch {
    throw new SealError("it cannot be decrypted on this device");
  }
  try {
    return dec.decode(plain);
  } catch {
    throw new SealError("its content is not text");
  }
}
