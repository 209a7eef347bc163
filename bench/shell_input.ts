/**
 * P10: the shell's input under load, through the screen the shell draws
 * with (peer/front/screen.ts) and an in-memory writer that encodes what it
 * is given as the terminal writer does.
 *
 * Part one: an 8 KiB bracketed paste, from the bytes a terminal sends to
 * the one write that shows it (decode, insert by grapheme, render) — the
 * first one in the process (the code not yet compiled; the segmenter is
 * built when the screen is, at login in the shell) and p50/p99 over
 * repeats, each into a fresh screen.
 *
 * Part two: keystroke to echo while 100 events a second are printed above
 * a three-row input, for 5 s (1 s with --quick). Keys are typed about 30 a
 * second; a key's time runs from when it was due (so time spent waiting
 * behind a redraw counts) to the write that shows it.
 */
import {
  atMost,
  info,
  type Metric,
  type RunOptions,
  type Scenario,
  stats,
} from "./harness.ts";
import { Screen } from "../peer/mod.ts";

/** SPEC.md §4 P10: an 8 KiB paste is shown within this. */
export const PASTE_TARGET_MS = 50;
/** SPEC.md §4 P10: keystroke to echo p99 while events arrive. */
export const ECHO_TARGET_MS = 16;

const enc = new TextEncoder();

/** An in-memory terminal: counts the bytes and notes when each write came. */
class MemoryWriter {
  bytes = 0;
  writes = 0;
  lastWriteAt = 0;
  write = (text: string): void => {
    this.bytes += enc.encode(text).length;
    this.writes++;
    this.lastWriteAt = performance.now();
  };
}

/** 8,192 bytes of UTF-8 as people paste: words, accents, CJK, emoji, line breaks. */
export function pasteText(bytes = 8192): string {
  const unit =
    "Paste of a log line with words, café, naïve, 世界 and 👍🏽 then more\r\n";
  let text = "";
  while (enc.encode(text + unit).length <= bytes) text += unit;
  while (enc.encode(text).length < bytes) text += "x";
  return text;
}

/** Milliseconds from handing the screen the bytes of one paste to the write that shows it. */
async function timePaste(body: string): Promise<number> {
  const out = new MemoryWriter();
  const screen = new Screen({
    write: out.write,
    columns: 80,
    rows: 24,
    prompt: "alice@bob> ",
  });
  screen.start();
  const bytes = enc.encode(`\x1b[200~${body}\x1b[201~`);
  const writes = out.writes;
  const t0 = performance.now();
  screen.input(bytes);
  // The echo is written at the next microtask.
  await Promise.resolve();
  if (out.writes !== writes + 1) {
    throw new Error(`the paste took ${out.writes - writes} writes, not one`);
  }
  const ms = out.lastWriteAt - t0;
  screen.stop();
  return ms;
}

/** Part one: the 8 KiB paste, cold and warm. */
export async function pasteMetrics(opts: RunOptions): Promise<Metric[]> {
  const body = pasteText();
  const first = await timePaste(body);
  const runs = opts.quick ? 5 : 30;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await timePaste(body));
  const s = stats(times);
  return [
    atMost(
      "8 KiB paste shown, first in the process",
      first,
      "ms",
      PASTE_TARGET_MS,
      "decode + insert by grapheme + render, 80x24, in-memory writer",
    ),
    atMost(
      "8 KiB paste shown p99",
      s.p99,
      "ms",
      PASTE_TARGET_MS,
      `${runs} runs`,
    ),
    info("8 KiB paste shown p50", s.p50, "ms"),
  ];
}

/** Part two: keystroke to echo while 100 events a second are printed. */
export async function echoMetrics(opts: RunOptions): Promise<Metric[]> {
  const seconds = opts.quick ? 1 : 5;
  const out = new MemoryWriter();
  const screen = new Screen({
    write: out.write,
    columns: 80,
    rows: 24,
    prompt: "alice#lunch> ",
  });
  screen.start();
  // A three-row input, so every event erases and redraws several rows.
  screen.input(
    enc.encode("an answer being typed while the room talks, ".repeat(5)),
  );
  await Promise.resolve();

  const latencies: number[] = [];
  const work: number[] = [];
  const message =
    "a message of ordinary length from someone in the room, long enough " +
    "to wrap onto a second row at eighty columns, like many do";
  const start = performance.now();
  const end = start + seconds * 1000;
  let events = 0;
  let keys = 0;
  const startBytes = out.bytes;
  const startFlushes = screen.flushes;

  await new Promise<void>((resolve) => {
    const eventTimer = setInterval(() => {
      screen.printEntry(
        `[20:${String(events % 60).padStart(2, "0")}] bob: `,
        message,
      );
      events++;
    }, 10);
    const keyEvery = 33;
    let due = performance.now() + keyEvery;
    const typeOne = () => {
      const now = performance.now();
      if (now >= end) {
        clearInterval(eventTimer);
        resolve();
        return;
      }
      // Type and rub out in turn, so the input stays three rows long.
      const byte = keys % 2 === 0 ? enc.encode("x") : new Uint8Array([0x7f]);
      const writes = out.writes;
      const began = performance.now();
      screen.input(byte);
      queueMicrotask(() => {
        // After the screen's own microtask: the echo has been written.
        if (out.writes > writes) {
          latencies.push(out.lastWriteAt - due);
          work.push(out.lastWriteAt - began);
        }
        keys++;
        due += keyEvery;
        setTimeout(typeOne, Math.max(0, due - performance.now()));
      });
    };
    setTimeout(typeOne, keyEvery);
  });
  screen.stop();
  const elapsed = (performance.now() - start) / 1000;
  const lat = stats(latencies);
  const cost = stats(work);
  return [
    atMost(
      "keystroke to echo p99, 100 events/s",
      lat.p99,
      "ms",
      ECHO_TARGET_MS,
      `${latencies.length} keys over ${seconds} s, from when each was due`,
    ),
    info("keystroke to echo p50, 100 events/s", lat.p50, "ms"),
    info(
      "screen work per keystroke p99",
      cost.p99,
      "ms",
      "from reading the key to its write",
    ),
    info("events printed per second", events / elapsed, "events/s"),
    info(
      "screen flushes per second",
      (screen.flushes - startFlushes) / elapsed,
      "flushes/s",
    ),
    info(
      "terminal output",
      (out.bytes - startBytes) / elapsed / 1024,
      "KiB/s",
    ),
  ];
}

/** Both parts of P10. */
export async function shellInputMetrics(opts: RunOptions): Promise<Metric[]> {
  return [...(await pasteMetrics(opts)), ...(await echoMetrics(opts))];
}

/** P10 as a scenario for bench/scenarios.ts. */
export const shellInputScenario: Scenario = {
  id: "P10",
  name: "shell input",
  run: shellInputMetrics,
};

if (import.meta.main) {
  for (
    const m of await shellInputMetrics({ quick: Deno.args.includes("--quick") })
  ) {
    console.log(
      `${m.name}: ${m.value.toFixed(2)} ${m.unit}${
        m.target ? ` (${m.target}${m.ok ? "" : ", missed"})` : ""
      }`,
    );
  }
}
