/** The page's pure modules, run in Deno: markup spans and the state built from events. */
import { assert, assertEquals } from "../../../helpers/assert.ts";
import {
  cleanText,
  parseMarkup,
  quote,
  showBytes,
  showEta,
  userColour,
} from "../../../../peer/front/web/assets/markup.js";
import { ChatState } from "../../../../peer/front/web/assets/state.js";

const live = { live: true, hidden: false };
const hidden = { live: true, hidden: true };

Deno.test("page markup", async (t) => {
  await t.step(
    "bold, italic, code and links become spans; code is taken literally",
    () => {
      assertEquals(parseMarkup("a *b* _c_ `*d*` https://x.io/p?q=1."), [
        { kind: "text", text: "a " },
        { kind: "bold", text: "b" },
        { kind: "text", text: " " },
        { kind: "italic", text: "c" },
        { kind: "text", text: " " },
        { kind: "code", text: "*d*" },
        { kind: "text", text: " " },
        {
          kind: "link",
          text: "https://x.io/p?q=1",
          href: "https://x.io/p?q=1",
        },
        { kind: "text", text: "." },
      ]);
      assertEquals(parseMarkup("snake_case_name and 2*3*4"), [
        { kind: "text", text: "snake_case_name and 2*3*4" },
      ]);
      assertEquals(parseMarkup("javascript:alert(1) <b>x</b>"), [
        { kind: "text", text: "javascript:alert(1) <b>x</b>" },
      ]);
    },
  );

  await t.step(
    "escape sequences, controls and bidi overrides are removed",
    () => {
      assertEquals(
        cleanText("a\x1b[31mred\x1b[0m\u202eb\x07\nc\td"),
        "aredb\nc\td",
      );
    },
  );

  await t.step(
    "a user has the shell's colour; sizes, times left and quoting",
    () => {
      assertEquals(userColour("alice"), userColour("alice"));
      assert(userColour("alice") >= 0 && userColour("alice") < 16);
      assertEquals(showBytes(999), "999 B");
      assertEquals(showBytes(1500), "1.5 kB");
      assertEquals(showBytes(12_000_000), "12 MB");
      assertEquals(showEta(1000, 100), "10 s");
      assertEquals(showEta(1000, 0), "");
      assertEquals(quote('a "b" \\c'), '"a \\"b\\" \\\\c"');
    },
  );
});

