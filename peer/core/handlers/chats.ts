/**
 * Handlers of direct chats and stored messages: /chat, /accept, /reject,
 * /msg, /close, /save, /inbox. A message to someone offline is left with
 * the registry; a /chat to someone offline says how to do that.
 */
import { UserError } from "../errors.ts";
import {
  type HandlerTable,
  leaveIfCurrent,
  type PeerContext,
} from "../context.ts";
import type { MessageReply } from "../replies.ts";

/** See the module doc. */
export const CHATS: HandlerTable<
  "chat" | "accept" | "reject" | "msg" | "close" | "save" | "inbox"
> = {
  chat: async (p, cmd) => {
    const r = await chatRequest(p, cmd.user);
    p.current = { kind: "user", name: cmd.user };
    return { with: cmd.user, state: r.state };
  },
  accept: async (p, cmd) => {
    await p.conversations.accept(cmd.user, cmd.save);
    p.current = { kind: "user", name: cmd.user };
    return { with: cmd.user, saving: cmd.save };
  },
  reject: (p, cmd) => {
    p.conversations.reject(cmd.user);
    return Promise.resolve({ with: cmd.user });
  },
  msg: (p, cmd) => message(p, cmd.user, cmd.text),
  close: (p, cmd) => {
    p.conversations.close(cmd.user);
    leaveIfCurrent(p, "user", cmd.user);
    return Promise.resolve({ with: cmd.user });
  },
  save: async (p, cmd) => {
    await p.conversations.setSaving(cmd.user, cmd.on);
    return {
      with: cmd.user,
      saving: cmd.on,
      path: p.transcripts.pathFor(cmd.user),
    };
  },
  inbox: async (p) => {
    await p.inbox.fetch();
    return { messages: p.inbox.entries };
  },
};

async function chatRequest(p: PeerContext, user: string) {
  if (user === p.self()) {
    throw new UserError("you cannot chat with yourself", "self");
  }
  try {
    return await p.conversations.request(user);
  } catch (err) {
    if (err instanceof UserError && err.code === "offline") {
      throw new UserError(
        `${user} is offline — /msg ${user} TEXT leaves a message for later`,
        "offline",
      );
    }
    throw err;
  }
}

/** Sends in an open chat, asks for one, or leaves the message for later. */
async function message(
  p: PeerContext,
  user: string,
  text: string,
): Promise<MessageReply> {
  if (user === p.self()) {
    throw new UserError("you cannot message yourself", "self");
  }
  const chat = p.conversations.get(user);
  if (chat?.state === "open") {
    const id = await p.conversations.send(user, text);
    return { to: user, id, state: "sent" };
  }
  try {
    const r = await p.conversations.request(user, text);
    if (r.state === "open") {
      const id = await p.conversations.send(user, text);
      return { to: user, id, state: "sent" };
    }
    return {
      to: user,
      id: r.id,
      state: "requested",
      notice:
        `asked ${user} for a chat — if ${user} does not answer within 60 s, your message is stored as an offline message`,
    };
  } catch (err) {
    if (!(err instanceof UserError && err.code === "offline")) throw err;
  }
  const stored = await p.storeOffline(user, text);
  return {
    to: user,
    state: "stored",
    sent_at: stored.sent_at,
    notice:
      `${user} is offline — your message was stored and will be delivered when ${user} logs in`,
  };
}
