/**
 * Offline messages: stored for a user who is away, announced to them when
 * they are online, fetched and deleted by them.
 */
import { MAX_LIST_ITEMS } from "../../wire/mod.ts";
import { push } from "./presence.ts";
import {
  event,
  type Handler,
  iso,
  mustExist,
  mustReach,
  refuse,
  type Routes,
} from "./route.ts";

const offlineSend: Handler<"offline_send"> = async (ctx, c, req) => {
  const me = c.session.user;
  const to = await mustExist(ctx, req.to);
  if (to === me) refuse("invalid", "you cannot message yourself");
  await mustReach(ctx, me, to);
  const rec = await ctx.store.storeOffline(
    me,
    to,
    req.text,
    ctx.now(),
    ctx.config.maxOfflinePerRecipient,
  );
  const count = await ctx.store.countOffline(to);
  push(ctx, to, event({ type: "offline_waiting", count }));
  ctx.logger.info("offline stored", { user: me, to });
  return { to, sent_at: iso(rec.sentAt) };
};

const offlineFetch: Handler<"offline_fetch"> = async (ctx, c) => ({
  messages: (await ctx.store.offlineFor(c.session.user, MAX_LIST_ITEMS))
    .map((m) => ({
      id: m.id,
      from: m.from,
      text: m.text,
      sent_at: iso(m.sentAt),
    })),
});

const offlineAck: Handler<"offline_ack"> = async (ctx, c, req) => ({
  deleted: await ctx.store.deleteOffline(c.session.user, req.ids),
});

/** The offline message requests. */
export const offlineRoutes = {
  offline_send: offlineSend,
  offline_fetch: offlineFetch,
  offline_ack: offlineAck,
} satisfies Partial<Routes>;
