/**
 * Contacts' pinned device keys (F24), like ssh's known_hosts: the first time
 * this user meets another, the device keys the registry vouches for are
 * pinned in `$CHAT_HOME/contacts/` (folder 0700, one file 0600 per registry
 * and local user). Every P2P link then has to prove a pinned device key
 * inside its handshake (p2p.ts), and every link and offline message looks
 * the contact's keys up again and compares them with the pins:
 *
 * - a contact not verified whose keys changed, or who has a new device, is
 *   announced loudly and the pins follow the registry (trust on first use);
 * - a verified contact (`/verify NAME --confirm`) whose keys changed, or who
 *   has a new device, is refused until verified again, since that is what a
 *   registry sitting in the middle would have to do;
 * - a device the registry no longer lists (revoked) is unpinned and announced.
 *
 * The safety number of `/verify` covers both users' devices; our own half
 * takes this machine's keys from its device file, so a registry that lists
 * other keys for it is caught here.
 */
import { join } from "node:path";
import { type Clock, SYSTEM_CLOCK } from "../../common/clock.ts";
import type { Logger } from "../../common/log.ts";
import {
  type DeviceKeyPair,
  fromBase64url,
  importEd25519Public,
  safetyNumber,
} from "../../wire/mod.ts";
import type { Device } from "./device.ts";
import {
  type DeviceKeysCache,
  type DeviceKeysSource,
  fetchDeviceKeys,
  type VouchedDevice,
} from "./device_keys.ts";
import { RegistryError } from "./registry_client.ts";

/** The folder of pinned contact keys inside CHAT_HOME. */
export const CONTACTS_DIR = "contacts";

/** A pinned device of a contact. */
interface PinnedDevice {
  sign: string;
  dh: string;
  pinned_at: string;
}

/** What we know of one contact. */
interface ContactEntry {
  devices: Record<string, PinnedDevice>;
  /** When the pinned keys were verified (safety number compared), or null. */
  verified_at: string | null;
  /**
   * Set while the registry vouches for other keys than those pinned of a
   * verified contact: the contact is refused until verified again.
   */
  changed_at?: string;
  /** The key set last announced as changed, so it is announced once. */
  announced?: string;
  /** The key set the last `/verify` showed, which `--confirm` pins. */
  shown?: string;
}

/** The contacts file (JSON). */
interface ContactsFileV1 {
  v: 1;
  registry: string;
  user: string;
  contacts: Record<string, ContactEntry>;
}

/** What changed about a contact's keys, for the shell and JSON mode. */
export interface ContactNotice {
  /**
   * `pinned`: first contact, its devices pinned; `new_device`: a device
   * not pinned before; `key_changed`: a pinned device with other keys;
   * `device_removed`: a pinned device the registry no longer lists.
   */
  change: "pinned" | "new_device" | "key_changed" | "device_removed";
  user: string;
  devices: string[];
  /** True when the contact was verified: then it is refused until verified again. */
  verified: boolean;
  /** True when links and messages of this contact are refused now. */
  refused: boolean;
}

/** A device's proof in a hello or welcome. */
export interface DeviceProof {
  device: string;
  /** Ed25519 signature, base64url. */
  sig: string;
}

/** What `/verify NAME` shows, and what `--confirm` did. */
export interface VerifyResult {
  user: string;
  safety_number: string;
  /** Our devices (this one first) and theirs, by name. */
  mine: string[];
  theirs: string[];
  /** This machine's device. */
  device: string;
  verified: boolean;
  /** True when the verified keys are not those the registry vouches for now. */
  changed: boolean;
  /** True when this call marked the contact verified. */
  confirmed: boolean;
}

/** A contact check that failed, phrased for the user. */
export class ContactError extends Error {
  override name = "ContactError";
  constructor(
    readonly code: "changed" | "unverifiable" | "no_device",
    message: string,
  ) {
    super(message);
  }
}

