/**
 * Rooms: creating, listing, joining (with a password or an invitation),
 * leaving, invitations and the owner's powers. The rules are pure
 * (`../rooms.ts`); this file gathers the state they decide on, applies the
 * verdict and tells the members.
 */
import {
  MAX_LIST_ITEMS,
  type RegistryEvent,
  type ReplyData,
} from "../../wire/mod.ts";
import { hashPassword, verifyPassword } from "../passwords.ts";
import {
  type AdminState,
  decideInvite,
  decideJoin,
  decideKick,
  decideOwner,
  DEFAULT_CAPACITY,
} from "../rooms.ts";
import type { ServiceContext } from "./context.ts";
import { push } from "./presence.ts";
import {
  event,
  type Handler,
  iso,
  mustExist,
  mustReach,
  refuse,
  refuseIf,
  type Routes,
} from "./route.ts";

const roomCreate: Handler<"room_create"> = async (ctx, c, req) => {
  const room = req.room.toLowerCase();
  if (await ctx.store.getRoom(room)) {
    refuse("taken", `room '${room}' already exists`);
  }
  await ctx.store.createRoom({
    name: room,
    passwordHash: req.password
      ? await hashPassword(req.password, ctx.config.scrypt, { pool: ctx.pool })
      : null,
    capacity: req.capacity ?? DEFAULT_CAPACITY,
    description: req.description ?? "",
    owner: c.session.user,
    createdAt: ctx.now(),
  });
  ctx.logger.info("room created", { user: c.session.user, room });
  return { room };
};

const rooms: Handler<"rooms"> = async (ctx, c, req) => {
  const list = await ctx.store.listRooms(
    MAX_LIST_ITEMS,
    req.mine ? c.session.user : undefined,
  );
  const mine = new Set(await ctx.store.roomsOf(c.session.user));
  return {
    rooms: list.map((r) =>
      req.detailed
        ? {
          room: r.name,
          description: r.description,
          members: r.members,
          capacity: r.capacity,
          locked: r.passwordHash !== null,
          owner: r.owner,
          joined: mine.has(r.name),
        }
        : { room: r.name, joined: mine.has(r.name) }
    ),
  };
};

const roomJoin: Handler<"room_join"> = async (ctx, c, req) => {
  const room = req.room.toLowerCase();
  await join(ctx, c.session.user, room, req.password);
  return await roomState(ctx, room);
};

const roomLeave: Handler<"room_leave"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  const res = await ctx.store.removeMember(room, me);
  if (!res.removed) refuse("state", `you are not in room '${room}'`);
  await pushRoom(
    ctx,
    room,
    event({ type: "room_left", room, user: me, reason: "left" }),
  );
  if (res.newOwner) {
    await pushRoom(
      ctx,
      room,
      event({ type: "room_owner", room, user: res.newOwner }),
    );
  }
  return { room };
};

const roomMembers: Handler<"room_members"> = async (ctx, _c, req) =>
  await roomState(ctx, req.room.toLowerCase());

const roomInvite: Handler<"room_invite"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  const user = await mustExist(ctx, req.user);
  refuseIf(decideInvite(await adminState(ctx, room, me, user)));
  await mustReach(ctx, me, user);
  await ctx.store.invite(room, user, me, ctx.now());
  push(ctx, user, event({ type: "room_invite", room, from: me }));
  return { room, user };
};

const invites: Handler<"invites"> = async (ctx, c) => ({
  invites: (await ctx.store.invitesFor(c.session.user))
    .slice(0, MAX_LIST_ITEMS)
    .map((i) => ({ room: i.room, from: i.inviter, sent_at: iso(i.createdAt) })),
});

const inviteAccept: Handler<"invite_accept"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  await pendingInvite(ctx, room, me);
  await join(ctx, me, room, undefined);
  return await roomState(ctx, room);
};

const inviteDecline: Handler<"invite_decline"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  await pendingInvite(ctx, room, me);
  await ctx.store.setInviteState(room, me, "declined");
  return { room };
};

const roomKick: Handler<"room_kick"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  const user = req.user.toLowerCase();
  refuseIf(decideKick(await adminState(ctx, room, me, user)));
  await ctx.store.removeMember(room, user);
  // The kicked user is told too, though no longer a member.
  await pushRoom(
    ctx,
    room,
    event({ type: "room_left", room, user, reason: "kicked" }),
    [user],
  );
  ctx.logger.info("room kick", { user: me, room });
  return { room, user };
};

