/**
 * Rooms: creating, listing, joining (with a password or an invitation),
 * leaving, invitations and the owner's powers (kick-and-ban, unban, hand
 * over, password, withdrawing invitations). The rules are pure
 * (`../rooms.ts`); this file gathers the state they decide on, applies the
 * verdict and tells the members.
 *
 * An invitation is the owner's: it stands in for the room's password, so a
 * hand-over withdraws every pending one (the new owner invites again whom
 * they want). A user who blocked the owner is "not available" to invite.
 */
import type { RegistryEvent, ReplyData } from "../../wire/mod.ts";
import { hashPassword, verifyPassword } from "../passwords.ts";
import {
  type AdminState,
  decideInvite,
  decideJoin,
  decideKick,
  decideOwner,
  decideOwnerOnly,
  decideUnban,
  DEFAULT_CAPACITY,
} from "../rooms.ts";
import type { Page } from "../store.ts";
import type { ServiceContext } from "./context.ts";
import { shareFailure } from "./password_check.ts";
import { fitBytes, pageInfo, pageOf } from "./paging.ts";
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
  const me = c.session.user;
  if (await ctx.store.getRoom(room)) {
    refuse("taken", `room '${room}' already exists`);
  }
  // Checked before the password is hashed, and again by the store.
  const owned = await ctx.store.countRoomsOwned(me);
  if (owned >= ctx.config.maxRoomsOwned) {
    refuse(
      "limit",
      `you own ${owned} rooms (the limit is ${ctx.config.maxRoomsOwned}); leave or hand over one first`,
    );
  }
  await ctx.store.createRoom({
    name: room,
    passwordHash: req.password
      ? await hashPassword(req.password, ctx.config.scrypt, { pool: ctx.pool })
      : null,
    capacity: req.capacity ?? DEFAULT_CAPACITY,
    description: req.description ?? "",
    owner: me,
    createdAt: ctx.now(),
  }, ctx.config.maxRoomsOwned);
  ctx.logger.info("room created", { user: me, room });
  return { room };
};

const rooms: Handler<"rooms"> = async (ctx, c, req) => {
  const page = pageOf(req);
  const { rooms: list, total } = await ctx.store.listRooms({
    ...page,
    member: req.mine ? c.session.user : undefined,
    search: req.search,
  });
  const mine = new Set(await ctx.store.roomsOf(c.session.user));
  const shown = fitBytes(list.map((r) =>
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
  ));
  return { rooms: shown, ...pageInfo(page, shown.length, total) };
};

const roomJoin: Handler<"room_join"> = async (ctx, c, req) => {
  const room = req.room.toLowerCase();
  await join(ctx, c.session.user, room, req.password);
  return await roomState(ctx, room, c.session.user);
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
    tellWithdrawn(ctx, room, res.withdrawn);
  }
  return { room };
};

const roomMembers: Handler<"room_members"> = async (ctx, c, req) =>
  await roomState(ctx, req.room.toLowerCase(), c.session.user, pageOf(req));

const roomInvite: Handler<"room_invite"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  const user = await mustExist(ctx, req.user);
  refuseIf(decideInvite(await adminState(ctx, room, me, user)));
  await mustReach(ctx, me, user);
  const cfg = ctx.config;
  await ctx.store.invite(room, user, me, ctx.now(), {
    perSender: cfg.maxInvitesPerSender,
    perRecipient: cfg.maxInvitesPerRecipient,
  });
  push(ctx, user, event({ type: "room_invite", room, from: me }));
  return { room, user };
};

const invites: Handler<"invites"> = async (ctx, c, req) => {
  const page = pageOf(req);
  const { invites: list, total } = await ctx.store.invitesFor(
    c.session.user,
    page,
  );
  const shown = fitBytes(
    list.map((i) => ({
      room: i.room,
      from: i.inviter,
      sent_at: iso(i.createdAt),
    })),
  );
  return { invites: shown, ...pageInfo(page, shown.length, total) };
};

const inviteAccept: Handler<"invite_accept"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  await pendingInvite(ctx, room, me);
  await join(ctx, me, room, undefined);
  return await roomState(ctx, room, me);
};

const inviteDecline: Handler<"invite_decline"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  await pendingInvite(ctx, room, me);
  await ctx.store.setInviteState(room, me, "declined");
  return { room };
};

const inviteWithdraw: Handler<"invite_withdraw"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  const user = req.user.toLowerCase();
  refuseIf(
    decideOwnerOnly(
      await adminState(ctx, room, me, user),
      "withdraw invitations",
    ),
  );
  if (!(await ctx.store.withdrawInvite(room, user))) {
    refuse("state", `${user} has no pending invitation to '${room}'`);
  }
  tellWithdrawn(ctx, room, [user]);
  return { room, user };
};

