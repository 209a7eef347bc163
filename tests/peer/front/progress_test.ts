/**
 * Unit tests of peer/progress.ts: human units, ETA, the one-line bar with
 * percent, rate and ETA (or without them when the size is unknown), and the
 * self-redrawing line's throttle, driven by a manual clock.
 */
import {
  formatProgress,
  ProgressLine,
  showBytes,
  showEta,
} from "../../../peer/front/progress.ts";
import type { PeerEvent } from "../../../peer/core/events.ts";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";

type Progress = Extract<PeerEvent, { type: "file_progress" }>;

const MiB = 1024 * 1024;

function progress(over: Partial<Progress> = {}): Progress {
  return {
    type: "file_progress",
    id: "abc",
    direction: "out",
    peer: "bob",
    name: "movie.mkv",
    bytes: 50 * MiB,
    size: 100 * MiB,
    rate: 10 * MiB,
    ...over,
  };
}

Deno.test("showBytes prints bytes below 1 KiB exactly and larger sizes in binary units", () => {
  assertEquals(showBytes(0), "0 B");
  assertEquals(showBytes(1), "1 B");
  assertEquals(showBytes(1023), "1023 B");
  assertEquals(showBytes(1024), "1.0 KiB");
  assertEquals(showBytes(1536), "1.5 KiB");
  assertEquals(showBytes(MiB), "1.0 MiB");
  assertEquals(showBytes(20 * MiB + 512 * 1024), "20.5 MiB");
  assertEquals(showBytes(1024 * MiB), "1.0 GiB");
  assertEquals(showBytes(3 * 1024 * 1024 * MiB), "3.0 TiB");
  // Beyond the largest unit the number grows instead.
  assertEquals(showBytes(2048 * 1024 * 1024 * MiB), "2048.0 TiB");
});

Deno.test("showEta prints minutes and seconds, hours when needed, and dashes when unknown", () => {
  assertEquals(showEta(0), "0:00");
  assertEquals(showEta(9), "0:09");
  assertEquals(showEta(59.4), "0:59");
  assertEquals(showEta(61), "1:01");
  assertEquals(showEta(600), "10:00");
  assertEquals(showEta(3599), "59:59");
  assertEquals(showEta(3600), "1:00:00");
  assertEquals(showEta(3661), "1:01:01");
  assertEquals(showEta(100 * 3600 + 5), "100:00:05");
  assertEquals(showEta(Infinity), "--:--");
  assertEquals(showEta(NaN), "--:--");
  assertEquals(showEta(-1), "--:--");
});

Deno.test("formatProgress shows name, direction, bar, percent, sizes, rate and ETA", () => {
  const line = formatProgress(progress(), 120);
  assertEquals(
    line,
    "movie.mkv → bob [###############...............]  50%  50.0 MiB/100.0 MiB  10.0 MiB/s  ETA 0:05",
  );
});

Deno.test("formatProgress marks incoming transfers with the sender", () => {
  const line = formatProgress(
    progress({ direction: "in", peer: "alice" }),
    120,
  );
  assert(line.startsWith("movie.mkv ← alice "), line);
});

Deno.test("formatProgress rounds the percentage down and never passes 100 %", () => {
  assertIncludes(
    formatProgress(progress({ bytes: 100 * MiB - 1 }), 120),
    " 99%",
  );
  assertIncludes(formatProgress(progress({ bytes: 0 }), 120), "  0%");
  assertIncludes(
    formatProgress(progress({ bytes: 0 }), 120),
    "[..............................]",
  );
  const done = formatProgress(progress({ bytes: 100 * MiB }), 120);
  assertIncludes(done, "100%");
  assertIncludes(done, "ETA 0:00");
  assertIncludes(done, "[##############################]");
  const over = formatProgress(progress({ bytes: 200 * MiB }), 120);
  assertIncludes(over, "100%");
  assertIncludes(over, "ETA --:--");
});

