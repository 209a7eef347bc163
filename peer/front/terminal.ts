/**
 * Questions asked on a terminal before the shell starts: a line, a yes/no,
 * and a password typed in raw mode so it is never echoed (each key shows as
 * `*`). Nothing here runs when stdin is not a terminal.
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Where prompts are written. */
export type PromptOut = { writeSync(p: Uint8Array): number };

/**
 * Where the answers are read: stdin, or the terminal itself (/dev/tty)
 * when stdin carries data, as ssh asks for a password under a pipe.
 */
export type KeySource = {
  read(p: Uint8Array): Promise<number | null>;
  setRaw(mode: boolean): void;
};

/** True when stdin is an interactive terminal. */
export function stdinIsTerminal(): boolean {
  try {
    return Deno.stdin.isTerminal();
  } catch {
    return false;
  }
}

function say(out: PromptOut, text: string): void {
  out.writeSync(enc.encode(text));
}

/** Reads raw keys until Enter; `mask` hides the typed text. Null on Ctrl-C/Ctrl-D. */
async function readKeys(
  out: PromptOut,
  mask: boolean,
  keys: KeySource = Deno.stdin,
): Promise<string | null> {
  keys.setRaw(true);
  const buf = new Uint8Array(64);
  let bytes: number[] = [];
  // Escape sequences (arrows, function keys) are skipped whole, never echoed:
  // "esc" after ESC, "csi" inside ESC [ … final, "ss3" before ESC O's final.
  let seq: "none" | "esc" | "csi" | "ss3" = "none";
  try {
    while (true) {
      const n = await keys.read(buf);
      if (n === null) return null;
      for (const b of buf.subarray(0, n)) {
        if (seq === "esc") {
          seq = b === 0x5b ? "csi" : b === 0x4f ? "ss3" : "none";
          continue;
        }
        if (seq === "csi") {
          if (b >= 0x40 && b <= 0x7e) seq = "none";
          continue;
        }
        if (seq === "ss3") {
          seq = "none";
          continue;
        }
        if (b === 27) {
          seq = "esc";
          continue;
        }
        if (b === 3 || (b === 4 && bytes.length === 0)) {
          say(out, "\r\n");
          return null;
        }
        if (b === 13 || b === 10) {
          say(out, "\r\n");
          return dec.decode(new Uint8Array(bytes));
        }
        if (b === 127 || b === 8) {
          const text = dec.decode(new Uint8Array(bytes));
          if (text.length === 0) continue;
          const chars = [...text];
          chars.pop();
          bytes = [...enc.encode(chars.join(""))];
          say(out, "\b \b");
          continue;
        }
        if (b === 21) {
          // Ctrl-U: erase the whole line.
          const count = [...dec.decode(new Uint8Array(bytes))].length;
          say(out, "\b \b".repeat(count));
          bytes = [];
          continue;
        }
        if (b < 32) continue;
        bytes.push(b);
        // Echo one mark per character, not per byte of UTF-8.
        if (!mask) out.writeSync(new Uint8Array([b]));
        else if ((b & 0xc0) !== 0x80) say(out, "*");
      }
    }
  } finally {
    keys.setRaw(false);
  }
}

/** Asks for a secret without echoing it. Null if the user gave up. */
export async function promptSecret(
  question: string,
  out: PromptOut = Deno.stderr,
  keys?: KeySource,
): Promise<string | null> {
  say(out, question);
  return await readKeys(out, true, keys);
}

/** Asks for a line of text. Null if the user gave up. */
export async function promptLine(
  question: string,
  out: PromptOut = Deno.stderr,
  keys?: KeySource,
): Promise<string | null> {
  say(out, question);
  const line = await readKeys(out, false, keys);
  return line === null ? null : line.trim();
}

/** Asks a yes/no question; only "y" or "yes" count as yes. */
export async function askYesNo(
  question: string,
  out: PromptOut = Deno.stderr,
  keys?: KeySource,
): Promise<boolean> {
  const answer = await promptLine(`${question} [y/N] `, out, keys);
  return answer !== null && /^y(es)?$/i.test(answer);
}

/** Whether to colour stdout: a terminal, and NO_COLOR not set. */
export function useColor(noColor: boolean): boolean {
  if (noColor) return false;
  try {
    return Deno.stdout.isTerminal();
  } catch {
    return false;
  }
}
