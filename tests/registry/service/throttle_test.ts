/**
 * Login and sign-up limits under attack (registry/handlers/accounts.ts,
 * registry/throttle.ts, registry/rate_limit.ts, registry/passwords.ts):
 * attempts reserved before scrypt, the (user, address) lock, an address
 * limited by rate, IPv6 /64s, sign-ups per address, the bounded scrypt queue
 * and passwords with lone surrogates.
 */
import assert from "node:assert/strict";
import { derivations } from "../../../registry/passwords.ts";
import { decodeRequest, encodeJson } from "../../../wire/mod.ts";
import {
  Fixture,
  loginFields,
  PASSWORD,
  ReplyError,
  TRUSTED_ADDRESS,
} from "./support.ts";

const wrong = (user: string) =>
  ({ user, password: "wrong password", kind: "tool" }) as const;

/** Sends `n` requests at once; the codes of the refusals ("ok" for a success). */
async function parallel(
  n: number,
  send: (i: number) => Promise<unknown>,
): Promise<string[]> {
  return await Promise.all(
    Array.from({ length: n }, (_, i) =>
      send(i).then(
        () => "ok",
        (err) => err instanceof ReplyError ? err.code : String(err),
      )),
  );
}

Deno.test("login throttling is atomic and per (user, address)", async (t) => {
  await t.step(
    "100 parallel wrong logins from one address check at most 5 passwords",
    async () => {
      using fx = await Fixture.create();
      await fx.signup("alice");
      const conns = await Promise.all(
        Array.from({ length: 100 }, () => fx.greeted("198.51.100.1")),
      );
      const before = derivations.done;
      const codes = await parallel(
        100,
        (i) => conns[i]!.request("login", wrong("alice")),
      );
      assert.equal(derivations.done - before, 5);
      assert.equal(codes.filter((c) => c === "auth").length, 5);
      assert.equal(codes.filter((c) => c === "throttled").length, 95);
    },
  );

  await t.step(
    "parallel logins of unknown users spend no more than the pair limit either",
    async () => {
      using fx = await Fixture.create();
      // The first unknown user makes the dummy hash; that is not a check.
      const warm = await fx.greeted("198.51.100.200");
      await warm.refused("login", wrong("nobody"), "not_found");
      const conns = await Promise.all(
        Array.from({ length: 20 }, () => fx.greeted("198.51.100.1")),
      );
      const before = derivations.done;
      await parallel(20, (i) => conns[i]!.request("login", wrong("nobody")));
      assert.equal(derivations.done - before, 5);
    },
  );

  await t.step(
    "a wrong room password is reserved before its check too",
    async () => {
      using fx = await Fixture.create();
      await fx.signup("alice", "bob");
      const alice = await fx.login("alice", { kind: "tool" });
      await alice.request("room_create", { room: "vault", password: PASSWORD });
      const bob = await fx.login("bob", { kind: "tool" });
      const before = derivations.done;
      const codes = await parallel(
        50,
        () =>
          bob.request("room_join", { room: "vault", password: "guess1234" }),
      );
      assert.equal(derivations.done - before, 5);
      assert.equal(codes.filter((c) => c === "throttled").length, 45);
    },
  );

  await t.step(
    "a stranger's failures do not lock the owner out from elsewhere",
    async () => {
      using fx = await Fixture.create();
      await fx.signup("alice");
      const stranger = await fx.greeted("203.0.113.66");
      for (let i = 0; i < 5; i++) {
        await stranger.refused("login", wrong("alice"), "auth");
      }
      await stranger.refused(
        "login",
        loginFields("alice", { kind: "tool" }),
        "throttled",
      );
      const owner = await fx.greeted("198.51.100.9");
      await owner.request("login", loginFields("alice", { kind: "tool" }));
    },
  );

  await t.step("an IPv6 /64 counts as one address", async () => {
    using fx = await Fixture.create();
    await fx.signup("alice");
    for (let i = 1; i <= 5; i++) {
      const c = await fx.greeted(`2001:db8:1:2::${i}`);
      await c.refused("login", wrong("alice"), "auth");
    }
    const same64 = await fx.greeted("2001:db8:1:2:ffff:ffff:ffff:ffff");
    await same64.refused(
      "login",
      loginFields("alice", { kind: "tool" }),
      "throttled",
    );
    const other64 = await fx.greeted("2001:db8:1:3::1");
    await other64.request("login", loginFields("alice", { kind: "tool" }));
  });
});

