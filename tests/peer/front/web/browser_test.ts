/**
 * The web UI end to end in a real headless Chromium: a `chat web` process
 * logged in from its page, a `chat peer --json` process on the other side,
 * a real registry process. Screenshots go to the browser's temporary
 * folder (CHAT_KEEP_SCREENSHOTS=1 keeps it; CHAT_DOCS_SCREENSHOTS=1 also
 * copies the README's into docs/).
 */
import { join } from "node:path";
import type { Page } from "puppeteer-core";
import { assert, assertEquals } from "../../../helpers/assert.ts";
import { chromiumMissing, launchBrowser } from "../../../helpers/browser.ts";
import { spawnPeer } from "../../../helpers/peer_process.ts";
import { spawnRegistry, until } from "../../../helpers/registry.ts";
import { spawnWeb } from "../../../helpers/web_process.ts";

// The functions given to page.evaluate run in the page, where these exist.
declare const document: {
  querySelectorAll(sel: string): Iterable<{ textContent: string | null }>;
};
declare function getComputedStyle(e: unknown): {
  display: string;
  backgroundColor: string;
};

const missing = chromiumMissing();
if (missing) console.warn(`skipping the web UI browser test: ${missing}`);
const DOCS = new URL("../../../../docs/", import.meta.url).pathname;

/** Records notifications and permission requests, and lets the test hide the tab or cut the page's connection. */
const PAGE_HOOKS = `
  window.__notes = [];
  window.__asked = 0;
  window.__hidden = false;
  window.__offline = false;
  window.__sockets = [];
  const RealNotification = window.Notification;
  class RecordingNotification {
    constructor(title, opts) { window.__notes.push({ title, body: opts && opts.body }); }
    static get permission() { return RealNotification.permission; }
    static requestPermission() { window.__asked++; return RealNotification.requestPermission(); }
  }
  window.Notification = RecordingNotification;
  Object.defineProperty(Document.prototype, "hidden", { get: () => window.__hidden, configurable: true });
  const RealWebSocket = window.WebSocket;
  window.WebSocket = class extends RealWebSocket {
    constructor(url, p) {
      super(window.__offline ? "ws://127.0.0.1:9/" : url, p);
      window.__sockets.push(this);
    }
  };
`;

async function waitText(page: Page, selector: string, text: string) {
  try {
    await page.waitForFunction(
      (sel: string, t: string) =>
        [...document.querySelectorAll(sel)].some((e) =>
          (e.textContent ?? "").includes(t)
        ),
      { timeout: 20_000, polling: 50 },
      selector,
      text,
    );
  } catch (err) {
    const seen = await page.evaluate(
      (sel: string) =>
        [...document.querySelectorAll(sel)].map((e) => e.textContent).join(
          " | ",
        ),
      selector,
    );
    throw new Error(`no ${selector} with '${text}' (saw: ${seen}): ${err}`);
  }
}

/**
 * Clicks like a user; the lists are redrawn as events arrive, so a node
 * found a moment ago may be replaced: look it up again then.
 */
async function click(page: Page, selector: string) {
  for (let i = 0;; i++) {
    try {
      await page.waitForSelector(selector, { timeout: 20_000 });
      await page.click(selector);
      return;
    } catch (err) {
      const replaced = /detached|not clickable/.test(String(err));
      if (i >= 10 || !replaced) throw err;
    }
  }
}

/**
 * Types `text` into an empty field and checks it is all there: a redraw
 * of the list around the field (someone joined or left) may replace it
 * between two keys, so it is typed again then.
 */
async function fill(page: Page, selector: string, text: string) {
  for (let i = 0;; i++) {
    await page.$eval(
      selector,
      (e) => (e as unknown as { value: string }).value = "",
    );
    await page.type(selector, text);
    const got = await page.$eval(
      selector,
      (e) => (e as unknown as { value: string }).value,
    );
    if (got === text) return;
    if (i >= 10) throw new Error(`${selector} holds '${got}', not '${text}'`);
  }
}

async function waitFor(page: Page, fn: string) {
  await page.waitForFunction(fn, { timeout: 30_000, polling: 50 });
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as BufferSource);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

