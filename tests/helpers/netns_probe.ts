/**
 * Tiny TCP and UDP probes run inside lab namespaces (see netns.ts). Each
 * prints one JSON object per line on stdout:
 *
 * - `tcp-serve PORT`: listens on 0.0.0.0:PORT; prints `{"ready":PORT}`, then
 *   answers every connection with the address it came from and closes it.
 * - `tcp-dial HOST PORT TIMEOUT_MS [COUNT]`: connects COUNT times (default 1)
 *   and prints `{"ok":true,"local":"IP:PORT","seen":"IP:PORT"}` per connection
 *   or `{"ok":false,"error":"timeout"|"refused"|NAME}`.
 * - `udp-serve PORT`: the same over UDP, one reply per datagram.
 * - `udp-dial HOST PORT TIMEOUT_MS`: one datagram and its reply.
 *
 * Usage: deno run -A tests/helpers/netns_probe.ts COMMAND ARGS...
 */
import dgram from "node:dgram";

const enc = new TextEncoder();
const dec = new TextDecoder();

function print(value: unknown): void {
  Deno.stdout.writeSync(enc.encode(JSON.stringify(value) + "\n"));
}

function num(text: string | undefined, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${what} must be a whole number, got ${text}`);
    Deno.exit(2);
  }
  return n;
}

function timeout(ms: number): Promise<"timeout"> {
  return new Promise((resolve) => setTimeout(() => resolve("timeout"), ms));
}

function errorName(err: unknown): string {
  if (err instanceof Deno.errors.ConnectionRefused) return "refused";
  return err instanceof Error ? err.name : String(err);
}

async function tcpServe(port: number): Promise<void> {
  const listener = Deno.listen({ hostname: "0.0.0.0", port });
  print({ ready: (listener.addr as Deno.NetAddr).port });
  for await (const conn of listener) {
    const r = conn.remoteAddr as Deno.NetAddr;
    conn.write(enc.encode(`${r.hostname}:${r.port}\n`))
      .catch(() => {}) // The dialer left first: nothing to tell it.
      .finally(() => conn.close());
  }
}

async function tcpDialOnce(
  host: string,
  port: number,
  ms: number,
): Promise<Record<string, unknown>> {
  const deadline = timeout(ms);
  let conn: Deno.TcpConn;
  try {
    const c = await Promise.race([
      Deno.connect({ hostname: host, port }),
      deadline,
    ]);
    if (c === "timeout") return { ok: false, error: "timeout" };
    conn = c;
  } catch (err) {
    return { ok: false, error: errorName(err) };
  }
  try {
    const l = conn.localAddr as Deno.NetAddr;
    const buf = new Uint8Array(256);
    let text = "";
    while (!text.includes("\n")) {
      const n = await Promise.race([conn.read(buf), deadline]);
      if (n === "timeout") return { ok: false, error: "timeout" };
      if (n === null) return { ok: false, error: "closed" };
      text += dec.decode(buf.subarray(0, n));
    }
    return { ok: true, local: `${l.hostname}:${l.port}`, seen: text.trim() };
  } catch (err) {
    return { ok: false, error: errorName(err) };
  } finally {
    conn.close();
  }
}

function udpServe(port: number): void {
  const sock = dgram.createSocket("udp4");
  sock.on("message", (_msg, r) => {
    sock.send(enc.encode(`${r.address}:${r.port}`), r.port, r.address);
  });
  sock.bind(port, "0.0.0.0", () => print({ ready: sock.address().port }));
}

async function udpDial(host: string, port: number, ms: number): Promise<void> {
  const sock = dgram.createSocket("udp4");
  const reply = new Promise<string>((resolve) =>
    sock.on("message", (msg) => resolve(dec.decode(msg)))
  );
  await new Promise<void>((resolve) => sock.bind(0, "0.0.0.0", resolve));
  sock.send(enc.encode("probe"), port, host);
  const got = await Promise.race([reply, timeout(ms)]);
  const local = `${sock.address().address}:${sock.address().port}`;
  print(
    got === "timeout"
      ? { ok: false, error: "timeout" }
      : { ok: true, local, seen: got },
  );
  sock.close();
}

const [cmd, ...args] = Deno.args;
switch (cmd) {
  case "tcp-serve":
    await tcpServe(num(args[0], "PORT"));
    break;
  case "tcp-dial": {
    const [host, port, ms, count] = args;
    for (let i = 0; i < num(count ?? "1", "COUNT"); i++) {
      print(await tcpDialOnce(host!, num(port, "PORT"), num(ms, "TIMEOUT_MS")));
    }
    Deno.exit(0);
    break;
  }
  case "udp-serve":
    udpServe(num(args[0], "PORT"));
    break;
  case "udp-dial":
    await udpDial(args[0]!, num(args[1], "PORT"), num(args[2], "TIMEOUT_MS"));
    Deno.exit(0);
    break;
  default:
    console.error(
      "usage: netns_probe.ts tcp-serve|tcp-dial|udp-serve|udp-dial ARGS",
    );
    Deno.exit(2);
}
