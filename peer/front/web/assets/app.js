/**
 * The page of `chat web`: one WebSocket to the local `chat web` process,
 * speaking JSON mode's protocol (command lines out; replies and events as
 * JSON in), and a DOM drawn from ChatState. Every piece of text from the
 * network goes into the page with textContent or as a text node, never as
 * HTML.
 */
import { ChatState } from "./state.js";
import {
  clock,
  parseMarkup,
  quote,
  showBytes,
  showEta,
  userColour,
} from "./markup.js";

const MAX_TEXT_CHARS = 8192;
const state = new ChatState();
/** @type {WebSocket | null} */
let ws = null;
let linkUp = false;
let everConnected = false;
let seq = 0;
/** @type {string | null} */
let instance = null;
let helloLast = 0;
let retryMs = 250;
/** @type {((r: any) => void)[]} */
let waiters = [];
let goodBanner = "";
/** @type {ReturnType<typeof setTimeout> | undefined} */
let goodTimer;
let refreshedFor = "";
let showMembers = false;
let narrowPane = false;

// ---- small DOM helpers ----------------------------------------------------

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * An element with attributes, listeners and children (strings become text
 * nodes, so nothing is parsed as HTML).
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...(Node | string | null | undefined | false)} children
 */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

/** @param {string} label @param {() => void} fn @param {Record<string, any>} [props] */
const button = (label, fn, props = {}) =>
  h("button", { type: "button", onclick: fn, ...props }, label);

/** @param {string} name */
const userName = (name) =>
  h("span", { class: `uname u${userColour(name)}` }, name);

/** @param {boolean} on */
const dot = (on) =>
  h("span", {
    class: on ? "dot on" : "dot",
    role: "img",
    "aria-label": on ? "online" : "offline",
  });

/** @type {WeakMap<Element, string>} */
const drawnAs = new WeakMap();

/**
 * Puts `nodes` in `el` unless it already shows the same: redrawing only what
 * changed keeps focus, a screen reader's place and a pointer's target.
 * @param {Element} el
 * @param {(Node | null)[]} all
 */
function show(el, all) {
  const nodes = /** @type {Node[]} */ (all.filter((n) => n !== null));
  const sig = nodes.map((n) =>
    n instanceof Element ? n.outerHTML : n.textContent
  ).join("\u0000");
  if (drawnAs.get(el) === sig) return;
  drawnAs.set(el, sig);
  el.replaceChildren(...nodes);
}

/** Message text as DOM nodes: bold, italic, code, links. @param {string} text */
function richText(text) {
  const out = h("span", { class: "body" });
  for (const s of parseMarkup(text)) {
    if (s.kind === "text") out.append(document.createTextNode(s.text));
    else if (s.kind === "bold") out.append(h("strong", { text: s.text }));
    else if (s.kind === "italic") out.append(h("em", { text: s.text }));
    else if (s.kind === "code") out.append(h("code", { text: s.text }));
    else if (s.kind === "link") {
      out.append(
        h("a", {
          href: s.href,
          target: "_blank",
          rel: "noopener noreferrer",
          text: s.text,
        }),
      );
    }
  }
  return out;
}

// ---- the connection -------------------------------------------------------

function connect() {
  const q = new URLSearchParams({ since: String(seq) });
  if (instance) q.set("instance", instance);
  const sock = new WebSocket(`ws://${location.host}/ws?${q}`);
  ws = sock;
  sock.onopen = () => {
    linkUp = true;
    retryMs = 250;
    if (everConnected) flash("Connected to chat web again");
    everConnected = true;
    render();
  };
  sock.onmessage = (e) => {
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch {
      return;
    }
    receive(msg);
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    ws = null;
    linkUp = false;
    refreshedFor = "";
    const failed = waiters;
    waiters = [];
    for (const w of failed) {
      w({
        type: "reply",
        ok: false,
        error:
          "the connection to chat web was lost — it may or may not have been done",
      });
    }
    render();
    if (state.phase === "ended") return;
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 5000);
  };
}

/** @param {any} msg */
function receive(msg) {
  if (msg.type === "web_hello") {
    if (msg.replay === "reset") state.reset();
    instance = msg.instance;
    helloLast = msg.last;
    if (msg.replay === "reset") seq = 0;
  } else if (msg.type === "reply") {
    const w = waiters.shift();
    state.reply(msg);
    if (w) w(msg);
  } else {
    if (typeof msg.seq === "number") seq = msg.seq;
    const live = typeof msg.seq !== "number" || msg.seq > helloLast;
    const notice = state.apply(msg, { live, hidden: document.hidden });
    if (notice) notify(notice);
    if (msg.type === "registry_restored") {
      flash("The registry is back");
      void refresh(true);
    }
    if (msg.type === "web_phase" && msg.phase === "ready") void refresh(false);
  }
  scheduleRender();
}

/**
 * Sends one command line and resolves with its reply.
 * @param {string} line
 * @returns {Promise<any>}
 */
function command(line) {
  const sock = ws;
  if (!sock || sock.readyState !== WebSocket.OPEN) {
    return Promise.resolve({
      type: "reply",
      ok: false,
      error: "not connected to chat web — wait a moment and try again",
    });
  }
  return new Promise((resolve) => {
    waiters.push(resolve);
    sock.send(line);
  });
}

/** Loads the lists the registry keeps, once per connection (or when asked). @param {boolean} force */
async function refresh(force) {
  if (state.phase !== "ready") return;
  const key = `${instance}:${everConnected}`;
  if (!force && refreshedFor === key) return;
  refreshedFor = key;
  await Promise.all([
    command("/friends"),
    command("/requests"),
    command("/invites"),
    command("/blocks"),
  ]);
  const rooms = await command("/rooms");
  if (rooms.ok) {
    await Promise.all(
      rooms.rooms.filter((/** @type {any} */ r) => r.joined).map((
        /** @type {any} */ r,
      ) => command(`/members ${r.room}`)),
    );
  }
  scheduleRender();
}

