/**
 * Opening the printed URL like `jupyter`: the opener of each system, none
 * without a desktop, and a real `chat web` process that runs the opener it
 * finds on PATH with its URL — unless told `--no-open`.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../../../helpers/assert.ts";
import { spawnRegistry, until } from "../../../helpers/registry.ts";
import { spawnWeb } from "../../../helpers/web_process.ts";
import { openerFor } from "../../../../peer/front/web/open_browser.ts";

Deno.test("each system's opener; none on Linux without a desktop", () => {
  const url = "http://127.0.0.1:15700/?token=t";
  assertEquals(openerFor("linux", true, url), ["xdg-open", url]);
  assertEquals(openerFor("linux", false, url), null);
  assertEquals(openerFor("darwin", false, url), ["open", url]);
  assertEquals(openerFor("windows", false, url), [
    "cmd",
    "/c",
    "start",
    '""',
    url,
  ]);
});

Deno.test({
  name:
    "chat web opens its URL with the desktop's opener, and --no-open does not",
  ignore: Deno.build.os !== "linux",
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-opener-" });
  const opened = join(dir, "opened");
  await using reg = await spawnRegistry();
  try {
    // A stand-in xdg-open that records what it was asked to open.
    const bin = join(dir, "bin");
    await Deno.mkdir(bin);
    await Deno.writeTextFile(
      join(bin, "xdg-open"),
      `#!/bin/sh\nprintf '%s\\n' "$@" >> '${opened}'\n`,
    );
    await Deno.chmod(join(bin, "xdg-open"), 0o755);
    const env = {
      PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      DISPLAY: ":99",
    };
    const ref = { port: reg.port, fingerprint: reg.fingerprint };
    {
      await using web = await spawnWeb(ref, { user: "alice", open: true, env });
      await until(
        async () =>
          (await Deno.readTextFile(opened).catch(() => "")) === `${web.url}\n`,
        "xdg-open called with the URL",
      );
    }
    await Deno.remove(opened);
    {
      await using web = await spawnWeb(ref, {
        user: "bob",
        env,
      });
      assert(web.url.includes("?token="));
      // It would have been run right after the URL was printed, long
      // before the login that spawnWeb waited for.
      assertEquals(await web.stop(), 0);
    }
    assertEquals(await Deno.stat(opened).catch(() => null), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
