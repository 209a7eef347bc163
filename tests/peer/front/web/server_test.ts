/**
 * The web server in this process on port 0 with a stand-in driver: the
 * gate over real HTTP and WebSocket connections, the protocol (lines in,
 * replies in order, events replayed after a reconnect), uploads spooled and
 * offered with /send, downloads served as attachments.
 */
import { join } from "node:path";
import { silentLogger } from "../../../../common/log.ts";
import { assert, assertEquals } from "../../../helpers/assert.ts";
import { until } from "../../../helpers/registry.ts";
import {
  Downloads,
  Hub,
  type LoginForm,
  type PhaseInfo,
  Uploads,
  type WebDriver,
  type WebReply,
  WebServer,
} from "../../../../peer/front/web/mod.ts";

class FakeDriver implements WebDriver {
  lines: string[] = [];
  logins: LoginForm[] = [];
  /** Lines whose reply waits until released. */
  hold = new Map<string, PromiseWithResolvers<void>>();
  sendReply: (line: string) => WebReply = () => ({
    type: "reply",
    command: "/send",
    ok: true,
    id: "t1",
    to: "bob",
    name: "x",
    size: 3,
  });
  phase(): PhaseInfo {
    return { type: "web_phase", phase: "ready", user: "alice" };
  }
  async run(line: string): Promise<WebReply> {
    this.lines.push(line);
    await this.hold.get(line)?.promise;
    if (line.startsWith("/send")) return this.sendReply(line);
    // Not a real reply's data: the test reads back which line ran.
    return {
      type: "reply",
      command: line.split(" ")[0]!,
      ok: true,
      echo: line,
    } as unknown as WebReply;
  }
  login(form: LoginForm): Promise<string | null> {
    this.logins.push(form);
    return Promise.resolve(form.password === "right" ? null : "wrong password");
  }
}

interface Fixture extends AsyncDisposable {
  server: WebServer;
  hub: Hub;
  driver: FakeDriver;
  uploads: Uploads;
  home: string;
  origin: string;
  cookie: string;
}

async function fixture(): Promise<Fixture> {
  const home = await Deno.makeTempDir({ prefix: "chat-webtest-" });
  const hub = new Hub();
  const driver = new FakeDriver();
  const uploads = new Uploads(join(home, "uploads"));
  const downloads = new Downloads(join(home, "downloads"));
  hub.observe(uploads.observe);
  hub.observe(downloads.observe);
  const server = WebServer.start({
    port: 0,
    token: "tok-123",
    hub,
    driver,
    uploads,
    downloads,
    logger: silentLogger,
  });
  return {
    server,
    hub,
    driver,
    uploads,
    home,
    origin: `http://127.0.0.1:${server.port}`,
    cookie: `chat_web_${server.port}=tok-123`,
    [Symbol.asyncDispose]: async () => {
      await server.close();
      await uploads.close();
      await Deno.remove(home, { recursive: true });
    },
  };
}

/** Sends raw bytes as an HTTP request and returns the status line. */
async function rawStatus(port: number, request: string): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(request));
  const buf = new Uint8Array(4096);
  const n = await conn.read(buf);
  return new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0]!;
}

/** A WebSocket client with the page's cookie and Origin. */
function openSocket(
  f: Fixture,
  query = "",
  headers: Record<string, string> = { cookie: f.cookie, origin: f.origin },
) {
  const got: Record<string, unknown>[] = [];
  const ws = new WebSocket(
    `ws://127.0.0.1:${f.server.port}/ws${query}`,
    { headers } as unknown as string[],
  );
  ws.onmessage = (e) => got.push(JSON.parse(e.data));
  const opened = new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("the socket was refused"));
  });
  const closed = new Promise<void>((r) =>
    ws.addEventListener("close", () => r())
  );
  return {
    ws,
    got,
    opened,
    closed,
    async close() {
      ws.close();
      await closed;
    },
  };
}

