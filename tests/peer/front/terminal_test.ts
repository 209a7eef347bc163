/**
 * Questions on a terminal (peer/front/terminal.ts) with the keys and the
 * output in memory: arrow keys and other escape sequences are skipped
 * whole, never echoed nor taken into the answer.
 */
import { assertEquals } from "../../helpers/assert.ts";
import {
  askYesNo,
  type KeySource,
  promptLine,
} from "../../../peer/front/terminal.ts";

function keys(...chunks: string[]): KeySource & { raw: boolean[] } {
  const enc = new TextEncoder();
  const queue = chunks.map((c) => enc.encode(c));
  const raw: boolean[] = [];
  return {
    raw,
    setRaw: (on: boolean) => void raw.push(on),
    read: (buf: Uint8Array) => {
      const next = queue.shift();
      if (!next) return Promise.resolve(null);
      buf.set(next);
      return Promise.resolve(next.length);
    },
  };
}

function output(): { writeSync(p: Uint8Array): number; text: () => string } {
  const parts: Uint8Array[] = [];
  return {
    writeSync: (p) => {
      parts.push(p.slice());
      return p.length;
    },
    text: () => parts.map((p) => new TextDecoder().decode(p)).join(""),
  };
}

Deno.test("the [y/N] question skips arrow keys: not echoed, not in the answer", async () => {
  const out = output();
  const yes = await askYesNo(
    "replace it?",
    out,
    keys("y", "\x1b[D\x1b[C", "\x1bOA", "es\r"),
  );
  assertEquals(yes, true);
  assertEquals(out.text(), "replace it? [y/N] yes\r\n");
});

Deno.test("a line question skips a function key whole", async () => {
  const out = output();
  const k = keys("ab", "\x1b[15~", "c\r");
  assertEquals(await promptLine("name: ", out, k), "abc");
  assertEquals(out.text(), "name: abc\r\n");
  assertEquals(k.raw, [true, false]);
});
