/**
 * /help in the shell (peer/front/help.ts): every command in a group, rows
 * within the width at 100, 80 and 40 columns, aliases shown.
 */
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { COMMAND_HELP } from "../../../peer/core/mod.ts";
import { HELP_GROUPS, helpFor } from "../../../peer/front/help.ts";
import { Style } from "../../../peer/front/format.ts";

const PLAIN = new Style(false);

Deno.test("every command is in one /help group", () => {
  const grouped = HELP_GROUPS.flatMap((g) => g.commands);
  for (const name of Object.keys(COMMAND_HELP)) {
    assertEquals(grouped.filter((c) => c === name).length, 1, name);
  }
});

for (const columns of [100, 80, 40]) {
  Deno.test(`/help fits ${columns} columns, grouped, with aliases`, () => {
    const text = helpFor(undefined, columns, PLAIN);
    for (const row of text.split("\n")) {
      assert([...row].length <= columns, `${[...row].length}: ${row}`);
    }
    for (const g of HELP_GROUPS) assertIncludes(text, `${g.title}\n`);
    assertIncludes(text, "/switch");
    assertIncludes(text.replace(/\s+/g, " "), "also /part");
  });
}

Deno.test("/help TOPIC explains one command, by an alias too", () => {
  const one = helpFor("part", 80, PLAIN);
  assertIncludes(one, "/leave ROOM");
  assertIncludes(one, "also: /part");
  assertIncludes(helpFor("nosuch", 80, PLAIN), "no such command '/nosuch'");
});
