/**
 * The command table: one handler per command, grouped by domain (account
 * and directory, friends and blocks, chats, rooms, files), like the
 * registry's request table. A typed line goes parse → table → handler.
 */
import type { CommandOf, Success } from "../replies.ts";
import type { Answered } from "../replies.ts";
import type { HandlerTable, PeerContext } from "../context.ts";
import { ACCOUNT } from "./account.ts";
import { CHATS } from "./chats.ts";
import { FILES } from "./files.ts";
import { ROOMS } from "./rooms.ts";
import { SOCIAL } from "./social.ts";

/** Every command's handler; the type makes sure none is missing. */
export const HANDLERS: HandlerTable<Answered> = {
  ...ACCOUNT,
  ...SOCIAL,
  ...CHATS,
  ...ROOMS,
  ...FILES,
};

/** Runs the handler of `name` and wraps its data in a typed reply. */
export async function answer<N extends Answered>(
  peer: PeerContext,
  name: N,
  cmd: CommandOf<N>,
  command: string,
): Promise<Success<N>> {
  const handler: HandlerTable<N>[N] = HANDLERS[name];
  const data = await handler(peer, cmd);
  return { ok: true, name, command, data };
}
