/** The kernel's drop count at a UDP port, as the registry's log reports it. */
import dgram from "node:dgram";
import { assert, assertEquals } from "../helpers/assert.ts";
import { dropsIn, kernelUdpDrops } from "../../registry/udp_drops.ts";

const SAMPLE =
  `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  612: 0100007F:3C8C 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 81234 2 0000000000000000 4711
  613: 00000000:3C8D 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 81235 2 0000000000000000 9
  614: 0100007F:13C8C 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 81236 2 0000000000000000 5
`;

Deno.test("the drops of the sockets at one port are read from /proc/net/udp", () => {
  assertEquals(dropsIn(SAMPLE, 0x3c8c), 4711);
  assertEquals(dropsIn(SAMPLE, 0x3c8d), 9);
  assertEquals(dropsIn(SAMPLE, 1), 0);
  assertEquals(dropsIn("", 0x3c8c), 0);
});

Deno.test("a bound UDP socket has a drop count on Linux", async () => {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  try {
    const n = kernelUdpDrops(s.address().port);
    if (Deno.build.os === "linux") {
      assert(n !== null && n >= 0, `drops: ${n}`);
    } else {
      assertEquals(n, null);
    }
  } finally {
    s.close();
  }
});
