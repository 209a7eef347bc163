/**
 * Introductions: the registry tells a dialer where the target may be
 * reached (its candidate endpoints, in the order to try them, and whether
 * the connect-back probe reached it) and signs a short-lived ticket that
 * proves the dialer's identity to it.
 *
 * When no direct attempt works, the dialer hands the ticket back: `reverse`
 * asks the target to dial the dialer instead (if the dialer is reachable),
 * `relay` issues a relay token bound to both sessions and the purpose and
 * tells the target to meet the dialer at the relay. Both name the target
 * by the ticket, so they reach exactly the session that was introduced.
 */
import {
  base64url,
  openTicket,
  signTicket,
  TICKET_TTL_MS,
  type TicketClaims,
  ticketTimeError,
} from "../../wire/mod.ts";
import { issueRelayToken } from "../relay.ts";
import type { Introduced } from "../directory.ts";
import type { Session } from "../sessions.ts";
import type { LoggedIn, ServiceContext } from "./context.ts";
import {
  event,
  type Handler,
  mustExist,
  mustReach,
  refuse,
  type Routes,
} from "./route.ts";

/** A session's endpoints as `of` should try them: LAN first if both share a public address. */
export function endpointsFor(
  target: Pick<Session, "host" | "p2pPort" | "candidates">,
  of: { host: string },
): { host: string; port: number }[] {
  const out: { host: string; port: number }[] = [];
  const seen = new Set<string>();
  const add = (host: string, port: number) => {
    const key = `${host}:${port}`;
    if (port <= 0 || seen.has(key)) return;
    seen.add(key);
    out.push({ host, port });
  };
  if (target.host === of.host) {
    for (const e of target.candidates) add(e.host, e.port);
  }
  if (target.p2pPort !== null) add(target.host, target.p2pPort);
  return out;
}

/** The probe's verdict, once it is in (it takes at most a couple of seconds). */
async function reachable(s: Session): Promise<boolean | null> {
  if (s.probe) await s.probe;
  return s.reachable;
}

const introduce: Handler<"introduce"> = async (ctx, c, req) => {
  const me = c.session.user;
  const user = await mustExist(ctx, req.user);
  if (user === me && req.purpose === "chat") {
    refuse("invalid", "you cannot chat with yourself");
  }
  const key = c.session.key;
  if (!key) {
    return refuse(
      "invalid",
      "this session has no key to introduce itself with",
    );
  }
  // Files go to the newest `chat receive` of the user, chats to their peer.
  const target = await ctx.directory.dialTarget(user, req.purpose);
  // Offline comes before the block: an offline user is offline to everyone,
  // so a blocked sender then leaves a message as anyone would (kept by
  // nobody), and "not available" never stands for "offline and blocking".
  if (!target || target.id === c.session.id) {
    return refuse("offline", `${user} is offline`);
  }
  await mustReach(ctx, me, user);
  const now = ctx.now();
  const ticket = await signTicket({
    v: 1,
    from: me,
    from_key: key,
    to: user,
    to_cert: target.certFingerprint,
    purpose: req.purpose,
    iat: now,
    exp: now + TICKET_TTL_MS,
    nonce: base64url(crypto.getRandomValues(new Uint8Array(18))),
  }, ctx.signingKey);
  // A session of this process may still be probed; one held by another
  // instance of a cluster comes with the verdict that instance stored
  // (null, so the dialer tries, while its probe runs).
  const local = target.session;
  const [theirs, mine] = await Promise.all([
    local ? reachable(local) : Promise.resolve(target.reachable),
    reachable(c.session),
  ]);
  return {
    user,
    host: target.host,
    port: target.p2pPort,
    cert: target.cert,
    ticket,
    candidates: endpointsFor(local ?? target, c.session),
    ...(theirs !== null ? { reachable: theirs } : {}),
    ...(mine !== null ? { you_reachable: mine } : {}),
    relay: ctx.relay !== null,
  };
};

