/**
 * The Store contract as one table of cases, run against every engine by
 * store_sqlite_test.ts and store_postgres_test.ts. A case gets a fresh,
 * migrated, empty store with the given users (created at 1000, 1001, …).
 */
import assert from "node:assert/strict";
import {
  DEFAULT_STATUS,
  type RoomRecord,
  type Store,
  StoreError,
} from "../../registry/store.ts";

/** Quotas too high to matter, for the cases that are not about them. */
export const PENDING = { perSender: 100, perRecipient: 100 };
/** Rooms one user may own, for the cases that are not about the cap. */
export const OWNED = 100;
/** A page that holds every list of these cases. */
export const ALL = { offset: 0, limit: 1000 };

/** An engine under test: how to get a fresh store and release it. */
export interface StoreEngine {
  /** Prefix of every test name, e.g. "SqliteStore". */
  name: string;
  /** Why the engine cannot be tested here; the cases are then skipped. */
  skip?: string;
  /** A fresh, migrated, empty store and how to dispose of it and its data. */
  open(): Promise<{ store: Store } & AsyncDisposable>;
}

/** One case of the table. */
export interface StoreCase {
  name: string;
  users: string[];
  fn: (t: Deno.TestContext, store: Store) => Promise<void>;
}

/** Registers every case of the table for `engine`. */
export function defineStoreTests(engine: StoreEngine): void {
  for (const c of STORE_CASES) {
    Deno.test({
      name: `${engine.name} ${c.name}${
        engine.skip === undefined ? "" : ` (skipped: ${engine.skip})`
      }`,
      ignore: engine.skip !== undefined,
      fn: async (t) => {
        await using opened = await engine.open();
        await addUsers(opened.store, c.users);
        await c.fn(t, opened.store);
      },
    });
  }
}

/** Creates `users` with hash `hash-of-NAME`, created at 1000, 1001, … */
export async function addUsers(store: Store, users: string[]): Promise<void> {
  for (const [i, u] of users.entries()) {
    await store.createUser(u, `hash-of-${u}`, 1_000 + i);
  }
}

/** Expects a StoreError with this code and a message matching `text`. */
export async function rejectsWith(
  p: Promise<unknown>,
  code: StoreError["code"],
  text: RegExp | string,
): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.ok(err instanceof StoreError, `expected StoreError, got ${err}`);
    assert.equal(err.code, code);
    if (typeof text === "string") assert.equal(err.message, text);
    else assert.match(err.message, text);
    return true;
  });
}

/** Both lists of pending requests, checked against their totals. */
async function requestsOf(
  store: Store,
  name: string,
): Promise<{ incoming: string[]; outgoing: string[] }> {
  const r = await store.requestsOf(name, ALL);
  assert.equal(r.incomingTotal, r.incoming.length);
  assert.equal(r.outgoingTotal, r.outgoing.length);
  return { incoming: r.incoming, outgoing: r.outgoing };
}

/** Offline caps of `n` per recipient and per sender. */
function caps(n: number): { perRecipient: number; perPair: number } {
  return { perRecipient: n, perPair: n };
}

/** A room record with a description and createdAt 5000. */
export function room(name: string, owner: string, capacity = 10): RoomRecord {
  return {
    name,
    passwordHash: null,
    capacity,
    description: `the ${name} room`,
    owner,
    createdAt: 5_000,
  };
}

