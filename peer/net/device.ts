/**
 * This machine as a device of a user (F23): a long-term Ed25519 key pair
 * that signs its logins and an X25519 key pair that messages for it are
 * encrypted to, kept in `$CHAT_HOME/devices/` (folder 0700, one file 0600
 * per registry and user). The registry records the public halves at the
 * first password login; from then on the device logs in by signing the
 * registry's challenge.
 */
import { join } from "node:path";
import { base64url, fromBase64url } from "../../wire/mod.ts";

/** The folder of device files inside CHAT_HOME. */
export const DEVICES_DIR = "devices";

/** What a device file holds (JSON). */
interface DeviceFileV1 {
  v: 1;
  /** The registry as "host:port". */
  registry: string;
  /** SHA-256 hex of the registry's certificate when the device was added. */
  fingerprint: string;
  user: string;
  name: string;
  created_at: string;
  /** PKCS #8 private keys and raw public keys, base64url. */
  sign: { private: string; public: string };
  dh: { private: string; public: string };
}

/** A device file that cannot be used, with the path to delete. */
export class DeviceFileError extends Error {
  override name = "DeviceFileError";
}

/** See the module doc. */
export class Device {
  /** Whether the registry knows this device (its file was saved after a login). */
  enrolled: boolean;
  #name: string;

  private constructor(
    readonly path: string,
    readonly registry: string,
    readonly user: string,
    name: string,
    readonly signPublic: string,
    readonly dhPublic: string,
    readonly createdAt: string,
    readonly signKey: CryptoKey,
    readonly dhKey: CryptoKey,
    readonly exported: { sign: string; dh: string },
    enrolled: boolean,
  ) {
    this.#name = name;
    this.enrolled = enrolled;
  }

  /** The device's name: as asked for, then as the registry recorded it. */
  get name(): string {
    return this.#name;
  }

  /** The file of `user`'s device for `registry` ("host:port") in `home`. */
  static pathOf(home: string, registry: string, user: string): string {
    return join(home, DEVICES_DIR, `${prefixOf(registry)}${user}.json`);
  }

  /** Fresh key pairs for a device not yet known to the registry (not saved). */
  static async create(
    home: string,
    registry: string,
    user: string,
    name: string,
  ): Promise<Device> {
    const sign = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const dh = await crypto.subtle.generateKey({ name: "X25519" }, true, [
      "deriveBits",
    ]) as CryptoKeyPair;
    const raw = async (k: CryptoKey) =>
      base64url(new Uint8Array(await crypto.subtle.exportKey("raw", k)));
    const pkcs8 = async (k: CryptoKey) =>
      base64url(new Uint8Array(await crypto.subtle.exportKey("pkcs8", k)));
    return new Device(
      Device.pathOf(home, registry, user),
      registry,
      user,
      name.toLowerCase(),
      await raw(sign.publicKey),
      await raw(dh.publicKey),
      new Date().toISOString(),
      sign.privateKey,
      dh.privateKey,
      { sign: await pkcs8(sign.privateKey), dh: await pkcs8(dh.privateKey) },
      false,
    );
  }

  /** New key pairs under the same name (the registry forgot the old ones). */
  renew(home: string): Promise<Device> {
    return Device.create(home, this.registry, this.user, this.name);
  }

  /** The saved device of `user` for `registry`, or null when there is none. */
  static async load(
    home: string,
    registry: string,
    user: string,
  ): Promise<Device | null> {
    const path = Device.pathOf(home, registry, user);
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
    const bad = (why: string) =>
      new DeviceFileError(
        `the device file ${path} ${why} — delete it and log in with the password to add this machine again`,
      );
    let f: DeviceFileV1;
    try {
      f = JSON.parse(text);
    } catch {
      throw bad("is not valid JSON");
    }
    if (
      f?.v !== 1 || typeof f.name !== "string" || typeof f.user !== "string" ||
      typeof f.sign?.private !== "string" || typeof f.dh?.private !== "string"
    ) throw bad("is not a device file of this version");
    const signRaw = fromBase64url(f.sign.private);
    const dhRaw = fromBase64url(f.dh.private);
    if (!signRaw || !dhRaw) throw bad("holds a malformed key");
    let signKey: CryptoKey;
    let dhKey: CryptoKey;
    try {
      signKey = await crypto.subtle.importKey(
        "pkcs8",
        signRaw,
        { name: "Ed25519" },
        false,
        ["sign"],
      );
      dhKey = await crypto.subtle.importKey(
        "pkcs8",
        dhRaw,
        { name: "X25519" },
        false,
        ["deriveBits"],
      );
    } catch {
      throw bad("holds a key that cannot be read");
    }
    return new Device(
      path,
      f.registry,
      f.user,
      f.name,
      f.sign.public,
      f.dh.public,
      f.created_at,
      signKey,
      dhKey,
      { sign: f.sign.private, dh: f.dh.private },
      true,
    );
  }

  /** Users with a saved device for `registry` in `home`, sorted. */
  static async usersOf(home: string, registry: string): Promise<string[]> {
    const prefix = prefixOf(registry);
    const users: string[] = [];
    try {
      for await (const e of Deno.readDir(join(home, DEVICES_DIR))) {
        if (
          e.isFile && e.name.startsWith(prefix) && e.name.endsWith(".json")
        ) {
          users.push(e.name.slice(prefix.length, -".json".length));
        }
      }
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return [];
      throw err;
    }
    return users.sort();
  }

  /**
   * Writes the device file (owner-only, replaced atomically): called once
   * the registry has recorded the device, under `name` (which the registry
   * may have numbered when the name was taken).
   */
  async save(fingerprint: string, name: string = this.#name): Promise<void> {
    this.#name = name;
    const dir = join(this.path, "..");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700).catch(() => {
      // Windows has no modes; the folder is the user's own there.
    });
    const f: DeviceFileV1 = {
      v: 1,
      registry: this.registry,
      fingerprint,
      user: this.user,
      name: this.name,
      created_at: this.createdAt,
      sign: { private: this.exported.sign, public: this.signPublic },
      dh: { private: this.exported.dh, public: this.dhPublic },
    };
    const tmp = `${this.path}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(f, null, 2) + "\n", {
      mode: 0o600,
    });
    await Deno.rename(tmp, this.path);
    this.enrolled = true;
  }

  /** Deletes the device file; false when there was none. */
  async forget(): Promise<boolean> {
    try {
      await Deno.remove(this.path);
      return true;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return false;
      throw err;
    }
  }

  /** Signs `data` with the device's Ed25519 key. */
  async sign(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
    return new Uint8Array(
      await crypto.subtle.sign("Ed25519", this.signKey, data),
    );
  }
}

/** The file-name prefix of a registry's devices: host and port, made safe. */
function prefixOf(registry: string): string {
  return `${registry.replace(/[^A-Za-z0-9.-]/g, "_")}_`;
}