// ---- notifications, title, banner -----------------------------------------

/** @param {{ title: string, body: string, key: string }} n */
function notify(n) {
  if (
    !("Notification" in globalThis) || Notification.permission !== "granted"
  ) {
    return;
  }
  try {
    const note = new Notification(n.title, { body: n.body, tag: n.key });
    note.onclick = () => {
      globalThis.focus();
      if (n.key.startsWith("@") || n.key.startsWith("#")) openConv(n.key);
    };
  } catch {
    // Some browsers only notify from a service worker; the title still counts.
  }
}

const NOTIFY_ASKED = "chat-web-notifications-asked";

function askNotifications() {
  if (
    !("Notification" in globalThis) || Notification.permission !== "default"
  ) {
    return;
  }
  try {
    localStorage.setItem(NOTIFY_ASKED, "1");
  } catch {
    // Private mode: asked once per visit then.
  }
  void Notification.requestPermission().then(() => render());
}

/** Asks once, on the first click or key after logging in. */
function askOnFirstGesture() {
  let asked = false;
  try {
    asked = localStorage.getItem(NOTIFY_ASKED) === "1";
  } catch {
    asked = false;
  }
  if (asked) return;
  const once = () => {
    if (state.phase !== "ready") return;
    document.removeEventListener("pointerdown", once, true);
    document.removeEventListener("keydown", once, true);
    askNotifications();
  };
  document.addEventListener("pointerdown", once, true);
  document.addEventListener("keydown", once, true);
}

/** @param {string} text */
function flash(text) {
  goodBanner = text;
  clearTimeout(goodTimer);
  goodTimer = setTimeout(() => {
    goodBanner = "";
    render();
  }, 3000);
}

function renderBanner() {
  const b = $("banner");
  let text = "";
  let good = false;
  if (!linkUp && everConnected && state.phase !== "ended") {
    text = "Lost the connection to chat web — reconnecting…";
  } else if (!linkUp && !everConnected) text = "Connecting to chat web…";
  else if (state.phase === "ended") {
    text = `Logged out${
      state.endReason ? `: ${state.endReason}` : ""
    } — start chat web again to log in`;
  } else if (!state.registryUp) {
    text = "The registry is unreachable — reconnecting; open chats go on";
  } else if (goodBanner) {
    text = goodBanner;
    good = true;
  }
  if (b.textContent !== text) b.textContent = text;
  b.classList.toggle("good", good);
  b.dataset.state = !linkUp
    ? "link-lost"
    : !state.registryUp
    ? "registry-lost"
    : good
    ? "good"
    : text
    ? "other"
    : "none";
}

// ---- drawing ----------------------------------------------------------------

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  // Not requestAnimationFrame: a hidden tab never runs those, and its title
  // and notifications must still follow.
  setTimeout(() => {
    renderQueued = false;
    render();
  }, 0);
}

function render() {
  renderBanner();
  const loggedIn = state.phase === "ready" ||
    (state.phase === "ended" && state.me !== null && state.convs.size > 0);
  const login = $("login");
  const app = $("app");
  const showLogin = state.phase === "login" || state.phase === "starting";
  login.hidden = !showLogin;
  app.hidden = !loggedIn || showLogin;
  if (showLogin) renderLogin();
  if (!app.hidden) {
    const focused = /** @type {HTMLElement | null} */ (document.activeElement)
      ?.dataset?.focus;
    renderSide();
    renderPane();
    if (focused) {
      const el = /** @type {HTMLElement | null} */ (document.querySelector(
        `[data-focus="${CSS.escape(focused)}"]`,
      ));
      if (el && el !== document.activeElement) el.focus();
    }
  }
  const unread = state.unread;
  document.title = `${unread ? `(${unread}) ` : ""}${
    state.me ?? "chat"
  } — chat`;
}

function renderLogin() {
  const starting = state.phase === "starting";
  const user = /** @type {HTMLInputElement} */ ($("login-user"));
  if (!user.value && state.me) user.value = state.me;
  $("login-error").textContent = starting ? "" : state.phaseError ?? "";
  const submit = /** @type {HTMLButtonElement} */ ($("login-submit"));
  submit.disabled = starting;
  submit.textContent = starting
    ? "Logging in…"
    : (/** @type {HTMLInputElement} */ ($("login-signup"))).checked
    ? "Create account and log in"
    : "Log in";
}