/** What the pins need from their surroundings. */
export interface ContactsOptions {
  /** CHAT_HOME. */
  home: string;
  /** The registry as "host:port", as device files name it. */
  registry: string;
  /** Our user name as of now. */
  self: () => string;
  /** This machine's device of ours, if it is one. */
  device: () => Device | null;
  /** Where to look keys up (the live session), or null when there is none. */
  source: () => DeviceKeysSource | null;
  /**
   * Keys looked up a moment ago, used by `check` (offline messages come in
   * bursts); links and verification always ask the registry afresh.
   */
  cache?: DeviceKeysCache;
  onNotice: (n: ContactNotice) => void;
  logger: Logger;
  clock?: Clock;
}

/** See the module doc. */
export class Contacts {
  readonly #o: ContactsOptions;
  readonly #clock: Clock;
  /** One change of the file at a time (links of a room come together). */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(o: ContactsOptions) {
    this.#o = o;
    this.#clock = o.clock ?? SYSTEM_CLOCK;
  }

  /** The contacts file of `user` for `registry` in `home`. */
  static pathOf(home: string, registry: string, user: string): string {
    return join(
      home,
      CONTACTS_DIR,
      `${registry.replace(/[^A-Za-z0-9.-]/g, "_")}_${user}.json`,
    );
  }

