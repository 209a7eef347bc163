/**
 * Paged lists (peer/core/pages.ts): the command line of the next page, and
 * lists the peer must know whole fetched page after page.
 */
import { assertEquals } from "../../helpers/assert.ts";
import { allPages, wholeRoom, withMore } from "../../../peer/core/pages.ts";
import type { PeerContext } from "../../../peer/core/context.ts";
import type { ReplyData } from "../../../wire/mod.ts";

Deno.test("a page that is not the last names the next one", () => {
  const last: { users: string[]; total: number; next_offset?: number } = {
    users: [],
    total: 3,
  };
  assertEquals(withMore(last, "/who"), { users: [], total: 3 });
  const cut: typeof last = { users: ["a"], total: 300, next_offset: 200 };
  assertEquals(
    withMore(cut, "/blocks"),
    {
      users: ["a"],
      total: 300,
      next_offset: 200,
      more: "/blocks --offset 200",
    },
  );
});

Deno.test("allPages asks from 0 until no next page, and never goes backwards", async () => {
  const list = Array.from({ length: 2500 }, (_, i) => i);
  const asked: [number, number][] = [];
  const got = await allPages(
    (page) => {
      asked.push([page.offset, page.limit]);
      // A server that cuts pages short of the limit (by bytes).
      const items = list.slice(page.offset, page.offset + 700);
      const next = page.offset + items.length;
      return Promise.resolve(
        next < list.length ? { items, next_offset: next } : { items },
      );
    },
    (r) => r.items,
  );
  assertEquals(got, list);
  assertEquals(asked, [[0, 1000], [700, 1000], [1400, 1000], [2100, 1000]]);
  let calls = 0;
  const stuck = await allPages(
    () => {
      calls++;
      return Promise.resolve({ items: [1], next_offset: 0 });
    },
    (r) => r.items,
  );
  assertEquals([stuck, calls], [[1], 1]);
});

Deno.test("wholeRoom fetches the members past the first page", async () => {
  const member = (i: number) => ({
    user: `u${i}`,
    online: false,
    role: "member" as const,
  });
  const all = Array.from({ length: 450 }, (_, i) => member(i));
  const asked: unknown[] = [];
  const request = ((type: string, fields: { offset: number }) => {
    asked.push([type, fields]);
    const members = all.slice(fields.offset, fields.offset + 200);
    const next = fields.offset + members.length;
    return Promise.resolve({
      room: "big",
      owner: "u0",
      members,
      total: all.length,
      ...(next < all.length ? { next_offset: next } : {}),
    });
  }) as unknown as PeerContext["request"];
  const first: ReplyData<"room_members"> = {
    room: "big",
    owner: "u0",
    members: all.slice(0, 200),
    total: 450,
    next_offset: 200,
  };
  const whole = await wholeRoom(request, first);
  assertEquals(whole.members, all);
  assertEquals(asked, [
    ["room_members", { room: "big", offset: 200, limit: 1000 }],
    ["room_members", { room: "big", offset: 400, limit: 1000 }],
  ]);
  const small = { room: "s", owner: "a", members: [member(1)] };
  assertEquals(await wholeRoom(request, small), small);
});
