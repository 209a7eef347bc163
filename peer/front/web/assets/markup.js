// @ts-check
/**
 * Message text for the page, as data: the shell's rules for *bold*,
 * _italic_, `code` and links (peer/format.ts), returned as spans the page
 * turns into DOM nodes with textContent. Nothing here builds HTML, so no
 * message can inject markup. Pure; the tests import it in Deno.
 */

/**
 * One piece of a message.
 * @typedef {{ kind: "text" | "bold" | "italic" | "code", text: string }
 *   | { kind: "link", text: string, href: string }} Span
 */

/** Escape sequences: CSI, terminated OSC, two-byte ESC codes. */
const ESCAPE_RE =
  // deno-lint-ignore no-control-regex
  /(?:\x1b\[|\u009b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

/**
 * Text without escape sequences, control characters (but tab and newline)
 * or bidirectional overrides, which could make a message look like another.
 * @param {string} text
 * @returns {string}
 */
export function cleanText(text) {
  return text.replace(ESCAPE_RE, "")
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, "")
    .replace(/[\u202a-\u202e\u2066-\u2069]/g, "");
}

const URL_RE = /\bhttps?:\/\/[^\s<>"')\]]+[^\s<>"')\].,;:!?]/g;
const EMPHASIS_RE =
  /(^|[\s(])(?:\*([^*\s](?:[^*\n]*[^*\s])?)\*|_([^_\s](?:[^_\n]*[^_\s])?)_)(?=$|[\s.,;:!?)])/g;

/**
 * Emphasis in a piece of text without code or links.
 * @param {string} s
 * @param {Span[]} out
 */
function emphasis(s, out) {
  let last = 0;
  for (const m of s.matchAll(EMPHASIS_RE)) {
    const start = (m.index ?? 0) + (m[1] ?? "").length;
    if (start > last) out.push({ kind: "text", text: s.slice(last, start) });
    if (m[2] !== undefined) out.push({ kind: "bold", text: m[2] });
    else out.push({ kind: "italic", text: m[3] ?? "" });
    last = (m.index ?? 0) + m[0].length;
  }
  if (last < s.length) out.push({ kind: "text", text: s.slice(last) });
}

/**
 * Splits message text into spans: code first (nothing inside is
 * interpreted), then links (http and https only), then emphasis.
 * @param {string} raw
 * @returns {Span[]}
 */
export function parseMarkup(raw) {
  const text = cleanText(raw);
  /** @type {Span[]} */
  const out = [];
  for (const part of text.split(/(`[^`\n]+`)/)) {
    if (!part) continue;
    if (/^`[^`\n]+`$/.test(part)) {
      out.push({ kind: "code", text: part.slice(1, -1) });
      continue;
    }
    let last = 0;
    for (const m of part.matchAll(URL_RE)) {
      const at = m.index ?? 0;
      if (at > last) emphasis(part.slice(last, at), out);
      out.push({ kind: "link", text: m[0], href: m[0] });
      last = at + m[0].length;
    }
    if (last < part.length) emphasis(part.slice(last), out);
  }
  return out;
}

/** Number of user colours; the page's CSS has classes u0 to u15. */
export const USER_COLOURS = 16;

/**
 * The colour that always belongs to a user: the shell's hash (FNV-1a), so a
 * name has the same colour in the terminal and in the page.
 * @param {string} name
 * @returns {number}
 */
export function userColour(name) {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % USER_COLOURS;
}

/**
 * Bytes for people: 999 B, 1.5 kB, 12 MB.
 * @param {number} n
 * @returns {string}
 */
export function showBytes(n) {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/**
 * Time left for people: 5 s, 3 min, 2 h; empty when it cannot be told.
 * @param {number} bytesLeft
 * @param {number} rate bytes per second
 * @returns {string}
 */
export function showEta(bytesLeft, rate) {
  if (!(rate > 0) || !(bytesLeft >= 0)) return "";
  const s = Math.ceil(bytesLeft / rate);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/**
 * Hours and minutes of an ISO time, in the page's time zone.
 * @param {string} iso
 * @returns {string}
 */
export function clock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${String(d.getHours()).padStart(2, "0")}:${
    String(d.getMinutes()).padStart(2, "0")
  }`;
}

/**
 * A word for a command line: quoted, quotes and backslashes escaped, as the
 * core's tokenizer reads it.
 * @param {string} s
 * @returns {string}
 */
export function quote(s) {
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}
