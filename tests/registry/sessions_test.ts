import assert from "node:assert/strict";
import { type Session, SessionTable } from "../../registry/sessions.ts";
import type { HeartbeatKey } from "../../wire/mod.ts";

function session(id: string, user: string, kind: Session["kind"], at = 0) {
  return {
    id,
    macKey: {} as HeartbeatKey,
    user,
    kind,
    link: { send: () => true, closeAfterFlush: async () => {}, close() {} },
    host: "127.0.0.1",
    p2pPort: null,
    cert: null,
    certFingerprint: null,
    key: null,
    candidates: [],
    reachable: null,
    probe: null,
    device: null,
    loginAt: at,
    lastBeat: at,
    lastSeq: 0,
    firstBeatMs: 0,
    lastAction: at,
  } satisfies Session;
}

Deno.test("the session table keeps a user's one session and several alike", async (t) => {
  const table = new SessionTable();
  const peer = session("a1", "alice", "peer", 1);
  const tool = session("a2", "alice", "tool", 2);
  const recv1 = session("a3", "alice", "receive", 3);
  const recv2 = session("a4", "alice", "receive", 4);
  const bob = session("b1", "bob", "tool", 1);

  await t.step("one session: found by user, id and kind", () => {
    table.add(peer);
    table.add(peer); // again: still one
    table.add(bob);
    assert.deepEqual(table.of("alice"), [peer]);
    assert.equal(table.peerOf("alice"), peer);
    assert.equal(table.peerOf("bob"), undefined);
    assert.equal(table.fileTargetOf("alice"), peer);
    assert.equal(table.byId("a1"), peer);
    assert.deepEqual([table.size, table.online], [2, 1]);
  });

  await t.step("several sessions of one user", () => {
    table.add(tool);
    table.add(recv1);
    table.add(recv2);
    table.add(tool); // again: still one
    assert.deepEqual(table.of("alice"), [peer, tool, recv1, recv2]);
    assert.equal(table.peerOf("alice"), peer);
    assert.equal(table.fileTargetOf("alice"), recv2, "the newest receive");
    assert.deepEqual([table.size, table.online], [5, 1]);
    // A copy: changing it changes nothing in the table.
    table.of("alice").pop();
    assert.equal(table.of("alice").length, 4);
  });

  await t.step("removed one by one, back to one, then none", () => {
    assert.equal(table.remove(peer), true);
    assert.equal(table.remove(peer), false, "already gone");
    assert.equal(table.peerOf("alice"), undefined);
    assert.equal(table.fileTargetOf("alice"), recv2);
    assert.equal(table.remove(recv2), true);
    assert.equal(table.remove(tool), true);
    assert.deepEqual(table.of("alice"), [recv1]);
    assert.equal(table.fileTargetOf("alice"), recv1);
    assert.equal(table.remove(recv1), true);
    assert.deepEqual(table.of("alice"), []);
    assert.equal(table.fileTargetOf("alice"), undefined);
    assert.deepEqual([table.size, table.online], [1, 0]);
    assert.deepEqual([...table.all()], [bob]);
  });
});
