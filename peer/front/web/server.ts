/**
 * The HTTP and WebSocket server of `chat web`, on 127.0.0.1 only. Every
 * request passes the gate first (gate.ts). Routes:
 *
 * - `GET /` and the page's assets;
 * - `GET /ws?since=SEQ&instance=ID`: the WebSocket. The page sends one
 *   command line per message, as JSON mode reads them from stdin, and gets
 *   every event (with `seq`) and each of its commands' replies as JSON;
 * - `POST /login`: `{user, password, signup}` when the page logs in;
 * - `POST /upload?to=NAME|room=ROOM&name=FILE`: the file as the body, offered
 *   with /send; the reply of /send comes back;
 * - `GET /files/ID`: a received file, as an attachment.
 */
import type { Logger } from "../../../common/log.ts";
import type { JsonReply } from "../json_mode.ts";
import { ASSETS } from "./assets.ts";
import type { Downloads, Uploads } from "./files.ts";
import { checkRequest, securityHeaders } from "./gate.ts";
import type { Hub } from "./hub.ts";

/** Longest command line a page may send, in characters. */
export const MAX_LINE_CHARS = 64 * 1024;
/** Most command lines of one page waiting to run. */
export const MAX_QUEUED_LINES = 256;
/** Largest body of POST /login. */
export const MAX_LOGIN_BYTES = 4096;

/** Where the session is, as the page shows it. */
export type Phase = "login" | "starting" | "ready" | "ended";

/** The session's phase with what the page shows beside it. */
export interface PhaseInfo {
  type: "web_phase";
  phase: Phase;
  /** The user logged in, or the name to offer in the login form. */
  user: string | null;
  /** Why the last login failed (phase "login"). */
  error?: string;
}

/** A command's reply, as JSON mode prints it. */
export type WebReply = JsonReply;

/** The login form of the page. */
export interface LoginForm {
  user: string;
  password: string;
  signup: boolean;
}

/** What the server drives: the peer session behind the page. */
export interface WebDriver {
  /** The phase now. */
  phase(): PhaseInfo;
  /** Runs one command line. */
  run(line: string): Promise<WebReply>;
  /** Logs in with the page's form; resolves with null or why it failed. */
  login(form: LoginForm): Promise<string | null>;
}

/** How to start the server. */
export interface WebServerOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port: number;
  token: string;
  hub: Hub;
  driver: WebDriver;
  uploads: Uploads;
  downloads: Downloads;
  logger: Logger;
}

/** A running server. */
export class WebServer implements AsyncDisposable {
  readonly #o: WebServerOptions;
  readonly #abort = new AbortController();
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #headers: Record<string, string>;

  private constructor(
    o: WebServerOptions,
    server: Deno.HttpServer<Deno.NetAddr>,
  ) {
    this.#o = o;
    this.#server = server;
    this.#headers = securityHeaders(server.addr.port);
  }

