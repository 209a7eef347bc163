/**
 * The peer session behind the page: the same Peer core the shell and JSON
 * mode drive, its events published to the pages as JSON mode prints them,
 * and command lines run as JSON mode runs them. Two web events are added
 * for what only replies said, so that every tab and every reload shows it:
 * `web_sent` (a message this user sent, with its text) and `web_offered`
 * (a file this user offered). It logs in with the credentials it was given
 * or, without them, with the page's login form.
 */
import { MIN_PASSWORD_CHARS, NAME_PATTERN } from "../../../wire/mod.ts";
import {
  type CommandReply,
  isReply,
  parseLine,
  type PeerEvent,
  type PeerOptions,
  type Success,
} from "../../core/mod.ts";
import { replyObject } from "../json_mode.ts";
import type { Hub } from "./hub.ts";
import type {
  LoginForm,
  Phase,
  PhaseInfo,
  WebDriver,
  WebReply,
} from "./server.ts";

type Credentials = PeerOptions["credentials"];

/** What the session needs of a started Peer. */
export interface SessionPeer {
  readonly user: string;
  run(line: string): Promise<CommandReply>;
  stop(): Promise<void>;
  /** Resolves when the registry ends the session, or on stop. */
  readonly ended: Promise<unknown>;
}

/** Starts a peer (Peer.start, or a stand-in in tests). */
export type StartPeer = (
  opts: PeerOptions,
  emit: (ev: PeerEvent) => void,
) => Promise<SessionPeer>;

/** How to make a session. */
export interface WebSessionOptions {
  /** The core's options; the credentials and signup come from below or the page. */
  peer: Omit<PeerOptions, "credentials" | "signup">;
  /** Null: the page asks for them. */
  credentials: Credentials | null;
  /** The name the login form offers. */
  user: string | null;
  signup: boolean;
  hub: Hub;
  start: StartPeer;
  now?: () => number;
}

/** A message this user sent: the reply of /msg or /say with the text and time. */
export type WebSentEvent = {
  type: "web_sent";
  text: string;
  at: string;
} & Record<string, unknown>;

/** A file this user offered: the reply of /send with the time. */
export type WebOfferedEvent =
  & { type: "web_offered"; at: string }
  & Record<
    string,
    unknown
  >;

/** How a session ended: the exit code of `chat web`. */
export type WebExit = 0 | 1;

/** See the module doc. */
export class WebSession implements WebDriver {
  readonly #o: WebSessionOptions;
  #phase: Phase;
  #user: string | null;
  #error: string | undefined;
  #peer: SessionPeer | null = null;
  #quit = false;
  #finish!: (code: WebExit) => void;
  /** Called with the user name each time a login succeeds. */
  onReady: (user: string) => void = () => {};
  /** Resolves with the exit code once the session is over for good. */
  readonly finished: Promise<WebExit>;

  constructor(o: WebSessionOptions) {
    this.#o = o;
    this.#user = o.credentials?.user ?? o.user;
    this.#phase = o.credentials ? "starting" : "login";
    this.finished = new Promise((resolve) => this.#finish = resolve);
  }

  /** Logs in with the given credentials, if any (else the page will). */
  async begin(): Promise<string | null> {
    if (!this.#o.credentials) return null;
    return await this.#start(this.#o.credentials, this.#o.signup);
  }

  /** The phase now, as the page is told it. */
  phase(): PhaseInfo {
    return {
      type: "web_phase",
      phase: this.#phase,
      user: this.#user,
      ...(this.#error !== undefined ? { error: this.#error } : {}),
    };
  }

  #setPhase(phase: Phase, error?: string): void {
    this.#phase = phase;
    this.#error = error;
    this.#o.hub.publish(this.phase(), true);
  }

  /** The page's login form. */
  async login(form: LoginForm): Promise<string | null> {
    if (this.#phase !== "login") {
      return this.#phase === "ended"
        ? "the session has ended — start chat web again"
        : "already logging in";
    }
    const user = form.user.trim().replace(/^@/, "").toLowerCase();
    if (!NAME_PATTERN.test(user)) {
      return `'${form.user}' is not a valid user name (letters, digits, _ . - up to 32)`;
    }
    if (!form.password) return "type your password";
    if (form.signup && [...form.password].length < MIN_PASSWORD_CHARS) {
      return `password is too short: use at least ${MIN_PASSWORD_CHARS} characters`;
    }
    return await this.#start({ user, password: form.password }, form.signup);
  }

  async #start(creds: Credentials, signup: boolean): Promise<string | null> {
    this.#user = creds.user;
    this.#setPhase("starting");
    const emit = (ev: PeerEvent) =>
      this.#o.hub.publish(ev, ev.type === "file_progress");
    let peer: SessionPeer;
    try {
      peer = await this.#o.start(
        { ...this.#o.peer, credentials: creds, signup },
        emit,
      );
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.#setPhase("login", message);
      return message;
    }
    this.#peer = peer;
    this.#user = peer.user;
    this.#setPhase("ready");
    this.onReady(peer.user);
    void peer.ended.then(() => {
      this.#setPhase("ended");
      this.#finish(this.#quit ? 0 : 1);
    });
    return null;
  }

  /** Runs one command line of the page. */
  async run(line: string): Promise<WebReply> {
    const peer = this.#peer;
    if (!peer || this.#phase !== "ready") {
      const word = /^\/\S+/.exec(line)?.[0]?.toLowerCase() ?? "/msg";
      return {
        type: "reply",
        command: word,
        ok: false,
        error: this.#phase === "ended" ? "logged out" : "not logged in yet",
      };
    }
    // /quit ends the session inside run(): the exit code must know first.
    const parsed = parseLine(line);
    const quitting = parsed.ok && parsed.command.name === "quit";
    if (quitting) this.#quit = true;
    const reply = await peer.run(line);
    if (!reply.ok && quitting) this.#quit = false;
    if (reply.ok) this.#ownEvent(line, reply);
    return toWebReply(reply);
  }

  /** Publishes what a successful /msg, /say or /send did. */
  #ownEvent(line: string, reply: Success): void {
    const at = new Date((this.#o.now ?? Date.now)()).toISOString();
    if (isReply(reply, "send")) {
      const ev: WebOfferedEvent = { type: "web_offered", ...reply.data, at };
      this.#o.hub.publish(ev);
      return;
    }
    if (!isReply(reply, "msg") && !isReply(reply, "say")) return;
    const parsed = parseLine(line);
    if (!parsed.ok) return;
    const cmd = parsed.command;
    const text = cmd.name === "msg" || cmd.name === "say" || cmd.name === "text"
      ? cmd.text
      : null;
    if (text === null) return;
    const ev: WebSentEvent = { type: "web_sent", ...reply.data, text, at };
    this.#o.hub.publish(ev);
  }

  /** Logs out (if logged in); the session is finished afterwards. */
  async stop(): Promise<void> {
    const peer = this.#peer;
    this.#quit = true;
    if (peer) await peer.stop();
    else {
      this.#setPhase("ended");
      this.#finish(0);
    }
  }
}

/** A core reply as JSON mode prints it. */
export const toWebReply: (r: CommandReply) => WebReply = replyObject;
