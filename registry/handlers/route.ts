/**
 * What a handler is, how the gate finds it, and how it refuses a request.
 *
 * A handler takes the shared context, the connection and the decoded request
 * and returns the data of its success reply; the gate sends that reply. A
 * refusal is thrown as `Refused` and becomes an error reply with its code.
 */
import type {
  ErrorCode,
  RegistryEvent,
  ReplyData,
  RequestOf,
  RequestType,
} from "../../wire/mod.ts";
import type { Refusal } from "../rooms.ts";
import type { ClientState, LoggedIn, ServiceContext } from "./context.ts";

/** Handles one request type of a logged-in connection. */
export type Handler<K extends RequestType> = (
  ctx: ServiceContext,
  c: LoggedIn,
  req: RequestOf<K>,
) => Promise<ReplyData<K>>;

/** A request type served before login (sign-up and login themselves). */
export interface OpenRoute<K extends RequestType> {
  readonly open: true;
  readonly handle: (
    ctx: ServiceContext,
    c: ClientState,
    req: RequestOf<K>,
  ) => Promise<ReplyData<K>>;
  /** Runs once the reply is sent: pushes that must follow it on the wire. */
  readonly afterReply?: (ctx: ServiceContext, c: ClientState) => Promise<void>;
}

/** How the gate serves one request type: a handler needing login, or an open route. */
export type Route<K extends RequestType> = Handler<K> | OpenRoute<K>;

/** Request types the gate answers itself. */
export type GateRequestType = "hello";

/** The dispatch table: one route for every request type but the gate's own. */
export type Routes = {
  [K in Exclude<RequestType, GateRequestType>]: Route<K>;
};

/** A request refused for a reason the user can act on. */
export class Refused extends Error {
  override name = "Refused";
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

/** Throws a refusal with its wire error code. */
export function refuse(code: ErrorCode, message: string): never {
  throw new Refused(code, message);
}

/** Throws a rule's refusal, if it made one. */
export function refuseIf(r: Refusal | null): void {
  if (r) refuse(r.code, r.message);
}

/** The lower-cased name of an existing account; refuses "not_found" otherwise. */
export async function mustExist(
  ctx: ServiceContext,
  name: string,
): Promise<string> {
  const user = name.toLowerCase();
  if (!(await ctx.store.getUser(user))) {
    refuse("not_found", `no such user '${user}'`);
  }
  return user;
}

/**
 * Refuses "unavailable" when `to` has blocked `from`: a chat request, a file
 * or an invitation from a blocked user fails as "not available", as for a
 * user who is unwilling, and nothing reaches the blocker.
 */
export async function mustReach(
  ctx: ServiceContext,
  from: string,
  to: string,
): Promise<void> {
  if (await ctx.store.hasBlocked(to, from)) {
    refuse("unavailable", `${to} is not available`);
  }
}

/** Types an event literal (so a typo in a field is a compile error). */
export function event(ev: RegistryEvent): RegistryEvent {
  return ev;
}

/** A time as replies carry it. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