function renderSide() {
  $("me-name").textContent = state.me ?? "";
  const nb = $("notify-btn");
  nb.hidden = !("Notification" in globalThis) ||
    Notification.permission !== "default";

  // Requests: friends, chats, rooms.
  const req = $("requests");
  const items = [];
  for (const name of [...state.incoming].sort()) {
    items.push(
      h(
        "li",
        { class: "request" },
        h("p", {}, userName(name), " wants to be your friend"),
        h(
          "div",
          { class: "row" },
          button("Accept", () => act(`/friend accept ${name}`), {
            "data-focus": `fr-acc-${name}`,
          }),
          button("Decline", () => act(`/friend decline ${name}`), {
            "data-focus": `fr-dec-${name}`,
          }),
        ),
      ),
    );
  }
  for (const c of state.list("user").filter((c) => c.chat === "incoming")) {
    items.push(
      h(
        "li",
        { class: "request" },
        h("p", {}, userName(c.name), " asks for a chat"),
        h(
          "div",
          { class: "row" },
          button("Open", () => openConv(c.key), {
            "data-focus": `cr-open-${c.name}`,
          }),
        ),
      ),
    );
  }
  for (const [room, from] of [...state.invites].sort()) {
    items.push(
      h(
        "li",
        { class: "request" },
        h("p", {}, userName(from), ` invites you to #${room}`),
        h(
          "div",
          { class: "row" },
          button("Join", async () => {
            const r = await act(`/invite accept ${room}`);
            if (r.ok) openConv(`#${room}`);
          }, { "data-focus": `inv-acc-${room}` }),
          button("Decline", () => act(`/invite decline ${room}`), {
            "data-focus": `inv-dec-${room}`,
          }),
        ),
      ),
    );
  }
  for (const name of [...state.outgoing].sort()) {
    items.push(
      h(
        "li",
        { class: "empty" },
        "waiting for ",
        userName(name),
        " to answer your friend request",
      ),
    );
  }
  req.replaceChildren(
    ...(items.length
      ? items
      : [h("li", { class: "empty", text: "No requests" })]),
  );

  // Chats and rooms.
  const convItem = (/** @type {import("./state.js").Conv} */ c) => {
    const label = c.kind === "room" ? `#${c.name}` : c.name;
    return h(
      "li",
      {},
      h(
        "button",
        {
          type: "button",
          class: "item",
          "data-focus": `conv-${c.key}`,
          "data-conv": c.key,
          "aria-current": state.active === c.key ? "page" : null,
          "aria-label": `${label}${
            c.kind === "user"
              ? (state.online(c.name) ? ", online" : ", offline")
              : ""
          }${c.unread ? `, ${c.unread} unread` : ""}`,
          onclick: () => openConv(c.key),
        },
        c.kind === "user" ? dot(state.online(c.name)) : null,
        h("span", {
          class: `name ${c.kind === "user" ? `u${userColour(c.name)}` : ""}`,
          text: label,
        }),
        c.unread
          ? h("span", {
            class: "badge",
            "aria-hidden": "true",
            text: String(c.unread),
          })
          : null,
      ),
    );
  };
  const chats = state.list("user");
  $("chats").replaceChildren(
    ...(chats.length ? chats.map(convItem) : [
      h("li", {
        class: "empty",
        text: "No chats yet — pick a friend or find a user",
      }),
    ]),
  );
  const rooms = state.list("room");
  $("rooms").replaceChildren(
    ...(rooms.length
      ? rooms.map(convItem)
      : [h("li", { class: "empty", text: "You are in no room" })]),
  );

  // Friends, online first.
  const friends = [...state.friends].sort(([a], [b]) =>
    Number(state.online(b)) - Number(state.online(a)) || a.localeCompare(b)
  ).map(([name, f]) => {
    return h(
      "li",
      {},
      h(
        "button",
        {
          type: "button",
          class: "item",
          "data-focus": `friend-${name}`,
          "data-friend": name,
          "aria-label": `${name}, ${state.online(name) ? "online" : "offline"}${
            f.status ? `, ${f.status}` : ""
          }`,
          onclick: () => openConv(`@${name}`),
        },
        dot(state.online(name)),
        h(
          "span",
          { class: "name" },
          h("span", { class: `u${userColour(name)}`, text: name }),
          f.status ? h("span", { class: "status", text: f.status }) : null,
        ),
      ),
    );
  });
  $("friends").replaceChildren(
    ...(friends.length ? friends : [
      h("li", {
        class: "empty",
        text: "No friends yet — find a user to add one",
      }),
    ]),
  );
}

/** @type {{ key: string | null, nodes: Map<number, { node: Element, v: number }> }} */
const drawn = { key: null, nodes: new Map() };

