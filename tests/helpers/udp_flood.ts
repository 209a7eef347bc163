/**
 * A UDP flood sender, run as its own process by the reliability tests:
 *
 *   deno run --allow-net --allow-ffi tests/helpers/udp_flood.ts \
 *     PORT SECONDS MAX [RATE]
 *
 * Sends garbage datagrams to 127.0.0.1:PORT for SECONDS, at most MAX of
 * them, at RATE datagrams a second (default: as fast as the machine allows),
 * then prints one line `sent N via HOW` and exits. The garbage is a mix:
 * random bytes of random length, heartbeat-sized datagrams with the wrong
 * magic, and datagrams that look like heartbeats (right magic and size)
 * naming random sessions.
 *
 * On Linux it calls libc's sendmmsg through FFI, 256 datagrams a system
 * call, which is what a real attacker's tool does; one process reaches a few
 * hundred thousand datagrams a second on loopback. Elsewhere (or without
 * --allow-ffi) it falls back to node:dgram, one datagram a call, which one
 * Deno process keeps at some tens of thousands a second.
 */
import dgram from "node:dgram";

/** Datagrams handed to the kernel in one sendmmsg call. */
const BATCH = 256;

/** The 16 kinds of garbage the flood cycles through. */
export function garbage(): Uint8Array[] {
  const kinds: Uint8Array[] = [];
  for (let i = 0; i < 16; i++) {
    const d = new Uint8Array(i % 4 === 0 ? 1 + i * 37 : 44);
    crypto.getRandomValues(d);
    // "CHB" v1 and a counter in range: a forgery that only the session
    // lookup (a random id) or the MAC can refuse.
    if (i % 4 === 1) d.set([0x43, 0x48, 0x42, 1]);
    if (i % 4 === 1) d.set([0, 0, 0], 20);
    kinds.push(d);
  }
  return kinds;
}

/** Blocks this thread for `ms` (fractions allowed). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const LIBC = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

/**
 * Sends through sendmmsg; null when libc or FFI is not available here.
 * x86_64 and aarch64 Linux share the layouts used: struct mmsghdr is 64
 * bytes (a 56-byte msghdr and the length the kernel fills in), iovec 16.
 */
function sendFfi(
  port: number,
  seconds: number,
  max: number,
  rate: number,
): number | null {
  if (Deno.build.os !== "linux") return null;
  let lib: Deno.DynamicLibrary<typeof LIBC>;
  try {
    lib = Deno.dlopen("libc.so.6", LIBC);
  } catch {
    return null;
  }
  const fd = lib.symbols.socket(2, /* AF_INET */ 2, /* SOCK_DGRAM */ 0);
  if (fd < 0) return null;
  const addr = new Uint8Array(16);
  const av = new DataView(addr.buffer);
  av.setUint16(0, 2, true);
  av.setUint16(2, port, false);
  addr.set([127, 0, 0, 1], 4);
  if (lib.symbols.connect(fd, addr, 16) !== 0) return null;

  // Every buffer the kernel reads is a large one allocated here: V8 keeps
  // small typed arrays (under 64 bytes) on its heap, where they move.
  const kinds = garbage();
  const data = new Uint8Array(kinds.reduce((n, k) => n + k.length, 0));
  const ptr = (b: Uint8Array) =>
    BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b as BufferSource)));
  const dataBase = ptr(data);
  const iovs = new Uint8Array(16 * kinds.length);
  const iv = new DataView(iovs.buffer);
  let at = 0;
  kinds.forEach((k, i) => {
    data.set(k, at);
    iv.setBigUint64(16 * i, dataBase + BigInt(at), true);
    iv.setBigUint64(16 * i + 8, BigInt(k.length), true);
    at += k.length;
  });
  const iovBase = ptr(iovs);
  // 16 more than a batch: each call starts where the last one stopped in
  // the cycle of kinds, so the mix stays even whatever the batch sizes.
  const msgs = new Uint8Array(64 * (BATCH + 16));
  const mv = new DataView(msgs.buffer);
  for (let i = 0; i < BATCH + 16; i++) {
    mv.setBigUint64(64 * i + 16, iovBase + BigInt(16 * (i & 15)), true);
    mv.setBigUint64(64 * i + 24, 1n, true);
  }

  const start = performance.now();
  const end = start + seconds * 1000;
  let sent = 0;
  for (let now = start; now < end && sent < max; now = performance.now()) {
    const due = rate > 0 ? Math.floor(rate * (now - start) / 1000) : Infinity;
    const n = Math.min(BATCH, max - sent, due - sent);
    if (n <= 0) {
      pause(0.5);
      continue;
    }
    // A full send buffer or an ICMP error from a closed port: try again.
    const r = lib.symbols.sendmmsg(fd, msgs.subarray(64 * (sent & 15)), n, 0);
    if (r > 0) sent += r;
  }
  lib.symbols.close(fd);
  lib.close();
  return sent;
}