Deno.test("web server", async (t) => {
  await using f = await fixture();
  const port = f.server.port;

  await t.step(
    "the printed URL logs the browser in with a cookie and a redirect",
    async () => {
      const res = await fetch(f.server.url, { redirect: "manual" });
      await res.body?.cancel();
      assertEquals(res.status, 303);
      assertEquals(res.headers.get("location"), "/");
      const cookie = res.headers.get("set-cookie") ?? "";
      assert(cookie.startsWith(`${f.cookie};`), cookie);
      const page = await fetch(`${f.origin}/`, {
        headers: { cookie: f.cookie },
      });
      const html = await page.text();
      assertEquals(page.status, 200);
      assert(html.includes('<script type="module" src="/app.js">'), html);
      assert(
        page.headers.get("content-security-policy")?.includes(
          "default-src 'none'",
        ),
      );
      assertEquals(page.headers.get("x-content-type-options"), "nosniff");
      const js = await fetch(`${f.origin}/app.js`, {
        headers: { cookie: f.cookie },
      });
      assert((await js.text()).includes("WebSocket"));
      assert(js.headers.get("content-type")?.startsWith("text/javascript"));
    },
  );

  await t.step(
    "it listens on 127.0.0.1 only: the machine's other addresses refuse",
    async () => {
      const others = Deno.networkInterfaces().filter((i) =>
        i.family === "IPv4" && !i.address.startsWith("127.")
      ).map((i) => i.address);
      assert(
        others.length > 0,
        "this machine has no non-loopback IPv4 address",
      );
      for (const hostname of [...others, "::1"]) {
        let err: unknown = null;
        try {
          const c = await Deno.connect({ hostname, port });
          c.close();
        } catch (e) {
          err = e;
        }
        assert(
          err instanceof Deno.errors.ConnectionRefused ||
            (hostname === "::1" && err instanceof Error),
          `${hostname}:${port} answered (${err})`,
        );
      }
    },
  );

  await t.step(
    "no token, another Host or another Origin is refused",
    async () => {
      const bare = await fetch(`${f.origin}/`);
      assertEquals(bare.status, 401);
      assert((await bare.text()).includes("open the URL chat web printed"));
      assertEquals(
        await rawStatus(
          port,
          `GET / HTTP/1.1\r\nHost: evil.example:${port}\r\nCookie: ${f.cookie}\r\nConnection: close\r\n\r\n`,
        ),
        "HTTP/1.1 403 Forbidden",
      );
      const post = await fetch(`${f.origin}/login`, {
        method: "POST",
        headers: { cookie: f.cookie, origin: "http://evil.example" },
        body: JSON.stringify({ user: "a", password: "right" }),
      });
      await post.body?.cancel();
      assertEquals(post.status, 403);
      assertEquals(f.driver.logins.length, 0);
      for (
        const headers of [
          { origin: f.origin },
          { cookie: f.cookie, origin: "http://evil.example" },
          { cookie: f.cookie },
        ] as Record<string, string>[]
      ) {
        const s = openSocket(f, "", headers);
        let refused = false;
        await s.opened.catch(() => refused = true);
        await s.closed;
        assert(refused, JSON.stringify(headers));
      }
    },
  );

  await t.step(
    "lines run one after the other and each reply comes back in order",
    async () => {
      const s = openSocket(f);
      await s.opened;
      await until(() => s.got.length >= 2, "hello and phase");
      assertEquals(s.got[0]!.type, "web_hello");
      assertEquals(s.got[1], {
        type: "web_phase",
        phase: "ready",
        user: "alice",
      });
      const slow = Promise.withResolvers<void>();
      f.driver.hold.set("/who", slow);
      s.ws.send("/who");
      s.ws.send("  /msg bob two\nlines  ");
      s.ws.send("   ");
      await until(() => f.driver.lines.includes("/who"), "the first line runs");
      assertEquals(f.driver.lines.filter((l) => l.startsWith("/msg")), []);
      slow.resolve();
      await until(() => s.got.length >= 4, "two replies");
      assertEquals(
        s.got.slice(2).map((r) => r.echo),
        ["/who", "/msg bob two\nlines"],
      );
      await s.close();
    },
  );

  await t.step(
    "events reach every page and a page that reconnects gets what it missed",
    async () => {
      const a = openSocket(f);
      await a.opened;
      await until(() => a.got.length >= 2, "hello");
      const hello = a.got[0] as { instance: string; last: number };
      f.hub.publish({ type: "presence", user: "bob", online: true });
      await until(() => a.got.length >= 3, "the event");
      assertEquals(a.got[2], {
        type: "presence",
        user: "bob",
        online: true,
        seq: hello.last + 1,
      });
      await a.close();
      f.hub.publish({ type: "presence", user: "bob", online: false });
      f.hub.publish({ type: "file_progress", id: "x" }, true);
      const b = openSocket(
        f,
        `?since=${hello.last + 1}&instance=${hello.instance}`,
      );
      await b.opened;
      await until(() => b.got.length >= 3, "the replay");
      assertEquals(b.got[0]!.replay, "complete");
      assertEquals(b.got[1], {
        type: "presence",
        user: "bob",
        online: false,
        seq: hello.last + 2,
      });
      await b.close();
      const other = openSocket(f, `?since=1&instance=another`);
      await other.opened;
      await until(() => other.got.length >= 2, "hello");
      assertEquals(other.got[0]!.replay, "reset");
      await other.close();
    },
  );

  await t.step("the login form goes to the driver", async () => {
    const post = (body: string) =>
      fetch(`${f.origin}/login`, {
        method: "POST",
        headers: { cookie: f.cookie, origin: f.origin },
        body,
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    assertEquals(
      await post(JSON.stringify({ user: "alice", password: "right" })),
      { status: 200, body: { ok: true } },
    );
    assertEquals(
      await post(
        JSON.stringify({ user: "alice", password: "x", signup: true }),
      ),
      { status: 409, body: { ok: false, error: "wrong password" } },
    );
    assertEquals((await post("{")).status, 400);
    assertEquals((await post("x".repeat(5000))).status, 400);
    assertEquals(f.driver.logins.map((l) => l.signup), [false, true]);
  });

  await t.step(
    "an upload is spooled privately, offered with /send and removed when the transfer ends",
    async () => {
      const res = await fetch(
        `${f.origin}/upload?to=bob&name=${
          encodeURIComponent('../my "odd" file.txt')
        }`,
        {
          method: "POST",
          headers: { cookie: f.cookie, origin: f.origin },
          body: "abc",
        },
      );
      assertEquals(res.status, 200);
      assertEquals((await res.json()).id, "t1");
      const line = f.driver.lines.at(-1)!;
      const m = /^\/send bob "(.*)"$/.exec(line);
      assert(m, line);
      const path = m[1]!.replace(/\\(.)/g, "$1");
      assert(path.endsWith(`/my odd file.txt`), path);
      assert(path.startsWith(join(f.home, "uploads")), path);
      assertEquals(await Deno.readTextFile(path), "abc");
      assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
      assertEquals(f.uploads.held, 1);
      f.hub.publish({ type: "file_sent", to: "bob", id: "t1", size: 3 });
      await until(
        () => Deno.stat(path).then(() => false, () => true),
        "the spool removed",
      );
      assertEquals(f.uploads.held, 0);

      f.driver.sendReply = () => ({
        type: "reply",
        command: "/send",
        ok: false,
        error: "bob is offline",
      });
      const failed = await fetch(`${f.origin}/upload?room=lobby&name=a.txt`, {
        method: "POST",
        headers: { cookie: f.cookie, origin: f.origin },
        body: "abc",
      });
      assertEquals(failed.status, 422);
      assertEquals((await failed.json()).error, "bob is offline");
      assert(f.driver.lines.at(-1)!.startsWith("/send #lobby "));
      assertEquals(f.uploads.held, 0);
      const bad = await fetch(`${f.origin}/upload?to=b%20ob&name=a`, {
        method: "POST",
        headers: { cookie: f.cookie, origin: f.origin },
        body: "abc",
      });
      assertEquals(bad.status, 400);
      await bad.body?.cancel();
    },
  );

  await t.step(
    "a received file is served as an attachment, nothing else is",
    async () => {
      const downloads = join(f.home, "downloads");
      await Deno.mkdir(downloads, { recursive: true });
      await Deno.writeTextFile(join(downloads, "ré port.txt"), "hello");
      await Deno.writeTextFile(join(f.home, "secret.txt"), "no");
      f.hub.publish({
        type: "file_received",
        from: "bob",
        id: "abc123",
        path: join(downloads, "ré port.txt"),
        size: 5,
        sha256: "",
      });
      f.hub.publish({
        type: "file_received",
        from: "bob",
        id: "evil1",
        path: join(f.home, "secret.txt"),
        size: 2,
        sha256: "",
      });
      const get = (id: string) =>
        fetch(`${f.origin}/files/${id}`, { headers: { cookie: f.cookie } });
      const ok = await get("abc123");
      assertEquals(await ok.text(), "hello");
      assertEquals(ok.headers.get("content-type"), "application/octet-stream");
      assertEquals(
        ok.headers.get("content-disposition"),
        `attachment; filename="r_ port.txt"; filename*=UTF-8''r%C3%A9%20port.txt`,
      );
      for (const id of ["evil1", "nope"]) {
        const r = await get(id);
        await r.body?.cancel();
        assertEquals(r.status, 404, id);
      }
    },
  );
});