function renderPane() {
  const c = state.active ? state.convs.get(state.active) : undefined;
  const app = $("app");
  app.classList.toggle("pane-open", narrowPane && !!c);
  const title = $("pane-title");
  const sub = $("pane-sub");
  const pathLabel = $("pane-path");
  const actions = $("pane-actions");
  const reqBox = $("pane-request");
  const log = $("log");
  const members = $("members");
  const composer = /** @type {HTMLFormElement} */ ($("composer"));
  const path = c?.kind === "user" ? c.path : null;
  pathLabel.hidden = !path;
  pathLabel.textContent = path === "relayed"
    ? "relayed through the registry"
    : path ?? "";
  pathLabel.title = path ? `The link to ${c?.name} is ${path}` : "";
  if (!c) {
    title.textContent = "chat";
    sub.textContent = "";
    actions.replaceChildren();
    reqBox.replaceChildren();
    members.hidden = true;
    composer.hidden = true;
    if (drawn.key !== null || !log.firstChild) {
      drawn.key = null;
      drawn.nodes.clear();
      log.replaceChildren(
        h("p", {
          class: "placeholder",
          text: "Pick a friend, a chat or a room — or find a user to talk to.",
        }),
      );
    }
    return;
  }
  composer.hidden = false;
  const label = c.kind === "room" ? `#${c.name}` : c.name;
  title.textContent = label;
  title.className = c.kind === "user" ? `u${userColour(c.name)}` : "";
  $("text-label").textContent = `Message to ${label}`;
  /** @type {HTMLTextAreaElement} */ ($("text")).placeholder =
    `Message ${label}`;

  if (c.kind === "user") {
    const f = state.friends.get(c.name);
    const chatText = {
      none: "no chat open — a message asks for one",
      requested: "waiting for an answer",
      incoming: "asks you for a chat",
      open: c.saving ? "chat open · saving a transcript" : "chat open",
      closed: "chat ended — a message asks again",
    }[c.chat];
    sub.textContent = `${
      state.online(c.name) ? "online" : "offline"
    } · ${chatText}${f?.status ? ` · ${f.status}` : ""}`;
    const acts = [];
    if (c.chat === "open") {
      acts.push(
        button(
          c.saving ? "Stop transcript" : "Save transcript",
          () => act(`/save ${c.name} ${c.saving ? "off" : "on"}`),
          {
            "data-focus": "act-save",
            "aria-pressed": String(c.saving),
          },
        ),
      );
      acts.push(
        button("Close chat", () => act(`/close ${c.name}`), {
          "data-focus": "act-close",
        }),
      );
    } else if (c.chat !== "incoming" && c.chat !== "requested") {
      acts.push(
        button("Start chat", () => act(`/chat ${c.name}`), {
          "data-focus": "act-chat",
        }),
      );
    }
    if (state.incoming.has(c.name)) {
      acts.push(
        button("Accept friend request", () => act(`/friend accept ${c.name}`), {
          "data-focus": "act-friend-accept",
        }),
      );
    } else if (!state.friends.has(c.name) && !state.outgoing.has(c.name)) {
      acts.push(
        button("Add friend", () => act(`/friend add ${c.name}`), {
          "data-focus": "act-friend",
        }),
      );
    }
    acts.push(
      state.blocks.has(c.name)
        ? button("Unblock", () => act(`/unblock ${c.name}`), {
          "data-focus": "act-unblock",
        })
        : button("Block", () =>
          confirmThen(
            `Block ${c.name}?`,
            `${c.name} can no longer reach you (they are not told).`,
            () => act(`/block ${c.name}`),
          ), { "data-focus": "act-block" }),
    );
    show(actions, acts);
    members.hidden = true;
    if (c.chat === "incoming") {
      reqBox.replaceChildren(
        h(
          "div",
          {
            class: "row",
            role: "group",
            "aria-label": `Chat request from ${c.name}`,
          },
          h(
            "span",
            {},
            userName(c.name),
            " asks for a chat",
            c.request?.text !== undefined ? ": " : "",
          ),
          c.request?.text !== undefined ? richText(c.request.text) : null,
          button("Accept", () => act(`/accept ${c.name}`), {
            class: "primary",
            "data-focus": "req-accept",
          }),
          button(
            "Accept and save a transcript",
            () => act(`/accept ${c.name} --save`),
            { "data-focus": "req-save" },
          ),
          button("Reject", () => act(`/reject ${c.name}`), {
            "data-focus": "req-reject",
          }),
        ),
      );
    } else reqBox.replaceChildren();
  } else {
    const r = state.rooms.get(c.name);
    sub.textContent = r
      ? `${r.members.size} member${
        r.members.size === 1 ? "" : "s"
      } · owner ${r.owner}`
      : c.left
      ? "you are not in this room"
      : "";
    const acts = [];
    if (r) {
      acts.push(button(`Members (${r.members.size})`, () => {
        showMembers = !showMembers;
        render();
        const first =
          /** @type {HTMLElement | null} */ ($("members").querySelector(
            "button, input",
          ));
        if (showMembers) first?.focus();
      }, {
        "data-focus": "act-members",
        "aria-expanded": String(showMembers),
        "aria-controls": "members",
      }));
      acts.push(
        button("Leave", () => act(`/leave ${c.name}`), {
          "data-focus": "act-leave",
        }),
      );
    } else if (c.left) {
      acts.push(
        button("Join again", () => joinRoom(c.name, false), {
          "data-focus": "act-join",
        }),
      );
    }
    show(actions, acts);
    show(reqBox, []);
    members.hidden = !(r && showMembers);
    if (r && showMembers) renderMembers(c.name, r);
  }
  composer.querySelectorAll("textarea, button").forEach((el) => {
    /** @type {HTMLButtonElement} */ (el).disabled = c.kind === "room" &&
      !state.rooms.has(c.name);
  });
  renderLog(c);
}

/** @param {string} room @param {import("./state.js").Room} r */
function renderMembers(room, r) {
  const owner = r.owner === state.me;
  const list = [...r.members].sort(([a, ma], [b, mb]) =>
    Number(mb.online) - Number(ma.online) || a.localeCompare(b)
  );
  const box = $("members");
  const inviteInput = h("input", {
    id: "invite-input",
    placeholder: "user name",
    "aria-label": "User to invite, uninvite or let back in",
    autocapitalize: "none",
    "data-focus": "invite-input",
  });
  // A redraw (someone joined, went offline) keeps what is being typed.
  const typed = document.getElementById("invite-input");
  const hadFocus = typed !== null && document.activeElement === typed;
  if (typed instanceof HTMLInputElement) {
    /** @type {HTMLInputElement} */ (inviteInput).value = typed.value;
  }
  // The field on the page now: a redraw while a command is out replaces it.
  const liveInput = () => {
    const el = document.getElementById("invite-input");
    return /** @type {HTMLInputElement} */ (
      el instanceof HTMLInputElement ? el : inviteInput
    );
  };
  /** Runs an owner's action on the typed name; clears it when done. @param {(name: string) => string} line @param {string} done */
  const onName = (line, done) => () => {
    const name = liveInput().value.trim();
    if (!name) {
      liveInput().focus();
      return;
    }
    void act(line(name)).then((rep) => {
      if (rep.ok) {
        clearIf(liveInput(), name);
        flash(done.replace("NAME", name));
      }
    });
  };
  show(box, [
    h("h2", { id: "h-members", text: `Members of #${room}` }),
    h(
      "ul",
      { class: "list" },
      ...list.map(([name, m]) =>
        h(
          "li",
          { class: "member" },
          dot(m.online),
          h("span", { class: `name u${userColour(name)}`, text: name }),
          m.role === "owner"
            ? h("span", { class: "tag", text: "owner" })
            : null,
          owner && name !== state.me
            ? button("Make owner", () =>
              confirmThen(
                `Hand #${room} to ${name}?`,
                `${name} will own the room; you stay a member.`,
                () => act(`/owner ${room} ${name}`),
              ), {
              "data-focus": `own-${name}`,
              "aria-label": `Make ${name} the owner`,
            })
            : null,
          owner && name !== state.me
            ? button(
              "Remove",
              () =>
                confirmThen(
                  `Remove ${name} from #${room}?`,
                  `${name} cannot rejoin until you let them back in.`,
                  () => act(`/kick ${room} ${name}`),
                ),
              { "data-focus": `kick-${name}`, "aria-label": `Remove ${name}` },
            )
            : null,
        )
      ),
    ),
    owner
      ? h(
        "form",
        {
          class: "row",
          onsubmit: (/** @type {Event} */ e) => {
            e.preventDefault();
            const name = liveInput().value.trim();
            if (name) {
              void act(`/invite ${room} ${name}`).then((rep) => {
                if (rep.ok) clearIf(liveInput(), name);
              });
            }
          },
        },
        inviteInput,
        h("button", { type: "submit", "data-focus": "invite-btn" }, "Invite"),
        button(
          "Withdraw invitation",
          onName(
            (name) => `/invite withdraw ${room} ${name}`,
            "withdrew the invitation of NAME",
          ),
          { "data-focus": "withdraw-btn" },
        ),
        button(
          "Let back in",
          onName(
            (name) => `/unban ${room} ${name}`,
            `NAME may join #${room} again`,
          ),
          { "data-focus": "unban-btn" },
        ),
      )
      : null,
    owner
      ? h(
        "div",
        { class: "row" },
        button("Room password…", () => roomPassword(room), {
          "data-focus": "password-btn",
        }),
      )
      : null,
  ]);
  // Typing goes on in the new field as if nothing had been redrawn.
  if (hadFocus && typed instanceof HTMLInputElement) {
    const input = /** @type {HTMLInputElement} */ (inviteInput);
    input.focus();
    input.setSelectionRange(typed.selectionStart, typed.selectionEnd);
  }
}

