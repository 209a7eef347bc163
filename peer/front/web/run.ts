/**
 * `chat web` once its settings are known: the server on 127.0.0.1, the
 * printed URL with its token, the browser opened, the session logged in (or
 * waiting for the page's login form), until a signal, /quit or the registry
 * ending the session.
 */
import { join } from "node:path";
import type { Logger } from "../../../common/log.ts";
import { type PeerOptions, UserError } from "../../core/mod.ts";
import { Downloads, Uploads } from "./files.ts";
import { newToken } from "./gate.ts";
import { Hub } from "./hub.ts";
import { openBrowser } from "./open_browser.ts";
import { WebServer } from "./server.ts";
import { type StartPeer, WebSession } from "./session.ts";

/** The default port of `chat web`. */
export const DEFAULT_WEB_PORT = 15700;
/** How long pages get to receive the last events before the server closes. */
const GOODBYE_MS = 200;

/** How to run `chat web`. */
export interface RunWebOptions {
  peer: Omit<PeerOptions, "credentials" | "signup">;
  credentials: PeerOptions["credentials"] | null;
  user: string | null;
  signup: boolean;
  /** The web server's port on 127.0.0.1. */
  port: number;
  open: boolean;
  /** DISPLAY or WAYLAND_DISPLAY is set: there is a desktop to open the page on. */
  desktop: boolean;
  signal: AbortSignal;
  logger: Logger;
  start: StartPeer;
  /** Where the URL line goes (stdout). */
  print: (line: string) => void;
  /** Where diagnostics go (stderr). */
  warn: (line: string) => void;
}

/** Runs the web UI; resolves with the exit code. */
export async function runWeb(o: RunWebOptions): Promise<number> {
  const hub = new Hub();
  const uploads = new Uploads(join(o.peer.home, "uploads"));
  await uploads.sweep();
  const downloads = new Downloads(
    o.peer.downloads ?? join(o.peer.home, "downloads"),
  );
  hub.observe(uploads.observe);
  hub.observe(downloads.observe);
  const session = new WebSession({
    peer: o.peer,
    credentials: o.credentials,
    user: o.user,
    signup: o.signup,
    hub,
    start: o.start,
  });
  let server: WebServer;
  try {
    server = WebServer.start({
      port: o.port,
      token: newToken(),
      hub,
      driver: session,
      uploads,
      downloads,
      logger: o.logger,
    });
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      throw new UserError(
        `port ${o.port} on 127.0.0.1 is in use — pass --port with another port (0 picks a free one)`,
      );
    }
    throw err;
  }
  try {
    o.print(`chat web listening on ${server.url}`);
    if (o.open) {
      void openBrowser(server.url, o.desktop).then((opened) => {
        if (!opened) o.warn("chat: open the URL above in a browser");
      });
    }
    session.onReady = (user) => o.print(`logged in as ${user}`);
    const failed = await session.begin();
    if (failed !== null) {
      o.warn(`chat: ${failed} — log in on the page`);
    }
    const stop = new Promise<"signal">((resolve) => {
      if (o.signal.aborted) resolve("signal");
      o.signal.addEventListener("abort", () => resolve("signal"), {
        once: true,
      });
    });
    const first = await Promise.race([session.finished, stop]);
    if (first === "signal") await session.stop();
    const code = await session.finished;
    // The last events (phase "ended", the reply to /quit) are on their way.
    await new Promise((r) => setTimeout(r, GOODBYE_MS));
    return code;
  } finally {
    await server.close();
    await uploads.close();
  }
}
