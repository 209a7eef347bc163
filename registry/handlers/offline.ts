/**
 * Offline messages: stored for a user who is away, announced to them when
 * they are online, fetched a page at a time and deleted by them.
 *
 * A page is cut by count and by bytes, so a box of long messages can never
 * make a fetch outgrow the frame; after an acknowledgement that leaves
 * messages behind, an online recipient is told how many still wait (so a
 * client that fetches on `offline_waiting` drains a large box page by page).
 */
import { DEFAULT_PAGE_ITEMS, type ReplyData } from "../../wire/mod.ts";
import { fitBytes } from "./paging.ts";
import { push } from "./presence.ts";
import {
  event,
  type Handler,
  iso,
  mustExist,
  refuse,
  type Routes,
} from "./route.ts";

const offlineSend: Handler<"offline_send"> = async (ctx, c, req) => {
  const me = c.session.user;
  const to = await mustExist(ctx, req.to);
  if (to === me) refuse("invalid", "you cannot message yourself");
  // A sender the recipient blocked is answered exactly as any other (the
  // same caps apply), but the message is not kept.
  const blocked = await ctx.store.hasBlocked(to, me);
  const rec = await ctx.store.storeOffline(
    me,
    to,
    req.text,
    ctx.now(),
    {
      perRecipient: ctx.config.maxOfflinePerRecipient,
      perPair: ctx.config.maxOfflinePerPair,
    },
    blocked,
  );
  if (!blocked) {
    const count = await ctx.store.countOffline(to);
    push(ctx, to, event({ type: "offline_waiting", count }));
  }
  ctx.logger.info("offline stored", { user: me, to });
  return { to, sent_at: iso(rec.sentAt) };
};

const offlineFetch: Handler<"offline_fetch"> = async (ctx, c, req) => {
  const me = c.session.user;
  const limit = req.limit ?? DEFAULT_PAGE_ITEMS;
  // One more than the page, to know whether more follow.
  const rows = await ctx.store.offlineFor(me, limit + 1, req.after ?? 0);
  const messages: ReplyData<"offline_fetch">["messages"] = fitBytes(
    rows.slice(0, limit).map((m) => ({
      id: m.id,
      from: m.from,
      text: m.text,
      sent_at: iso(m.sentAt),
    })),
  );
  const more = rows.length > messages.length && messages.length > 0;
  // Like every paged reply, the total comes when asked for or when cut.
  const asked = req.after !== undefined || req.limit !== undefined;
  return {
    messages,
    ...(asked || more ? { total: await ctx.store.countOffline(me) } : {}),
    ...(more ? { next_after: messages[messages.length - 1]!.id } : {}),
  };
};

const offlineAck: Handler<"offline_ack"> = async (ctx, c, req) => {
  const me = c.session.user;
  const deleted = await ctx.store.deleteOffline(me, req.ids);
  if (deleted > 0) {
    const count = await ctx.store.countOffline(me);
    if (count > 0) push(ctx, me, event({ type: "offline_waiting", count }));
  }
  return { deleted };
};

/** The offline message requests. */
export const offlineRoutes = {
  offline_send: offlineSend,
  offline_fetch: offlineFetch,
  offline_ack: offlineAck,
} satisfies Partial<Routes>;
