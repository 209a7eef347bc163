/**
 * The shell command parser (SPEC §2.1): a table of good lines with the
 * command each becomes, a table of bad lines with the usage error each gets,
 * and a seeded fuzz loop that may only produce results, never exceptions.
 */
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { mulberry32 } from "../../helpers/random.ts";
import {
  type Command,
  COMMAND_HELP,
  COMMAND_NAMES,
  helpText,
  parseLine,
  tokenize,
} from "../../../peer/core/commands.ts";
import { MAX_STATUS_CHARS, MAX_TEXT_CHARS } from "../../../wire/mod.ts";

/** Good lines and the command each parses to. */
const GOOD: [string, Command][] = [
  ["/help", { name: "help", topic: undefined }],
  ["/help msg", { name: "help", topic: "msg" }],
  ["/help /who", { name: "help", topic: "who" }],
  ["/? ", { name: "help", topic: undefined }],
  ["/HELP", { name: "help", topic: undefined }],
  ["/quit", { name: "quit" }],
  ["/logout", { name: "quit" }],
  ["/exit", { name: "quit" }],
  ["/who", { name: "who", detailed: false }],
  ["/who -l", { name: "who", detailed: true }],
  ["/who -l --offset 200", { name: "who", detailed: true, offset: 200 }],
  ["/who --offset=5", { name: "who", detailed: false, offset: 5 }],
  ["/friends --offset 3", { name: "friends", offset: 3 }],
  ["/requests --offset 0", { name: "requests", offset: 0 }],
  ["/blocks --offset 10", { name: "blocks", offset: 10 }],
  ["/invites --offset 1", { name: "invites", offset: 1 }],
  ["/rooms lobby", { name: "rooms", detailed: false, search: "lobby" }],
  ["/rooms -l LOB --offset 200", {
    name: "rooms",
    detailed: true,
    search: "lob",
    offset: 200,
  }],
  ["/rooms --offset 2 -l", { name: "rooms", detailed: true, offset: 2 }],
  ["/members lobby --offset 200", {
    name: "members",
    room: "lobby",
    offset: 200,
  }],
  ["/names #lobby --offset=1", { name: "members", room: "lobby", offset: 1 }],
  ["/invite withdraw lobby bob", {
    name: "invite_withdraw",
    room: "lobby",
    user: "bob",
  }],
  ["/unban #lobby @bob", { name: "unban", room: "lobby", user: "bob" }],
  ["/room password lobby", { name: "room_password", room: "lobby" }],
  ["/room password #lobby 'two words'", {
    name: "room_password",
    room: "lobby",
    password: "two words",
  }],
  ["/search bob", { name: "search", user: "bob" }],
  ["/search @Bob", { name: "search", user: "bob" }],
  ["/profile carol.x", { name: "profile", user: "carol.x" }],
  ["/status", { name: "status" }],
  ["/status   ", { name: "status" }],
  ["/status out for lunch", { name: "status", text: "out for lunch" }],
  ["/status it's me", { name: "status", text: "it's me" }],
  ['/status "quoted"', { name: "status", text: '"quoted"' }],
  ["/friends", { name: "friends" }],
  ["/friend add bob", { name: "friend", action: "add", user: "bob" }],
  ["/friend REMOVE bob", { name: "friend", action: "remove", user: "bob" }],
  ["/friend accept @bob", { name: "friend", action: "accept", user: "bob" }],
  ["/friend decline bob", { name: "friend", action: "decline", user: "bob" }],
  ["/requests", { name: "requests" }],
  ["/block bob", { name: "block", user: "bob" }],
  ["/unblock bob", { name: "unblock", user: "bob" }],
  ["/blocks", { name: "blocks" }],
  ["/chat bob", { name: "chat", user: "bob" }],
  ["/chat @BOB", { name: "chat", user: "bob" }],
  ["/accept bob", { name: "accept", user: "bob", save: false }],
  ["/accept bob --save", { name: "accept", user: "bob", save: true }],
  ["/accept --save bob", { name: "accept", user: "bob", save: true }],
  ["/reject bob", { name: "reject", user: "bob" }],
  ["/msg bob hello there", { name: "msg", user: "bob", text: "hello there" }],
  ["/m bob hi", { name: "msg", user: "bob", text: "hi" }],
  ["/msg @bob I'm here", { name: "msg", user: "bob", text: "I'm here" }],
  ['/msg bob "a  b"', { name: "msg", user: "bob", text: '"a  b"' }],
  ["/msg bob  two  spaces ", {
    name: "msg",
    user: "bob",
    text: "two  spaces ",
  }],
  ["/close bob", { name: "close", user: "bob" }],
  ["/save bob on", { name: "save", user: "bob", on: true }],
  ["/save bob OFF", { name: "save", user: "bob", on: false }],
  ["/set", { name: "set" }],
  ["/set accept-friends off", {
    name: "set",
    setting: "accept-friends",
    on: false,
  }],
  ["/set Accept-Friends ON", {
    name: "set",
    setting: "accept-friends",
    on: true,
  }],
  ["/inbox", { name: "inbox" }],
  ["/rooms", { name: "rooms", detailed: false }],
  ["/rooms -l", { name: "rooms", detailed: true }],
  ["/room create lobby", { name: "room_create", room: "lobby" }],
  ["/room create #Lobby --password secret --capacity 10", {
    name: "room_create",
    room: "lobby",
    password: "secret",
    capacity: 10,
  }],
  ['/room create lobby --description "a place to talk"', {
    name: "room_create",
    room: "lobby",
    description: "a place to talk",
  }],
  ["/room create lobby --capacity=5 --password='p w'", {
    name: "room_create",
    room: "lobby",
    password: "p w",
    capacity: 5,
  }],
  ["/join lobby", { name: "join", room: "lobby" }],
  ["/join #lobby --password secret", {
    name: "join",
    room: "lobby",
    password: "secret",
  }],
  ["/leave lobby", { name: "leave", room: "lobby" }],
  ["/part #lobby", { name: "leave", room: "lobby" }],
  ["/members lobby", { name: "members", room: "lobby" }],
  ["/names #lobby", { name: "members", room: "lobby" }],
  ["/say lobby hello all", { name: "say", room: "lobby", text: "hello all" }],
  ["/say #lobby don't panic", {
    name: "say",
    room: "lobby",
    text: "don't panic",
  }],
  ["/invite lobby bob", { name: "invite", room: "lobby", user: "bob" }],
  ["/invite #lobby @bob", { name: "invite", room: "lobby", user: "bob" }],
  ["/invites", { name: "invites" }],
  ["/invite accept lobby", {
    name: "invite_answer",
    room: "lobby",
    accept: true,
  }],
  ["/invite decline #lobby", {
    name: "invite_answer",
    room: "lobby",
    accept: false,
  }],
  ["/kick lobby bob", { name: "kick", room: "lobby", user: "bob" }],
  ["/owner #lobby @bob", { name: "owner", room: "lobby", user: "bob" }],
  ["/send bob notes.txt", {
    name: "send",
    to: "bob",
    room: false,
    path: "notes.txt",
  }],
  ["/send @bob my notes.txt", {
    name: "send",
    to: "bob",
    room: false,
    path: "my notes.txt",
  }],
  ['/send bob "/tmp/a b.txt"', {
    name: "send",
    to: "bob",
    room: false,
    path: "/tmp/a b.txt",
  }],
  ["/send #lobby pic.png", {
    name: "send",
    to: "lobby",
    room: true,
    path: "pic.png",
  }],
  ["/files", { name: "files" }],
  ["/file accept abc123", { name: "file", action: "accept", id: "abc123" }],
  ["/file reject abc_1-2", { name: "file", action: "reject", id: "abc_1-2" }],
  ["/file cancel abc123", { name: "file", action: "cancel", id: "abc123" }],
  ["hello there", { name: "text", text: "hello there" }],
  ["  indented text", { name: "text", text: "  indented text" }],
  ["it's fine", { name: "text", text: "it's fine" }],
  ["line with CR\r\n", { name: "text", text: "line with CR" }],
];