Deno.test({
  name: "chat web in Chromium against a JSON-mode peer",
  ignore: missing !== null,
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const regHome = await Deno.makeTempDir({ prefix: "chat-webreg-" });
  let reg = await spawnRegistry({ home: regHome });
  const ref = { port: reg.port, fingerprint: reg.fingerprint };
  await using bob = await spawnPeer(ref, { user: "bob" });
  await using web = await spawnWeb(ref, { user: "alice", password: null });
  await using tb = await launchBrowser();
  const shot = async (page: Page, name: string, docs = false) => {
    const path = join(tb.shots, `${name}.png`);
    await page.screenshot({ path });
    if (docs && Deno.env.get("CHAT_DOCS_SCREENSHOTS")) {
      await Deno.copyFile(path, join(DOCS, `web-${name}.png`));
    }
  };
  try {
    const page = await tb.browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.evaluateOnNewDocument(PAGE_HOOKS);
    await page.setViewport({ width: 1280, height: 800 });

    await t.step(
      "the page logs in (and signs up) with its form; notifications are asked once",
      async () => {
        await page.goto(web.url);
        assertEquals(new URL(page.url()).search, "", "the token left the URL");
        await page.waitForSelector("#login:not([hidden])");
        assertEquals(
          await page.$eval(
            "#login-user",
            (e) => (e as unknown as { value: string }).value,
          ),
          "alice",
        );
        await shot(page, "login");
        await page.type("#login-password", "alice-password");
        await click(page, "#login-signup");
        await page.type("#login-again", "alice-password");
        await page.keyboard.press("Enter");
        await page.waitForSelector("#app:not([hidden])");
        await waitText(page, "#me-name", "alice");
        await until(
          () => web.stdout.includes("logged in as alice"),
          "logged in as alice",
        );
        await click(page, "#search-input");
        await waitFor(page, "window.__asked === 1");
        await click(page, "#search-input");
        assertEquals(await page.evaluate("window.__asked"), 1);
      },
    );

    await t.step(
      "a friend request is accepted and the friend is seen going and coming online",
      async () => {
        const r = await bob.send("/friend add alice");
        assertEquals(r.ok, true);
        await waitText(page, "#requests", "bob wants to be your friend");
        await click(page, '[data-focus="fr-acc-bob"]');
        await bob.waitFor(
          (l) => l.type === "friend_accepted",
          "friend_accepted",
        );
        await page.waitForSelector('[data-friend="bob"] .dot.on');
        await bob.quit();
        await page.waitForSelector('[data-friend="bob"] .dot:not(.on)');
      },
    );

    // bob again, with the same home and account.
    await using bob2 = await spawnPeer(ref, {
      user: "bob",
      home: bob.home,
      signup: false,
    });
    await t.step("… and comes back online", async () => {
      await page.waitForSelector('[data-friend="bob"] .dot.on');
    });

    await using carol = await spawnPeer(ref, { user: "carol" });
    await t.step(
      "a chat request from someone who is not a friend is accepted with its button",
      async () => {
        const r = await carol.send("/chat alice");
        assertEquals(r.state, "requested");
        await waitText(page, "#requests", "carol asks for a chat");
        await click(page, '[data-focus="cr-open-carol"]');
        await page.waitForSelector('[data-focus="req-accept"]');
        await click(page, '[data-focus="req-accept"]');
        await carol.waitFor((l) => l.type === "chat_started", "chat_started");
        await carol.send("/close alice");
        await waitText(page, "#log", "chat ended: closed by carol");
      },
    );

    await t.step(
      "a chat request is rejected with its button, and another accepted with a transcript",
      async () => {
        let at = carol.lines.length;
        assertEquals((await carol.send("/chat alice")).state, "requested");
        await click(page, '[data-focus="cr-open-carol"]');
        await click(page, '[data-focus="req-reject"]');
        await carol.waitFor(
          (l) => l.type === "chat_rejected" && l.by === "alice",
          "chat_rejected",
          30_000,
          at,
        );
        at = carol.lines.length;
        assertEquals((await carol.send("/chat alice")).state, "requested");
        await click(page, '[data-focus="cr-open-carol"]');
        await click(page, '[data-focus="req-save"]');
        await carol.waitFor(
          (l) => l.type === "chat_started",
          "chat_started",
          30_000,
          at,
        );
        await waitText(page, "#pane", "saving a transcript");
        await carol.send("/msg alice for the record");
        await waitText(page, "#log .msg", "for the record");
        const transcript = join(web.home, "transcripts", "carol.log");
        await until(
          async () =>
            (await Deno.readTextFile(transcript).catch(() => "")).includes(
              "for the record",
            ),
          "carol's message in alice's transcript",
        );
        await carol.send("/close alice");
        await waitText(page, "#log", "chat ended: closed by carol");
      },
    );

    await t.step(
      "a friend's chat request opens at once and messages go both ways with delivery ticks",
      async () => {
        const r = await bob2.send("/chat alice");
        assertEquals(r.state, "requested");
        const started = await bob2.waitFor(
          (l) => l.type === "chat_started",
          "chat_started",
        );
        assertEquals(started.with, "alice");
        await click(page, '[data-friend="bob"]');
        await waitText(page, "#log", "a friend, accepted at once");
        assertEquals(
          await page.$$eval('[data-focus="cr-open-bob"]', (n) => n.length),
          0,
          "no request to accept",
        );
        await page.type("#text", "hello *bob*");
        await page.keyboard.down("Shift");
        await page.keyboard.press("Enter");
        await page.keyboard.up("Shift");
        await page.type("#text", "second line");
        await page.keyboard.press("Enter");
        const got = await bob2.waitFor(
          (l) => l.type === "message" && l.from === "alice",
          "alice's message",
        );
        assertEquals(got.text, "hello *bob*\nsecond line");
        await page.waitForSelector('#log .msg.own [data-state="delivered"]');
        assertEquals(
          await page.$eval("#log .msg.own strong", (e) => e.textContent),
          "bob",
        );
        await bob2.send("/msg alice hi alice, see https://example.com/x.");
        await waitText(page, "#log .msg", "hi alice, see");
        const link = await page.$eval(
          "#log .msg a",
          (
            a,
          ) => [
            a.getAttribute("href"),
            a.getAttribute("target"),
            a.getAttribute("rel"),
          ],
        );
        assertEquals(link, [
          "https://example.com/x",
          "_blank",
          "noopener noreferrer",
        ]);
        await bob2.send("/msg alice an _italic_ word and `*a code*`");
        await waitText(page, "#log .msg em", "italic");
        assertEquals(
          await page.$$eval(
            "#log .msg code",
            (n) => n.map((e) => e.textContent),
          ),
          ["*a code*"],
        );
        assertEquals(
          await page.$eval("#pane-path", (e) => e.textContent),
          "direct",
        );
      },
    );

    await t.step("an HTML-injection message is shown as text", async () => {
      const evil = `<img src=x onerror="window.__pwned=1"><b>bold?</b>`;
      await bob2.send(`/msg alice ${evil}`);
      await waitText(page, "#log .msg", evil);
      assertEquals(await page.evaluate("window.__pwned === undefined"), true);
      assertEquals(await page.$$eval("#log img, #log b", (n) => n.length), 0);
      await shot(page, "wide", true);
    });

    await t.step(
      "notifications while the tab is hidden, and the unread count in the title",
      async () => {
        await tb.browser.defaultBrowserContext().overridePermissions(
          web.origin,
          ["notifications"],
        );
        await page.evaluate("window.__hidden = true");
        await bob2.send("/msg alice are you there?");
        await waitFor(page, "window.__notes.length > 0");
        const notes = await page.evaluate("window.__notes") as {
          title: string;
          body: string;
        }[];
        assertEquals(notes.at(-1), { title: "bob", body: "are you there?" });
        assert((await page.title()).startsWith("(1) "), await page.title());
        await page.evaluate(
          "window.__hidden = false; document.dispatchEvent(new Event('visibilitychange'))",
        );
        await waitFor(page, "!document.title.startsWith('(')");
      },
    );

    await t.step(
      "keyboard only: Tab to a friend, Enter, type, Enter",
      async () => {
        await page.evaluate(
          "document.activeElement && document.activeElement.blur()",
        );
        await page.evaluate("document.body.focus()");
        let found = false;
        for (let i = 0; i < 60 && !found; i++) {
          await page.keyboard.press("Tab");
          found = await page.evaluate(
            "document.activeElement?.dataset?.friend === 'bob'",
          ) as boolean;
        }
        assert(found, "Tab reaches the friend");
        await page.keyboard.press("Enter");
        assertEquals(await page.evaluate("document.activeElement.id"), "text");
        await page.keyboard.type("typed without a mouse");
        await page.keyboard.press("Enter");
        await bob2.waitFor(
          (l) => l.type === "message" && l.text === "typed without a mouse",
          "the typed message",
        );
        // Every control has a name, the message list is a log.
        const unnamed = await page.evaluate(`[...document.querySelectorAll(
        "#app button, #app input, #app textarea")].filter((e) =>
        e.offsetParent !== null && !(e.getAttribute("aria-label") ||
        e.textContent.trim() || (e.id && document.querySelector("label[for='" + e.id + "']")))
      ).map((e) => e.outerHTML)`);
        assertEquals(unnamed, []);
        assertEquals(
          await page.$eval(
            "#log",
            (e) => [e.getAttribute("role"), e.getAttribute("aria-label")],
          ),
          ["log", "Messages with bob"],
        );
        assertEquals(
          await page.$eval("nav", (e) => e.getAttribute("aria-label")),
          "Friends, chats and rooms",
        );
      },
    );

    await t.step(
      "a room: invited, joined, messages both ways with ticks per member",
      async () => {
        await bob2.send("/room create lobby --description 'a place'");
        await bob2.send("/invite lobby alice");
        await waitText(page, "#requests", "invites you to #lobby");
        await click(page, '[data-focus="inv-acc-lobby"]');
        await waitText(page, "#pane-title", "#lobby");
        await page.type("#text", "hi room");
        await page.keyboard.press("Enter");
        const m = await bob2.waitFor(
          (l) => l.type === "message" && l.room === "lobby",
          "the room message",
        );
        assertEquals(m.text, "hi room");
        await waitText(page, '#log .msg.own [data-state="delivered"]', "1/1");
        await bob2.send("/say lobby welcome");
        await waitText(page, "#log .msg", "welcome");
        await click(page, '[data-focus="act-members"]');
        await waitText(page, "#members", "bob");
        await waitText(page, "#members .tag", "owner");
        await click(page, '[data-focus="act-members"]');
      },
    );

    await t.step(
      "a room message for a member who is away is kept for later, and shown to them marked as such",
      async () => {
        const erinHome = await Deno.makeTempDir({ prefix: "chat-weberin-" });
        try {
          const erin = await spawnPeer(ref, {
            user: "erin",
            home: erinHome,
          });
          await bob2.send("/invite lobby erin");
          assertEquals((await erin.send("/invite accept lobby")).ok, true);
          assertEquals(await erin.quit(), 0);
          await until(
            async () =>
              ((await bob2.send("/members lobby")).members as {
                user: string;
                online: boolean;
              }[]).some((m) => m.user === "erin" && !m.online),
            "erin away",
            10_000,
            200,
          );
          await click(page, '[data-conv="#lobby"]');
          await waitText(page, "#pane-title", "#lobby");
          // The page's own peer hears erin left in the same push as bob's.
          await page.type("#text", "for erin, later");
          await page.keyboard.press("Enter");
          await waitText(
            page,
            '#log .msg.own [data-state="later"]',
            "1 away — gets it when back",
          );
          // erin comes back in a browser of her own, from her device.
          await using cweb = await spawnWeb(ref, {
            user: "erin",
            home: erinHome,
            signup: false,
            password: null,
          });
          const cpage = await tb.browser.newPage();
          try {
            await cpage.goto(cweb.url);
            await cpage.waitForSelector("#app:not([hidden])");
            await click(cpage, '[data-conv="#lobby"]');
            await waitText(cpage, "#log .msg", "for erin, later");
            await waitText(
              cpage,
              '#log .msg [data-state="backlog"]',
              "said while you were away",
            );
            await shot(cpage, "room-backlog");
          } finally {
            await cpage.close();
          }
        } finally {
          await Deno.remove(erinHome, { recursive: true }).catch(() => {});
        }
      },
    );

    await t.step(
      "the side bar counts unread messages of a chat and a room until they are opened",
      async () => {
        await bob2.send("/msg alice while you read the room");
        await waitText(page, '[data-conv="@bob"] .badge', "1");
        assert(
          (await page.$eval(
            '[data-conv="@bob"]',
            (e) => e.getAttribute("aria-label"),
          ))?.endsWith(", 1 unread"),
        );
        await click(page, '[data-conv="@bob"]');
        await waitFor(
          page,
          `!document.querySelector('[data-conv="@bob"] .badge')`,
        );
        await bob2.send("/say lobby while you read bob");
        await bob2.send("/say lobby and again");
        await waitText(page, '[data-conv="#lobby"] .badge', "2");
        await click(page, '[data-conv="#lobby"]');
        await waitFor(
          page,
          `!document.querySelector('[data-conv="#lobby"] .badge')`,
        );
      },
    );

    await t.step(
      "rooms are created with a password, capacity and description, and found in the directory",
      async () => {
        await click(page, "#rooms-new");
        await page.type("#room-name", "den");
        await page.type("#room-desc", 'a "quiet" place');
        await page.type("#room-cap", "5");
        await page.type("#room-pw", "pass word");
        await click(page, "#dialog-ok");
        await waitText(page, "#pane-title", "#den");
        const rooms = await bob2.send("/rooms -l");
        const den = (rooms.rooms as Record<string, unknown>[]).find((r) =>
          r.room === "den"
        );
        assertEquals(
          [den?.description, den?.capacity, den?.locked, den?.owner],
          ['a "quiet" place', 5, true, "alice"],
        );
        const join = await bob2.send("/join den --password 'pass word'");
        assertEquals(join.ok, true, JSON.stringify(join));
        await click(page, "#rooms-browse");
        await waitText(page, "#dialog-body .dir", "#lobby");
        await page.type("#rooms-filter", "quiet");
        await page.waitForFunction(
          "document.querySelectorAll('#dialog-body .dir li').length === 1",
        );
        await waitText(page, "#dialog-body .dir", "#den");
        await click(page, "#dialog-cancel");
        await bob2.send("/leave den");
      },
    );

    await t.step(
      "the owner removes a member for good, lets them back in, changes the password and withdraws an invitation",
      async () => {
        const back = await bob2.send("/join den --password 'pass word'");
        assertEquals(back.ok, true, JSON.stringify(back));
        await click(page, '[data-focus="act-members"]');
        await waitText(page, "#members", "bob");
        await click(page, '[data-focus="kick-bob"]');
        await click(page, "#dialog-ok");
        await bob2.waitFor(
          (l) => l.type === "room_left" && l.room === "den" && l.user === "bob",
          "bob removed from den",
        );
        const shut = await bob2.send("/join den --password 'pass word'");
        assertEquals(
          shut.error,
          "you were removed from room 'den' and cannot rejoin until its owner unbans you",
        );

        await fill(page, "#invite-input", "bob");
        await click(page, '[data-focus="unban-btn"]');
        await waitText(page, "#banner", "bob may join #den again");

        await click(page, '[data-focus="password-btn"]');
        await page.type("#room-new-password", "new word");
        await click(page, "#dialog-ok");
        await waitText(page, "#banner", "#den has a new password");
        const old = await bob2.send("/join den --password 'pass word'");
        assertEquals(old.ok, false, JSON.stringify(old));
        const fresh = await bob2.send("/join den --password 'new word'");
        assertEquals(fresh.ok, true, JSON.stringify(fresh));
        assertEquals((await bob2.send("/leave den")).ok, true);

        await fill(page, "#invite-input", "bob");
        await page.keyboard.press("Enter");
        await bob2.waitFor(
          (l) => l.type === "room_invite" && l.room === "den",
          "the invitation to den",
        );
        // The page empties the field once the invitation's reply is in.
        await waitFor(
          page,
          "document.querySelector('#invite-input').value === ''",
        );
        await fill(page, "#invite-input", "bob");
        await click(page, '[data-focus="withdraw-btn"]');
        await bob2.waitFor(
          (l) => l.type === "invite_withdrawn" && l.room === "den",
          "the invitation withdrawn",
        );
        assertEquals((await bob2.send("/invites")).invites, []);

        await click(page, '[data-focus="password-btn"]');
        await click(page, "#dialog-ok");
        await waitText(page, "#banner", "#den has no password now");
        const open = await bob2.send("/rooms -l den");
        assertEquals(
          (open.rooms as Record<string, unknown>[]).map((r) => r.locked),
          [false],
        );
        await click(page, '[data-focus="act-members"]');
      },
    );

    await t.step("the owner hands the room over to a member", async () => {
      const at = bob2.lines.length;
      assertEquals((await bob2.send("/join den")).ok, true);
      await click(page, '[data-focus="act-members"]');
      await waitText(page, "#members", "bob");
      await click(page, '[data-focus="own-bob"]');
      await click(page, "#dialog-ok");
      await bob2.waitFor(
        (l) => l.type === "room_owner" && l.room === "den" && l.user === "bob",
        "bob owns den",
        30_000,
        at,
      );
      const den = await bob2.send("/rooms -l den");
      assertEquals(
        (den.rooms as Record<string, unknown>[]).map((r) => r.owner),
        ["bob"],
      );
      await waitFor(page, `!document.querySelector('[data-focus="own-bob"]')`);
      await click(page, '[data-focus="act-members"]');
    });

    await t.step(
      "a room with a password is joined from the directory, which asks for it",
      async () => {
        const made = await bob2.send(
          "/room create vault --password 'open sesame'",
        );
        assertEquals(made.ok, true, JSON.stringify(made));
        const joinVault =
          `[...document.querySelectorAll("#dialog-body .dir li")]
          .find((li) => li.textContent.includes("#vault")).querySelector("button").click()`;
        await click(page, "#rooms-browse");
        await waitText(page, "#dialog-body .dir", "#vault");
        await page.evaluate(joinVault);
        await page.waitForSelector("#join-password");
        await page.type("#join-password", "wrong");
        await click(page, "#dialog-ok");
        await waitText(page, "#dialog-error", "password");
        await page.$eval(
          "#join-password",
          (e) => (e as unknown as { value: string }).value = "",
        );
        await page.type("#join-password", "open sesame");
        const at = bob2.lines.length;
        await click(page, "#dialog-ok");
        await waitText(page, "#pane-title", "#vault");
        await bob2.waitFor(
          (l) =>
            l.type === "room_joined" && l.room === "vault" &&
            l.user === "alice",
          "alice in vault",
          30_000,
          at,
        );
      },
    );

    await t.step("a file from the page arrives byte for byte", async () => {
      const src = join(tb.dir, "from page.bin");
      const bytes = crypto.getRandomValues(new Uint8Array(65536));
      const big = new Uint8Array(300 * 1024);
      for (let i = 0; i < big.length; i += bytes.length) {
        big.set(bytes.subarray(0, Math.min(bytes.length, big.length - i)), i);
      }
      await Deno.writeFile(src, big);
      await click(page, '[data-conv="@bob"]');
      const input = await page.$("#file-input");
      await (input as unknown as { uploadFile(p: string): Promise<void> })
        .uploadFile(src);
      const offer = await bob2.waitFor(
        (l) => l.type === "file_offer",
        "the offer",
      );
      assertEquals([offer.name, offer.size], ["from page.bin", big.length]);
      await page.waitForSelector(
        `[data-transfer="${offer.id}"][data-state="offered"]`,
      );
      await bob2.send(`/file accept ${offer.id}`);
      const rec = await bob2.waitFor(
        (l) => l.type === "file_received",
        "received",
      );
      assertEquals(
        await sha256(await Deno.readFile(String(rec.path))),
        await sha256(big),
      );
      await page.waitForSelector(
        `[data-transfer="${offer.id}"][data-state="done"]`,
      );
      await until(
        async () => {
          const dir = join(web.home, "uploads");
          for await (const e of Deno.readDir(dir)) {
            for await (const _ of Deno.readDir(join(dir, e.name))) return false;
          }
          return true;
        },
        "the spooled upload removed",
      );
    });

    await t.step(
      "a file dropped on the pane is offered and arrives",
      async () => {
        await click(page, '[data-conv="@bob"]');
        const at = bob2.lines.length;
        await page.evaluate(`(() => {
        const dt = new DataTransfer();
        dt.items.add(new File(["dropped on the pane\\n".repeat(100)], "dropped.txt"));
        const pane = document.getElementById("pane");
        for (const type of ["dragover", "drop"]) {
          pane.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
        }
      })()`);
        const offer = await bob2.waitFor(
          (l) => l.type === "file_offer" && l.name === "dropped.txt",
          "the dropped file's offer",
          30_000,
          at,
        );
        await bob2.send(`/file accept ${offer.id}`);
        const rec = await bob2.waitFor(
          (l) => l.type === "file_received" && l.id === offer.id,
          "the dropped file",
          30_000,
          at,
        );
        assertEquals(
          await Deno.readTextFile(String(rec.path)),
          "dropped on the pane\n".repeat(100),
        );
        await page.waitForSelector(
          `[data-transfer="${offer.id}"][data-state="done"]`,
        );
      },
    );

    await t.step(
      "a transfer under way shows its progress, rate and time left, sending and receiving",
      async () => {
        const size = 128 * 1024 * 1024;
        const progress =
          /^[\d.]+ [kMG]?B of 134 MB · [\d.]+ [kMG]?B\/s · .+ left$/;
        // bob is stopped (SIGSTOP) once the page shows the transfer under
        // way, so it stays under way while the page is read.
        const held = async (id: string) => {
          const sel = `[data-transfer="${id}"][data-state="active"] .fstate`;
          await page.waitForSelector(sel, { timeout: 30_000 });
          bob2.child.kill("SIGSTOP");
          try {
            await page.waitForFunction(
              (s: string, re: string) =>
                [...document.querySelectorAll(s)].some((e) =>
                  new RegExp(re).test(e.textContent ?? "")
                ),
              { timeout: 20_000, polling: 50 },
              sel,
              progress.source,
            );
          } finally {
            bob2.child.kill("SIGCONT");
          }
        };
        const out = join(tb.dir, "big out.bin");
        await Deno.writeFile(out, new Uint8Array());
        await Deno.truncate(out, size);
        let at = bob2.lines.length;
        const input = await page.$("#file-input");
        await (input as unknown as { uploadFile(p: string): Promise<void> })
          .uploadFile(out);
        const offer = await bob2.waitFor(
          (l) => l.type === "file_offer" && l.name === "big out.bin",
          "the big offer",
          60_000,
          at,
        );
        await bob2.send(`/file accept ${offer.id}`);
        await held(String(offer.id));
        await bob2.waitFor(
          (l) => l.type === "file_received" && l.id === offer.id,
          "the big file at bob",
          120_000,
          at,
        );
        await page.waitForSelector(
          `[data-transfer="${offer.id}"][data-state="done"]`,
          { timeout: 60_000 },
        );

        const inbound = join(tb.dir, "big in.bin");
        await Deno.writeFile(inbound, new Uint8Array());
        await Deno.truncate(inbound, size);
        at = bob2.lines.length;
        const sent = await bob2.send(`/send alice "${inbound}"`);
        assertEquals(sent.ok, true, JSON.stringify(sent));
        await click(page, `[data-focus="facc-${sent.id}"]`);
        await held(String(sent.id));
        await bob2.waitFor(
          (l) => l.type === "file_sent" && l.id === sent.id,
          "the big file from bob",
          120_000,
          at,
        );
        await page.waitForSelector(
          `[data-transfer="${sent.id}"][data-state="done"]`,
          { timeout: 60_000 },
        );
      },
    );

    await t.step(
      "a file to the page is accepted and downloaded byte for byte",
      async () => {
        const src = join(tb.dir, "to page.txt");
        const body = new TextEncoder().encode("ünïcode body\n".repeat(5000));
        await Deno.writeFile(src, body);
        const sent = await bob2.send(`/send alice "${src}"`);
        assertEquals(sent.ok, true);
        const sel = `[data-transfer="${sent.id}"]`;
        await page.waitForSelector(`${sel}[data-state="offered"] button`);
        await click(page, `[data-focus="facc-${sent.id}"]`);
        await page.waitForSelector(`${sel}[data-state="done"] a`);
        const href = await page.$eval(
          `${sel} a`,
          (a) => a.getAttribute("href"),
        );
        const got = await page.evaluate(async (u: string) => {
          const r = await fetch(u);
          return {
            disposition: r.headers.get("content-disposition"),
            bytes: [...new Uint8Array(await r.arrayBuffer())],
          };
        }, href!);
        assertEquals(
          got.disposition?.startsWith('attachment; filename="to page.txt"'),
          true,
        );
        assertEquals(
          await sha256(new Uint8Array(got.bytes)),
          await sha256(body),
        );
        await shot(page, "files");
      },
    );

    await t.step(
      "the page's own connection drops and comes back without a reload, with what it missed",
      async () => {
        await page.evaluate(
          "window.__offline = true; window.__sockets.at(-1).close()",
        );
        await page.waitForSelector('#banner[data-state="link-lost"]');
        await bob2.send("/msg alice sent while the page was away");
        await page.evaluate("window.__offline = false");
        await waitText(page, "#log .msg", "sent while the page was away");
        await page.waitForSelector('#banner:not([data-state="link-lost"])');
        assertEquals(
          await page.evaluate(
            "performance.getEntriesByType('navigation').length",
          ),
          1,
        );
      },
    );

    await t.step(
      "the registry restarted: the page says so and recovers",
      async () => {
        await reg.stop("SIGTERM");
        await page.waitForSelector('#banner[data-state="registry-lost"]', {
          timeout: 30_000,
        });
        await shot(page, "registry-lost");
        reg = await spawnRegistry({
          home: regHome,
          port: ref.port,
          udpPort: reg.udpPort,
        });
        await page.waitForSelector(
          '#banner:not([data-state="registry-lost"])',
          { timeout: 60_000 },
        );
        await bob2.waitFor(
          (l) => l.type === "registry_restored",
          "bob back",
          60_000,
        );
        const r = await page.evaluate(async () => {
          const res = await fetch("/");
          return res.status;
        });
        assertEquals(r, 200);
        await click(page, "#search-input");
        await page.type("#search-input", "bob");
        await page.keyboard.press("Enter");
        await waitText(page, "#search-result", "online");
      },
    );

    await t.step(
      "a friend request is declined; a user found by search is added as a friend, then blocked",
      async () => {
        const outgoing = async () =>
          JSON.stringify((await carol.send("/requests")).outgoing);
        // carol too was cut off by the registry's restart.
        await carol.waitFor(
          (l) => l.type === "registry_restored",
          "carol back",
          60_000,
        );
        const added = await carol.send("/friend add alice");
        assertEquals(added.ok, true, JSON.stringify(added));
        await waitText(page, "#requests", "carol wants to be your friend");
        assert((await outgoing()).includes("alice"));
        await click(page, '[data-focus="fr-dec-carol"]');
        await until(
          async () => !(await outgoing()).includes("alice"),
          "carol's request declined",
        );
        await waitFor(
          page,
          `!document.querySelector('[data-focus="fr-dec-carol"]')`,
        );

        await click(page, '[data-focus="sr-dismiss"]');
        await page.$eval(
          "#search-input",
          (e) => (e as unknown as { value: string }).value = "",
        );
        await click(page, "#search-input");
        await page.type("#search-input", "carol");
        await page.keyboard.press("Enter");
        await page.waitForSelector('[data-focus="sr-friend"]');
        let at = carol.lines.length;
        await click(page, '[data-focus="sr-friend"]');
        await carol.waitFor(
          (l) => l.type === "friend_request" && l.from === "alice",
          "alice's friend request",
          30_000,
          at,
        );
        await click(page, '[data-focus="sr-block"]');
        await click(page, "#dialog-ok");
        await click(page, '[data-conv="@carol"]');
        await page.waitForSelector('[data-focus="act-unblock"]');
        at = carol.lines.length;
        const asked = await carol.send("/chat alice");
        assertEquals(
          [asked.ok, asked.error],
          [false, "alice is not available"],
          JSON.stringify(asked),
        );
        await click(page, '[data-conv="@bob"]');
      },
    );

    await t.step(
      "without the token, from another Origin or another Host, nothing is served",
      async () => {
        const other = await tb.browser.createBrowserContext();
        const p2 = await other.newPage();
        const res = await p2.goto(`${web.origin}/`);
        assertEquals(res?.status(), 401);
        assert((await p2.content()).includes("open the URL chat web printed"));
        await other.close();
        const cookie = `chat_web_${web.port}=${web.token}`;
        const foreign = await fetch(`${web.origin}/login`, {
          method: "POST",
          headers: { cookie, origin: "http://evil.example" },
          body: "{}",
        });
        await foreign.body?.cancel();
        assertEquals(foreign.status, 403);
        const ws = new WebSocket(`ws://127.0.0.1:${web.port}/ws`, {
          headers: { cookie, origin: "http://evil.example" },
        } as unknown as string[]);
        const opened = await new Promise<boolean>((r) => {
          ws.onopen = () => r(true);
          ws.onerror = () => r(false);
        });
        if (opened) ws.close();
        assertEquals(opened, false);
        using conn = await Deno.connect({
          hostname: "127.0.0.1",
          port: web.port,
        });
        await conn.write(new TextEncoder().encode(
          `GET / HTTP/1.1\r\nHost: rebound.example:${web.port}\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`,
        ));
        const buf = new Uint8Array(512);
        const n = await conn.read(buf);
        assert(
          new TextDecoder().decode(buf.subarray(0, n ?? 0)).startsWith(
            "HTTP/1.1 403",
          ),
        );
      },
    );

    await t.step("narrow (phone) and dark", async () => {
      await page.setViewport({ width: 390, height: 844 });
      await click(page, "#back-btn");
      assertEquals(
        await page.$eval("#pane", (e) => getComputedStyle(e).display),
        "none",
      );
      await shot(page, "narrow", true);
      await click(page, '[data-conv="@bob"]');
      assertEquals(
        await page.$eval("#side", (e) => getComputedStyle(e).display),
        "none",
      );
      await shot(page, "narrow-chat");
      await page.emulateMediaFeatures([{
        name: "prefers-color-scheme",
        value: "dark",
      }]);
      await page.setViewport({ width: 1280, height: 800 });
      assertEquals(
        await page.$eval("body", (e) => getComputedStyle(e).backgroundColor),
        "rgb(21, 24, 28)",
      );
      await shot(page, "dark", true);
    });

    await t.step("logging out from the page ends chat web with 0", async () => {
      const at = bob2.lines.length;
      await click(page, "#logout-btn");
      await click(page, "#dialog-ok");
      assertEquals(await web.exited, 0);
      assertEquals(errors, []);
      await bob2.waitFor(
        (l) => l.type === "presence" && l.user === "alice" && !l.online,
        "alice offline at bob",
        30_000,
        at,
      );
    });

    await t.step(
      "a message left while chat web was off is shown as an offline message",
      async () => {
        const r = await bob2.send("/msg alice left while you were away");
        assertEquals(r.state, "stored", JSON.stringify(r));
        await using again = await spawnWeb(ref, {
          user: "alice",
          home: web.home,
          signup: false,
        });
        const p = await tb.browser.newPage();
        p.on("pageerror", (e) => errors.push(String(e)));
        await p.goto(again.url);
        await p.waitForSelector("#app:not([hidden])");
        // The offline message makes bob's chat unread in the side bar.
        await p.waitForSelector('[data-conv="@bob"] .badge', {
          timeout: 60_000,
        });
        await click(p, '[data-conv="@bob"]');
        await waitText(p, "#log .msg", "left while you were away");
        await waitText(p, "#log .msg .tag", "sent while you were offline");
        await shot(p, "offline");
        assertEquals(errors, []);
        await p.close();
      },
    );
  } finally {
    await reg.stop("SIGKILL");
    await Deno.remove(regHome, { recursive: true }).catch(() => {});
  }
});
