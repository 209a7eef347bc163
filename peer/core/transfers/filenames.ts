/**
 * Safe names for received files (F16): whatever a sender claims, the result
 * is one plain file name inside the downloads folder, and an existing file is
 * never overwritten (`name (1).ext`).
 */

/** Longest name we create, in UTF-8 bytes (most file systems allow 255). */
export const MAX_FILE_NAME_BYTES = 200;

/**
 * Windows device names. Windows matches them on the part before the first
 * dot with trailing blanks ignored (`NUL   .txt` is NUL), and counts the
 * superscript digits ¹ ² ³ as digits (`COM¹`).
 */
const WINDOWS_RESERVED =
  /^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3]|conin\$|conout\$|clock\$)$/i;

/**
 * Characters that show nothing, on any platform the program ships to: the
 * soft hyphen, the combining grapheme joiner, Hangul and Khmer fillers, the
 * Mongolian vowel separator, zero-width space and word joiner, invisible
 * operators, deprecated format characters, the byte order mark, the
 * half-width Hangul filler and tag characters. A name made of them looks
 * empty or like another name. ZWJ and ZWNJ stay (emoji and Persian need
 * them) unless they touch a blank, a dot or an end, where they only hide.
 */
const INVISIBLE =
  /[\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180e\u200b\u2060-\u2064\u206a-\u206f\u3164\ufeff\uffa0]|\udb40[\udc00-\udc7f]/g;

const enc = new TextEncoder();

/** Turns an untrusted name into a safe, non-empty base name. */
export function sanitizeFileName(raw: string): string {
  // Only the last path component counts, whichever separator was used.
  let name = raw.split(/[/\\]/).pop() ?? "";
  // Control characters (C0, DEL, C1), line and paragraph separators, and
  // characters Windows forbids.
  // deno-lint-ignore no-control-regex
  name = name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029<>:"|?*]/g, "");
  // Bidirectional controls can disguise an extension (evil‮txt.exe); the
  // Arabic letter mark is one of them.
  name = name.replace(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, "");
  name = name.replace(INVISIBLE, "");
  // Joiners next to a blank, a dot or an end join nothing.
  name = name.replace(/^[\u200c\u200d]+|[\u200c\u200d]+$/g, "")
    .replace(/[\u200c\u200d]+(?=[\s.])|(?<=[\s.])[\u200c\u200d]+/g, "");
  // No hidden files, no leading or trailing dots and blanks in any mix
  // (". con" must not slip past the reserved-name check below).
  name = name.replace(/^[\s.]+/, "").replace(/[\s.]+$/, "");
  if (!name) name = "file";
  if (isWindowsDevice(name)) name = `_${name}`;
  return capBytes(name, MAX_FILE_NAME_BYTES);
}

/** True if Windows would open a device instead of a file of this name. */
function isWindowsDevice(name: string): boolean {
  const dot = name.indexOf(".");
  const stem = (dot < 0 ? name : name.slice(0, dot)).replace(/\s+$/, "");
  return WINDOWS_RESERVED.test(stem);
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
