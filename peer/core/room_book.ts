/**
 * The peer's picture of the rooms it is in: members in joining order, who
 * owns each room, who is online. Kept current from registry events, so room
 * messages go only to members and are accepted only from members.
 */
import type { ReplyData } from "../../wire/mod.ts";

/** One room as the peer knows it. */
export interface RoomView {
  room: string;
  owner: string;
  members: Map<string, { online: boolean }>;
}

/** Rooms this peer belongs to. */
export class RoomBook {
  readonly #rooms = new Map<string, RoomView>();

  /** Replaces what is known about a room with the registry's view. */
  load(state: ReplyData<"room_members">): RoomView {
    const view: RoomView = {
      room: state.room,
      owner: state.owner,
      members: new Map(
        state.members.map((m) => [m.user, { online: m.online }]),
      ),
    };
    this.#rooms.set(state.room, view);
    return view;
  }

  get(room: string): RoomView | undefined {
    return this.#rooms.get(room);
  }

  /** Names of the rooms we are in. */
  names(): string[] {
    return [...this.#rooms.keys()].sort();
  }

  /** Forgets a room (we left, were removed, or it was deleted). */
  drop(room: string): void {
    this.#rooms.delete(room);
  }

  joined(room: string, user: string, online = true): void {
    this.#rooms.get(room)?.members.set(user, { online });
  }

  left(room: string, user: string): void {
    this.#rooms.get(room)?.members.delete(user);
  }

  owner(room: string, user: string): void {
    const r = this.#rooms.get(room);
    if (r) r.owner = user;
  }

  /** Records presence of a user in every room we share with them. */
  presence(user: string, online: boolean): void {
    for (const r of this.#rooms.values()) {
      const m = r.members.get(user);
      if (m) m.online = online;
    }
  }

  isMember(room: string, user: string): boolean {
    return this.#rooms.get(room)?.members.has(user) ?? false;
  }

  /** Online members of a room other than `self`. */
  onlineOthers(room: string, self: string): string[] {
    const r = this.#rooms.get(room);
    if (!r) return [];
    return [...r.members].filter(([u, m]) => u !== self && m.online).map((
      [u],
    ) => u);
  }

  /** Rooms shared with `user`. */
  sharedWith(user: string): string[] {
    return [...this.#rooms.values()].filter((r) => r.members.has(user)).map((
      r,
    ) => r.room);
  }
}