const roomKick: Handler<"room_kick"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  const user = req.user.toLowerCase();
  refuseIf(decideKick(await adminState(ctx, room, me, user)));
  // Banned first: the kicked user cannot slip back in between the two.
  await ctx.store.ban(room, user, me, ctx.now());
  await ctx.store.removeMember(room, user);
  // The kicked user is told too, though no longer a member.
  await pushRoom(
    ctx,
    room,
    event({ type: "room_left", room, user, reason: "kicked", by: me }),
    [user],
  );
  ctx.logger.info("room kick", { user: me, room });
  return { room, user };
};

const roomUnban: Handler<"room_unban"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  const user = req.user.toLowerCase();
  refuseIf(decideUnban(await adminState(ctx, room, me, user)));
  await ctx.store.unban(room, user);
  ctx.logger.info("room unban", { user: me, room });
  return { room, user };
};

const roomOwner: Handler<"room_owner"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  const user = req.user.toLowerCase();
  refuseIf(decideOwner(await adminState(ctx, room, me, user)));
  const owned = await ctx.store.countRoomsOwned(user);
  if (owned >= ctx.config.maxRoomsOwned) {
    refuse(
      "limit",
      `${user} owns ${owned} rooms already (the limit is ${ctx.config.maxRoomsOwned})`,
    );
  }
  const withdrawn = await ctx.store.setOwner(room, user);
  await pushRoom(ctx, room, event({ type: "room_owner", room, user }));
  tellWithdrawn(ctx, room, withdrawn);
  return { room, user };
};

const roomPassword: Handler<"room_password"> = async (ctx, c, req) => {
  const me = c.session.user;
  const room = req.room.toLowerCase();
  refuseIf(
    decideOwnerOnly(await adminState(ctx, room, me, me), "set its password"),
  );
  const hash = req.password === undefined
    ? null
    : await hashPassword(req.password, ctx.config.scrypt, { pool: ctx.pool });
  await ctx.store.setRoomPassword(room, hash);
  ctx.logger.info("room password", { user: me, room, locked: hash !== null });
  return { room, locked: hash !== null };
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
  const banned = r !== null && await store.isBanned(room, me);
  const throttleKey = [`room:${room}:${me}`];
  const now = ctx.now();
  let passwordOk = false;
  if (r?.passwordHash && password !== undefined && !invited && !banned) {
    const shared = ctx.directory.failures;
    if (shared) {
      const wait = await shared.wait(
        throttleKey[0]!,
        ctx.config.roomPasswordFailures,
        ctx.config.failureWindowMs,
      );
      if (wait > 0) {
        refuse(
          "throttled",
          `too many attempts, retry in ${Math.ceil(wait / 1000)} s`,
        );
      }
    }
    // Counted before the check, so parallel guesses cannot pass the limit.
    const wait = ctx.roomThrottle.reserve(throttleKey, now);
    if (wait > 0) {
      refuse(
        "throttled",
        `too many attempts, retry in ${Math.ceil(wait / 1000)} s`,
      );
    }
    let checked = false;
    try {
      passwordOk = await verifyPassword(password, r.passwordHash, {
        pool: ctx.pool,
      });
      checked = true;
    } finally {
      // Only a wrong password counts; a busy queue costs nothing.
      if (checked && !passwordOk) {
        ctx.roomThrottle.confirm(throttleKey);
        await shareFailure(ctx, throttleKey[0]!);
      } else ctx.roomThrottle.release(throttleKey, now);
    }
  }
  const verdict = decideJoin({
    room,
    exists: r !== null,
    locked: r?.passwordHash != null,
    capacity: r?.capacity ?? 0,
    members: members.length,
    isMember: members.includes(me),
    banned,
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
    targetIsBanned: r !== null && await ctx.store.isBanned(room, target),
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

/**
 * The room's owner and a page of its members with their presence, as
 * `viewer` may see it: a member who blocked the viewer is never shown online.
 */
async function roomState(
  ctx: ServiceContext,
  room: string,
  viewer: string,
  page: Page = pageOf({}),
): Promise<ReplyData<"room_members">> {
  const r = await ctx.store.getRoom(room);
  if (!r) return refuse("not_found", `there is no room '${room}'`);
  const members = await ctx.store.members(room);
  const hidden = new Set(await ctx.store.blockersOf(viewer));
  const shown = fitBytes(
    members.slice(page.offset, page.offset + page.limit).map((m) => ({
      user: m.user,
      online: !hidden.has(m.user) && ctx.directory.peerOf(m.user) !== undefined,
      role: m.user === r.owner ? "owner" as const : "member" as const,
    })),
  );
  return {
    room,
    owner: r.owner,
    members: shown,
    ...pageInfo(page, shown.length, members.length),
  };
}

/** Tells invitees that their invitation to `room` is gone. */
function tellWithdrawn(
  ctx: ServiceContext,
  room: string,
  invitees: string[],
): void {
  for (const user of invitees) {
    push(ctx, user, event({ type: "invite_withdrawn", room }));
  }
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
  ctx.directory.deliver(names, ev);
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
  invite_withdraw: inviteWithdraw,
  room_kick: roomKick,
  room_unban: roomUnban,
  room_owner: roomOwner,
  room_password: roomPassword,
} satisfies Partial<Routes>;