/** Bad lines, the command they report, and a part of their error. */
const BAD: [string, string, string][] = [
  ["", "", "empty line"],
  ["   ", "", "empty line"],
  ["x".repeat(MAX_TEXT_CHARS + 1), "", `longer than ${MAX_TEXT_CHARS}`],
  ["/", "/", "unknown command '/'"],
  ["/frobnicate", "/frobnicate", "unknown command '/frobnicate'"],
  [
    "/acept bob",
    "/acept",
    "unknown command '/acept' — did you mean /accept? (type /help for the list)",
  ],
  ["/qiut", "/qiut", "did you mean /quit?"],
  ["/join lobby --password a\ud800b", "/join", "lone surrogate"],
  ["/room create r --password \udfff", "/room", "lone surrogate"],
  ["/room password r x\ud83dy", "/room", "lone surrogate"],
  ["/help a b", "/help", "usage: /help [COMMAND]"],
  ["/quit now", "/quit", "usage: /quit"],
  ["/logout please", "/logout", "usage: /quit"],
  ["/who -x", "/who", "usage: /who [-l]"],
  ["/who -l more", "/who", "usage: /who [-l]"],
  ["/search", "/search", "usage: /search NAME"],
  ["/search a b", "/search", "usage: /search NAME"],
  ["/search bad!name", "/search", "'bad!name' is not a valid user name"],
  ["/search " + "a".repeat(33), "/search", "is not a valid user name"],
  ["/profile", "/profile", "usage: /profile NAME"],
  ["/status " + "s".repeat(MAX_STATUS_CHARS + 1), "/status", "longer than"],
  ["/friends bob", "/friends", "usage: /friends"],
  ["/friend", "/friend", "usage: /friend add|remove|accept|decline NAME"],
  ["/friend add", "/friend", "usage: /friend"],
  ["/friend hug bob", "/friend", "usage: /friend"],
  ["/friend add b@d", "/friend", "'b@d' is not a valid user name"],
  ["/requests x", "/requests", "usage: /requests"],
  ["/block", "/block", "usage: /block NAME"],
  ["/unblock a b", "/unblock", "usage: /unblock NAME"],
  ["/blocks x", "/blocks", "usage: /blocks"],
  ["/chat", "/chat", "usage: /chat NAME"],
  ["/chat bob carol", "/chat", "usage: /chat NAME"],
  ["/chat 'bob", "/chat", "unclosed quote — usage: /chat NAME"],
  ["/accept", "/accept", "usage: /accept NAME [--save]"],
  ["/accept --save", "/accept", "usage: /accept NAME [--save]"],
  ["/accept bob carol", "/accept", "usage: /accept"],
  ["/reject", "/reject", "usage: /reject NAME"],
  ["/msg", "/msg", "usage: /msg NAME TEXT"],
  ["/msg bob", "/msg", "usage: /msg NAME TEXT"],
  ["/msg bob    ", "/msg", "usage: /msg NAME TEXT"],
  ["/m bob", "/m", "usage: /msg NAME TEXT"],
  ["/msg b!b hi", "/msg", "'b!b' is not a valid user name"],
  [
    "/msg bob " + "x".repeat(MAX_TEXT_CHARS + 1),
    "/msg",
    `longer than ${MAX_TEXT_CHARS}`,
  ],
  ["/close", "/close", "usage: /close NAME"],
  ["/save bob", "/save", "usage: /save NAME on|off"],
  ["/save bob maybe", "/save", "say on or off"],
  ["/set accept-friends", "/set", "usage: /set [accept-friends on|off]"],
  ["/set accept-friends maybe", "/set", "say on or off"],
  ["/set colour on", "/set", "no setting 'colour' (there is accept-friends)"],
  ["/set a b c", "/set", "usage: /set [accept-friends on|off]"],
  ["/inbox now", "/inbox", "usage: /inbox"],
  ["/rooms -x", "/rooms", "usage: /rooms [-l]"],
  ["/rooms a b", "/rooms", "usage: /rooms [-l] [WORD]"],
  ["/rooms -l -l", "/rooms", "usage: /rooms"],
  ["/rooms " + "w".repeat(33), "/rooms", "WORD is longer than 32"],
  ["/rooms --offset", "/rooms", "--offset needs a value"],
  ["/who --offset -1", "/who", "--offset '-1' is not a whole number"],
  ["/members lobby --offset x", "/members", "--offset 'x' is not a whole"],
  ["/inbox --offset 2", "/inbox", "usage: /inbox"],
  ["/unban lobby", "/unban", "usage: /unban ROOM NAME"],
  ["/room password", "/room", "usage: /room create NAME"],
  ["/room password lobby a b", "/room", "/room password ROOM [P]"],
  ["/invite withdraw lobby", "/invite", "/invite withdraw ROOM NAME"],
  ["/room", "/room", "usage: /room create NAME"],
  ["/room create", "/room", "usage: /room create NAME"],
  ["/room delete lobby", "/room", "usage: /room create NAME"],
  ["/room create lobby --capacity", "/room", "--capacity needs a value"],
  ["/room create lobby --capacity 0", "/room", "capacity must be"],
  ["/room create lobby --capacity ten", "/room", "capacity must be"],
  ["/room create lobby --capacity 1001", "/room", "capacity must be"],
  ["/room create lobby --colour red", "/room", "unexpected '--colour'"],
  ["/room create lobby extra", "/room", "unexpected 'extra'"],
  ["/room create lobby --description", "/room", "--description needs a value"],
  [
    `/room create lobby --description "${"d".repeat(281)}"`,
    "/room",
    "description is longer than 280",
  ],
  ["/room create bad/room", "/room", "'bad/room' is not a valid room name"],
  ["/join", "/join", "usage: /join ROOM [--password P]"],
  ["/join lobby --password", "/join", "--password needs a value"],
  ["/join lobby secret", "/join", "unexpected 'secret'"],
  ["/join lobby --capacity 3", "/join", "unexpected '--capacity'"],
  ["/leave", "/leave", "usage: /leave ROOM"],
  ["/part", "/part", "usage: /leave ROOM"],
  ["/members", "/members", "usage: /members ROOM"],
  ["/names a b", "/names", "usage: /members ROOM"],
  ["/say", "/say", "usage: /say ROOM TEXT"],
  ["/say lobby", "/say", "usage: /say ROOM TEXT"],
  ["/say #bad$room hi", "/say", "is not a valid room name"],
  ["/invite", "/invite", "usage: /invite ROOM NAME"],
  ["/invite lobby", "/invite", "usage: /invite ROOM NAME"],
  ["/invite lobby bob carol", "/invite", "usage: /invite"],
  ["/invites x", "/invites", "usage: /invites"],
  ["/kick lobby", "/kick", "usage: /kick ROOM NAME"],
  ["/owner lobby", "/owner", "usage: /owner ROOM NAME"],
  ["/send", "/send", "usage: /send NAME|#ROOM FILE"],
  ["/send bob", "/send", "usage: /send NAME|#ROOM FILE"],
  ["/send b*b file", "/send", "is not a valid user name"],
  ["/files x", "/files", "usage: /files"],
  ["/file", "/file", "usage: /file accept|reject|cancel ID"],
  ["/file open abc", "/file", "usage: /file"],
  ["/file accept ../../etc", "/file", "is not a transfer id"],
  ["/file accept", "/file", "usage: /file"],
];

