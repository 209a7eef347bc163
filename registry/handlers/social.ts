/**
 * Finding people and relating to them: search, who, profiles, friends and
 * blocks. A user who blocked you is hidden from you: never shown online, no
 * last-seen time, and your friend requests to them are answered as any
 * other (they are kept but never shown to them), so a block cannot be
 * detected.
 */
import type { ReplyData } from "../../wire/mod.ts";
import type { ServiceContext } from "./context.ts";
import { pageInfo, pageList, pageOf } from "./paging.ts";
import { push } from "./presence.ts";
import {
  event,
  type Handler,
  iso,
  mustExist,
  refuse,
  type Routes,
} from "./route.ts";

const search: Handler<"search"> = async (ctx, c, req) => {
  const user = req.user.toLowerCase();
  const record = await ctx.store.getUserSeenBy(user, c.session.user);
  if (!record) return refuse("not_found", `no such user '${user}'`);
  const s = ctx.directory.peerOf(user);
  const hidden = record.blocksViewer;
  if (s && !hidden) {
    return {
      user,
      online: true,
      host: s.host,
      port: s.p2pPort ?? 0,
      last_seen: null,
      status: record.status,
    };
  }
  return {
    user,
    online: false,
    last_seen: hidden || record.lastSeen === null ? null : iso(record.lastSeen),
    status: record.status,
  };
};

const who: Handler<"who"> = async (ctx, c, req) => {
  const hidden = new Set(await ctx.store.blockersOf(c.session.user));
  const online: string[] = [];
  for (const s of ctx.directory.peers()) {
    if (!hidden.has(s.user)) online.push(s.user);
  }
  online.sort();
  const page = pageOf(req);
  const names = online.slice(page.offset, page.offset + page.limit);
  const users: ReplyData<"who">["users"] = [];
  for (const user of names) {
    const s = ctx.directory.peerOf(user);
    if (req.detailed) {
      const record = await ctx.store.getUser(user);
      users.push({
        user,
        host: s?.host ?? "",
        port: s?.p2pPort ?? 0,
        status: record?.status ?? "",
      });
    } else {
      users.push({ user });
    }
  }
  const { items } = pageList(users, { ...page, offset: 0 });
  // who always carried its total.
  return {
    users: items,
    ...pageInfo(page, items.length, online.length),
    total: online.length,
  };
};

const profile: Handler<"profile"> = async (ctx, c, req) => {
  const user = req.user.toLowerCase();
  const record = await ctx.store.getUser(user);
  if (!record) return refuse("not_found", `no such user '${user}'`);
  const hidden = await ctx.store.hasBlocked(user, c.session.user);
  const online = !hidden && ctx.directory.peerOf(user) !== undefined;
  return {
    user,
    status: record.status,
    online,
    last_seen: online || hidden || record.lastSeen === null
      ? null
      : iso(record.lastSeen),
    since: iso(record.createdAt),
    friend: user === c.session.user
      ? "you"
      : await ctx.store.relation(c.session.user, user),
  };
};

const friendRequest: Handler<"friend_request"> = async (ctx, c, req) => {
  const me = c.session.user;
  const user = await mustExist(ctx, req.user);
  if (user === me) refuse("invalid", "you cannot befriend yourself");
  if (await ctx.store.hasBlocked(me, user)) {
    refuse("state", `you have blocked ${user} — /unblock ${user} first`);
  }
  const cfg = ctx.config;
  const state = await ctx.store.requestFriend(me, user, ctx.now(), {
    perSender: cfg.maxFriendRequestsPerSender,
    perRecipient: cfg.maxFriendRequestsPerRecipient,
  });
  // A user who blocked us never hears of the request (the store keeps it
  // hidden from them); we are answered exactly as if they had not.
  const blocked = await ctx.store.hasBlocked(user, me);
  if (state === "pending") {
    if (!blocked) push(ctx, user, event({ type: "friend_request", from: me }));
  } else befriended(ctx, me, user);
  return { user, state };
};

const friendAccept: Handler<"friend_accept"> = async (ctx, c, req) => {
  const me = c.session.user;
  const user = req.user.toLowerCase();
  await ctx.store.acceptFriend(user, me, ctx.now());
  befriended(ctx, me, user);
  return { user };
};

