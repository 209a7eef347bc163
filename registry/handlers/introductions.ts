/**
 * Introductions: the registry tells a dialer where the target listens and
 * signs a short-lived ticket that proves the dialer's identity to it.
 */
import { base64url, signTicket, TICKET_TTL_MS } from "../../wire/mod.ts";
import {
  type Handler,
  mustExist,
  mustReach,
  refuse,
  type Routes,
} from "./route.ts";

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
  return {
    user,
    host: target.host,
    port: target.p2pPort,
    cert: target.cert,
    ticket,
  };
};

/** The introduction request. */
export const introductionRoutes = {
  introduce,
} satisfies Partial<Routes>;
