/**
 * `chat web`: the chat in a browser, served on 127.0.0.1 by the same Peer
 * core the shell and JSON mode drive, over one WebSocket speaking JSON
 * mode's protocol. See docs/web.md.
 */
export { ASSETS } from "./assets.ts";
export { EventLog } from "./event_log.ts";
export { Downloads, Uploads } from "./files.ts";
export {
  attachment,
  checkRequest,
  cookieName,
  newToken,
  securityHeaders,
} from "./gate.ts";
export { Hub } from "./hub.ts";
export { openBrowser, openerFor } from "./open_browser.ts";
export { DEFAULT_WEB_PORT, runWeb, type RunWebOptions } from "./run.ts";
export {
  type LoginForm,
  type Phase,
  type PhaseInfo,
  type WebDriver,
  type WebReply,
  WebServer,
} from "./server.ts";
export {
  type SessionPeer,
  type StartPeer,
  toWebReply,
  WebSession,
} from "./session.ts";