Deno.test("page state", async (t) => {
  await t.step(
    "messages both ways, ticks that came before the message, unread counts",
    () => {
      const s = new ChatState();
      s.apply({ type: "ready", user: "alice", port: 1 }, live);
      s.apply({ type: "chat_request", from: "bob", text: "hi" }, live);
      assertEquals(s.convs.get("@bob")?.chat, "incoming");
      assertEquals(s.unread, 1);
      s.reply({
        type: "reply",
        command: "/accept",
        ok: true,
        with: "bob",
        saving: false,
      });
      const c = s.convs.get("@bob")!;
      assertEquals(c.chat, "open");
      assertEquals(c.entries.map((e) => e.kind === "msg" ? e.text : e.kind), [
        "hi",
      ]);
      s.open("@bob");
      assertEquals(s.unread, 0);
      s.apply({ type: "delivered", to: "bob", id: 1 }, live);
      s.apply({
        type: "web_sent",
        to: "bob",
        id: 1,
        state: "sent",
        text: "yo",
        at: "2026-01-01T00:00:00Z",
      }, live);
      const own = c.entries.at(-1)!;
      assert(own.kind === "msg" && own.own);
      assertEquals(own.delivered, ["bob"]);
      const notice = s.apply({
        type: "message",
        from: "bob",
        text: "x",
        id: 2,
        at: "2026-01-01T00:00:01Z",
      }, hidden);
      assertEquals(notice, { title: "bob", body: "x", key: "@bob" });
      assertEquals(s.unread, 1);
      assertEquals(
        s.apply({ type: "message", from: "bob", text: "x", id: 3, at: "" }, {
          live: false,
          hidden: true,
        }),
        null,
      );
    },
  );

  await t.step("rooms: join, members, presence, owner, kicked", () => {
    const s = new ChatState();
    s.apply({ type: "ready", user: "alice", port: 1 }, live);
    s.reply({
      type: "reply",
      command: "/join",
      ok: true,
      room: "lobby",
      owner: "bob",
      members: [{ user: "bob", online: true, role: "owner" }, {
        user: "alice",
        online: true,
        role: "member",
      }],
    });
    assertEquals(s.list("room").map((c) => c.name), ["lobby"]);
    s.apply({ type: "presence", user: "bob", online: false }, live);
    assertEquals(s.rooms.get("lobby")?.members.get("bob")?.online, false);
    s.apply({ type: "room_owner", room: "lobby", user: "alice" }, live);
    assertEquals(s.rooms.get("lobby")?.members.get("alice")?.role, "owner");
    s.apply({
      type: "web_sent",
      room: "lobby",
      id: 4,
      recipients: ["bob"],
      unreached: [],
      text: "t",
      at: "",
    }, live);
    s.apply({ type: "delivered", to: "bob", id: 4, room: "lobby" }, live);
    const m = s.convs.get("#lobby")!.entries.find((e) => e.kind === "msg");
    assert(m?.kind === "msg");
    assertEquals([m.recipients, m.delivered], [["bob"], ["bob"]]);
    s.apply({
      type: "room_left",
      room: "lobby",
      user: "alice",
      reason: "kicked",
    }, live);
    assertEquals(s.rooms.has("lobby"), false);
    assertEquals(s.list("room"), []);
  });

  await t.step("a withdrawn invitation leaves the list", () => {
    const s = new ChatState();
    s.apply({ type: "ready", user: "alice", port: 1 }, live);
    s.apply({ type: "room_invite", room: "lobby", from: "bob" }, live);
    s.apply({ type: "room_invite", room: "den", from: "carol" }, live);
    s.apply({ type: "pending", friend_requests: 0, invites: 40 }, live);
    assertEquals([...s.invites.keys()], ["lobby", "den"]);
    assertEquals(
      s.apply({ type: "invite_withdrawn", room: "lobby" }, hidden),
      null,
    );
    assertEquals([...s.invites.keys()], ["den"]);
  });

  await t.step("transfers from offer to done or failed", () => {
    const s = new ChatState();
    s.apply({ type: "ready", user: "alice", port: 1 }, live);
    s.apply({
      type: "file_offer",
      from: "bob",
      id: "f1",
      name: "a.txt",
      size: 10,
    }, live);
    s.apply({
      type: "file_progress",
      id: "f1",
      direction: "in",
      peer: "bob",
      name: "a.txt",
      bytes: 5,
      size: 10,
      rate: 5,
    }, live);
    assertEquals(s.transfers.get("f1")?.state, "active");
    s.apply({
      type: "file_received",
      from: "bob",
      id: "f1",
      path: "/x/a.txt",
      size: 10,
      sha256: "h",
    }, live);
    assertEquals(s.transfers.get("f1")?.url, "/files/f1");
    s.apply({
      type: "web_offered",
      id: "f2",
      to: "bob",
      name: "b",
      size: 1,
      at: "",
    }, live);
    s.apply({ type: "transfer_failed", id: "f2", reason: "declined" }, live);
    assertEquals(s.transfers.get("f2")?.state, "failed");
    assertEquals(
      s.convs.get("@bob")?.entries.filter((e) => e.kind === "file").length,
      2,
    );
  });
});

Deno.test("a chat pane knows the path of its link: from chat_started and from link events", () => {
  const s = new ChatState();
  s.apply({ type: "ready", user: "alice", port: 1 }, live);
  s.apply({
    type: "chat_started",
    with: "bob",
    saving: false,
    path: "relayed",
  }, live);
  const bob = s.conv("user", "bob");
  assertEquals(bob.path, "relayed");
  assert(
    bob.entries.some((e) =>
      e.kind === "note" && e.text.includes("relayed through the registry")
    ),
  );
  s.apply({
    type: "link",
    with: "carol",
    purpose: "chat",
    path: "reversed",
    inbound: true,
  }, live);
  assertEquals(s.conv("user", "carol").path, "reversed");
  assertEquals(s.conv("user", "dave").path, null);
});