const roomOwner: Handler<"room_owner"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  const user = req.user.toLowerCase();
  refuseIf(decideOwner(await adminState(ctx, room, me, user)));
  await ctx.store.setOwner(room, user);
  await pushRoom(ctx, room, event({ type: "room_owner", room, user }));
  return { room, user };
};

/** Joins `me` to `room` if the rules allow, and tells the members. */
async function join(
  ctx: ServiceContext,
  me: string,
  room: string,
  password: string | undefined,
): Promise<void> {
  const { store } = ctx;
  const r = await store.getRoom(room);
  const members = r ? (await store.members(room)).map((m) => m.user) : [];
  const invite = r ? await store.getInvite(room, me) : null;
  const invited = invite?.state === "pending";
  const throttleKey = [`room:${room}:${me}`];
  const now = ctx.now();
  let passwordOk = false;
  if (r?.passwordHash && password !== undefined && !invited) {
    // Counted before the check, so parallel guesses cannot pass the limit.
    const wait = ctx.roomThrottle.reserve(throttleKey, now);
    if (wait > 0) {
      refuse(
        "throttled",
        `too many attempts, retry in ${Math.ceil(wait / 1000)} s`,
      );
    }
    try {
      passwordOk = await verifyPassword(password, r.passwordHash, {
        pool: ctx.pool,
      });
    } finally {
      if (passwordOk) ctx.roomThrottle.release(throttleKey, now);
    }
  }
  const verdict = decideJoin({
    room,
    exists: r !== null,
    locked: r?.passwordHash != null,
    capacity: r?.capacity ?? 0,
    members: members.length,
    isMember: members.includes(me),
    invited,
    passwordGiven: password !== undefined,
    passwordOk,
  });
  if (verdict === "already") return;
  refuseIf(verdict);
  await store.addMember(room, me, ctx.now());
  if (invited) await store.setInviteState(room, me, "accepted");
  await pushRoom(ctx, room, event({ type: "room_joined", room, user: me }));
  ctx.logger.info("room join", { user: me, room });
}

/** What an owner-only action on `target` in `room` needs to be decided. */
async function adminState(
  ctx: ServiceContext,
  room: string,
  actor: string,
  target: string,
): Promise<AdminState> {
  const r = await ctx.store.getRoom(room);
  const members = r ? (await ctx.store.members(room)).map((m) => m.user) : [];
  return {
    room,
    exists: r !== null,
    actor,
    owner: r?.owner ?? "",
    target,
    targetIsMember: members.includes(target),
  };
}

async function pendingInvite(
  ctx: ServiceContext,
  room: string,
  user: string,
): Promise<void> {
  const inv = await ctx.store.getInvite(room, user);
  if (!inv || inv.state !== "pending") {
    refuse("state", `you have no invitation to '${room}'`);
  }
}

/** The room's owner and members with their presence. */
async function roomState(
  ctx: ServiceContext,
  room: string,
): Promise<ReplyData<"room_members">> {
  const r = await ctx.store.getRoom(room);
  if (!r) return refuse("not_found", `there is no room '${room}'`);
  const members = await ctx.store.members(room);
  return {
    room,
    owner: r.owner,
    members: members.map((m) => ({
      user: m.user,
      online: ctx.sessions.peerOf(m.user) !== undefined,
      role: m.user === r.owner ? "owner" : "member",
    })),
  };
}

/** Sends an event to every online member of `room` and to `also`. */
async function pushRoom(
  ctx: ServiceContext,
  room: string,
  ev: RegistryEvent,
  also: string[] = [],
): Promise<void> {
  const names = new Set([
    ...(await ctx.store.members(room)).map((m) => m.user),
    ...also,
  ]);
  for (const name of names) push(ctx, name, ev);
}

/** The room requests. */
export const roomRoutes = {
  room_create: roomCreate,
  rooms,
  room_join: roomJoin,
  room_leave: roomLeave,
  room_members: roomMembers,
  room_invite: roomInvite,
  invites,
  invite_accept: inviteAccept,
  invite_decline: inviteDecline,
  room_kick: roomKick,
  room_owner: roomOwner,
} satisfies Partial<Routes>;
