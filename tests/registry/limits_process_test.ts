/**
 * The limit flags of `chat registry` reach the registry: a real process
 * started with low values refuses at those values, each refusal naming its
 * limit. (What each limit does is tested in tests/registry/service/.)
 */
import assert from "node:assert/strict";
import {
  addDevice,
  loggedIn,
  refused,
  sealedTo,
  signup,
  TestClient,
  withRegistryProcess,
} from "./support.ts";

const PW = "correct horse";

Deno.test("registry process: the limit flags set the limits", async (t) => {
  await withRegistryProcess([
    "--trusted-address",
    "none",
    "--max-connections-per-address",
    "8",
    "--login-failures",
    "2",
    "--max-rooms-owned",
    "1",
    "--max-invites-sent",
    "1",
    "--max-friend-requests-received",
    "1",
    "--max-offline-per-sender",
    "1",
  ], async (reg) => {
    const target = reg.target();
    for (const u of ["alice", "bob", "carol", "dave"]) {
      await signup(target, u, PW);
    }
    await addDevice(target, "bob", PW);
    await using alice = await loggedIn(target, "alice", PW, { device: true });
    await using carol = await loggedIn(target, "carol", PW, { device: true });

    await t.step("--max-rooms-owned", async () => {
      await alice.request("room_create", { room: "one" });
      await refused(
        alice.request("room_create", { room: "two" }),
        "limit",
        /^you own 1 rooms \(the limit is 1\); leave or hand over one first$/,
      );
    });

    await t.step("--max-invites-sent", async () => {
      await alice.request("room_invite", { room: "one", user: "bob" });
      await refused(
        alice.request("room_invite", { room: "one", user: "dave" }),
        "limit",
        /^you have 1 invitations waiting for an answer \(the limit is 1\)/,
      );
    });

    await t.step("--max-friend-requests-received", async () => {
      await carol.request("friend_request", { user: "dave" });
      await refused(
        alice.request("friend_request", { user: "dave" }),
        "limit",
        /^dave has 1 friend requests waiting already \(the limit is 1\)/,
      );
    });

    await t.step("--max-offline-per-sender", async () => {
      await alice.request("offline_send", sealedTo(alice, "bob", "one"));
      await refused(
        alice.request("offline_send", sealedTo(alice, "bob", "two")),
        "limit",
        /^bob has 1 undelivered messages from you \(the limit is 1 per sender\)/,
      );
      // Another sender still gets through.
      await carol.request("offline_send", sealedTo(carol, "bob", "mine"));
    });

    await t.step("--login-failures", async () => {
      for (let i = 0; i < 2; i++) {
        await using c = await TestClient.connect(target);
        await refused(c.login("dave", "wrong password"), "auth", /password/);
      }
      await using c = await TestClient.connect(target);
      await refused(c.login("dave", PW), "throttled", /retry in \d+ s/);
    });

    await t.step(
      "--max-connections-per-address with --trusted-address none",
      async () => {
        // alice and carol hold two; six more fit, the ninth is refused.
        const open: TestClient[] = [];
        try {
          for (let i = 0; i < 6; i++) {
            open.push(await TestClient.connect(target));
          }
          let caught: unknown;
          try {
            open.push(await TestClient.connect(target));
          } catch (err) {
            caught = err;
          }
          assert.ok(caught instanceof Error, `refused: ${caught}`);
          assert.match(
            caught.message,
            /too many connections from 127\.0\.0\.1 \(8, the limit per address\)/,
          );
        } finally {
          await Promise.all(open.map((c) => c.close()));
        }
      },
    );
  });
});
