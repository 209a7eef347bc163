/**
 * Tab in the shell beyond completion.ts: file paths for /send (with ~),
 * transfer ids for /file, names known from friends, and what Tab does
 * with one candidate, a common start, or several.
 */
import { join } from "node:path";
import { assertEquals } from "../../helpers/assert.ts";
import {
  candidates,
  completeLine,
  expandHome,
} from "../../../peer/front/shell_complete.ts";
import type { Peer } from "../../../peer/core/mod.ts";

type Source = Parameters<typeof completeLine>[1];

function source(ids: string[] = [], users: string[] = []): Source {
  return {
    knownUsers: users,
    knownRooms: ["lunch"],
    refreshRooms: () => Promise.resolve(),
    transfers: {
      list: () =>
        ids.map((id) => ({
          id,
          direction: "in",
          peer: "bob",
          name: "x",
          size: 1,
          state: "offered",
          bytes: 0,
        })),
    } as unknown as Peer["transfers"],
  };
}

Deno.test("/send completes file paths, directories with a slash, ~ as home", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-complete-" });
  try {
    await Deno.writeTextFile(join(dir, "report.pdf"), "x");
    await Deno.writeTextFile(join(dir, "report.txt"), "x");
    await Deno.mkdir(join(dir, "photos"));
    await Deno.writeTextFile(join(dir, ".hidden"), "x");
    const c = await completeLine(`/send bob ${dir}/ph`, source());
    assertEquals(c.replace, `${dir}/photos/`);
    const common = await completeLine(`/send bob ${dir}/rep`, source());
    assertEquals(common.replace, `${dir}/report.`);
    const many = await completeLine(`/send bob ${dir}/report.`, source());
    assertEquals(many.replace, null);
    assertEquals(many.list, ["report.pdf", "report.txt"]);
    const all = await candidates(`/send bob ${dir}/`, source());
    assertEquals(all.words, [
      `${dir}/photos/`,
      `${dir}/report.pdf `,
      `${dir}/report.txt `,
    ]);
    const home = Deno.env.get("HOME");
    try {
      Deno.env.set("HOME", dir);
      assertEquals(expandHome("~/report.pdf"), join(dir, "report.pdf"));
      const tilde = await completeLine("/send bob ~/pho", source());
      assertEquals(tilde.replace, "~/photos/");
    } finally {
      if (home !== undefined) Deno.env.set("HOME", home);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("/file accept completes transfer ids; a plain line completes friends' names", async () => {
  const ids = ["a1b2c3", "a1ff00", "d00d"];
  assertEquals(
    (await completeLine("/file accept d", source(ids))).replace,
    "d00d ",
  );
  assertEquals(
    (await completeLine("/file accept a1", source(ids))).list,
    ["a1b2c3", "a1ff00"],
  );
  assertEquals(
    (await completeLine("/file reject zz", source(ids))).replace,
    null,
  );
  assertEquals(
    (await completeLine("hi ca", source([], ["bob", "carol"]))).replace,
    "carol ",
  );
});

Deno.test("/switch completes as a command and to what is open", async () => {
  assertEquals((await completeLine("/swi", source())).replace, "/switch ");
  assertEquals(
    (await completeLine("/switch #l", source(), ["bob", "#lunch"])).replace,
    "#lunch ",
  );
  assertEquals(
    (await completeLine("/switch b", source(), ["bob", "#lunch"])).replace,
    "bob ",
  );
});
