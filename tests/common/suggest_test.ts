import { assertEquals } from "../helpers/assert.ts";
import {
  closest,
  editDistance,
  suggestionLimit,
} from "../../common/suggest.ts";

Deno.test("edit distance counts insertions, deletions, substitutions and swaps as one each", () => {
  const cases: [string, string, number][] = [
    ["", "", 0],
    ["peer", "peer", 0],
    ["pear", "peer", 1],
    ["sned", "send", 1],
    ["recieve", "receive", 1],
    ["who", "whom", 1],
    ["regsitry", "registry", 1],
    ["abc", "", 3],
    ["kitten", "sitting", 3],
    ["👍🏽", "👍", 1],
  ];
  for (const [a, b, d] of cases) {
    assertEquals(editDistance(a, b), d, `${a} → ${b}`);
    assertEquals(editDistance(b, a), d, `${b} → ${a}`);
  }
});

Deno.test("closest suggests a near word, nothing for a far one, the first on a tie", () => {
  const commands = ["registry", "peer", "signup", "who", "search", "send"];
  assertEquals(closest("pear", commands), "peer");
  assertEquals(closest("PEAR", commands), "peer");
  assertEquals(closest("serch", commands), "search");
  assertEquals(closest("xyzzy", commands), null);
  assertEquals(closest("x", commands), null, "no one-letter guesses");
  assertEquals(closest("sen", ["send", "seen"]), "send");
  assertEquals(closest("anything", []), null);
  assertEquals(suggestionLimit("who"), 1);
  assertEquals(suggestionLimit("registry"), 3);
  assertEquals(suggestionLimit("a-very-long-option-name"), 3);
});
