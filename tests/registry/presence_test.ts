import assert from "node:assert/strict";
import {
  expiredSessions,
  forgiveStall,
  type PresenceTimes,
} from "../../registry/presence.ts";

const TTL = 3_000;
const IDLE = 60_000;

interface S extends PresenceTimes {
  name: string;
}

const s = (
  name: string,
  kind: string,
  lastBeat: number,
  lastAction: number,
  lastSeq = 1,
  firstBeatMs = 0,
): S => ({ name, kind, lastBeat, lastAction, lastSeq, firstBeatMs });

Deno.test("expiredSessions", async (t) => {
  const cases: {
    name: string;
    session: S;
    now: number;
    idle: number;
    want: "heartbeat" | "idle" | null;
  }[] = [
    {
      name: "keeps a peer that beat just now",
      session: s("a", "peer", 10_000, 10_000),
      now: 10_000,
      idle: 0,
      want: null,
    },
    {
      name: "keeps a peer silent for exactly the TTL",
      session: s("a", "peer", 10_000, 10_000),
      now: 10_000 + TTL,
      idle: 0,
      want: null,
    },
    {
      name: "ends a peer silent for longer than the TTL",
      session: s("a", "peer", 10_000, 10_000),
      now: 10_000 + TTL + 1,
      idle: 0,
      want: "heartbeat",
    },
    {
      name: "ends a tool session whose heartbeats stopped too",
      session: s("a", "tool", 10_000, 10_000),
      now: 10_000 + TTL + 1,
      idle: 0,
      want: "heartbeat",
    },
    {
      name: "holds a session without a heartbeat yet to the TTL",
      session: s("a", "peer", 10_000, 10_000, 0),
      now: 10_000 + TTL + 1,
      idle: 0,
      want: "heartbeat",
    },
    {
      name: "gives a storm's login its allowance for the first heartbeat",
      session: s("a", "peer", 10_000, 10_000, 0, 10_000),
      now: 20_000,
      idle: 0,
      want: null,
    },
    {
      name: "ends a storm's login whose first heartbeat never came",
      session: s("a", "peer", 10_000, 10_000, 0, 10_000),
      now: 20_001,
      idle: 0,
      want: "heartbeat",
    },
    {
      name: "holds a storm's login that has beaten to the TTL",
      session: s("a", "peer", 10_000, 10_000, 3, 10_000),
      now: 10_000 + TTL + 1,
      idle: 0,
      want: "heartbeat",
    },
    {
      name: "never idles a peer out when the idle timeout is off",
      session: s("a", "peer", 1_000_000, 0),
      now: 1_000_000,
      idle: 0,
      want: null,
    },
    {
      name: "idles a peer out after the idle timeout without an action",
      session: s("a", "peer", 100_000, 10_000),
      now: 10_000 + IDLE + 1,
      idle: IDLE,
      want: "idle",
    },
    {
      name: "keeps a peer that acted within the idle timeout",
      session: s("a", "peer", 100_000, 50_000),
      now: 10_000 + IDLE + 1,
      idle: IDLE,
      want: null,
    },
    {
      name: "never idles out a tool session",
      session: s("a", "tool", 100_000, 0),
      now: 100_000,
      idle: IDLE,
      want: null,
    },
    {
      name: "never idles out a receive session",
      session: s("a", "receive", 100_000, 0),
      now: 100_000,
      idle: IDLE,
      want: null,
    },
    {
      name: "names the heartbeat when a session is both silent and idle",
      session: s("a", "peer", 0, 0),
      now: IDLE + 1,
      idle: IDLE,
      want: "heartbeat",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const out = expiredSessions([c.session], c.now, TTL, c.idle);
      assert.deepEqual(
        out.map((e) => e.reason),
        c.want ? [c.want] : [],
      );
      if (c.want) assert.equal(out[0]!.session, c.session);
    });
  }

  await t.step("picks out exactly the expired sessions of many", () => {
    const all = [
      s("fresh", "peer", 9_000, 9_000),
      s("silent", "peer", 1_000, 9_000),
      s("idle", "peer", 9_000, 0),
      s("tool", "tool", 9_000, 0),
    ];
    const out = expiredSessions(all, 9_500, TTL, 5_000);
    assert.deepEqual(
      out.map((e) => [e.session.name, e.reason]),
      [["silent", "heartbeat"], ["idle", "idle"]],
    );
  });
});

Deno.test("forgiveStall moves the registry's own silence off every session", () => {
  const now = 100_000;
  const sessions = [
    s("beat long ago", "peer", 10_000, 5_000),
    s("beat just before the stall", "peer", 95_000, 95_000),
  ];
  forgiveStall(sessions, now, 20_000);
  assert.deepEqual(
    sessions.map((x) => [x.lastBeat, x.lastAction]),
    // Never past now: a session is not credited with a future heartbeat.
    [[30_000, 25_000], [now, now]],
  );
  // After the allowance, the one that had beaten just before is fresh.
  assert.deepEqual(
    expiredSessions(sessions, now, TTL, 0).map((e) => e.session.name),
    ["beat long ago"],
  );
});