Deno.test("an address is limited by rate, not locked", async (t) => {
  using fx = await Fixture.create({
    addressFailureBurst: 3,
    addressFailuresPerMinute: 6,
  });
  const users = Array.from({ length: 40 }, (_, i) => `user${i}`);
  await fx.signup("bob", ...users);
  const nat = "198.51.100.50";

  await t.step(
    "successful logins behind one address never use the bucket",
    async () => {
      for (const user of users) {
        const c = await fx.greeted(nat);
        await c.request("login", loginFields(user, { kind: "tool" }));
      }
    },
  );

  await t.step(
    "failures of one user there slow everyone for seconds, not a minute",
    async () => {
      const mallory = await fx.greeted(nat);
      for (const user of ["user0", "user1", "user2"]) {
        await mallory.refused("login", wrong(user), "auth");
      }
      await mallory.refused(
        "login",
        wrong("user3"),
        "throttled",
        /^too many failed logins from 198\.51\.100\.50, retry in 10 s$/,
      );
      const bob = await fx.greeted(nat);
      await bob.refused(
        "login",
        loginFields("bob", { kind: "tool" }),
        "throttled",
      );
      fx.clock.advance(10_000);
      await bob.request("login", loginFields("bob", { kind: "tool" }));
      // Bob's success gave its token back: the next user gets in too.
      const next = await fx.greeted(nat);
      await next.request("login", loginFields("user5", { kind: "tool" }));
    },
  );

  await t.step("trusted addresses have no address bucket", async () => {
    const local = await fx.greeted(TRUSTED_ADDRESS);
    for (let i = 10; i < 20; i++) {
      await local.refused("login", wrong(`user${i}`), "auth");
    }
  });
});

Deno.test("sign-ups are limited per address", async (t) => {
  using fx = await Fixture.create({ signupBurst: 2, signupsPerHour: 60 });

  await t.step(
    "past the burst, one more per minute at 60 an hour",
    async () => {
      const c = await fx.greeted("198.51.100.7");
      await c.request("signup", { user: "a1", password: PASSWORD });
      await c.request("signup", { user: "a2", password: PASSWORD });
      await c.refused(
        "signup",
        { user: "a3", password: PASSWORD },
        "throttled",
        /^too many sign-ups from 198\.51\.100\.7 \(2 at once, 60 an hour\), retry in 60 s$/,
      );
      assert.equal(await fx.store.getUser("a3"), null);
      fx.clock.advance(60_000);
      const later = await fx.greeted("198.51.100.7");
      await later.request("signup", { user: "a3", password: PASSWORD });
    },
  );

  await t.step("a taken name costs nothing", async () => {
    const c = await fx.greeted("198.51.100.8");
    for (let i = 0; i < 5; i++) {
      await c.refused("signup", { user: "a1", password: PASSWORD }, "taken");
    }
    await c.request("signup", { user: "b1", password: PASSWORD });
  });

  await t.step(
    "150 parallel sign-ups from one address create 2 accounts",
    async () => {
      const conns = await Promise.all(
        Array.from({ length: 150 }, () => fx.greeted("198.51.100.9")),
      );
      const codes = await parallel(
        150,
        (i) =>
          conns[i]!.request("signup", {
            user: `flood${i}`,
            password: PASSWORD,
          }),
      );
      assert.equal(codes.filter((c) => c === "ok").length, 2);
      assert.equal(codes.filter((c) => c === "throttled").length, 148);
    },
  );
});

Deno.test("the scrypt queue is bounded and serves logins first", async (t) => {
  await t.step(
    "sign-ups beyond the queue are refused at once as busy",
    async () => {
      using fx = await Fixture.create({ maxQueuedHashes: 3 });
      const conns = await Promise.all(
        Array.from({ length: 20 }, (_, i) => fx.greeted(`198.51.100.${i}`)),
      );
      const results = await Promise.all(
        conns.map((c, i) =>
          c.request("signup", { user: `s${i}`, password: PASSWORD }).then(
            () => "ok",
            (err: ReplyError) => `${err.code}: ${err.message}`,
          )
        ),
      );
      const busy = results.filter((r) => r.startsWith("throttled"));
      assert.equal(results.filter((r) => r === "ok").length, 20 - busy.length);
      // At most the running derivations (up to 4) and the 3 queued got in.
      assert.ok(busy.length >= 20 - 3 - 4, `${busy.length} refused`);
      assert.match(
        busy[0]!,
        /^throttled: the registry is busy \(3 password checks waiting\), retry in \d+ s$/,
      );
      assert.ok(fx.logsWith("busy").length >= 1);
    },
  );

  await t.step("a queued login goes before queued sign-ups", async () => {
    using fx = await Fixture.create();
    await fx.signup("alice");
    const order: string[] = [];
    const signups = Array.from({ length: 8 }, async (_, i) => {
      const c = await fx.greeted(`198.51.100.${i}`);
      await c.request("signup", { user: `n${i}`, password: PASSWORD });
      order.push(`signup${i}`);
    });
    const login = (async () => {
      const c = await fx.greeted("198.51.100.99");
      await c.request("login", loginFields("alice", { kind: "tool" }));
      order.push("login");
    })();
    await Promise.all([...signups, login]);
    // At most the sign-ups already running finish first.
    assert.ok(order.indexOf("login") <= 4, order.join(" "));
  });
});

Deno.test("passwords with lone surrogates are refused on the wire", () => {
  // "\ud800" and "\ufffd" would be one password after normalisation.
  for (const password of ["abc\ud800defgh", "abcdefgh\udfff"]) {
    for (const type of ["signup", "login"] as const) {
      const d = decodeRequest(
        encodeJson({ ...wrong("alice"), password, type, id: 1 }),
      );
      assert.ok(!d.ok, `${type} ${JSON.stringify(password)} was accepted`);
      assert.equal(d.id, 1);
      assert.match(d.reason, /"password" must be well-formed Unicode/);
    }
  }
  const room = decodeRequest(
    encodeJson({ type: "room_join", id: 2, room: "r", password: "\udc00x" }),
  );
  assert.ok(!room.ok);
});