Deno.test("a friend's chat opened at once and an unanswered request's stored message are noted in their panes", () => {
  const s = new ChatState();
  s.apply({ type: "ready", user: "alice", port: 1 }, live);
  s.apply({
    type: "chat_started",
    with: "bob",
    saving: false,
    path: "direct",
    auto: true,
  }, live);
  const bob = s.conv("user", "bob");
  assertEquals(bob.chat, "open");
  assert(
    bob.entries.some((e) =>
      e.kind === "note" &&
      e.text === "chat with bob open — a friend, accepted at once"
    ),
    JSON.stringify(bob.entries),
  );
  s.apply({
    type: "chat_rejected",
    by: "carol",
    reason: "no answer within 60 s",
  }, live);
  s.apply({
    type: "stored",
    to: "carol",
    id: 4,
    sent_at: "2026-01-01T00:00:00Z",
    notice:
      "carol did not answer within 60 s — your message was stored as an offline message for carol",
  }, live);
  const carol = s.conv("user", "carol");
  assert(
    carol.entries.some((e) =>
      e.kind === "note" &&
      e.text.includes("your message was stored as an offline message")
    ),
    JSON.stringify(carol.entries),
  );
});

Deno.test("a contact's key change is shown like an error on the page; a first contact is not", () => {
  const s = new ChatState();
  s.apply({ type: "ready", user: "alice", port: 1 }, live);
  const notice = {
    type: "contact_keys",
    user: "bob",
    devices: ["laptop"],
    verified: true,
  };
  s.apply(
    { ...notice, change: "pinned", verified: false, refused: false },
    live,
  );
  assertEquals(s.errors, []);
  s.apply({ ...notice, change: "key_changed", refused: true }, live);
  s.apply({
    type: "offline_held",
    from: "bob",
    sent_at: "2026-01-01T00:00:00.000Z",
    reason: "keys changed",
  }, live);
  assertEquals(s.errors.length, 2);
  const errors: string[] = s.errors;
  assert(errors[0]!.includes("refused until you verify bob again"));
  assert(errors[1]!.includes("held back"));
});

Deno.test("a heartbeat timeout that logs in again does not end the page; an idle one does", () => {
  const s = new ChatState();
  s.apply({ type: "ready", user: "alice", port: 1 }, live);
  s.apply({ type: "timeout", reason: "heartbeat", again: true }, live);
  assertEquals(s.registryUp, false);
  assert(s.phase !== "ended", "the page ended on a timeout that logs in again");
  s.apply({ type: "registry_restored" }, live);
  assertEquals(s.registryUp, true);
  s.apply({ type: "timeout", reason: "idle", again: false }, live);
  assertEquals(s.phase, "ended");
  assertEquals(s.endReason, "logged out by the registry after being idle");
});

Deno.test("a room's backlog is marked in its pane, with a note of what was dropped, and the sender sees who gets it later", () => {
  const s = new ChatState();
  s.apply({ type: "ready", user: "alice", port: 1 }, live);
  s.apply({ type: "backlog_dropped", room: "lobby", count: 12 }, live);
  s.apply({
    type: "message",
    from: "bob",
    text: "said earlier",
    id: 41,
    room: "lobby",
    at: "2026-12-01T10:00:00.000Z",
    backlog: true,
  }, live);
  const lobby = s.conv("room", "lobby");
  const [note, msg] = lobby.entries;
  assert(note?.kind === "note" && note.tone === "warn");
  assert(note.text.startsWith("12 older messages said while you were away"));
  assert(msg?.kind === "msg");
  assertEquals([msg.backlog, msg.id, msg.at], [
    true,
    undefined,
    "2026-12-01T10:00:00.000Z",
  ]);
  s.apply({
    type: "web_sent",
    room: "lobby",
    id: 7,
    text: "hello",
    at: "2026-12-01T11:00:00.000Z",
    recipients: ["bob"],
    later: ["carol", "dave"],
    unreached: [],
  }, live);
  const own = s.conv("room", "lobby").entries.at(-1);
  assert(own?.kind === "msg" && own.own);
  assertEquals(own.later, ["carol", "dave"]);
});
