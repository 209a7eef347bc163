/** Errors the peer shows to its user as one line. */

/** A refusal or failure phrased for the user; never a bug. */
export class UserError extends Error {
  override name = "UserError";
}
