import { assert, assertEquals } from "../../../helpers/assert.ts";
import {
  attachment,
  checkRequest,
  cookieName,
  newToken,
  readCookie,
  sameSecret,
  securityHeaders,
} from "../../../../peer/front/web/gate.ts";

const cfg = { token: "s3cret-token_value", port: 4242 };

function req(
  url: string,
  headers: Record<string, string>,
  method = "GET",
) {
  return { method, url, headers: new Headers(headers) };
}

Deno.test("gate", async (t) => {
  await t.step(
    "a token in the URL becomes a cookie and the URL loses it",
    () => {
      const d = checkRequest(
        req("http://127.0.0.1:4242/?token=s3cret-token_value&x=1", {
          host: "127.0.0.1:4242",
        }),
        cfg,
      );
      assertEquals(d.kind, "login");
      if (d.kind !== "login") return;
      assertEquals(d.location, "/?x=1");
      assert(d.cookie.startsWith("chat_web_4242=s3cret-token_value;"));
      for (const attr of ["HttpOnly", "SameSite=Strict", "Path=/"]) {
        assert(d.cookie.includes(attr), `${attr} in ${d.cookie}`);
      }
    },
  );

  await t.step(
    "the cookie lets requests through; none, or a wrong one, does not",
    () => {
      const host = { host: "localhost:4242" };
      const ok = checkRequest(
        req("http://localhost:4242/app.js", {
          ...host,
          cookie: "other=1; chat_web_4242=s3cret-token_value",
        }),
        cfg,
      );
      assertEquals(ok.kind, "pass");
      for (
        const cookie of [
          "",
          "chat_web_4242=wrong",
          "chat_web_4243=s3cret-token_value",
        ]
      ) {
        const d = checkRequest(
          req("http://localhost:4242/", { ...host, cookie }),
          cfg,
        );
        assertEquals(d.kind === "refuse" ? d.status : d.kind, 401, cookie);
      }
      const wrongToken = checkRequest(
        req("http://localhost:4242/?token=nope", host),
        cfg,
      );
      assertEquals(wrongToken.kind === "refuse" && wrongToken.status, 401);
    },
  );

  await t.step(
    "another Host is refused before any secret is looked at (DNS rebinding)",
    () => {
      for (
        const host of ["evil.example:4242", "127.0.0.1:4243", "127.0.0.1", ""]
      ) {
        const d = checkRequest(
          req("http://x/?token=s3cret-token_value", host ? { host } : {}),
          cfg,
        );
        assertEquals(d.kind === "refuse" && d.status, 403, host);
      }
    },
  );

  await t.step("another Origin is refused; acting requests need ours", () => {
    const base = {
      host: "127.0.0.1:4242",
      cookie: "chat_web_4242=s3cret-token_value",
    };
    const foreign = checkRequest(
      req("http://127.0.0.1:4242/upload", {
        ...base,
        origin: "http://evil.example",
      }, "POST"),
      cfg,
    );
    assertEquals(foreign.kind === "refuse" && foreign.status, 403);
    const none = checkRequest(
      req("http://127.0.0.1:4242/login", base, "POST"),
      cfg,
    );
    assertEquals(none.kind === "refuse" && none.status, 403);
    const ws = checkRequest(
      req("http://127.0.0.1:4242/ws", { ...base, upgrade: "websocket" }),
      cfg,
    );
    assertEquals(ws.kind === "refuse" && ws.status, 403);
    const own = checkRequest(
      req("http://127.0.0.1:4242/ws", {
        ...base,
        upgrade: "websocket",
        origin: "http://127.0.0.1:4242",
      }),
      cfg,
    );
    assertEquals(own.kind, "pass");
    // A WebSocket cannot log in with a token in its URL.
    const wsToken = checkRequest(
      req("http://127.0.0.1:4242/ws?token=s3cret-token_value", {
        host: "127.0.0.1:4242",
        upgrade: "websocket",
        origin: "http://127.0.0.1:4242",
      }),
      cfg,
    );
    assertEquals(wsToken.kind === "refuse" && wsToken.status, 401);
  });

  await t.step("security headers allow nothing from elsewhere", () => {
    const h = securityHeaders(4242);
    const csp = h["content-security-policy"]!;
    for (
      const part of [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "connect-src 'self' ws://127.0.0.1:4242 ws://localhost:4242",
      ]
    ) assert(csp.includes(part), part);
    assert(!csp.includes("unsafe"), csp);
    assertEquals(h["x-content-type-options"], "nosniff");
    assertEquals(h["referrer-policy"], "no-referrer");
  });

  await t.step("tokens, cookies and secrets", () => {
    const a = newToken();
    assert(/^[A-Za-z0-9_-]{43}$/.test(a), a);
    assert(a !== newToken());
    assertEquals(cookieName(15700), "chat_web_15700");
    assertEquals(readCookie("a=1; b = 2 ;c=3", "b"), "2");
    assertEquals(readCookie(null, "b"), null);
    assert(sameSecret("abc", "abc"));
    assert(!sameSecret("abc", "abd"));
    assert(!sameSecret("abc", "abcd"));
  });

  await t.step("downloads get a safe attachment name", () => {
    assertEquals(
      attachment("report.pdf"),
      `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`,
    );
    const tricky = attachment('a"b\\c;d\r\nü.txt');
    assert(!/[\r\n]/.test(tricky));
    assert(tricky.startsWith(`attachment; filename="a_b_c_d___.txt"`), tricky);
    assert(tricky.endsWith("a%22b%5Cc%3Bd%0D%0A%C3%BC.txt"), tricky);
  });
});
