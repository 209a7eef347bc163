/**
 * Handlers of rooms: /rooms, /room create, /room password, /join, /leave,
 * /members, /say, /invite (its answers and withdrawal), /invites, /kick,
 * /unban, /owner. The registry decides; the room book follows what it
 * answered (every member, page after page), so room messages go only to
 * members and are taken only from them.
 */
import { type HandlerTable, leaveIfCurrent } from "../context.ts";
import { offsetField, wholeRoom, withMore } from "../pages.ts";

/** See the module doc. */
export const ROOMS: HandlerTable<
  | "rooms"
  | "room_create"
  | "join"
  | "leave"
  | "members"
  | "say"
  | "invite"
  | "invites"
  | "invite_answer"
  | "invite_withdraw"
  | "kick"
  | "unban"
  | "owner"
  | "room_password"
> = {
  rooms: async (p, cmd) => {
    const r = await p.request("rooms", {
      detailed: cmd.detailed,
      ...(cmd.search !== undefined ? { search: cmd.search } : {}),
      ...offsetField(cmd.offset),
    });
    for (const room of r.rooms) p.knownRooms.add(room.room);
    const line = `/rooms${cmd.detailed ? " -l" : ""}${
      cmd.search !== undefined ? ` ${cmd.search}` : ""
    }`;
    return withMore(r, line);
  },
  room_create: async (p, cmd) => {
    const r = await p.request("room_create", {
      room: cmd.room,
      ...(cmd.password !== undefined ? { password: cmd.password } : {}),
      ...(cmd.capacity !== undefined ? { capacity: cmd.capacity } : {}),
      ...(cmd.description !== undefined
        ? { description: cmd.description }
        : {}),
    });
    p.rooms.load(
      await wholeRoom(
        p.request,
        await p.request("room_members", { room: r.room }),
      ),
    );
    return r;
  },
  join: async (p, cmd) => {
    const state = await p.request("room_join", {
      room: cmd.room,
      ...(cmd.password !== undefined ? { password: cmd.password } : {}),
    });
    p.rooms.load(await wholeRoom(p.request, state));
    p.current = { kind: "room", name: cmd.room };
    return state;
  },
  leave: async (p, cmd) => {
    const r = await p.request("room_leave", { room: cmd.room });
    p.rooms.drop(cmd.room);
    leaveIfCurrent(p, "room", cmd.room);
    return r;
  },
  members: async (p, cmd) => {
    const state = await p.request("room_members", {
      room: cmd.room,
      ...offsetField(cmd.offset),
    });
    if ((cmd.offset ?? 0) === 0) {
      const whole = await wholeRoom(p.request, state);
      if (whole.members.some((m) => m.user === p.self())) p.rooms.load(whole);
    }
    return withMore(state, `/members ${cmd.room}`);
  },
  say: async (p, cmd) => ({
    room: cmd.room,
    ...(await p.conversations.say(cmd.room, cmd.text)),
  }),
  invite: (p, cmd) =>
    p.request("room_invite", { room: cmd.room, user: cmd.user }),
  invites: async (p, cmd) => {
    const r = await p.request("invites", offsetField(cmd.offset));
    for (const i of r.invites) p.knownRooms.add(i.room);
    return withMore(r, "/invites");
  },
  invite_answer: async (p, cmd) => {
    if (!cmd.accept) {
      return {
        ...(await p.request("invite_decline", { room: cmd.room })),
        action: "decline",
      };
    }
    const state = await p.request("invite_accept", { room: cmd.room });
    p.rooms.load(await wholeRoom(p.request, state));
    p.current = { kind: "room", name: cmd.room };
    return { ...state, action: "accept" };
  },
  invite_withdraw: (p, cmd) =>
    p.request("invite_withdraw", { room: cmd.room, user: cmd.user }),
  kick: (p, cmd) => p.request("room_kick", { room: cmd.room, user: cmd.user }),
  unban: (p, cmd) =>
    p.request("room_unban", { room: cmd.room, user: cmd.user }),
  owner: (p, cmd) =>
    p.request("room_owner", { room: cmd.room, user: cmd.user }),
  room_password: (p, cmd) =>
    p.request("room_password", {
      room: cmd.room,
      ...(cmd.password !== undefined ? { password: cmd.password } : {}),
    }),
};
