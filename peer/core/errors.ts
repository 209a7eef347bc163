/** Errors the peer shows to its user as one line, each with a code to act on. */

/**
 * What kind of refusal or failure it was, so callers branch on the code and
 * never on the text: a bad command line, the registry's no, a user who is
 * offline or unknown, something in the wrong state (no such chat, request
 * or transfer), talking to yourself or to someone you blocked, a peer that
 * cannot be reached, a registry that cannot be reached or did not answer, a
 * session that is over, a file that cannot be read or written, or our own
 * bug.
 */
export type PeerErrorCode =
  | "usage"
  | "refused"
  | "offline"
  | "not_found"
  | "state"
  | "self"
  | "blocked"
  | "unreachable"
  | "registry"
  | "logged_out"
  | "file"
  | "internal";

/** A refusal or failure phrased for the user; never a bug. */
export class UserError extends Error {
  override name = "UserError";
  constructor(message: string, readonly code: PeerErrorCode = "refused") {
    super(message);
  }
}