Deno.test("every good command line parses to the expected command", async (t) => {
  for (const [line, want] of GOOD) {
    await t.step(JSON.stringify(line), () => {
      const got = parseLine(line);
      assertEquals(got, { ok: true, command: want });
    });
  }
});

Deno.test("every bad command line gets a usage error naming the command, never an exception", async (t) => {
  for (const [line, command, part] of BAD) {
    await t.step(JSON.stringify(line.slice(0, 60)), () => {
      const got = parseLine(line);
      assert(!got.ok, `expected an error for ${line}`);
      assertEquals(got.command, command);
      assertIncludes(got.error, part);
      assert(!got.error.includes("undefined"), got.error);
      assert(!got.error.includes("\n"), "errors are one line");
    });
  }
});

Deno.test("every command of SPEC §2.1 has a good line and a bad line in the tables", () => {
  const spec = [
    "help",
    "quit",
    "logout",
    "who",
    "search",
    "profile",
    "status",
    "friends",
    "friend",
    "requests",
    "block",
    "unblock",
    "chat",
    "accept",
    "reject",
    "msg",
    "close",
    "save",
    "inbox",
    "rooms",
    "room",
    "join",
    "leave",
    "members",
    "say",
    "invite",
    "invites",
    "kick",
    "unban",
    "owner",
    "send",
    "files",
    "file",
  ];
  for (const name of spec) {
    assert(
      GOOD.some(([l]) => l.split(/\s/)[0]!.toLowerCase() === `/${name}`),
      `no good line for /${name}`,
    );
    assert(
      COMMAND_NAMES.includes(name),
      `/${name} is not offered for completion`,
    );
  }
  for (const name of spec.filter((n) => n !== "status" && n !== "help")) {
    assert(
      BAD.some(([l]) => l.split(/\s/)[0] === `/${name}`),
      `no bad line for /${name}`,
    );
  }
});

