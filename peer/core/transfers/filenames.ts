/**
 * Safe names for received files (F16): whatever a sender claims, the result
 * is one plain file name inside the downloads folder, and an existing file is
 * never overwritten (`name (1).ext`).
 */

/** Longest name we create, in UTF-8 bytes (most file systems allow 255). */
export const MAX_FILE_NAME_BYTES = 200;

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;
const enc = new TextEncoder();

/** Turns an untrusted name into a safe, non-empty base name. */
export function sanitizeFileName(raw: string): string {
  // Only the last path component counts, whichever separator was used.
  let name = raw.split(/[/\\]/).pop() ?? "";
  // Control characters (C0, DEL, C1), line and paragraph separators, and
  // characters Windows forbids.
  // deno-lint-ignore no-control-regex
  name = name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029<>:"|?*]/g, "");
  // Bidirectional overrides can disguise an extension (evil‮txt.exe).
  name = name.replace(/[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, "");
  // No hidden files, no leading or trailing dots and blanks in any mix
  // (". con" must not slip past the reserved-name check below).
  name = name.replace(/^[\s.]+/, "").replace(/[\s.]+$/, "");
  if (!name) name = "file";
  if (WINDOWS_RESERVED.test(name)) name = `_${name}`;
  return capBytes(name, MAX_FILE_NAME_BYTES);
}

/** Cuts a name to `max` UTF-8 bytes, keeping a short extension. */
function capBytes(name: string, max: number): string {
  if (enc.encode(name).length <= max) return name;
  const dot = name.lastIndexOf(".");
  const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : "";
  const budget = max - enc.encode(ext).length;
  // Every UTF-16 unit takes at least one UTF-8 byte, so cutting to `budget`
  // units first loses nothing and keeps the loop below short for a hostile
  // 16,000-character name.
  let stem = (ext ? name.slice(0, dot) : name).slice(0, budget);
  while (enc.encode(stem).length > budget) stem = stem.slice(0, -1);
  // Never end on half a surrogate pair.
  if (/[\ud800-\udbff]$/.test(stem)) stem = stem.slice(0, -1);
  return stem + ext;
}

/** The n-th alternative of a name: `report.pdf` → `report (2).pdf`. */
export function numberedName(name: string, n: number): string {
  if (n === 0) return name;
  // Compound extensions stay whole: backup.tar.gz → backup (1).tar.gz.
  const compound = /\.tar\.(gz|bz2|xz|zst|lz|lzma|z)$/i.exec(name);
  const dot = compound && compound.index > 0
    ? compound.index
    : name.lastIndexOf(".");
  const hasExt = dot > 0 && name.length - dot <= 16;
  const stem = hasExt ? name.slice(0, dot) : name;
  const ext = hasExt ? name.slice(dot) : "";
  return capBytes(`${stem} (${n})${ext}`, MAX_FILE_NAME_BYTES + 8);
}