/** Empties a field once its command is done, unless something else was typed since. @param {HTMLInputElement} input @param {string} sent */
function clearIf(input, sent) {
  if (input.value.trim() === sent) input.value = "";
}

/** The owner sets the room's password, or removes it with an empty one. @param {string} room */
function roomPassword(room) {
  const pw = field("room-new-password", `New password of #${room}`, {
    type: "password",
    autocomplete: "new-password",
  });
  dialog(
    `Password of #${room}`,
    [
      ...pw.nodes,
      h("p", { text: "Leave it empty to remove the password." }),
    ],
    async () => {
      const value = pw.input.value;
      const r = await command(
        value === ""
          ? `/room password ${room}`
          : `/room password ${room} ${quote(value)}`,
      );
      if (!r.ok) return r.error;
      flash(
        r.locked
          ? `#${room} has a new password`
          : `#${room} has no password now`,
      );
      return null;
    },
    "Save",
  );
}

/** @param {import("./state.js").Conv} c */
function renderLog(c) {
  const log = $("log");
  if (drawn.key !== c.key) {
    drawn.key = c.key;
    drawn.nodes.clear();
    log.replaceChildren();
    log.setAttribute(
      "aria-label",
      `Messages ${c.kind === "room" ? `in #${c.name}` : `with ${c.name}`}`,
    );
  }
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const present = new Set();
  for (const e of c.entries) {
    present.add(e.n);
    const had = drawn.nodes.get(e.n);
    if (had && had.v === e.v) continue;
    const node = drawEntry(e);
    if (had) had.node.replaceWith(node);
    else log.append(node);
    drawn.nodes.set(e.n, { node, v: e.v });
  }
  for (const [n, d] of drawn.nodes) {
    if (!present.has(n)) {
      d.node.remove();
      drawn.nodes.delete(n);
    }
  }
  if (atBottom) log.scrollTop = log.scrollHeight;
}

/** @param {import("./state.js").Entry} e */
function drawEntry(e) {
  if (e.kind === "note") {
    return h(
      "p",
      { class: `note ${e.tone ?? ""}` },
      e.at ? `${clock(e.at)} ` : "",
      e.text,
    );
  }
  if (e.kind === "file") return drawFile(e.id);
  const when = e.at
    ? h("time", { class: "meta", datetime: e.at, text: clock(e.at) })
    : null;
  const parts = [when, userName(e.from), " ", richText(e.text)];
  if (e.offline) {
    parts.push(
      h("span", { class: "tag", text: "sent while you were offline" }),
    );
  }
  if (e.backlog) {
    parts.push(
      h("span", {
        class: "tag",
        "data-state": "backlog",
        text: "said while you were away",
      }),
    );
  }
  if (e.own && e.later && e.later.length > 0) {
    const n = e.later.length;
    parts.push(
      h("span", {
        class: "tag",
        "data-state": "later",
        title: `kept for ${e.later.join(", ")}`,
        text: `${n} away — ${n === 1 ? "gets" : "get"} it when back`,
      }),
    );
  }
  if (e.own) {
    if (e.pending) {
      parts.push(
        h("span", {
          class: "ticks",
          "data-state": "sending",
          text: "sending…",
        }),
      );
    } else if (e.error) {
      parts.push(
        h("span", {
          class: "err",
          role: "alert",
          text: `not sent: ${e.error}`,
        }),
      );
    } else if (e.state === "stored") {
      parts.push(
        h("span", {
          class: "tag",
          "data-state": "stored",
          title: e.notice ?? "",
          text: "stored — delivered when they log in",
        }),
      );
    } else {
      const total = e.recipients?.length;
      const got = e.delivered.length;
      const done = total === undefined ? got > 0 : total > 0 && got >= total;
      const label = got === 0
        ? e.state === "requested"
          ? "sent with a chat request"
          : total === 0
          ? "sent — nobody else online"
          : "sent"
        : total === undefined
        ? "delivered"
        : `delivered to ${got} of ${total}`;
      parts.push(h("span", {
        class: `ticks ${done ? "done" : ""}`,
        "data-state": got > 0 ? "delivered" : "sent",
        role: "img",
        "aria-label": label,
        title: label,
        text: got > 0
          ? (total === undefined ? "✓✓" : `✓✓ ${got}/${total}`)
          : "✓",
      }));
    }
  }
  return h("article", {
    class: `msg ${e.own ? "own" : ""} ${e.pending ? "pending" : ""}`,
    "data-id": e.id ?? "",
  }, ...parts);
}

