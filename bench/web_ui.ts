/**
 * P11 (web UI, F26): a message typed in the page of `chat web` until it is
 * shown on the other side, and the memory of the `chat web` process with
 * the page open.
 *
 * A registry, a `chat web` process (alice) and a `chat peer --json` process
 * (bob) run on 127.0.0.1; the page is opened in a headless Chromium (the
 * system's, through puppeteer-core) and accepts bob's chat request. Each
 * sample puts a message in the page's message box and starts the clock when
 * Enter is pressed; it stops when bob's `message` line for it is read from
 * bob's stdout. So a sample crosses the browser's key handling, the page's
 * WebSocket, chat web's Peer core, the direct TLS link, bob's core and its
 * JSON output. 300 samples (30 with --quick), one at a time.
 *
 * Then the RSS of the chat web process (VmRSS, and its peak VmHWM) with
 * the page still open and the conversation on it.
 *
 * Run alone: `deno run -A bench/web_ui.ts [--quick]`.
 */
import { join } from "node:path";
import puppeteer from "puppeteer-core";
import {
  chatRunArgs,
  info,
  type Metric,
  mib,
  notMeasured,
  readProcMemory,
  type RunOptions,
  runStandalone,
  type Scenario,
  spawnBenchRegistry,
  stats,
} from "./harness.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
const TEXT = "the quick brown fox jumps over the dog";

/** Lines of a child's stdout, with a way to wait for one. */
class Lines {
  readonly seen: string[] = [];
  #waiters: { pred: (l: string) => boolean; resolve: (l: string) => void }[] =
    [];

  constructor(stream: ReadableStream<Uint8Array>) {
    void (async () => {
      let buf = "";
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        buf += text;
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const w = this.#waiters.findIndex((w) => w.pred(line));
          if (w >= 0) this.#waiters.splice(w, 1)[0]!.resolve(line);
          else {
            this.seen.push(line);
            if (this.seen.length > 1000) this.seen.shift();
          }
        }
      }
    })().catch(() => {});
  }

  /** The first line matching `pred` (from those not yet taken). */
  next(pred: (l: string) => boolean, timeoutMs = 20_000): Promise<string> {
    const i = this.seen.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.seen.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no line after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }
}

function spawnChat(
  args: string[],
  home: string,
  env: Record<string, string>,
): { child: Deno.ChildProcess; out: Lines } {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...chatRunArgs(), MAIN, ...args],
    env: { CHAT_HOME: home, NO_COLOR: "1", CHAT_LOG_LEVEL: "warn", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  return { child, out: new Lines(child.stdout) };
}

/** Measures P11. */
export async function webUiMetrics(opts: RunOptions): Promise<Metric[]> {
  try {
    Deno.statSync(CHROMIUM);
  } catch {
    return [
      notMeasured(
        "page to other side p99",
        "ms",
        `no Chromium at ${CHROMIUM} (Debian's chromium package)`,
      ),
    ];
  }
  const samples = opts.quick ? 30 : 300;
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-web-" });
  const registry = await spawnBenchRegistry(dir);
  const env = { CHAT_REGISTRY_FINGERPRINT: registry.fingerprint };
  const reg = `127.0.0.1:${registry.port}`;
  const bob = spawnChat(
    ["peer", "--json", "--user", "bob", "--signup", "--registry", reg],
    join(dir, "bob"),
    { ...env, CHAT_PASSWORD: "bob-password" },
  );
  const web = spawnChat(
    [
      "web",
      "--port",
      "0",
      "--no-open",
      "--user",
      "alice",
      "--signup",
      "--registry",
      reg,
    ],
    join(dir, "alice"),
    { ...env, CHAT_PASSWORD: "alice-password" },
  );
  const profile = join(dir, "profile");
  let browser: Awaited<ReturnType<typeof puppeteer.launch>> | null = null;
  const bobIn = bob.child.stdin.getWriter();
  const say = (line: string) =>
    bobIn.write(new TextEncoder().encode(line + "\n"));
  try {
    await bob.out.next((l) => l.includes(`"type":"ready"`), 30_000);
    const first = await web.out.next((l) => l.startsWith("chat web listening"));
    const url = first.slice("chat web listening on ".length);
    await web.out.next((l) => l === "logged in as alice", 30_000);
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        `--user-data-dir=${profile}`,
      ],
    });
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForSelector("#app:not([hidden])");
    await say("/chat alice");
    await page.waitForSelector('[data-focus="cr-open-bob"]', {
      timeout: 20_000,
    });
    // The side bar is redrawn as events arrive, so a click can land on a
    // node that was just replaced: click again until the request's pane
    // with its buttons is shown.
    for (let i = 0;; i++) {
      try {
        await page.click('[data-focus="cr-open-bob"]');
        await page.waitForSelector('[data-focus="req-accept"]', {
          timeout: 2_000,
        });
        break;
      } catch (err) {
        if (i >= 10) throw err;
      }
    }
    await page.click('[data-focus="req-accept"]');
    await bob.out.next((l) => l.includes(`"type":"chat_started"`));
    await page.focus("#text");
    const ms: number[] = [];
    for (let i = 0; i < samples + 5; i++) {
      const text = `m${i} ${TEXT}`;
      await page.$eval(
        "#text",
        (e, v) => (e as unknown as { value: string }).value = v,
        text,
      );
      const shown = bob.out.next((l) =>
        l.includes(`"type":"message"`) && l.includes(`"text":"${text}"`)
      );
      const start = performance.now();
      await page.keyboard.press("Enter");
      await shown;
      // The first few warm the JIT and the link up.
      if (i >= 5) ms.push(performance.now() - start);
    }
    const mem = readProcMemory(web.child.pid);
    const s = stats(ms);
    const note =
      `${ms.length} messages one at a time, Enter in the page to the line at bob`;
    return [
      info("page to other side p99", s.p99, "ms", note),
      info("page to other side p50", s.p50, "ms"),
      mem
        ? info(
          "chat web RSS with the page open",
          mib(mem.rssBytes),
          "MiB",
          `peak ${mib(mem.hwmBytes).toFixed(1)} MiB`,
        )
        : notMeasured("chat web RSS with the page open", "MiB", "no /proc"),
    ];
  } finally {
    await browser?.close().catch(() => {});
    await say("/quit").catch(() => {});
    await bobIn.close().catch(() => {});
    for (const c of [web.child, bob.child]) {
      try {
        c.kill("SIGTERM");
      } catch {
        // Gone already.
      }
      await c.status;
    }
    await registry.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** P11 as a scenario for bench/scenarios.ts. */
export const webUiScenario: Scenario = {
  id: "P11",
  name: "web UI",
  run: webUiMetrics,
};

if (import.meta.main) await runStandalone(webUiScenario);
