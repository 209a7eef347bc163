/**
 * A real headless Chromium for the web UI's tests, driven with
 * puppeteer-core: the system's /usr/bin/chromium (Debian's `chromium`
 * package), a fresh profile in a temporary folder, closed with the test.
 * Tests skip with `chromiumMissing()`'s reason when there is none.
 */
import puppeteer, { type Browser } from "puppeteer-core";
import { join } from "node:path";

/** The Chromium the tests use (CHROMIUM overrides). */
export const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";

/** Why browser tests cannot run here, or null when they can. */
export function chromiumMissing(): string | null {
  try {
    const info = Deno.statSync(CHROMIUM);
    return info.isFile
      ? null
      : `${CHROMIUM} is not a file — install Debian's chromium package`;
  } catch {
    return `no Chromium at ${CHROMIUM} — install Debian's chromium package (.ci/run does) or set CHROMIUM`;
  }
}

/** A running browser with its temporary folder. */
export interface TestBrowser extends AsyncDisposable {
  browser: Browser;
  /** The test's temporary folder: the profile and screenshots live here. */
  dir: string;
  /** Where screenshots go (inside `dir`). */
  shots: string;
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh profile. */
export async function launchBrowser(): Promise<TestBrowser> {
  const dir = await Deno.makeTempDir({ prefix: "chat-browser-" });
  const shots = join(dir, "screenshots");
  await Deno.mkdir(shots);
  let browser: Browser;
  try {
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
        `--user-data-dir=${join(dir, "profile")}`,
      ],
    });
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await browser.close().catch(() => {
      // A browser that died already: its process is gone too.
      browser.process()?.kill("SIGKILL");
    });
    if (!Deno.env.get("CHAT_KEEP_SCREENSHOTS")) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  };
  return { browser, dir, shots, close, [Symbol.asyncDispose]: close };
}
