/** Plain text of the one-shot commands' answers (`chat who`, `chat search`). Pure. */
import type { ReplyData } from "../../wire/mod.ts";

/** Human text for a who reply. */
export function formatWho(r: ReplyData<"who">, detailed: boolean): string {
  if (r.users.length === 0) return "nobody is online";
  if (!detailed) return r.users.map((u) => u.user).join("\n");
  const rows = r.users.map((
    u,
  ) => [u.user, u.host ? `${u.host}:${u.port}` : "", u.status ?? ""]);
  const w0 = Math.max(4, ...rows.map((x) => x[0]!.length));
  const w1 = Math.max(7, ...rows.map((x) => x[1]!.length));
  const lines = [`${"NAME".padEnd(w0)}  ${"ADDRESS".padEnd(w1)}  STATUS`];
  for (const [a, b, c] of rows) {
    lines.push(`${a!.padEnd(w0)}  ${b!.padEnd(w1)}  ${c}`);
  }
  if (r.total > r.users.length) {
    lines.push(`… and ${r.total - r.users.length} more`);
  }
  return lines.join("\n");
}

/** Human text for a search reply. */
export function formatSearch(r: ReplyData<"search">): string {
  if (r.online) {
    return `${r.user} is online at ${r.host}:${r.port} — ${r.status}`;
  }
  const seen = r.last_seen ? `last seen ${r.last_seen}` : "never seen online";
  return `${r.user} is offline (${seen}) — ${r.status}`;
}