Deno.test("formatProgress shows dashes for the ETA while the rate is still zero", () => {
  const line = formatProgress(progress({ bytes: 0, rate: 0 }), 120);
  assertIncludes(line, "0 B/s");
  assertIncludes(line, "ETA --:--");
});

Deno.test("formatProgress with an unknown size shows bytes and rate but no bar, percent or ETA", () => {
  const line = formatProgress(
    progress({ size: null, bytes: 3 * MiB, rate: 1536, name: "stdin" }),
    120,
  );
  assertEquals(line, "stdin → bob  3.0 MiB  1.5 KiB/s");
  const empty = formatProgress(progress({ size: 0, bytes: 0, rate: 0 }), 120);
  assertEquals(empty, "movie.mkv → bob  0 B  0 B/s");
});

Deno.test("formatProgress fits the width: the bar shrinks first, then the line is cut", () => {
  for (const width of [100, 80, 60, 40, 20, 5, 1]) {
    const line = formatProgress(progress(), width);
    assert(line.length <= width, `${width}: ${line.length} ${line}`);
  }
  const narrow = formatProgress(progress(), 80);
  assertIncludes(narrow, " 50%");
  assertIncludes(narrow, "ETA 0:05");
  // Too narrow for any bar: no brackets at all.
  const tiny = formatProgress(progress(), 60);
  assert(!tiny.includes("["), tiny);
  assert(formatProgress(progress(), 20).endsWith("…"));
  const longName = formatProgress(progress({ name: "n".repeat(300) }), 80);
  assertEquals(longName.length, 80);
  assert(longName.endsWith("…"));
});

/** A fake terminal stream that records what is written. */
function fakeTerminal(terminal = true) {
  const dec = new TextDecoder();
  const writes: string[] = [];
  return {
    writes,
    out: {
      isTerminal: () => terminal,
      writeSync(p: Uint8Array) {
        writes.push(dec.decode(p));
        return p.length;
      },
    },
  };
}

Deno.test("ProgressLine redraws at most ten times a second but always draws the last update", () => {
  let now = 5_000;
  const term = fakeTerminal();
  const line = new ProgressLine(term.out, () => now);
  assertEquals(line.enabled, true);
  line.update(progress({ bytes: 1 }));
  assertEquals(term.writes.length, 1);
  assert(term.writes[0]!.startsWith("\r\x1b[2K"), "clears the line first");
  now += 50;
  line.update(progress({ bytes: 2 }));
  assertEquals(term.writes.length, 1, "too soon: skipped");
  now += 50;
  line.update(progress({ bytes: 3 }));
  assertEquals(term.writes.length, 2, "100 ms later: drawn");
  now += 1;
  line.update(progress({ bytes: 100 * MiB }));
  assertEquals(term.writes.length, 3, "the final update is never skipped");
  assertIncludes(term.writes[2]!, "100%");
  line.done();
  assertEquals(term.writes.at(-1), "\n");
  line.done();
  assertEquals(term.writes.length, 4, "done twice ends the line once");
});

Deno.test("ProgressLine shows a note and ends its line", () => {
  const term = fakeTerminal();
  const line = new ProgressLine(term.out, () => 0);
  line.done();
  assertEquals(term.writes, [], "nothing drawn, nothing to end");
  line.note("waiting for bob to accept movie.mkv…");
  assertEquals(term.writes, ["\r\x1b[2Kwaiting for bob to accept movie.mkv…"]);
  line.done();
  assertEquals(term.writes.at(-1), "\n");
});

Deno.test("ProgressLine stays silent when stderr is not a terminal", () => {
  const term = fakeTerminal(false);
  const line = new ProgressLine(term.out, () => 0);
  assertEquals(line.enabled, false);
  line.note("waiting");
  line.update(progress());
  line.done();
  assertEquals(term.writes, []);
});

Deno.test("ProgressLine ignores a terminal that went away", () => {
  const line = new ProgressLine({
    isTerminal: () => true,
    writeSync: () => {
      throw new Deno.errors.BrokenPipe("gone");
    },
  }, () => 0);
  line.update(progress());
  line.note("still fine");
  line.done();
});