/** The contract every Store keeps. */
export const STORE_CASES: readonly StoreCase[] = [
  {
    name: "accounts",
    users: ["alice"],
    fn: async (t, store) => {
      await t.step(
        "a new account has the default status and no last-seen",
        async () => {
          const u = await store.getUser("alice");
          assert.deepEqual(u, {
            name: "alice",
            passwordHash: "hash-of-alice",
            status: DEFAULT_STATUS,
            createdAt: 1_000,
            lastSeen: null,
          });
        },
      );

      await t.step("looks names up in any case", async () => {
        assert.equal((await store.getUser("ALICE"))?.name, "alice");
        assert.equal(await store.getUser("nobody"), null);
      });

      for (const dup of ["alice", "Alice", "ALICE"]) {
        await t.step(
          `refuses '${dup}' as taken: username 'alice' is taken`,
          async () => {
            await rejectsWith(
              store.createUser(dup, "other", 2),
              "taken",
              "username 'alice' is taken",
            );
            assert.equal(
              (await store.getUser("alice"))?.passwordHash,
              "hash-of-alice",
            );
          },
        );
      }

      await t.step("sets status, last-seen and password hash", async () => {
        await store.setStatus("alice", "busy");
        await store.setLastSeen(["alice"], 42);
        await store.setPasswordHash("alice", "new-hash");
        const u = await store.getUser("alice");
        assert.equal(u?.status, "busy");
        assert.equal(u?.lastSeen, 42);
        assert.equal(u?.passwordHash, "new-hash");
      });
    },
  },
  {
    name: "friends and blocks",
    users: ["alice", "bob", "carol", "dave"],
    fn: async (t, store) => {
      await t.step(
        "a request is pending and seen from both sides",
        async () => {
          assert.equal(
            await store.requestFriend("alice", "bob", 10, PENDING),
            "pending",
          );
          assert.equal(await store.relation("alice", "bob"), "requested");
          assert.equal(await store.relation("bob", "alice"), "requested_you");
          assert.deepEqual(await requestsOf(store, "bob"), {
            incoming: ["alice"],
            outgoing: [],
          });
          assert.deepEqual(await requestsOf(store, "alice"), {
            incoming: [],
            outgoing: ["bob"],
          });
          assert.equal(
            await store.requestFriend("alice", "bob", 11, PENDING),
            "pending",
            "asking twice changes nothing",
          );
        },
      );

      await t.step("accepting makes both friends", async () => {
        await store.acceptFriend("alice", "bob", 12);
        assert.equal(await store.relation("alice", "bob"), "friends");
        assert.equal(await store.relation("bob", "alice"), "friends");
        assert.deepEqual(await store.friendsOf("alice"), ["bob"]);
        assert.deepEqual(await store.friendsOf("bob"), ["alice"]);
        assert.deepEqual(await requestsOf(store, "bob"), {
          incoming: [],
          outgoing: [],
        });
      });

      await t.step(
        "accepting a request that was never sent is refused",
        async () => {
          await rejectsWith(
            store.acceptFriend("carol", "alice", 13),
            "state",
            "carol has not sent you a friend request",
          );
          await rejectsWith(
            store.acceptFriend("alice", "bob", 13),
            "state",
            /has not sent you a friend request/,
          );
        },
      );

      await t.step(
        "crossing requests become a friendship at once",
        async () => {
          assert.equal(
            await store.requestFriend("carol", "dave", 14, PENDING),
            "pending",
          );
          assert.equal(
            await store.requestFriend("dave", "carol", 15, PENDING),
            "friends",
          );
          assert.equal(await store.relation("carol", "dave"), "friends");
        },
      );

      await t.step(
        "declining (removing a request) leaves no relation",
        async () => {
          await store.requestFriend("carol", "alice", 16, PENDING);
          assert.equal(await store.removeFriend("alice", "carol"), true);
          assert.equal(await store.relation("alice", "carol"), "none");
          assert.deepEqual((await requestsOf(store, "alice")).incoming, []);
        },
      );

      await t.step(
        "removing a friend works from either side, once",
        async () => {
          assert.equal(await store.removeFriend("dave", "carol"), true);
          assert.equal(await store.relation("carol", "dave"), "none");
          assert.equal(await store.removeFriend("carol", "dave"), false);
        },
      );

      await t.step(
        "a request to an unknown user is refused by the database",
        async () => {
          await assert.rejects(
            store.requestFriend("alice", "nobody", 17, PENDING),
          );
          assert.equal(await store.relation("alice", "nobody"), "none");
        },
      );

      await t.step(
        "blocking removes the friendship and is seen from both sides",
        async () => {
          assert.equal(await store.relation("alice", "bob"), "friends");
          await store.block("bob", "alice", 18);
          assert.equal(await store.relation("alice", "bob"), "none");
          assert.deepEqual(await store.friendsOf("alice"), []);
          assert.equal(await store.hasBlocked("bob", "alice"), true);
          assert.equal(await store.hasBlocked("alice", "bob"), false);
          assert.deepEqual(await store.blockedBy("bob"), ["alice"]);
          assert.deepEqual(await store.blockersOf("alice"), ["bob"]);
          // One lookup gives the record and the block, in any case.
          const seen = await store.getUserSeenBy("BOB", "alice");
          assert.equal(seen?.name, "bob");
          assert.equal(seen?.blocksViewer, true);
          assert.equal(
            (await store.getUserSeenBy("alice", "bob"))?.blocksViewer,
            false,
          );
          assert.equal(
            (await store.getUserSeenBy("bob", "carol"))?.blocksViewer,
            false,
          );
          assert.equal(await store.getUserSeenBy("nobody", "alice"), null);
        },
      );

      await t.step("blocking also drops a pending request", async () => {
        await store.requestFriend("carol", "dave", 19, PENDING);
        await store.block("dave", "carol", 20);
        assert.equal(await store.relation("carol", "dave"), "none");
        assert.deepEqual((await requestsOf(store, "dave")).incoming, []);
      });

      await t.step(
        "blocking twice is harmless; unblocking says whether a block existed",
        async () => {
          await store.block("bob", "alice", 21);
          assert.deepEqual(await store.blockedBy("bob"), ["alice"]);
          assert.equal(await store.unblock("bob", "alice"), true);
          assert.equal(await store.unblock("bob", "alice"), false);
          assert.equal(await store.hasBlocked("bob", "alice"), false);
          assert.equal(
            await store.relation("alice", "bob"),
            "none",
            "unblocking does not restore the friendship",
          );
        },
      );
    },
  },
  {
    name: "rooms",
    users: ["alice", "bob", "carol", "dave"],
    fn: async (t, store) => {
      await t.step(
        "creating a room makes the creator owner and first member",
        async () => {
          await store.createRoom(room("lobby", "alice", 3), OWNED);
          const r = await store.getRoom("lobby");
          assert.equal(r?.owner, "alice");
          assert.equal(r?.capacity, 3);
          assert.deepEqual(
            (await store.members("lobby")).map((m) => m.user),
            ["alice"],
          );
          assert.deepEqual(await store.roomsOf("alice"), ["lobby"]);
        },
      );

      await t.step("a duplicate room name in any case is refused", async () => {
        await rejectsWith(
          store.createRoom(room("lobby", "bob"), OWNED),
          "taken",
          "room 'lobby' already exists",
        );
        await rejectsWith(
          store.createRoom(room("LOBBY", "bob"), OWNED),
          "taken",
          /already exists/,
        );
        assert.deepEqual(
          await store.roomsOf("bob"),
          [],
          "the failed create left no membership behind",
        );
      });

      await t.step(
        "members join up to the capacity, then the room is full",
        async () => {
          await store.addMember("lobby", "bob", 6_000);
          await store.addMember("lobby", "carol", 6_000);
          await rejectsWith(
            store.addMember("lobby", "dave", 6_001),
            "full",
            "room 'lobby' is full (3 members)",
          );
          assert.equal((await store.members("lobby")).length, 3);
        },
      );

      await t.step(
        "joining twice or joining a missing room is refused",
        async () => {
          await rejectsWith(
            store.addMember("lobby", "bob", 6_002),
            "state",
            "you are already in lobby",
          );
          await rejectsWith(
            store.addMember("nowhere", "bob", 6_002),
            "not_found",
            "there is no room 'nowhere'",
          );
        },
      );

      await t.step("listing rooms counts members", async () => {
        await store.createRoom({
          ...room("attic", "dave"),
          passwordHash: "ph",
        }, OWNED);
        const { rooms: list, total } = await store.listRooms({
          offset: 0,
          limit: 10,
        });
        assert.equal(total, 2);
        assert.deepEqual(
          list.map((r) => [r.name, r.members, r.passwordHash]),
          [["attic", 1, "ph"], ["lobby", 3, null]],
        );
        assert.equal(
          (await store.listRooms({ offset: 0, limit: 1 })).rooms.length,
          1,
        );
      });

      await t.step("a member leaving keeps the owner", async () => {
        const res = await store.removeMember("lobby", "carol");
        assert.deepEqual(res, {
          removed: true,
          newOwner: null,
          deleted: false,
          withdrawn: [],
        });
        assert.equal((await store.getRoom("lobby"))?.owner, "alice");
      });

      await t.step(
        "when the owner leaves the longest-standing member owns the room",
        async () => {
          // dave joins after bob with the same timestamp: join order decides.
          await store.addMember("lobby", "dave", 6_000);
          const res = await store.removeMember("lobby", "alice");
          assert.deepEqual(res, {
            removed: true,
            newOwner: "bob",
            deleted: false,
            withdrawn: [],
          });
          assert.equal((await store.getRoom("lobby"))?.owner, "bob");
          assert.deepEqual(
            (await store.members("lobby")).map((m) => m.user),
            ["bob", "dave"],
          );
        },
      );

      await t.step(
        "a handed-over owner leaving passes the room on in join order",
        async () => {
          await store.setOwner("lobby", "dave");
          await store.addMember("lobby", "alice", 7_000);
          const res = await store.removeMember("lobby", "dave");
          assert.equal(res.newOwner, "bob");
        },
      );

      await t.step("removing a non-member changes nothing", async () => {
        assert.deepEqual(await store.removeMember("lobby", "carol"), {
          removed: false,
          newOwner: null,
          deleted: false,
          withdrawn: [],
        });
        assert.deepEqual(await store.removeMember("nowhere", "carol"), {
          removed: false,
          newOwner: null,
          deleted: false,
          withdrawn: [],
        });
      });

      await t.step("the last member leaving deletes the room", async () => {
        await store.invite("lobby", "carol", "bob", 8_000, PENDING);
        await store.removeMember("lobby", "alice");
        const res = await store.removeMember("lobby", "bob");
        assert.deepEqual(res, {
          removed: true,
          newOwner: null,
          deleted: true,
          withdrawn: [],
        });
        assert.equal(await store.getRoom("lobby"), null);
        assert.deepEqual(await store.members("lobby"), []);
        assert.deepEqual(
          (await store.invitesFor("carol", ALL)).invites,
          [],
          "its invitations went with it",
        );
      });

      await t.step("a deleted room's name can be used again", async () => {
        await store.createRoom(room("lobby", "carol"), OWNED);
        assert.equal((await store.getRoom("lobby"))?.owner, "carol");
      });
    },
  },
  {
    name: "invitations",
    users: ["alice", "bob", "carol"],
    fn: async (t, store) => {
      await store.createRoom(room("lobby", "alice"), OWNED);
      await store.createRoom(room("den", "carol"), OWNED);

      await t.step("an invitation is pending for the invitee", async () => {
        await store.invite("lobby", "bob", "alice", 100, PENDING);
        assert.deepEqual((await store.invitesFor("bob", ALL)).invites, [{
          room: "lobby",
          invitee: "bob",
          inviter: "alice",
          state: "pending",
          createdAt: 100,
        }]);
        assert.equal((await store.getInvite("lobby", "bob"))?.state, "pending");
        assert.equal(await store.getInvite("lobby", "carol"), null);
      });

      await t.step("invitations are listed oldest first", async () => {
        await store.invite("den", "bob", "carol", 200, PENDING);
        assert.deepEqual(
          (await store.invitesFor("bob", ALL)).invites.map((i) => i.room),
          ["lobby", "den"],
        );
      });

      await t.step(
        "declined and accepted invitations are no longer pending",
        async () => {
          await store.setInviteState("lobby", "bob", "declined");
          await store.setInviteState("den", "bob", "accepted");
          assert.deepEqual((await store.invitesFor("bob", ALL)).invites, []);
          assert.equal(
            (await store.getInvite("lobby", "bob"))?.state,
            "declined",
          );
          assert.equal(
            (await store.getInvite("den", "bob"))?.state,
            "accepted",
          );
        },
      );

      await t.step("inviting again renews the invitation", async () => {
        await store.invite("lobby", "bob", "alice", 300, PENDING);
        const inv = await store.getInvite("lobby", "bob");
        assert.equal(inv?.state, "pending");
        assert.equal(inv?.createdAt, 300);
      });
    },
  },
  {
    name: "offline messages",
    users: ["alice", "bob", "carol"],
    fn: async (t, store) => {
      await t.step("messages come back oldest first", async () => {
        await store.storeOffline("alice", "bob", "one", 30, caps(3));
        await store.storeOffline("carol", "bob", "two", 10, caps(3));
        await store.storeOffline("alice", "bob", "three", 20, caps(3));
        const got = await store.offlineFor("bob", 10);
        assert.deepEqual(got.map((m) => [m.from, m.text]), [
          ["alice", "one"],
          ["carol", "two"],
          ["alice", "three"],
        ]);
        assert.equal(await store.countOffline("bob"), 3);
        assert.deepEqual(
          (await store.offlineFor("bob", 2)).map((m) => m.text),
          ["one", "two"],
        );
      });

      await t.step(
        "a full mailbox refuses more, saying what to do",
        async () => {
          await rejectsWith(
            store.storeOffline("carol", "bob", "four", 40, caps(3)),
            "limit",
            "bob's offline inbox is full (3 messages, the limit is 3); try again after bob logs in",
          );
          assert.equal(await store.countOffline("bob"), 3);
          await store.storeOffline("carol", "alice", "for alice", 40, caps(3));
        },
      );

      await t.step("a user can delete only their own messages", async () => {
        const bobs = (await store.offlineFor("bob", 10)).map((m) => m.id);
        const alices = (await store.offlineFor("alice", 10)).map((m) => m.id);
        assert.equal(await store.deleteOffline("alice", bobs), 0);
        assert.equal(await store.countOffline("bob"), 3);
        assert.equal(await store.deleteOffline("bob", [...bobs, ...alices]), 3);
        assert.equal(await store.countOffline("bob"), 0);
        assert.equal(await store.countOffline("alice"), 1);
        assert.equal(await store.deleteOffline("bob", bobs), 0, "already gone");
      });

      await t.step("space frees up once messages are delivered", async () => {
        const m = await store.storeOffline(
          "carol",
          "bob",
          "again",
          50,
          caps(3),
        );
        assert.equal(m.text, "again");
        assert.equal(m.sentAt, 50);
      });
    },
  },
  {
    name: "a room's backlog",
    users: ["alice", "bob", "carol"],
    fn: async (t, store) => {
      await t.step(
        "kept per member and room, oldest dropped and counted",
        async () => {
          for (let i = 1; i <= 4; i++) {
            await store.storeBacklog(
              "alice",
              "lobby",
              [
                { to: "bob", text: `lobby ${i}` },
                { to: "carol", text: `lobby ${i}` },
              ],
              100 + i,
              3,
            );
          }
          await store.storeBacklog(
            "alice",
            "den",
            [
              { to: "bob", text: "den 1" },
            ],
            200,
            3,
          );
          const got = await store.offlineFor("bob", 10);
          assert.deepEqual(got.map((m) => [m.room, m.text]), [
            ["lobby", "lobby 2"],
            ["lobby", "lobby 3"],
            ["lobby", "lobby 4"],
            ["den", "den 1"],
          ]);
          assert.equal(got[0]!.from, "alice");
          assert.equal(got[0]!.sentAt, 102);
          assert.deepEqual(await store.backlogDrops("bob"), [
            { room: "lobby", dropped: 1 },
          ]);
          await store.storeBacklog(
            "alice",
            "LOBBY",
            [
              { to: "BOB", text: "lobby 5" },
            ],
            105,
            3,
          );
          assert.deepEqual(await store.backlogDrops("bob"), [
            { room: "lobby", dropped: 2 },
          ]);
        },
      );

      await t.step(
        "it does not count against offline caps nor leave notices",
        async () => {
          // bob's box holds 4 room rows; a cap of 1 still takes a message.
          await store.storeOffline("carol", "bob", "direct", 300, caps(1));
          const ids = (await store.offlineFor("bob", 10)).map((m) => m.id);
          assert.equal(ids.length, 5);
          const told = await store.deliverOffline("bob", ids, 400);
          assert.deepEqual(told, ["carol"], "only the direct one's sender");
          assert.equal(await store.countReceipts("alice"), 0);
          assert.equal(await store.countOffline("bob"), 0);
        },
      );

      await t.step("drop notices are cleared once shown", async () => {
        await store.clearBacklogDrops("bob", ["Lobby"]);
        assert.deepEqual(await store.backlogDrops("bob"), []);
        assert.deepEqual(await store.backlogDrops("carol"), [
          { room: "lobby", dropped: 1 },
        ]);
        await store.clearBacklogDrops("carol", []);
        assert.equal((await store.backlogDrops("carol")).length, 1);
      });
    },
  },
  {
    name: "batches, listings and text",
    users: ["alice", "bob", "carol"],
    fn: async (t, store) => {
      await t.step(
        "last-seen is set for many users at once, in any case",
        async () => {
          await store.setLastSeen(["alice", "BOB", "bob"], 77);
          await store.setLastSeen([], 78);
          assert.equal((await store.getUser("alice"))?.lastSeen, 77);
          assert.equal((await store.getUser("bob"))?.lastSeen, 77);
          assert.equal((await store.getUser("carol"))?.lastSeen, null);
        },
      );

      await t.step("status and messages keep any Unicode text", async () => {
        const text = "héllo 👋🏽 世界, 'quoted' \"and\" \\ back\ttab\nnewline";
        await store.setStatus("alice", text);
        assert.equal((await store.getUser("alice"))?.status, text);
        const m = await store.storeOffline("bob", "alice", text, 1, caps(5));
        assert.equal((await store.offlineFor("alice", 1))[0]?.text, text);
        assert.equal(await store.deleteOffline("alice", [m.id]), 1);
        assert.equal(await store.deleteOffline("alice", []), 0);
      });

      await t.step(
        "a delivered message leaves a notice for its sender only",
        async () => {
          const a = await store.storeOffline("bob", "carol", "x", 7, caps(5));
          const b = await store.storeOffline("alice", "carol", "y", 8, caps(5));
          // Not carol's to deliver: nothing happens.
          assert.deepEqual(await store.deliverOffline("bob", [a.id], 9), []);
          assert.deepEqual(
            await store.deliverOffline("carol", [a.id, b.id, a.id], 10),
            ["bob", "alice"],
          );
          assert.equal(await store.countOffline("carol"), 0);
          const notes = await store.receiptsFor("bob", 10);
          assert.deepEqual(notes.map((r) => [r.to, r.sentAt, r.deliveredAt]), [
            ["carol", 7, 10],
          ]);
          assert.equal(await store.countReceipts("alice"), 1);
          assert.equal(await store.deleteReceipts("alice", [notes[0]!.id]), 0);
          assert.equal(await store.deleteReceipts("bob", [notes[0]!.id]), 1);
          assert.equal(await store.countReceipts("bob"), 0);
          const left = await store.receiptsFor("alice", 10);
          assert.equal(await store.deleteReceipts("alice", [left[0]!.id]), 1);
        },
      );

      await t.step("message ids are never reused after a delete", async () => {
        const a = await store.storeOffline("bob", "carol", "a", 2, caps(5));
        await store.deleteOffline("carol", [a.id]);
        const b = await store.storeOffline("bob", "carol", "b", 3, caps(5));
        assert.ok(b.id > a.id, `${b.id} > ${a.id}`);
      });

      await t.step(
        "rooms are found in any case and listed per member",
        async () => {
          await store.createRoom(room("lobby", "alice"), OWNED);
          await store.createRoom(room("den", "bob"), OWNED);
          await store.createRoom(room("attic", "carol"), OWNED);
          await store.addMember("lobby", "bob", 6_000);
          assert.equal((await store.getRoom("LOBBY"))?.name, "lobby");
          assert.deepEqual(
            (await store.listRooms({ ...ALL, member: "bob" })).rooms.map((
              r,
            ) => [r.name, r.members]),
            [["den", 1], ["lobby", 2]],
          );
          assert.deepEqual(
            (await store.listRooms({ ...ALL, member: "alice" })).rooms.map((
              r,
            ) => r.name),
            ["lobby"],
          );
          assert.deepEqual(
            await store.listRooms({ ...ALL, member: "nobody" }),
            { rooms: [], total: 0 },
          );
          assert.deepEqual(await store.roomsOf("bob"), ["den", "lobby"]);
          assert.deepEqual(
            (await store.listRooms({ offset: 0, limit: 2 })).rooms.map((r) =>
              r.name
            ),
            ["attic", "den"],
            "by name, limited",
          );
        },
      );

      await t.step("names sort byte-wise, as in the C locale", async () => {
        for (const u of ["a-b", "a.b", "a_b", "a0", "ab"]) {
          await store.createUser(u, "h", 9);
          await store.block("alice", u, 9);
        }
        assert.deepEqual(await store.blockedBy("alice"), [
          "a-b",
          "a.b",
          "a0",
          "a_b",
          "ab",
        ]);
      });
    },
  },
  {
    name: "quotas, bans, hand-overs and pages",
    users: ["alice", "bob", "carol", "dave"],
    fn: async (t, store) => {
      await t.step("rooms owned are capped in the transaction", async () => {
        await store.createRoom(room("a1", "alice"), 2);
        await store.createRoom(room("a2", "alice"), 2);
        await rejectsWith(
          store.createRoom(room("a3", "alice"), 2),
          "limit",
          "you own 2 rooms (the limit is 2); leave or hand over one first",
        );
        assert.equal(await store.countRoomsOwned("alice"), 2);
      });

      await t.step("rooms are paged, counted and searched", async () => {
        const page = await store.listRooms({ offset: 1, limit: 1 });
        assert.deepEqual(page.rooms.map((r) => r.name), ["a2"]);
        assert.equal(page.total, 2);
        const found = await store.listRooms({
          offset: 0,
          limit: 10,
          search: "A1",
        });
        assert.deepEqual(found.rooms.map((r) => r.name), ["a1"]);
        assert.equal(found.total, 1);
        const mine = await store.listRooms({
          offset: 0,
          limit: 10,
          member: "bob",
        });
        assert.equal(mine.total, 0);
        assert.deepEqual(
          await store.listRooms({ offset: 5, limit: 5 }),
          { rooms: [], total: 2 },
          "a page past the end still counts",
        );
        assert.equal(
          (await store.listRooms({ ...ALL, search: "_" })).total,
          0,
          "the search is literal, not a pattern",
        );
      });

      await t.step(
        "invitations are capped per sender and recipient",
        async () => {
          const limits = { perSender: 1, perRecipient: 1 };
          await store.invite("a1", "bob", "alice", 1, limits);
          await store.invite("a1", "bob", "alice", 2, limits); // a renewal
          await rejectsWith(
            store.invite("a2", "carol", "alice", 3, limits),
            "limit",
            "you have 1 invitations waiting for an answer (the limit is 1); withdraw some first",
          );
          await rejectsWith(
            store.invite("a2", "bob", "alice", 3, {
              perSender: 5,
              perRecipient: 1,
            }),
            "limit",
            "bob has 1 invitations waiting already (the limit is 1); try again later",
          );
        },
      );

      await t.step("a blocked inviter's invitation is not shown", async () => {
        await store.block("bob", "alice", 4);
        assert.deepEqual(await store.invitesFor("bob", ALL), {
          invites: [],
          total: 0,
        });
        await store.unblock("bob", "alice");
        assert.equal((await store.invitesFor("bob", ALL)).total, 1);
        assert.deepEqual(
          await store.invitesFor("bob", { offset: 1, limit: 5 }),
          { invites: [], total: 1 },
          "a page past the end still counts",
        );
      });

      await t.step("a hand-over withdraws pending invitations", async () => {
        await store.addMember("a1", "carol", 5);
        assert.deepEqual(await store.setOwner("a1", "carol"), ["bob"]);
        assert.equal(await store.getInvite("a1", "bob"), null);
        await store.invite("a1", "dave", "carol", 6, PENDING);
        const res = await store.removeMember("a1", "carol");
        assert.deepEqual(res, {
          removed: true,
          newOwner: "alice",
          deleted: false,
          withdrawn: ["dave"],
        });
      });

      await t.step(
        "withdrawing deletes only a pending invitation",
        async () => {
          await store.invite("a2", "dave", "alice", 7, PENDING);
          assert.equal(await store.withdrawInvite("a2", "dave"), true);
          assert.equal(await store.withdrawInvite("a2", "dave"), false);
        },
      );

      await t.step("bans last until lifted", async () => {
        assert.equal(await store.isBanned("a2", "dave"), false);
        await store.ban("a2", "dave", "alice", 8);
        await store.ban("a2", "dave", "alice", 9); // twice is once
        assert.equal(await store.isBanned("a2", "dave"), true);
        assert.equal(await store.unban("a2", "dave"), true);
        assert.equal(await store.unban("a2", "dave"), false);
      });

      await t.step("the room password is set and removed", async () => {
        await store.setRoomPassword("a2", "hash");
        assert.equal((await store.getRoom("a2"))?.passwordHash, "hash");
        await store.setRoomPassword("a2", null);
        assert.equal((await store.getRoom("a2"))?.passwordHash, null);
      });

      await t.step("friend requests are capped, and paged", async () => {
        const limits = { perSender: 2, perRecipient: 2 };
        await store.requestFriend("carol", "alice", 10, limits);
        await store.requestFriend("dave", "alice", 11, limits);
        await rejectsWith(
          store.requestFriend("bob", "alice", 12, limits),
          "limit",
          "alice has 2 friend requests waiting already (the limit is 2); try again later",
        );
        const page = await store.requestsOf("alice", { offset: 1, limit: 1 });
        assert.deepEqual(page, {
          incoming: ["dave"],
          outgoing: [],
          incomingTotal: 2,
          outgoingTotal: 0,
        });
      });

      await t.step(
        "a blocked sender's request is kept but not shown",
        async () => {
          await store.block("bob", "alice", 13);
          assert.equal(
            await store.requestFriend("alice", "bob", 14, PENDING),
            "pending",
          );
          assert.deepEqual(await store.requestsOf("bob", ALL), {
            incoming: [],
            outgoing: [],
            incomingTotal: 0,
            outgoingTotal: 0,
          });
          assert.deepEqual(
            (await store.requestsOf("alice", ALL)).outgoing,
            ["bob"],
          );
          await store.unblock("bob", "alice");
        },
      );

      await t.step("offline caps per pair, and discard", async () => {
        const limits = { perRecipient: 3, perPair: 2 };
        await store.storeOffline("bob", "dave", "1", 20, limits);
        await store.storeOffline("bob", "dave", "2", 21, limits);
        await rejectsWith(
          store.storeOffline("bob", "dave", "3", 22, limits),
          "limit",
          "dave has 2 undelivered messages from you (the limit is 2 per sender); try again after dave reads them",
        );
        const discarded = await store.storeOffline(
          "carol",
          "dave",
          "never kept",
          23,
          limits,
          true,
        );
        assert.equal(discarded.id, 0);
        assert.equal(await store.countOffline("dave"), 2);
        await rejectsWith(
          store.storeOffline("bob", "dave", "4", 24, limits, true),
          "limit",
          /2 undelivered messages from you/,
          // A discarded message meets the caps as a kept one would.
        );
        const after = (await store.offlineFor("dave", 1))[0]!.id;
        assert.deepEqual(
          (await store.offlineFor("dave", 10, after)).map((m) => m.text),
          ["2"],
        );
      });
    },
  },
  {
    name: "devices",
    users: ["alice", "bob"],
    fn: async (t, store) => {
      const key = (c: string) => c.repeat(42) + "E";
      await t.step("add, list, look up and touch", async () => {
        assert.equal(
          await store.addDevice(
            {
              user: "alice",
              name: "laptop",
              signKey: key("A"),
              dhKey: key("B"),
            },
            10,
            5,
          ),
          "added",
        );
        await store.addDevice(
          { user: "alice", name: "phone", signKey: key("C"), dhKey: key("D") },
          11,
          5,
        );
        const d = await store.getDevice("alice", "LAPTOP");
        assert.deepEqual(d, {
          user: "alice",
          name: "laptop",
          signKey: key("A"),
          dhKey: key("B"),
          createdAt: 10,
          lastUsed: 10,
        });
        assert.equal(await store.getDevice("bob", "laptop"), null);
        await store.touchDevices([
          { user: "alice", name: "phone", at: 99 },
          { user: "Alice", name: "nosuch", at: 98 },
        ]);
        await store.touchDevices([]);
        assert.deepEqual(
          (await store.devicesOf("alice")).map((x) => [x.name, x.lastUsed]),
          [["laptop", 10], ["phone", 99]],
        );
        assert.deepEqual(await store.devicesOf("bob"), []);
      });
      await t.step("a device added again gets its new keys", async () => {
        assert.equal(
          await store.addDevice(
            {
              user: "alice",
              name: "laptop",
              signKey: key("E"),
              dhKey: key("F"),
            },
            20,
            2,
          ),
          "replaced",
        );
        const d = await store.getDevice("alice", "laptop");
        assert.equal(d?.signKey, key("E"));
        assert.equal(d?.dhKey, key("F"));
        assert.equal(d?.createdAt, 20);
      });
      await t.step("the cap counts the user's devices", async () => {
        await rejectsWith(
          store.addDevice(
            {
              user: "alice",
              name: "tablet",
              signKey: key("G"),
              dhKey: key("H"),
            },
            30,
            2,
          ),
          "limit",
          "alice has 2 devices (the limit is 2) — revoke one with chat devices revoke NAME",
        );
        // Another user's devices do not count.
        await store.addDevice(
          { user: "bob", name: "tablet", signKey: key("G"), dhKey: key("H") },
          30,
          2,
        );
      });
      await t.step("remove", async () => {
        assert.equal(await store.removeDevice("alice", "Phone"), true);
        assert.equal(await store.removeDevice("alice", "phone"), false);
        assert.deepEqual(
          (await store.devicesOf("alice")).map((x) => x.name),
          ["laptop"],
        );
      });
    },
  },
];
