/**
 * A flood at a peer's P2P port, run as its own process by the reliability
 * tests (it needs --unsafely-ignore-certificate-errors: a stranger does not
 * know the peer's certificate, and the flood does not care):
 *
 *   deno run --allow-net --unsafely-ignore-certificate-errors \
 *     tests/helpers/p2p_flood.ts PORT CONNECTIONS HOLD_MS
 *
 * Opens CONNECTIONS TLS connections to 127.0.0.1:PORT, each announcing a
 * 1 MiB frame and sending 64 KiB of it and then nothing, holds them for
 * HOLD_MS, and prints one line: `opened N closed-by-peer K`.
 */
if (import.meta.main) {
  const [port, count, holdMs] = Deno.args.map(Number) as [
    number,
    number,
    number,
  ];
  if (!(port > 0) || !(count > 0) || !(holdMs >= 0)) {
    console.error("usage: p2p_flood.ts PORT CONNECTIONS HOLD_MS");
    Deno.exit(2);
  }
  const body = new Uint8Array(5 + 64 * 1024);
  new DataView(body.buffer).setUint32(0, 1024 * 1024);
  body[4] = 1;
  let opened = 0;
  let closed = 0;
  const conns: Deno.Conn[] = [];
  const one = async () => {
    let conn: Deno.TlsConn;
    try {
      conn = await Deno.connectTls({ hostname: "127.0.0.1", port });
      await conn.handshake();
      opened++;
      conns.push(conn);
    } catch {
      closed++;
      return;
    }
    try {
      let off = 0;
      while (off < body.length) off += await conn.write(body.subarray(off));
      // Anything the peer sends ends in its close; count that.
      const buf = new Uint8Array(1024);
      while ((await conn.read(buf)) !== null) { /* drop */ }
      closed++;
    } catch {
      closed++;
    }
  };
  const all: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    all.push(one());
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, holdMs));
  console.log(`opened ${opened} closed-by-peer ${closed}`);
  for (const c of conns) {
    try {
      c.close();
    } catch {
      // Closed by the peer.
    }
  }
  await Promise.race([
    Promise.all(all),
    new Promise((r) => setTimeout(r, 1000)),
  ]);
  Deno.exit(0);
}