/** Tells both new friends, and each whether the other is online. */
function befriended(ctx: ServiceContext, a: string, b: string): void {
  push(ctx, b, event({ type: "friend_accepted", user: a }));
  push(ctx, a, event({ type: "friend_accepted", user: b }));
  if (ctx.directory.peerOf(a)) {
    push(ctx, b, event({ type: "presence", user: a, online: true }));
  }
  if (ctx.directory.peerOf(b)) {
    push(ctx, a, event({ type: "presence", user: b, online: true }));
  }
}

const friendDecline: Handler<"friend_decline"> = async (ctx, c, req) => {
  const me = c.session.user;
  const user = req.user.toLowerCase();
  if (await ctx.store.relation(me, user) !== "requested_you") {
    refuse("state", `${user} has not sent you a friend request`);
  }
  await ctx.store.removeFriend(me, user);
  return { user };
};

const friendRemove: Handler<"friend_remove"> = async (ctx, c, req) => {
  const me = c.session.user;
  const user = req.user.toLowerCase();
  if (!(await ctx.store.removeFriend(me, user))) {
    refuse("state", `${user} is not your friend`);
  }
  push(ctx, user, event({ type: "friend_removed", user: me }));
  return { user };
};

const friends: Handler<"friends"> = async (ctx, c, req) => {
  const names = await ctx.store.friendsOf(c.session.user);
  const page = pageOf(req);
  const out: ReplyData<"friends">["friends"] = [];
  for (const user of names.slice(page.offset, page.offset + page.limit)) {
    const record = await ctx.store.getUser(user);
    out.push({
      user,
      online: ctx.directory.peerOf(user) !== undefined,
      status: record?.status ?? "",
    });
  }
  const { items } = pageList(out, { ...page, offset: 0 });
  return { friends: items, ...pageInfo(page, items.length, names.length) };
};

const requests: Handler<"requests"> = async (ctx, c, req) => {
  const page = pageOf(req);
  const r = await ctx.store.requestsOf(c.session.user, page);
  const incoming = pageList(r.incoming, { ...page, offset: 0 }).items;
  const outgoing = pageList(r.outgoing, { ...page, offset: 0 }).items;
  const inNext = pageInfo(page, incoming.length, r.incomingTotal).next_offset;
  const outNext = pageInfo(page, outgoing.length, r.outgoingTotal).next_offset;
  const next = Math.min(inNext ?? Infinity, outNext ?? Infinity);
  const cut = Number.isFinite(next);
  return {
    incoming,
    outgoing,
    ...(page.asked || cut || page.offset > 0
      ? { incoming_total: r.incomingTotal, outgoing_total: r.outgoingTotal }
      : {}),
    ...(cut ? { next_offset: next } : {}),
  };
};

const block: Handler<"block"> = async (ctx, c, req) => {
  const me = c.session.user;
  const user = await mustExist(ctx, req.user);
  if (user === me) refuse("invalid", "you cannot block yourself");
  const wasFriend = await ctx.store.relation(me, user) === "friends";
  await ctx.store.block(me, user, ctx.now());
  if (wasFriend && ctx.directory.peerOf(me)) {
    // The blocked user silently stops seeing us: they see us go offline.
    push(ctx, user, event({ type: "presence", user: me, online: false }));
  }
  ctx.logger.info("block", { user: me });
  return { user };
};

const unblock: Handler<"unblock"> = async (ctx, c, req) => {
  const user = req.user.toLowerCase();
  if (!(await ctx.store.unblock(c.session.user, user))) {
    refuse("state", `${user} is not blocked`);
  }
  return { user };
};

const blocks: Handler<"blocks"> = async (ctx, c, req) => {
  const { items, ...info } = pageList(
    await ctx.store.blockedBy(c.session.user),
    pageOf(req),
  );
  return { users: items, ...info };
};

/** The directory, friend and block requests. */
export const socialRoutes = {
  search,
  who,
  profile,
  friend_request: friendRequest,
  friend_accept: friendAccept,
  friend_decline: friendDecline,
  friend_remove: friendRemove,
  friends,
  requests,
  block,
  unblock,
  blocks,
} satisfies Partial<Routes>;
