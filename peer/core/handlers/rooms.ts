/**
 * Handlers of rooms: /rooms, /room create, /join, /leave, /members, /say,
 * /invite (and its answers), /invites, /kick, /owner. The registry decides;
 * the room book follows what it answered, so room messages go only to
 * members and are taken only from them.
 */
import { type HandlerTable, leaveIfCurrent } from "../context.ts";

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
  | "kick"
  | "owner"
> = {
  rooms: async (p, cmd) => {
    const r = await p.request("rooms", { detailed: cmd.detailed });
    for (const room of r.rooms) p.knownRooms.add(room.room);
    return r;
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
    p.rooms.load(await p.request("room_members", { room: r.room }));
    return r;
  },
  join: async (p, cmd) => {
    const state = await p.request("room_join", {
      room: cmd.room,
      ...(cmd.password !== undefined ? { password: cmd.password } : {}),
    });
    p.rooms.load(state);
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
    const state = await p.request("room_members", { room: cmd.room });
    if (state.members.some((m) => m.user === p.self())) p.rooms.load(state);
    return state;
  },
  say: async (p, cmd) => ({
    room: cmd.room,
    ...(await p.conversations.say(cmd.room, cmd.text)),
  }),
  invite: (p, cmd) =>
    p.request("room_invite", { room: cmd.room, user: cmd.user }),
  invites: async (p) => {
    const r = await p.request("invites", {});
    for (const i of r.invites) p.knownRooms.add(i.room);
    return r;
  },
  invite_answer: async (p, cmd) => {
    if (!cmd.accept) {
      return {
        ...(await p.request("invite_decline", { room: cmd.room })),
        action: "decline",
      };
    }
    const state = await p.request("invite_accept", { room: cmd.room });
    p.rooms.load(state);
    p.current = { kind: "room", name: cmd.room };
    return { ...state, action: "accept" };
  },
  kick: (p, cmd) => p.request("room_kick", { room: cmd.room, user: cmd.user }),
  owner: (p, cmd) =>
    p.request("room_owner", { room: cmd.room, user: cmd.user }),
};