  get #path(): string {
    return Contacts.pathOf(this.#o.home, this.#o.registry, this.#o.self());
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Checks the device proof of a link with `user` against the pins, after
   * comparing them with what the registry vouches for now. Returns null when
   * the link may go on, else why it is refused.
   */
  checkLink(
    user: string,
    proof: DeviceProof | null,
    payload: Uint8Array<ArrayBuffer>,
  ): Promise<string | null> {
    return this.#serial(async () => {
      let file: ContactsFileV1;
      try {
        file = await this.#load();
      } catch (err) {
        if (err instanceof ContactError) return err.message; // A damaged file.
        throw err;
      }
      let entry: ContactEntry | undefined;
      try {
        entry = await this.#reconcile(file, user);
      } catch (err) {
        if (!(err instanceof ContactError)) throw err;
        if (err.code === "changed") return err.message;
        // The registry cannot be asked just now: the pins decide alone.
        entry = file.contacts[user];
        if (!entry || Object.keys(entry.devices).length === 0) {
          return `cannot check ${user}'s device keys (${err.message})`;
        }
        if (entry.changed_at && entry.verified_at) return changedText(user);
      }
      const pinned = entry ? Object.keys(entry.devices) : [];
      if (pinned.length === 0) return null; // A user without devices.
      if (!proof) {
        return `${user}'s link proved no device key (${user} has ${pinned.length} pinned)`;
      }
      const d = entry!.devices[proof.device.toLowerCase()];
      if (!d) {
        return `${user}'s link names device '${proof.device}', which is not one of theirs`;
      }
      if (!(await verifySig(d.sign, proof.sig, payload))) {
        return `${user}'s link did not prove the key of device '${proof.device}' pinned for them`;
      }
      return null;
    });
  }

  /**
   * Compares `user`'s keys at the registry with the pins (pinning them at
   * first contact); throws ContactError when the contact is refused.
   * Offline messages to and from `user` pass through here.
   */
  check(user: string): Promise<void> {
    return this.#serial(async () => {
      await this.#reconcile(await this.#load(), user, true);
    });
  }

  /**
   * The safety number of us and `user` from our devices (this one's keys
   * from its file) and theirs as the registry vouches for them now; with
   * `confirm`, pins those keys and marks `user` verified.
   */
  verify(user: string, confirm: boolean): Promise<VerifyResult> {
    return this.#serial(async () => {
      const me = this.#o.self();
      if (user === me) {
        throw new ContactError(
          "unverifiable",
          "that is you: verify another user",
        );
      }
      const device = this.#o.device();
      if (!device?.enrolled) {
        throw new ContactError(
          "no_device",
          "this machine is not one of your devices — log in with the password once (chat login), then verify",
        );
      }
      const mine = await this.#vouched(me);
      const self = mine.find((d) => d.name === device.name);
      if (
        !self || self.sign !== device.signPublic || self.dh !== device.dhPublic
      ) {
        throw new ContactError(
          "unverifiable",
          `the registry does not list this machine's keys for device '${device.name}' — it may be compromised, or the device was revoked (chat devices)`,
        );
      }
      const theirs = await this.#vouched(user);
      const number = await safetyNumber(
        { user: me, devices: mine.map(pair) },
        { user, devices: theirs.map(pair) },
      );
      const file = await this.#load();
      const set = keySet(theirs);
      let entry = file.contacts[user];
      const pinnedSet = entry ? keySet(pinnedList(entry)) : "";
      let confirmed = false;
      if (confirm) {
        if (theirs.length === 0) {
          throw new ContactError(
            "unverifiable",
            `${user} has no devices to verify yet`,
          );
        }
        if (entry?.shown !== undefined && entry.shown !== set) {
          throw new ContactError(
            "changed",
            `${user}'s keys changed since /verify ${user} showed them — compare the new safety number first`,
          );
        }
        entry = pinAll(theirs, this.#now());
        entry.verified_at = this.#now();
        file.contacts[user] = entry;
        confirmed = true;
      } else {
        entry ??= pinAll(theirs, this.#now());
        entry.shown = set;
        file.contacts[user] = entry;
      }
      await this.#save(file);
      const verified = entry.verified_at !== null;
      return {
        user,
        safety_number: number,
        mine: [
          device.name,
          ...mine.map((d) => d.name).filter((n) => n !== device.name),
        ],
        theirs: theirs.map((d) => d.name),
        device: device.name,
        verified,
        changed: verified && !confirmed && pinnedSet !== set,
        confirmed,
      };
    });
  }

  async #vouched(user: string, cached = false): Promise<VouchedDevice[]> {
    const source = this.#o.source();
    if (!source) {
      throw new ContactError("unverifiable", "not logged in to the registry");
    }
    try {
      const cache = this.#o.cache;
      if (cache) return await cache.get(source, user, { fresh: !cached });
      return await fetchDeviceKeys(source, user);
    } catch (err) {
      if (err instanceof RegistryError) {
        throw new ContactError("unverifiable", err.message);
      }
      throw err;
    }
  }

  /**
   * Looks `user`'s keys up and applies the rules of the module doc to the
   * pins; saves and announces what changed. Returns the entry (undefined
   * for a user without devices met for the first time).
   */
  async #reconcile(
    file: ContactsFileV1,
    user: string,
    cached = false,
  ): Promise<ContactEntry | undefined> {
    const vouched = await this.#vouched(user, cached);
    const now = this.#now();
    const entry = file.contacts[user];
    if (!entry) {
      if (vouched.length === 0) return undefined;
      file.contacts[user] = pinAll(vouched, now);
      await this.#save(file);
      this.#notice({
        change: "pinned",
        user,
        devices: vouched.map((d) => d.name),
        verified: false,
        refused: false,
      });
      return file.contacts[user];
    }
    const byName = new Map(vouched.map((d) => [d.name, d]));
    const added = vouched.filter((d) => !entry.devices[d.name]);
    const changed = vouched.filter((d) => {
      const p = entry.devices[d.name];
      return p !== undefined && (p.sign !== d.sign || p.dh !== d.dh);
    });
    const removed = Object.keys(entry.devices).filter((n) => !byName.has(n));
    const verified = entry.verified_at !== null;
    let dirty = false;
    for (const name of removed) {
      delete entry.devices[name];
      dirty = true;
    }
    if (removed.length > 0) {
      this.#notice({
        change: "device_removed",
        user,
        devices: removed,
        verified,
        refused: false,
      });
    }
    if (added.length === 0 && changed.length === 0) {
      if (entry.changed_at !== undefined) {
        // The registry vouches for the verified keys again.
        delete entry.changed_at;
        delete entry.announced;
        dirty = true;
      }
      if (dirty) await this.#save(file);
      return entry;
    }
    const set = keySet(vouched);
    const announce = entry.announced !== set;
    if (verified) {
      // The pins stay those verified; the contact is refused until then.
      entry.changed_at ??= now;
      entry.announced = set;
      await this.#save(file);
    } else {
      for (const d of [...added, ...changed]) {
        entry.devices[d.name] = { sign: d.sign, dh: d.dh, pinned_at: now };
      }
      delete entry.announced;
      await this.#save(file);
    }
    if (announce) {
      if (changed.length > 0) {
        this.#notice({
          change: "key_changed",
          user,
          devices: changed.map((d) => d.name),
          verified,
          refused: verified,
        });
      }
      if (added.length > 0) {
        this.#notice({
          change: "new_device",
          user,
          devices: added.map((d) => d.name),
          verified,
          refused: verified,
        });
      }
    }
    if (verified) throw new ContactError("changed", changedText(user));
    return entry;
  }

  #notice(n: ContactNotice): void {
    this.#o.logger.warn("contact keys", {
      user: n.user,
      change: n.change,
      devices: n.devices.join(","),
      verified: n.verified,
    });
    this.#o.onNotice(n);
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  async #load(): Promise<ContactsFileV1> {
    const path = this.#path;
    const empty: ContactsFileV1 = {
      v: 1,
      registry: this.#o.registry,
      user: this.#o.self(),
      contacts: {},
    };
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return empty;
      throw err;
    }
    try {
      const f = JSON.parse(text) as ContactsFileV1;
      if (f?.v === 1 && typeof f.contacts === "object" && f.contacts) return f;
    } catch {
      // Reported below.
    }
    throw new ContactError(
      "unverifiable",
      `the contacts file ${path} is damaged — fix or delete it (deleting forgets every pinned key and verification)`,
    );
  }

  async #save(f: ContactsFileV1): Promise<void> {
    const path = this.#path;
    const dir = join(path, "..");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700).catch(() => {
      // Windows has no modes; the folder is the user's own there.
    });
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(f, null, 2) + "\n", {
      mode: 0o600,
    });
    await Deno.rename(tmp, path);
  }
}