/**
 * The introduction a ticket stands for, and the live session it introduced
 * (held by this process or, in a cluster, by another instance).
 */
async function introduced(
  ctx: ServiceContext,
  c: LoggedIn,
  ticket: string,
): Promise<{ claims: TicketClaims; target: Introduced }> {
  const opened = await openTicket(ticket, await ctx.verifyKey);
  if (!opened.ok) refuse("invalid", opened.reason);
  const claims = opened.msg;
  if (claims.from !== c.session.user || claims.from_key !== c.session.key) {
    refuse("forbidden", "this ticket was issued to another session");
  }
  const late = ticketTimeError(claims, ctx.now());
  if (late) refuse("invalid", `${late} — ask for a new introduction`);
  const target = await ctx.directory.introduced(claims.to, claims.to_cert);
  if (!target) refuse("offline", `${claims.to} is offline`);
  return { claims, target };
}

const reverse: Handler<"reverse"> = async (ctx, c, req) => {
  const { claims, target } = await introduced(ctx, c, req.ticket);
  const me = c.session;
  if (!me.cert || !me.certFingerprint || !me.key || me.p2pPort === null) {
    refuse("state", "this session does not listen, so it cannot be dialled");
  }
  if ((await reachable(me)) !== true) {
    refuse(
      "state",
      `you cannot be reached from outside either, so ${claims.to} cannot dial back`,
    );
  }
  const now = ctx.now();
  const back = await signTicket({
    v: 1,
    from: target.user,
    from_key: target.key,
    to: me.user,
    to_cert: me.certFingerprint,
    purpose: claims.purpose,
    iat: now,
    exp: now + TICKET_TTL_MS,
    nonce: base64url(crypto.getRandomValues(new Uint8Array(18))),
  }, ctx.signingKey);
  ctx.directory.sendTo(
    target,
    event({
      type: "reverse",
      from: me.user,
      purpose: claims.purpose,
      ref: claims.nonce,
      candidates: endpointsFor(me, target),
      cert: me.cert,
      ticket: back,
    }),
  );
  ctx.logger.info("reverse", {
    user: me.user,
    to: target.user,
    purpose: claims.purpose,
  });
  return {};
};

const relay: Handler<"relay"> = async (ctx, c, req) => {
  const { claims, target } = await introduced(ctx, c, req.ticket);
  const desk = ctx.relay;
  if (!desk) {
    refuse(
      "forbidden",
      `the registry does not relay; ${claims.to} cannot be reached directly`,
    );
  }
  const me = c.session;
  for (const [user, whose] of [[me.user, "you"], [target.user, null]]) {
    const n = desk.linksOf(user!);
    if (n >= desk.perUser) {
      refuse(
        "limit",
        `${
          whose ? "you already have" : `${user} already has`
        } ${n} relayed link${
          n === 1 ? "" : "s"
        } (the most this registry allows) — close one and try again`,
      );
    }
  }
  const { token, claims: relayClaims } = await issueRelayToken({
    a: { user: me.user, key: me.key! },
    b: { user: target.user, key: target.key },
    purpose: claims.purpose,
    endpoint: desk.endpoint,
    signingKey: ctx.signingKey,
    now: ctx.now(),
  });
  // The token names this instance's relay; the address sent with it lets a
  // target logged in elsewhere in a cluster (or behind a balancer) meet the
  // dialer at this very relay.
  ctx.directory.sendTo(
    target,
    event({
      type: "relay",
      from: me.user,
      purpose: claims.purpose,
      token,
      port: desk.port,
      ...(desk.host !== undefined ? { host: desk.host } : {}),
    }),
  );
  ctx.logger.info("relay issued", {
    link: relayClaims.link,
    a: me.user,
    b: target.user,
    purpose: claims.purpose,
  });
  return {
    token,
    port: desk.port,
    ...(desk.host !== undefined ? { host: desk.host } : {}),
  };
};

/** The introduction requests. */
export const introductionRoutes = {
  introduce,
  reverse,
  relay,
} satisfies Partial<Routes>;