/** @param {string} id */
function drawFile(id) {
  const t = state.transfers.get(id);
  if (!t) return h("p", { class: "note", text: "a file" });
  const size = t.size === null ? "size unknown" : showBytes(t.size);
  const head = t.direction === "in"
    ? h(
      "p",
      {},
      userName(t.peer),
      " offers ",
      h("span", { class: "fname", text: t.name }),
      ` (${size})`,
    )
    : h(
      "p",
      {},
      "You offered ",
      h("span", { class: "fname", text: t.name }),
      ` (${size}) to `,
      userName(t.peer),
    );
  const box = h("div", {
    class: "file",
    role: "group",
    "aria-label": `File ${t.name}`,
    "data-transfer": t.id,
    "data-state": t.state,
  }, head);
  if (t.state === "offered" && t.direction === "in") {
    box.append(
      h(
        "div",
        { class: "row" },
        button("Accept", () => act(`/file accept ${t.id}`), {
          class: "primary",
          "data-focus": `facc-${t.id}`,
        }),
        button("Reject", () => act(`/file reject ${t.id}`), {
          "data-focus": `frej-${t.id}`,
        }),
      ),
    );
  } else if (t.state === "offered") {
    box.append(
      h("p", { class: "fstate", text: "waiting for an answer" }),
      button("Cancel", () => act(`/file cancel ${t.id}`), {
        "data-focus": `fcan-${t.id}`,
      }),
    );
  } else if (t.state === "active") {
    const left = t.size === null ? "" : showEta(t.size - t.bytes, t.rate);
    box.append(
      t.size === null
        ? h("progress", { "aria-label": `Progress of ${t.name}` })
        : h("progress", {
          max: String(t.size),
          value: String(t.bytes),
          "aria-label": `Progress of ${t.name}`,
        }),
      h("p", {
        class: "fstate",
        text: `${showBytes(t.bytes)}${
          t.size === null ? "" : ` of ${showBytes(t.size)}`
        } · ${showBytes(t.rate)}/s${left ? ` · ${left} left` : ""}`,
      }),
      button("Cancel", () => act(`/file cancel ${t.id}`), {
        "data-focus": `fcan-${t.id}`,
      }),
    );
  } else if (t.state === "done") {
    box.append(
      h("p", {
        class: "fstate",
        text: t.direction === "in"
          ? "received and checked"
          : "sent and checked by the receiver",
      }),
    );
    if (t.url) {
      box.append(
        h(
          "a",
          { href: t.url, download: t.name, "data-focus": `fdl-${t.id}` },
          `Download ${t.name}`,
        ),
      );
    }
  } else if (t.state === "failed") {
    box.append(
      h("p", { class: "fstate failed", text: `failed: ${t.reason ?? ""}` }),
    );
  }
  return box;
}

// ---- actions ------------------------------------------------------------------

/**
 * Runs a command for a button; a failure is shown where the user looks.
 * @param {string} line
 */
async function act(line) {
  const r = await command(line);
  if (!r.ok) showError(r.error);
  render();
  return r;
}

/** @param {string} text */
function showError(text) {
  const c = state.active ? state.convs.get(state.active) : undefined;
  if (c) state.note(c, text, new Date().toISOString(), "warn");
  else flash(text);
  scheduleRender();
}

/** @param {string} key */
function openConv(key) {
  const kind = key.startsWith("#") ? "room" : "user";
  state.conv(kind, key.slice(1));
  state.open(key);
  showMembers = false;
  narrowPane = true;
  render();
  const text = /** @type {HTMLTextAreaElement} */ ($("text"));
  if (!text.disabled) text.focus();
}

async function sendComposer() {
  const text = /** @type {HTMLTextAreaElement} */ ($("text"));
  const c = state.active ? state.convs.get(state.active) : undefined;
  const body = text.value;
  if (!c || !body.trim()) return;
  if (body.length > MAX_TEXT_CHARS) {
    showError(`a message is limited to ${MAX_TEXT_CHARS} characters`);
    return;
  }
  text.value = "";
  autosize();
  const line = c.kind === "room"
    ? `/say ${c.name} ${body}`
    : `/msg ${c.name} ${body}`;
  const entry = state.pending(c.key, body.trim(), new Date().toISOString());
  scheduleRender();
  const r = await command(line);
  state.settle(c.key, entry, r.ok ? null : r.error);
  scheduleRender();
}

function autosize() {
  const text = /** @type {HTMLTextAreaElement} */ ($("text"));
  text.style.height = "auto";
  text.style.height = `${Math.min(text.scrollHeight + 2, 160)}px`;
}

/** @param {File} file */
async function upload(file) {
  const c = state.active ? state.convs.get(state.active) : undefined;
  if (!c) return;
  const q = new URLSearchParams(
    c.kind === "room" ? { room: c.name } : { to: c.name },
  );
  q.set("name", file.name);
  state.note(
    c,
    `offering ${file.name} (${showBytes(file.size)})…`,
    new Date().toISOString(),
  );
  scheduleRender();
  let r;
  try {
    const res = await fetch(`/upload?${q}`, {
      method: "POST",
      body: file,
      headers: { "content-type": "application/octet-stream" },
    });
    r = await res.json();
  } catch (err) {
    r = {
      ok: false,
      error: `could not upload ${file.name}: ${
        err instanceof Error ? err.message : err
      }`,
    };
  }
  if (!r.ok) showError(r.error);
}