function changedText(user: string): string {
  return `${user}'s device keys changed since you verified them — refused until you compare the safety number again (/verify ${user}, then /verify ${user} --confirm)`;
}

function pinAll(devices: readonly VouchedDevice[], now: string): ContactEntry {
  const entry: ContactEntry = { devices: {}, verified_at: null };
  for (const d of devices) {
    entry.devices[d.name] = { sign: d.sign, dh: d.dh, pinned_at: now };
  }
  return entry;
}

function pinnedList(entry: ContactEntry): DeviceKeyPair[] {
  return Object.entries(entry.devices).map(([name, d]) => ({
    name,
    sign: d.sign,
    dh: d.dh,
  }));
}

function pair(d: VouchedDevice): DeviceKeyPair {
  return { name: d.name, sign: d.sign, dh: d.dh };
}

/** A set of device keys as one comparable string. */
function keySet(devices: readonly DeviceKeyPair[]): string {
  return devices.map((d) => `${d.name} ${d.sign} ${d.dh}`).sort().join("\n");
}

async function verifySig(
  signKey: string,
  sig: string,
  payload: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  const raw = fromBase64url(signKey);
  const s = fromBase64url(sig);
  if (!raw || raw.length !== 32 || !s || s.length !== 64) return false;
  try {
    const key = await importEd25519Public(raw);
    return await crypto.subtle.verify("Ed25519", key, s, payload);
  } catch {
    return false; // A malformed key or signature proves nothing.
  }
}
