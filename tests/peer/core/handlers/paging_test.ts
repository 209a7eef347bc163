/**
 * Long lists between real processes: a `chat peer --json` shows a page and
 * names the command of the next (`more`), and at login is told how much
 * waits beyond what the registry pushed (`pending`). The rooms and
 * invitations are made by tool sessions of the registry's own client.
 */
import { assert, assertEquals } from "../../../helpers/assert.ts";
import { spawnRegistry } from "../../../helpers/registry.ts";
import { spawnPeer } from "../../../helpers/peer_process.ts";
import { loggedIn, signup } from "../../../registry/support.ts";

/** Rooms in all: one more than a page holds. */
const ROOMS = 201;
const PER_OWNER = 20;

Deno.test("long lists come a page at a time, and a login says what waits", async (t) => {
  await using reg = await spawnRegistry({
    args: ["--max-invites-received", "300"],
  });
  const target = reg.target();
  await signup(target, "bob", "bob-password");
  const owners = Math.ceil(ROOMS / PER_OWNER);
  const names: string[] = [];
  await Promise.all(
    Array.from({ length: owners }, async (_, o) => {
      const owner = `o${String(o).padStart(2, "0")}`;
      await signup(target, owner, `${owner}-password`);
      await using c = await loggedIn(target, owner, `${owner}-password`, {
        kind: "tool",
      });
      for (let r = 0; r < PER_OWNER && o * PER_OWNER + r < ROOMS; r++) {
        const room = `${owner}-r${String(r).padStart(2, "0")}`;
        names.push(room);
        await c.request("room_create", { room });
        await c.request("room_invite", { room, user: "bob" });
      }
    }),
  );
  names.sort();
  await using bob = await spawnPeer(reg, { user: "bob", signup: false });

  await t.step(
    "the login pushes a page of invitations and counts the rest",
    async () => {
      const pending = await bob.waitFor((l) => l.type === "pending", "pending");
      assertEquals(pending, {
        type: "pending",
        friend_requests: 0,
        invites: ROOMS,
      });
      const pushed = bob.events("room_invite");
      assert(
        pushed.length > 0 && pushed.length < ROOMS,
        `${pushed.length} invitations pushed at login`,
      );
    },
  );

  await t.step(
    "/invites shows the first page and how to see the next",
    async () => {
      const first = await bob.send("/invites");
      assertEquals(first.ok, true, JSON.stringify(first).slice(0, 300));
      assertEquals((first.invites as unknown[]).length, 200);
      assertEquals([first.total, first.next_offset, first.more], [
        ROOMS,
        200,
        "/invites --offset 200",
      ]);
      const next = await bob.send(String(first.more));
      assertEquals((next.invites as unknown[]).length, ROOMS - 200);
      assertEquals([next.total, next.next_offset, next.more], [
        ROOMS,
        undefined,
        undefined,
      ]);
    },
  );

  await t.step("/rooms pages by name; a word finds rooms by name", async () => {
    const first = await bob.send("/rooms");
    const shown = (first.rooms as { room: string }[]).map((r) => r.room);
    assertEquals(shown, names.slice(0, 200));
    assertEquals(first.more, "/rooms --offset 200");
    const rest = await bob.send("/rooms --offset 200");
    assertEquals(
      (rest.rooms as { room: string }[]).map((r) => r.room),
      names.slice(200),
    );
    const found = await bob.send("/rooms -l O03-");
    assertEquals(
      (found.rooms as { room: string; owner: string }[]).map((r) => r.owner),
      Array(PER_OWNER).fill("o03"),
    );
    assertEquals([found.total, found.more], [undefined, undefined]);
    const none = await bob.send("/rooms nothing-like-it");
    assertEquals(none.rooms, []);
  });
});