async function sendDgram(
  port: number,
  seconds: number,
  max: number,
): Promise<number> {
  const sock = dgram.createSocket("udp4");
  // Connected: no address lookup per datagram.
  await new Promise<void>((r) => sock.connect(port, "127.0.0.1", () => r()));
  const kinds = garbage();
  const end = performance.now() + seconds * 1000;
  let sent = 0;
  let inFlight = 0;
  const done = () => inFlight--;
  while (performance.now() < end && sent < max) {
    for (let i = 0; i < 256 && sent < max; i++, sent++) {
      inFlight++;
      sock.send(kinds[sent & 15]!, done);
    }
    while (inFlight > 4096) await new Promise((r) => setTimeout(r, 0));
  }
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 1));
  sock.close();
  return sent;
}

if (import.meta.main) {
  const port = Number(Deno.args[0]);
  const seconds = Number(Deno.args[1] ?? "5");
  const max = Number(Deno.args[2] ?? "1000000");
  const rate = Number(Deno.args[3] ?? "0");
  if (
    !Number.isInteger(port) || port <= 0 || port > 65535 || !(seconds > 0) ||
    !(max > 0) || !(rate >= 0)
  ) {
    console.error("usage: udp_flood.ts PORT SECONDS MAX [RATE]");
    Deno.exit(2);
  }
  const viaFfi = sendFfi(port, seconds, max, rate);
  const sent = viaFfi ?? await sendDgram(port, seconds, max);
  console.log(`sent ${sent} via ${viaFfi === null ? "dgram" : "sendmmsg"}`);
}

/** What a flood sent: the total, the rate, and how it was sent. */
export interface FloodResult {
  sent: number;
  perSecond: number;
  via: string;
}

/**
 * Floods 127.0.0.1:`port` from `senders` processes of this module, together
 * aiming at `rate` datagrams a second (0: as fast as they can) for `seconds`.
 */
export async function flood(
  port: number,
  o: {
    seconds: number;
    rate: number;
    senders: number;
    /** A command each sender runs under, e.g. ["taskset", "-c", "0"]. */
    prefix?: string[];
  },
): Promise<FloodResult> {
  const prefix = o.prefix ?? [];
  const each = o.rate > 0 ? Math.ceil(o.rate / o.senders) : 0;
  const outs = await Promise.all(
    Array.from(
      { length: o.senders },
      () =>
        new Deno.Command(prefix[0] ?? Deno.execPath(), {
          args: [
            ...(prefix.length > 0 ? [...prefix.slice(1), Deno.execPath()] : []),
            "run",
            "--allow-net",
            "--allow-ffi",
            new URL(import.meta.url).pathname,
            String(port),
            String(o.seconds),
            String(each > 0 ? each * o.seconds * 2 : 1e9),
            String(each),
          ],
          stdin: "null",
          stdout: "piped",
          stderr: "inherit",
        }).output(),
    ),
  );
  let sent = 0;
  let via = "";
  for (const out of outs) {
    const text = new TextDecoder().decode(out.stdout);
    const m = /sent (\d+) via (\w+)/.exec(text);
    if (out.code !== 0 || !m) {
      throw new Error(`flood sender failed (${out.code}): ${text}`);
    }
    sent += Number(m[1]);
    via = m[2]!;
  }
  return {
    sent,
    // Each sender counts its own SECONDS, which start when it is running.
    perSecond: Math.round(sent / o.seconds),
    via,
  };
}
