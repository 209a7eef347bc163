/**
 * The registry session's reconnection backoff runs on the clock it is
 * given: with a manual clock, a lost registry is retried exactly when the
 * test advances time by the backoff delay, and not a moment before.
 */
import { join } from "node:path";
import { silentLogger } from "../../../common/log.ts";
import {
  backoffDelay,
  RegistrySession,
  type SessionStatus,
} from "../../../peer/net/mod.ts";
import { loadIdentity } from "../../../registry/mod.ts";
import { assertEquals } from "../../helpers/assert.ts";
import { ManualClock } from "../../helpers/clock.ts";
import { startRegistry, until } from "../../helpers/registry.ts";

const POLICY = { baseMs: 1_000, capMs: 8_000 };

Deno.test("a lost registry is retried after the backoff delay on the session's clock, and not before", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-session-" });
  try {
    const identity = await loadIdentity(dir);
    // Heartbeats run on the manual clock too: a long TTL keeps the session.
    const settings = { dir, identity, heartbeatTtlMs: 3_600_000 };
    const first = await startRegistry(settings);
    const { port, udpPort } = first;
    {
      await using c = await first.client();
      await c.request("signup", { user: "alice", password: "alice-password" });
    }
    const clock = new ManualClock(Date.now());
    const statuses: SessionStatus["kind"][] = [];
    await using session = await RegistrySession.open({
      target: { ...first.target(), home: join(dir, "alice") },
      credentials: { user: "alice", password: "alice-password" },
      kind: "tool",
      backoff: POLICY,
      random: () => 0,
      clock,
      logger: silentLogger,
      onEvent: () => {},
      onStatus: (s) => statuses.push(s.kind),
    });
    assertEquals(session.connected, true);

    await first.close();
    await until(() => statuses.includes("lost"), "the session to see it lost");
    await using second = await startRegistry({ ...settings, port, udpPort });
    assertEquals(
      session.connected,
      false,
      "nothing retries while the clock stands still",
    );

    // random() = 0 puts the first retry at exactly half the base delay.
    const delay = backoffDelay(0, POLICY, 0);
    assertEquals(delay, 500);
    clock.advance(delay - 1);
    assertEquals(statuses, ["lost"], "one millisecond early: still waiting");
    const logins = () =>
      second.logs.filter((l) => / login user=alice kind=tool /.test(l));
    assertEquals(logins(), [], "no login reached the restarted registry yet");
    clock.advance(1);
    await until(() => session.connected, "the session to log in again");
    assertEquals(statuses, ["lost", "restored"]);
    assertEquals(logins().length, 1, "one attempt, and it logged in");
    assertEquals(
      (await session.request("who", {})).users.map((u) => u.user),
      [],
      "a tool session is logged in but never shown online",
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
