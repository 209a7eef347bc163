/**
 * Registry pinning (F19): an explicit fingerprint, else the known_registries
 * file (trust on first use, like ssh known_hosts), else a CA-valid certificate.
 */
import { join } from "node:path";
import { showFingerprint } from "../../common/fingerprint.ts";
import type { PresentedCert } from "./tls_socket.ts";

/** The known registries file inside CHAT_HOME. */
export const KNOWN_REGISTRIES = "known_registries";

/** What to do with a presented certificate. */
export type TrustVerdict =
  | { kind: "trusted" }
  | { kind: "ask" }
  | { kind: "refuse"; message: string };

/** Decides trust without I/O. `known` is the fingerprint on file, if any. */
export function decideTrust(
  target: string,
  cert: PresentedCert,
  pin: string | undefined,
  known: string | undefined,
  knownFile: string,
): TrustVerdict {
  const got = showFingerprint(cert.fingerprint);
  if (pin !== undefined) {
    if (pin === cert.fingerprint) return { kind: "trusted" };
    return {
      kind: "refuse",
      message:
        `registry ${target} presented certificate ${got} but ${
          showFingerprint(pin)
        } was expected (--registry-fingerprint / CHAT_REGISTRY_FINGERPRINT) — refusing to connect; ` +
        "someone may be impersonating the registry",
    };
  }
  if (known !== undefined) {
    if (known === cert.fingerprint) return { kind: "trusted" };
    if (!cert.caTrusted) {
      return {
        kind: "refuse",
        message:
          `REGISTRY CERTIFICATE CHANGED: ${target} now presents ${got}, but ${
            showFingerprint(known)
          } is on file in ${knownFile} — refusing to connect; if the registry really got a new ` +
          `certificate, delete its line from that file`,
      };
    }
  }
  if (cert.caTrusted) return { kind: "trusted" };
  return { kind: "ask" };
}

/** Reads the fingerprint on file for `target` ("host:port"). */
export async function knownFingerprint(
  home: string,
  target: string,
): Promise<string | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(home, KNOWN_REGISTRIES));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  for (const line of text.split("\n")) {
    const [name, fp] = line.trim().split(/\s+/);
    if (name === target && fp) return fp.replace(/^sha256:/, "");
  }
  return undefined;
}

/** Records `target`'s fingerprint in the known registries file. */
export async function rememberFingerprint(
  home: string,
  target: string,
  fingerprint: string,
): Promise<void> {
  await Deno.mkdir(home, { recursive: true, mode: 0o700 });
  const path = join(home, KNOWN_REGISTRIES);
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const kept = text.split("\n").filter((l) =>
    l.trim() && l.trim().split(/\s+/)[0] !== target
  );
  kept.push(`${target} ${showFingerprint(fingerprint)}`);
  await Deno.writeTextFile(path, kept.join("\n") + "\n", { mode: 0o600 });
}
