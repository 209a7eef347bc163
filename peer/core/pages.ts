/**
 * Paged lists from the registry. A list command shows one page and names the
 * command line of the next (`more`); what the peer must know whole (its
 * blocks, its rooms, a room's members for the room book) is fetched page
 * after page.
 */
import { MAX_PAGE_ITEMS, type ReplyData } from "../../wire/mod.ts";
import type { PeerContext } from "./context.ts";
import type { Paged } from "./replies.ts";

/** `r` with `more`: `line` plus the offset of the next page, when one follows. */
export function withMore<T extends { next_offset?: number }>(
  r: T,
  line: string,
): Paged<T> {
  return r.next_offset === undefined
    ? r
    : { ...r, more: `${line} --offset ${r.next_offset}` };
}

/** `{ offset }` when the command named one, else nothing (the first page). */
export function offsetField(offset: number | undefined): { offset?: number } {
  return offset === undefined ? {} : { offset };
}

/**
 * Every entry of a list, asking page after page from offset 0 until the
 * reply names no next page (or names one that does not move forward).
 */
export async function allPages<R extends { next_offset?: number }, I>(
  fetch: (page: { offset: number; limit: number }) => Promise<R>,
  items: (r: R) => I[],
): Promise<I[]> {
  const out: I[] = [];
  let offset = 0;
  while (true) {
    const r = await fetch({ offset, limit: MAX_PAGE_ITEMS });
    out.push(...items(r));
    const next = r.next_offset;
    if (next === undefined || next <= offset) return out;
    offset = next;
  }
}

/**
 * A room's whole member list, from its first page (a join's or a members
 * reply) and as many more as it takes: the room book must know every member
 * to send to all of them.
 */
export async function wholeRoom(
  request: PeerContext["request"],
  first: ReplyData<"room_members">,
): Promise<ReplyData<"room_members">> {
  if (first.next_offset === undefined) return first;
  const members = [...first.members];
  let offset = first.next_offset;
  while (true) {
    const r = await request("room_members", {
      room: first.room,
      offset,
      limit: MAX_PAGE_ITEMS,
    });
    members.push(...r.members);
    if (r.next_offset === undefined || r.next_offset <= offset) {
      return { room: r.room, owner: r.owner, members };
    }
    offset = r.next_offset;
  }
}