// ---- dialogs --------------------------------------------------------------------

/**
 * Shows the dialog with `fields`; `ok` returns an error text to keep it open.
 * @param {string} title
 * @param {Node[]} fields
 * @param {(() => Promise<string | null>) | null} ok
 * @param {string} [okLabel]
 */
function dialog(title, fields, ok, okLabel = "OK") {
  const d = /** @type {HTMLDialogElement} */ ($("dialog"));
  $("dialog-title").textContent = title;
  $("dialog-body").replaceChildren(...fields);
  $("dialog-error").textContent = "";
  const okBtn = /** @type {HTMLButtonElement} */ ($("dialog-ok"));
  okBtn.hidden = ok === null;
  okBtn.textContent = okLabel;
  /** @type {HTMLButtonElement} */ ($("dialog-cancel")).textContent =
    ok === null ? "Close" : "Cancel";
  const back = document.activeElement;
  const form = /** @type {HTMLFormElement} */ ($("dialog-form"));
  form.onsubmit = async (e) => {
    e.preventDefault();
    if (!ok) return;
    okBtn.disabled = true;
    const err = await ok();
    okBtn.disabled = false;
    if (err) $("dialog-error").textContent = err;
    else d.close();
  };
  d.onclose = () => {
    if (back instanceof HTMLElement && back.isConnected) back.focus();
  };
  d.showModal();
  const first =
    /** @type {HTMLElement | null} */ ($("dialog-body").querySelector(
      "input, button, select, textarea",
    ));
  (first ?? okBtn).focus();
}

/** @param {string} title @param {string} text @param {() => unknown} fn */
function confirmThen(title, text, fn) {
  dialog(title, text ? [h("p", { text })] : [], async () => {
    await fn();
    return null;
  });
}

/**
 * A labelled input for a dialog.
 * @param {string} id @param {string} label @param {Record<string, any>} [props]
 */
function field(id, label, props = {}) {
  const input = h("input", { id, ...props });
  return {
    input: /** @type {HTMLInputElement} */ (input),
    nodes: [h("label", { for: id, text: label }), input],
  };
}

/** @param {string} room @param {boolean} locked */
function joinRoom(room, locked) {
  const doJoin = async (/** @type {string | null} */ password) => {
    const r = await command(
      password === null
        ? `/join ${room}`
        : `/join ${room} --password ${quote(password)}`,
    );
    if (!r.ok) return r.error;
    openConv(`#${room}`);
    return null;
  };
  if (!locked) {
    void doJoin(null).then((err) => {
      if (err) showError(err);
    });
    return;
  }
  const pw = field("join-password", `Password of #${room}`, {
    type: "password",
    autocomplete: "off",
  });
  dialog(`Join #${room}`, pw.nodes, () => doJoin(pw.input.value), "Join");
}

async function browseRooms() {
  const r = await command("/rooms -l");
  if (!r.ok) {
    showError(r.error);
    return;
  }
  const filter = field("rooms-filter", "Search rooms", {
    type: "search",
    autocomplete: "off",
  });
  const list = h("ul", { class: "dir", "aria-label": "Rooms" });
  const draw = () => {
    const q = filter.input.value.trim().toLowerCase();
    const rooms = r.rooms.filter((/** @type {any} */ x) =>
      !q || x.room.includes(q) ||
      (x.description ?? "").toLowerCase().includes(q)
    );
    list.replaceChildren(
      ...(rooms.length
        ? rooms.map((/** @type {any} */ x) =>
          h(
            "li",
            {},
            h(
              "span",
              { class: "info" },
              h("strong", { text: `#${x.room}` }),
              x.locked ? h("span", { class: "tag", text: "password" }) : null,
              h("span", {
                class: "desc",
                text: `${
                  x.description || "no description"
                } · ${x.members}/${x.capacity} · owner ${x.owner}`,
              }),
            ),
            x.joined
              ? button("Open", () => {
                /** @type {HTMLDialogElement} */ ($("dialog")).close();
                openConv(`#${x.room}`);
              })
              : button("Join", () => {
                /** @type {HTMLDialogElement} */ ($("dialog")).close();
                joinRoom(x.room, x.locked);
              }, { "aria-label": `Join #${x.room}` }),
          )
        )
        : [
          h("li", {
            class: "empty",
            text: q ? "No room matches" : "There are no rooms yet",
          }),
        ]),
    );
  };
  filter.input.addEventListener("input", draw);
  draw();
  dialog("Rooms", [...filter.nodes, list], null);
}