  /** Binds 127.0.0.1:port and serves until close(). */
  static start(o: WebServerOptions): WebServer {
    let self: WebServer | null = null;
    const abort = new AbortController();
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: o.port,
      signal: abort.signal,
      onListen: () => {},
      onError: (err) => {
        o.logger.error("web request failed", { error: String(err) });
        return new Response("internal error\n", { status: 500 });
      },
    }, (req) => self!.#handle(req));
    self = new WebServer(o, server);
    self.#abort.signal.addEventListener("abort", () => abort.abort());
    return self;
  }

  /** The port bound. */
  get port(): number {
    return this.#server.addr.port;
  }

  /** The URL to open, with the token. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/?token=${this.#o.token}`;
  }

  /** Closes the pages' sockets and stops serving. */
  async close(): Promise<void> {
    this.#o.hub.closeAll();
    this.#abort.abort();
    await this.#server.finished;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #text(status: number, text: string): Response {
    return new Response(text + "\n", {
      status,
      headers: {
        ...this.#headers,
        "content-type": "text/plain; charset=utf-8",
      },
    });
  }

  #json(status: number, obj: object): Response {
    return new Response(JSON.stringify(obj), {
      status,
      headers: {
        ...this.#headers,
        "content-type": "application/json; charset=utf-8",
      },
    });
  }

  async #handle(req: Request): Promise<Response> {
    const gate = checkRequest(req, { token: this.#o.token, port: this.port });
    if (gate.kind === "refuse") {
      this.#o.logger.info("web request refused", {
        method: req.method,
        status: gate.status,
        reason: gate.reason,
      });
      return this.#text(gate.status, gate.reason);
    }
    if (gate.kind === "login") {
      return new Response(null, {
        status: 303,
        headers: {
          ...this.#headers,
          location: gate.location,
          "set-cookie": gate.cookie,
        },
      });
    }
    const url = new URL(req.url);
    const path = url.pathname;
    if (req.method === "GET" || req.method === "HEAD") {
      if (path === "/ws") return this.#socket(req, url);
      const asset = ASSETS[path];
      if (asset) {
        return new Response(req.method === "HEAD" ? null : asset.body, {
          headers: { ...this.#headers, "content-type": asset.type },
        });
      }
      const file = /^\/files\/([A-Za-z0-9_-]{1,64})$/.exec(path);
      if (file) return await this.#o.downloads.serve(file[1]!, this.#headers);
      return this.#text(404, "not found");
    }
    if (req.method === "POST") {
      if (path === "/login") return await this.#login(req);
      if (path === "/upload") return await this.#upload(req, url);
      return this.#text(404, "not found");
    }
    return this.#text(405, `${req.method} is not allowed`);
  }

  #socket(req: Request, url: URL): Response {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return this.#text(400, "expected a WebSocket upgrade");
    }
    const since = Number(url.searchParams.get("since") ?? "0");
    const instance = url.searchParams.get("instance");
    const { socket, response } = Deno.upgradeWebSocket(req, {
      idleTimeout: 60,
    });
    const hub = this.#o.hub;
    let queued = 0;
    let chain: Promise<void> = Promise.resolve();
    socket.onopen = () => {
      hub.attach(
        socket,
        Number.isSafeInteger(since) && since >= 0 ? since : 0,
        instance,
      );
      hub.reply(socket, this.#o.driver.phase());
    };
    socket.onmessage = (e) => {
      if (typeof e.data !== "string") {
        socket.close(1003, "send command lines as text");
        return;
      }
      const line = e.data;
      if (line.length > MAX_LINE_CHARS || queued >= MAX_QUEUED_LINES) {
        socket.close(
          1009,
          line.length > MAX_LINE_CHARS
            ? `a line is limited to ${MAX_LINE_CHARS} characters`
            : `more than ${MAX_QUEUED_LINES} lines are waiting`,
        );
        return;
      }
      // Blank lines get no reply, as in JSON mode.
      if (!line.trim()) return;
      queued++;
      // One line after the other, so replies come in the order of the lines.
      chain = chain.then(async () => {
        try {
          hub.reply(socket, await this.#o.driver.run(line.trim()));
        } finally {
          queued--;
        }
      }).catch((err) => {
        this.#o.logger.error("web command failed", { error: String(err) });
      });
    };
    socket.onclose = () => hub.detach(socket);
    socket.onerror = () => hub.detach(socket);
    return response;
  }

  async #login(req: Request): Promise<Response> {
    const form = await readLogin(req);
    if (typeof form === "string") {
      return this.#json(400, { ok: false, error: form });
    }
    const error = await this.#o.driver.login(form);
    return error === null
      ? this.#json(200, { ok: true })
      : this.#json(409, { ok: false, error });
  }

  async #upload(req: Request, url: URL): Promise<Response> {
    const to = url.searchParams.get("to");
    const room = url.searchParams.get("room");
    const name = url.searchParams.get("name");
    if ((to === null) === (room === null) || !name || !req.body) {
      return this.#json(400, {
        type: "reply",
        command: "/send",
        ok: false,
        error:
          "usage: POST /upload?to=NAME|room=ROOM&name=FILE with the file as the body",
      });
    }
    const target = to !== null ? to : `#${room}`;
    // The name is checked by /send itself; here it only must not break the line.
    if (!/^[#@]?[A-Za-z0-9_.-]{1,64}$/.test(target)) {
      return this.#json(400, {
        type: "reply",
        command: "/send",
        ok: false,
        error: `'${target}' is not a user or room name`,
      });
    }
    const spool = await this.#o.uploads.spool(req.body, name);
    let reply: WebReply;
    try {
      reply = await this.#o.driver.run(`/send ${target} ${quote(spool.path)}`);
    } catch (err) {
      await this.#o.uploads.hold(spool, []);
      throw err;
    }
    await this.#o.uploads.hold(spool, reply.ok ? offerIds(reply) : []);
    return this.#json(reply.ok ? 200 : 422, reply);
  }
}

/** A word for the command line: quoted, with quotes and backslashes escaped. */
export function quote(s: string): string {
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** The transfer ids a /send reply started: one, or one per room member. */
export function offerIds(reply: WebReply): string[] {
  if (!reply.ok) return [];
  if ("offers" in reply) return reply.offers.map((o) => o.id);
  if ("id" in reply && typeof reply.id === "string") return [reply.id];
  return [];
}

async function readLogin(req: Request): Promise<LoginForm | string> {
  const body = await readCapped(req, MAX_LOGIN_BYTES);
  if (body === null) {
    return `the login form is larger than ${MAX_LOGIN_BYTES} bytes`;
  }
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return "the login form is not JSON";
  }
  if (
    !v || typeof v !== "object" || !("user" in v) || !("password" in v) ||
    typeof v.user !== "string" || typeof v.password !== "string"
  ) return "the login form needs user and password";
  const signup = "signup" in v && v.signup === true;
  return { user: v.user, password: v.password, signup };
}

/** The body as text, or null when it is longer than `max` bytes. */
async function readCapped(req: Request, max: number): Promise<string | null> {
  if (!req.body) return "";
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of req.body) {
    n += c.length;
    if (n > max) return null;
    chunks.push(c);
  }
  const all = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  return new TextDecoder().decode(all);
}
