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
 * Removes escape sequences whole (so no "[31m" is left behind), then any
 * other control character (C0 except tab/newline, DEL, C1), from untrusted text.
 */
export function stripControls(text: string): string {
  return text.replace(ESCAPE_RE, "")
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, "");
}
