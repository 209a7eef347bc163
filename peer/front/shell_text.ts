/**
 * Pieces of the shell's lines: a message as an entry (a styled prefix and
 * a body wrapped under itself), the clock of a time stamp and the start of
 * a message that names it in a delivery notice. Pure.
 */
import type { PeerEvent } from "../core/mod.ts";
import { formatText, oneLine, type Style } from "./format.ts";
import { truncateText } from "./text_width.ts";

/** Columns of a message's text a delivery notice quotes. */
export const SNIPPET_COLUMNS = 24;

/** HH:MM of an ISO time, local. */
export function clockOf(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, "0")}:${
    String(d.getMinutes()).padStart(2, "0")
  }`;
}

/** The start of a message for a notice: `"first words…"` on one line. */
export function snippet(text: string): string {
  const one = oneLine(text.trim()).replace(/\s+/g, " ");
  return `"${truncateText(one, SNIPPET_COLUMNS)}"`;
}

/** A message or an offline message as a prefix and a body (its line breaks as "\n"). */
export function messageEntry(
  ev: Extract<PeerEvent, { type: "message" | "offline_message" }>,
  style: Style,
): { prefix: string; body: string } {
  const from = style.user(oneLine(ev.from));
  if (ev.type === "message") {
    const where = ev.room !== undefined ? `${style.dim(`#${ev.room}`)} ` : "";
    return {
      prefix: `${style.dim(`[${clockOf(ev.at)}]`)} ${where}${from}: `,
      body: formatText(ev.text, style, ""),
    };
  }
  return {
    prefix: `${
      style.dim(`[${ev.sent_at.slice(0, 16).replace("T", " ")}]`)
    } ${from} ${style.dim("(while you were away)")}: `,
    body: formatText(ev.text, style, ""),
  };
}
