/** The peer: one core, two front ends, and the one-shot commands. */
import type { CommandContext } from "../main.ts";

function notYet(name: string) {
  return (_ctx: CommandContext): Promise<number> => {
    console.error(`chat: chat ${name} is not available yet`);
    return Promise.resolve(1);
  };
}

/** `chat peer`. */
export const peerMain = notYet("peer");
/** `chat signup`. */
export const signupMain = notYet("signup");
/** `chat who`. */
export const whoMain = notYet("who");
/** `chat search`. */
export const searchMain = notYet("search");
/** `chat send`. */
export const sendMain = notYet("send");
/** `chat receive`. */
export const receiveMain = notYet("receive");
