/**
 * Offline messages: stored for a user who is away, announced to them when
 * they are online, fetched a page at a time and deleted by them.
 *
 * A page is cut by count and by bytes, so a box of long messages can never
 * make a fetch outgrow the frame; after an acknowledgement that leaves
 * messages behind, an online recipient is told how many still wait (so a
 * client that fetches on `offline_waiting` drains a large box page by page).
 * A room's backlog (handlers/backlog.ts) is kept in the same box, in order
 * with the rest, its rows naming their room; the caps here count only
 * messages to the user, and no delivery notice is kept for a room's.
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

/** What the text column of a sealed offline message holds (JSON). */
interface SealedRow {
  mid: string;
  dev: string;
  boxes: Record<string, string>;
}

const offlineSend: Handler<"offline_send"> = async (ctx, c, req) => {
  const me = c.session.user;
  const to = await mustExist(ctx, req.to);
  if (to === me) refuse("invalid", "you cannot message yourself");
  if (c.session.device !== req.from_device.toLowerCase()) {
    refuse(
      "invalid",
      "an offline message is sealed by the device of the session sending it",
    );
  }
  // Sealed to every device the recipient has now, and to nothing else.
  const devices = (await ctx.store.devicesOf(to)).map((d) => d.name);
  if (devices.length === 0) {
    refuse(
      "not_found",
      `${to} has not logged in from any device yet, so a message cannot be sealed for ${to} — try again once ${to} has`,
    );
  }
  const boxes: Record<string, string> = {};
  for (const b of req.boxes) boxes[b.device.toLowerCase()] = b.box;
  const want = new Set(devices.map((d) => d.toLowerCase()));
  if (
    Object.keys(boxes).length !== want.size ||
    !Object.keys(boxes).every((d) => want.has(d))
  ) {
    refuse(
      "invalid",
      `${to}'s devices changed while the message was sealed; send it again`,
    );
  }
  const row: SealedRow = { mid: req.mid, dev: req.from_device, boxes };
  // A sender the recipient blocked is answered exactly as any other (the
  // same caps apply), but the message is not kept.
  const blocked = await ctx.store.hasBlocked(to, me);
  const rec = await ctx.store.storeOffline(
    me,
    to,
    JSON.stringify(row),
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
  return {
    to,
    sent_at: iso(rec.sentAt),
    devices: devices.length,
  };
};

const offlineFetch: Handler<"offline_fetch"> = async (ctx, c, req) => {
  const me = c.session.user;
  const device = c.session.device?.toLowerCase();
  const limit = req.limit ?? DEFAULT_PAGE_ITEMS;
  // One more than the page, to know whether more follow.
  const rows = await ctx.store.offlineFor(me, limit + 1, req.after ?? 0);
  const messages: ReplyData<"offline_fetch">["messages"] = fitBytes(
    rows.slice(0, limit).map((m) => {
      const sealed = JSON.parse(m.text) as SealedRow;
      const box = device === undefined ? undefined : sealed.boxes[device];
      return {
        id: m.id,
        from: m.from,
        from_device: sealed.dev,
        mid: sealed.mid,
        ...(box !== undefined ? { box } : {}),
        sent_at: iso(m.sentAt),
        ...(m.room !== undefined ? { room: m.room } : {}),
      };
    }),
  );
  const more = rows.length > messages.length && messages.length > 0;
  const receipts = await ctx.store.receiptsFor(me, DEFAULT_PAGE_ITEMS);
  const dropped = await ctx.store.backlogDrops(me);
  // Like every paged reply, the total comes when asked for or when cut.
  const asked = req.after !== undefined || req.limit !== undefined;
  return {
    messages,
    ...(receipts.length > 0
      ? {
        delivered: receipts.map((r) => ({
          id: r.id,
          to: r.to,
          sent_at: iso(r.sentAt),
          delivered_at: iso(r.deliveredAt),
        })),
      }
      : {}),
    ...(dropped.length > 0
      ? { dropped: dropped.map((d) => ({ room: d.room, count: d.dropped })) }
      : {}),
    ...(asked || more ? { total: await ctx.store.countOffline(me) } : {}),
    ...(more ? { next_after: messages[messages.length - 1]!.id } : {}),
  };
};

const offlineAck: Handler<"offline_ack"> = async (ctx, c, req) => {
  const me = c.session.user;
  const senders = await ctx.store.deliverOffline(me, req.ids, ctx.now());
  const deleted = senders.length;
  if (deleted > 0) {
    const count = await ctx.store.countOffline(me);
    if (count > 0) push(ctx, me, event({ type: "offline_waiting", count }));
    // A sender online now hears at once; one who is not, at the next login.
    for (const sender of new Set(senders)) {
      const n = await ctx.store.countReceipts(sender);
      push(ctx, sender, event({ type: "delivered_waiting", count: n }));
    }
  }
  if (req.receipts && req.receipts.length > 0) {
    await ctx.store.deleteReceipts(me, req.receipts);
  }
  if (req.drops && req.drops.length > 0) {
    await ctx.store.clearBacklogDrops(me, req.drops);
  }
  return { deleted };
};

/** The offline message requests. */
export const offlineRoutes = {
  offline_send: offlineSend,
  offline_fetch: offlineFetch,
  offline_ack: offlineAck,
} satisfies Partial<Routes>;
