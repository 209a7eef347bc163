/**
 * The web UI's gate, as pure functions: which requests may reach `chat web`
 * (the secret token or its cookie, only our own Host and Origin) and the
 * headers every response carries. No I/O, so every rule is unit-tested.
 */
import { timingSafeEqual } from "node:crypto";

/** Where the server listens, as the page's URLs name it. */
export interface GateConfig {
  /** The secret of the printed URL (base64url). */
  token: string;
  /** The TCP port the server is bound to on 127.0.0.1. */
  port: number;
}

/** What the gate decided about one request. */
export type GateDecision =
  | { kind: "pass" }
  /** The URL carried the right token: set the cookie and drop the token. */
  | { kind: "login"; location: string; cookie: string }
  | { kind: "refuse"; status: 400 | 401 | 403; reason: string };

/** Bytes of randomness in a token: 256 bits. */
export const TOKEN_BYTES = 32;

/** A fresh secret for the printed URL, base64url without padding. */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * The cookie's name. Cookies are scoped by host, not port, so two `chat web`
 * on one machine would overwrite each other's cookie under one name.
 */
export function cookieName(port: number): string {
  return `chat_web_${port}`;
}

/** The Host header values that name this server (anything else is DNS rebinding). */
export function ownHosts(port: number): string[] {
  return [`127.0.0.1:${port}`, `localhost:${port}`];
}

/** The origins of our own pages. */
export function ownOrigins(port: number): string[] {
  return ownHosts(port).map((h) => `http://${h}`);
}

/** Compares two secrets in time independent of where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const enc = new TextEncoder();
  const x = enc.encode(a);
  const y = enc.encode(b);
  if (x.length !== y.length) return false;
  return timingSafeEqual(x, y);
}

/** The value of one cookie in a Cookie header, or null. */
export function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** The Set-Cookie value that keeps the token for later requests. */
export function tokenCookie(cfg: GateConfig): string {
  return `${
    cookieName(cfg.port)
  }=${cfg.token}; Path=/; HttpOnly; SameSite=Strict`;
}

/**
 * Decides whether a request may pass. `unsafe` requests (anything that acts:
 * POST, the WebSocket) must carry our Origin; a GET may lack it (a typed
 * URL) but never carry another one. Host is checked first, so a rebound
 * name is refused before any secret is looked at.
 */
export function checkRequest(
  req: { method: string; url: string; headers: Headers },
  cfg: GateConfig,
): GateDecision {
  const host = req.headers.get("host");
  if (host === null || !ownHosts(cfg.port).includes(host.toLowerCase())) {
    return {
      kind: "refuse",
      status: 403,
      reason: `Host '${
        host ?? ""
      }' is not this server — open the URL chat web printed`,
    };
  }
  const origin = req.headers.get("origin");
  const acts = req.method !== "GET" && req.method !== "HEAD" ||
    req.headers.get("upgrade")?.toLowerCase() === "websocket";
  if (origin !== null && !ownOrigins(cfg.port).includes(origin)) {
    return {
      kind: "refuse",
      status: 403,
      reason: `Origin '${origin}' may not use chat web`,
    };
  }
  if (acts && origin === null) {
    return {
      kind: "refuse",
      status: 403,
      reason: "a request that acts must carry an Origin header",
    };
  }
  const url = new URL(req.url, `http://${host}`);
  const fromUrl = url.searchParams.get("token");
  if (fromUrl !== null && req.method === "GET" && !acts) {
    if (!sameSecret(fromUrl, cfg.token)) {
      return { kind: "refuse", status: 401, reason: "wrong token" };
    }
    url.searchParams.delete("token");
    const query = url.searchParams.toString();
    return {
      kind: "login",
      location: url.pathname + (query ? `?${query}` : ""),
      cookie: tokenCookie(cfg),
    };
  }
  const cookie = readCookie(req.headers.get("cookie"), cookieName(cfg.port));
  if (cookie === null || !sameSecret(cookie, cfg.token)) {
    return {
      kind: "refuse",
      status: 401,
      reason:
        "no valid token — open the URL chat web printed (it carries the token)",
    };
  }
  return { kind: "pass" };
}

/**
 * Headers for every response: nothing may be loaded from elsewhere, no
 * inline script or style, no framing, no sniffing, no Referer (the first
 * URL carries the token), nothing cached.
 */
export function securityHeaders(port: number): Record<string, string> {
  const ws = ownHosts(port).map((h) => `ws://${h}`).join(" ");
  return {
    "content-security-policy": [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self'",
      `connect-src 'self' ${ws}`,
      "base-uri 'none'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join("; "),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
  };
}

/**
 * A Content-Disposition that downloads a file under a safe name: an ASCII
 * fallback with quotes and controls replaced, and the UTF-8 name encoded.
 */
export function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%;]/g, "_") || "file";
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