Deno.test("help lists every command and explains one, aliases included", () => {
  const all = helpText();
  for (const h of Object.values(COMMAND_HELP)) assertIncludes(all, h.usage);
  assertIncludes(helpText("msg"), "/msg NAME TEXT");
  assertIncludes(helpText("m"), "/msg NAME TEXT");
  assertIncludes(helpText("part"), "/leave ROOM");
  assertIncludes(helpText("names"), "/members ROOM");
  assertIncludes(helpText("logout"), "/quit");
  assertIncludes(helpText("nope"), "no such command '/nope'");
});

Deno.test("tokenize groups quotes, honours backslashes and reports an unclosed quote", () => {
  assertEquals(tokenize(`a "b c" 'd e' f\\ g`), ["a", "b c", "d e", "f g"]);
  assertEquals(tokenize(`"say \\"hi\\""`), ['say "hi"']);
  assertEquals(tokenize(`""`), [""]);
  assertEquals(tokenize("   "), []);
  assertEquals(tokenize(`"open`), null);
  assertEquals(tokenize(`it's`), null);
});

Deno.test("a seeded fuzz loop of random lines never makes the parser throw", () => {
  const rand = mulberry32(0xC0FFEE);
  const pieces = [
    ...COMMAND_NAMES.map((c) => `/${c}`),
    "/m",
    "/part",
    "/names",
    "/?",
    "/",
    "create",
    "add",
    "accept",
    "decline",
    "on",
    "off",
    "-l",
    "--save",
    "--password",
    "--capacity",
    "--description",
    "--capacity=",
    "#lobby",
    "@bob",
    "bob",
    '"',
    "'",
    "\\",
    " ",
    "  ",
    "\t",
    "\r",
    "\n",
    "\x1b[31m",
    "\u0000",
    "é",
    "💬",
    "-1",
    "99999",
    "x".repeat(200),
  ];
  let ok = 0;
  for (let i = 0; i < 20_000; i++) {
    const n = Math.floor(rand() * 8);
    let line = "";
    for (let j = 0; j < n; j++) {
      line += rand() < 0.8
        ? pieces[Math.floor(rand() * pieces.length)]! +
          (rand() < 0.7 ? " " : "")
        : String.fromCharCode(Math.floor(rand() * 0x2fff));
    }
    const got = parseLine(line);
    if (got.ok) ok++;
    else {
      assert(typeof got.error === "string" && got.error.length > 0, line);
      assert(!got.error.includes("undefined"), got.error);
    }
  }
  assert(ok > 0, "some random lines should parse");
});