function newRoom() {
  const name = field("room-name", "Name", {
    required: true,
    autocapitalize: "none",
    maxlength: "32",
  });
  const desc = field("room-desc", "Description (optional)", {
    maxlength: "200",
  });
  const cap = field("room-cap", "Capacity (optional)", {
    type: "number",
    min: "1",
    inputmode: "numeric",
  });
  const pw = field("room-pw", "Password (optional)", {
    type: "password",
    autocomplete: "new-password",
  });
  dialog(
    "New room",
    [...name.nodes, ...desc.nodes, ...cap.nodes, ...pw.nodes],
    async () => {
      const room = name.input.value.trim().replace(/^#/, "");
      let line = `/room create ${quote(room)}`;
      if (pw.input.value) line += ` --password ${quote(pw.input.value)}`;
      if (cap.input.value) line += ` --capacity ${quote(cap.input.value)}`;
      if (desc.input.value.trim()) {
        line += ` --description ${quote(desc.input.value.trim())}`;
      }
      const r = await command(line);
      if (!r.ok) return r.error;
      await command(`/members ${r.room}`);
      openConv(`#${r.room}`);
      return null;
    },
    "Create",
  );
}

function setStatus() {
  const st = field("status-text", "Your status", { maxlength: "200" });
  dialog("Status", st.nodes, async () => {
    const text = st.input.value.trim();
    if (!text) return "type a status";
    const r = await command(`/status ${text}`);
    return r.ok ? null : r.error;
  }, "Set");
}

async function search(/** @type {string} */ name) {
  const box = $("search-result");
  const r = await command(`/search ${name}`);
  if (!r.ok) {
    box.replaceChildren(
      h("p", { class: "error", role: "alert", text: r.error }),
    );
    return;
  }
  const u = r.user;
  box.replaceChildren(
    h(
      "div",
      {
        class: "search-card",
        role: "region",
        "aria-label": `Search result: ${u}`,
      },
      h(
        "p",
        {},
        dot(r.online),
        " ",
        userName(u),
        ` — ${
          r.online
            ? "online"
            : r.last_seen
            ? `last seen ${new Date(r.last_seen).toLocaleString()}`
            : "offline"
        }`,
      ),
      r.status ? h("p", { class: "sub", text: r.status }) : null,
      h(
        "div",
        { class: "row" },
        u !== state.me
          ? button("Chat", () => {
            box.replaceChildren();
            openConv(`@${u}`);
          }, { "data-focus": "sr-chat" })
          : null,
        u !== state.me && !state.friends.has(u)
          ? button("Add friend", () => act(`/friend add ${u}`), {
            "data-focus": "sr-friend",
          })
          : null,
        u !== state.me && !state.blocks.has(u)
          ? button(
            "Block",
            () =>
              confirmThen(
                `Block ${u}?`,
                `${u} can no longer reach you (they are not told).`,
                () => act(`/block ${u}`),
              ),
            { "data-focus": "sr-block" },
          )
          : null,
        button("Dismiss", () => box.replaceChildren(), {
          "data-focus": "sr-dismiss",
        }),
      ),
    ),
  );
}

// ---- wiring -----------------------------------------------------------------------

function wire() {
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const user = /** @type {HTMLInputElement} */ ($("login-user")).value.trim();
    const password =
      /** @type {HTMLInputElement} */ ($("login-password")).value;
    const signup = /** @type {HTMLInputElement} */ ($("login-signup")).checked;
    if (
      signup &&
      password !== /** @type {HTMLInputElement} */ ($("login-again")).value
    ) {
      $("login-error").textContent = "the passwords differ — type them again";
      return;
    }
    state.phase = "starting";
    render();
    let r;
    try {
      const res = await fetch("/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user, password, signup }),
      });
      r = await res.json();
    } catch (err) {
      r = {
        ok: false,
        error: `chat web did not answer: ${
          err instanceof Error ? err.message : err
        }`,
      };
    }
    if (!r.ok) {
      state.phase = "login";
      state.phaseError = r.error;
      render();
      /** @type {HTMLInputElement} */ ($("login-password")).focus();
    } else {
      /** @type {HTMLInputElement} */ ($("login-password")).value = "";
    }
  });
  $("login-signup").addEventListener("change", () => {
    const on = /** @type {HTMLInputElement} */ ($("login-signup")).checked;
    $("login-again-row").hidden = !on;
    render();
  });
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    void sendComposer();
  });
  const text = /** @type {HTMLTextAreaElement} */ ($("text"));
  text.maxLength = MAX_TEXT_CHARS;
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void sendComposer();
    }
  });
  text.addEventListener("input", autosize);
  const fileInput = /** @type {HTMLInputElement} */ ($("file-input"));
  $("attach-btn").addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    for (const f of fileInput.files ?? []) void upload(f);
    fileInput.value = "";
  });
  const pane = $("pane");
  pane.addEventListener("dragover", (e) => {
    if (!state.active || !e.dataTransfer?.types.includes("Files")) return;
    e.preventDefault();
    pane.classList.add("dropping");
  });
  pane.addEventListener("dragleave", () => pane.classList.remove("dropping"));
  pane.addEventListener("drop", (e) => {
    pane.classList.remove("dropping");
    if (!state.active || !e.dataTransfer?.files.length) return;
    e.preventDefault();
    for (const f of e.dataTransfer.files) void upload(f);
  });
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = /** @type {HTMLInputElement} */ ($("search-input")).value.trim();
    if (v) void search(v);
  });
  $("rooms-browse").addEventListener("click", () => void browseRooms());
  $("rooms-new").addEventListener("click", newRoom);
  $("me-status").addEventListener("click", setStatus);
  $("notify-btn").addEventListener("click", askNotifications);
  $("logout-btn").addEventListener(
    "click",
    () =>
      confirmThen(
        "Log out?",
        "chat web stops; start it again to log in.",
        () => command("/quit"),
      ),
  );
  $("dialog-cancel").addEventListener(
    "click",
    () => /** @type {HTMLDialogElement} */ ($("dialog")).close(),
  );
  $("back-btn").addEventListener("click", () => {
    const key = state.active;
    narrowPane = false;
    state.open(null);
    render();
    if (key) {
      /** @type {HTMLElement | null} */ (document.querySelector(
        `[data-conv="${CSS.escape(key)}"]`,
      ))?.focus();
    }
  });
  document.addEventListener("keydown", (e) => {
    // Alt+1…9: the n-th chat or room, as in the shell.
    if (e.altKey && !e.ctrlKey && !e.metaKey && /^[1-9]$/.test(e.key)) {
      const all = [...state.list("user"), ...state.list("room")];
      const c = all[Number(e.key) - 1];
      if (c) {
        e.preventDefault();
        openConv(c.key);
      }
    }
    if (e.key === "Escape" && showMembers) {
      showMembers = false;
      render();
      $("text").focus();
    }
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.active) {
      state.open(state.active);
      render();
    }
  });
  askOnFirstGesture();
}

wire();
render();
connect();
