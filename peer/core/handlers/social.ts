/** Handlers of friends and blocks: /friends, /friend, /requests, /block, /unblock, /blocks. */
import { type HandlerTable, leaveIfCurrent } from "../context.ts";
import { offsetField, withMore } from "../pages.ts";

/** See the module doc. */
export const SOCIAL: HandlerTable<
  "friends" | "friend" | "requests" | "block" | "unblock" | "blocks"
> = {
  friends: async (p, cmd) =>
    withMore(
      await p.request("friends", offsetField(cmd.offset)),
      "/friends",
    ),
  friend: async (p, cmd) => {
    const user = { user: cmd.user };
    switch (cmd.action) {
      case "add":
        return { ...(await p.request("friend_request", user)), action: "add" };
      case "remove":
        return {
          ...(await p.request("friend_remove", user)),
          action: "remove",
        };
      case "accept":
        return {
          ...(await p.request("friend_accept", user)),
          action: "accept",
        };
      case "decline":
        return {
          ...(await p.request("friend_decline", user)),
          action: "decline",
        };
    }
  },
  requests: async (p, cmd) =>
    withMore(
      await p.request("requests", offsetField(cmd.offset)),
      "/requests",
    ),
  block: async (p, cmd) => {
    const r = await p.request("block", { user: cmd.user });
    p.blocked.add(cmd.user);
    p.conversations.forget(cmd.user);
    p.transfers.forget(cmd.user);
    leaveIfCurrent(p, "user", cmd.user);
    return r;
  },
  unblock: async (p, cmd) => {
    const r = await p.request("unblock", { user: cmd.user });
    p.blocked.delete(cmd.user);
    return r;
  },
  blocks: async (p, cmd) =>
    withMore(await p.request("blocks", offsetField(cmd.offset)), "/blocks"),
};
