/**
 * A room's backlog: a room message left for members who are away, sealed
 * by the sender's device to each of their devices, kept beside offline
 * messages (the same table, fetched and acknowledged the same way) and
 * bounded per member and room: past `--room-backlog` the oldest go, and the
 * member is told how many went when they next fetch.
 *
 * The registry checks what it can without reading a word: the sender and
 * each recipient are members of the room, the boxes cover exactly the
 * recipient's devices of now. A member who blocked the sender is answered
 * as any other, and nothing is kept for them.
 */
import type { ReplyData } from "../../wire/mod.ts";
import { push } from "./presence.ts";
import { event, type Handler, iso, refuse, type Routes } from "./route.ts";

/** What the text column of a backlog row holds (as an offline message's). */
interface SealedRow {
  mid: string;
  dev: string;
  boxes: Record<string, string>;
}

/** The room's members, lower-cased; refuses when `me` is not one of them. */
async function membersOf(
  ctx: Parameters<Handler<"room_keys">>[0],
  room: string,
  me: string,
): Promise<Set<string>> {
  if (!(await ctx.store.getRoom(room))) {
    refuse("not_found", `no such room '${room}'`);
  }
  const members = new Set(
    (await ctx.store.members(room)).map((m) => m.user.toLowerCase()),
  );
  if (!members.has(me)) refuse("state", `you are not in room '${room}'`);
  return members;
}

const roomKeys: Handler<"room_keys"> = async (ctx, c, req) => {
  const room = req.room.toLowerCase();
  const members = await membersOf(ctx, room, c.session.user);
  const out: ReplyData<"room_keys">["members"] = [];
  for (const name of new Set(req.users.map((u) => u.toLowerCase()))) {
    if (!members.has(name)) continue;
    const devices = await ctx.store.devicesOf(name);
    out.push({
      user: name,
      devices: devices.map((d) => ({
        name: d.name,
        sign: d.signKey,
        dh: d.dhKey,
        created_at: iso(d.createdAt),
      })),
    });
  }
  return { room, members: out };
};

const roomStore: Handler<"room_store"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  if (c.session.device !== req.from_device.toLowerCase()) {
    refuse(
      "invalid",
      "a room's backlog is sealed by the device of the session sending it",
    );
  }
  const members = await membersOf(ctx, room, me);
  const stored: string[] = [];
  const stale: string[] = [];
  const rows: { to: string; text: string }[] = [];
  for (const m of req.members) {
    const to = m.user.toLowerCase();
    if (to === me || !members.has(to)) continue;
    const want = new Set(
      (await ctx.store.devicesOf(to)).map((d) => d.name.toLowerCase()),
    );
    const boxes: Record<string, string> = {};
    for (const b of m.boxes) boxes[b.device.toLowerCase()] = b.box;
    const names = Object.keys(boxes);
    if (
      want.size === 0 || names.length !== want.size ||
      !names.every((d) => want.has(d))
    ) {
      stale.push(to);
      continue;
    }
    stored.push(to);
    // A member who blocked the sender is answered alike; nothing is kept.
    if (await ctx.store.hasBlocked(to, me)) continue;
    const row: SealedRow = { mid: req.mid, dev: req.from_device, boxes };
    rows.push({ to, text: JSON.stringify(row) });
  }
  if (rows.length > 0) {
    await ctx.store.storeBacklog(
      me,
      room,
      rows,
      ctx.now(),
      ctx.config.roomBacklog,
    );
    for (const { to } of rows) {
      push(
        ctx,
        to,
        event({
          type: "offline_waiting",
          count: await ctx.store.countOffline(to),
        }),
      );
    }
  }
  ctx.logger.info("room backlog stored", {
    user: me,
    room,
    members: rows.length,
  });
  return { room, stored: stored.sort(), stale: stale.sort() };
};

/** The room backlog requests. */
export const backlogRoutes = {
  room_keys: roomKeys,
  room_store: roomStore,
} satisfies Partial<Routes>;
