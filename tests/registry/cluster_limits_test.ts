/**
 * Per-address limits a cluster counts as one: sign-ups from one address
 * through every instance (at most --signups-per-hour plus the burst of
 * SIGNUP_BURST in an hour), and wrong room passwords of one user through
 * every instance (ROOM_PASSWORD_FAILURES in the failure window). Loopback is
 * made untrusted, so the limits apply to the test's own address.
 */
import { ROOM_PASSWORD_FAILURES, SIGNUP_BURST } from "../../registry/limits.ts";
import { startCluster } from "../helpers/cluster.ts";
import { skipNote } from "../helpers/postgres.ts";
import { loggedIn, refused, signup } from "./support.ts";

const PW = "correct horse";

Deno.test({
  name:
    `cluster: sign-ups and room passwords counted by all instances${skipNote()}`,
  ignore: skipNote() !== "",
  fn: async (t) => {
    await using cluster = await startCluster(2, {
      args: ["--trusted-address", "none", "--signups-per-hour", "1"],
    });
    const [one, two] = cluster.instances;
    const t1 = one!.target();
    const t2 = two!.target();
    // The hour allows the burst plus one; each instance alone would allow
    // its own burst, so splitting them would pass without the cluster's count.
    const allowed = SIGNUP_BURST + 1;
    const onOne = Math.ceil(allowed / 2);

    await t.step(
      "sign-ups through both instances share one count per address",
      async () => {
        for (let i = 0; i < allowed; i++) {
          await signup(i < onOne ? t1 : t2, `user${i}`, PW);
        }
        await refused(
          signup(t2, "onemore", PW),
          "throttled",
          /^too many sign-ups from 127\.0\.0\.1 \(10 at once, 1 an hour\), retry in \d+ s$/,
        );
        // Instance 1 took fewer than its own burst, and refuses too.
        await refused(
          signup(t1, "onemore", PW),
          "throttled",
          /^too many sign-ups from 127\.0\.0\.1/,
        );
      },
    );

    await t.step(
      "wrong room passwords through both instances share one count",
      async () => {
        await using owner = await loggedIn(t1, "user0", PW);
        await owner.request("room_create", {
          room: "vault",
          password: "sesame",
        });
        await using guess1 = await loggedIn(t1, "user1", PW);
        await using guess2 = await loggedIn(t2, "user1", PW, {
          kind: "tool",
        });
        for (let i = 0; i < ROOM_PASSWORD_FAILURES; i++) {
          await refused(
            (i % 2 === 0 ? guess1 : guess2).request("room_join", {
              room: "vault",
              password: `wrong ${i}`,
            }),
            "auth",
            /password/,
          );
        }
        // The right password, through the instance that saw fewer failures.
        await refused(
          guess2.request("room_join", { room: "vault", password: "sesame" }),
          "throttled",
          /^too many attempts, retry in \d+ s$/,
        );
      },
    );
  },
});
