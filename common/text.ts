/**
 * Untrusted text made safe to show or store: what other people send goes
 * through here before it reaches a terminal or a transcript, so nobody can
 * move the cursor or retitle a terminal by sending escape sequences.
 */

/** Escape sequences: CSI (ESC [ or U+009B), terminated OSC, and two-byte ESC codes. */
const ESCAPE_RE =
  // deno-lint-ignore no-control-regex
  /(?:\x1b\[|\u009b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

/**
 * Bidirectional controls: embeddings and overrides (U+202A–U+202E), isolates
 * (U+2066–U+2069), the marks (U+200E, U+200F) and the Arabic letter mark
 * (U+061C). An override in someone's text reorders what follows it on the
 * screen, so `txt.exe` reads as `exe.txt` and a line can be made to look
 * like another.
 */
export const BIDI_CONTROLS_RE =
  /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Removes escape sequences whole (so no "[31m" is left behind), then any
 * other control character (C0 except tab/newline, DEL, C1) and every
 * bidirectional control, from untrusted text. CR LF, a lone CR and the
 * Unicode line and paragraph separators become a plain newline, so a caller
 * that indents continuation lines sees every line break.
 */
export function stripControls(text: string): string {
  return text.replace(ESCAPE_RE, "")
    .replace(/\r\n?|[\u2028\u2029]/g, "\n")
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, "")
    .replace(BIDI_CONTROLS_RE, "");
}
