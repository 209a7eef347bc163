/** IP addresses and prefixes as text (common/ip.ts). */
import { assertEquals } from "../helpers/assert.ts";
import { addressBits, isIpPrefix } from "../../common/ip.ts";

Deno.test("isIpPrefix takes addresses and address/length prefixes of both families", () => {
  for (
    const good of [
      "127.0.0.0/8",
      "10.1.2.3",
      "0.0.0.0/0",
      "::1/128",
      "::1",
      "fd00::/8",
      "2001:db8::/32",
      "::ffff:10.0.0.1",
    ]
  ) {
    assertEquals(isIpPrefix(good), true, good);
  }
  for (
    const bad of [
      "",
      "localhost",
      "10.0.0.0/33",
      "10.0.0.0/",
      "10.0.0.0/8/8",
      "10.0.0/8",
      "256.0.0.1",
      "::1/129",
      "fd00::/x",
      "1:2:3:4:5:6:7:8:9",
    ]
  ) {
    assertEquals(isIpPrefix(bad), false, bad);
  }
});

Deno.test("an IPv4-mapped IPv6 address has the bits of its IPv4 address", () => {
  assertEquals(addressBits("::ffff:10.0.0.1"), addressBits("10.0.0.1"));
  assertEquals(addressBits("[::1]")?.length, 128);
  assertEquals(addressBits("nope"), null);
});
