/** Address keys and trusted prefixes (registry/address.ts). */
import assert from "node:assert/strict";
import { addressKey, inPrefixes } from "../../registry/address.ts";

Deno.test("an address key is the IPv4 address or the IPv6 /64", () => {
  const table: [string, string][] = [
    ["198.51.100.7", "198.51.100.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:db8:1:2::9", "2001:db8:1:2::/64"],
    ["2001:DB8:1:2::9", "2001:db8:1:2::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["::ffff:198.51.100.7", "198.51.100.7"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4::/64"],
    ["not an address", "not an address"],
  ];
  for (const [address, key] of table) {
    assert.equal(addressKey(address), key, address);
  }
});

Deno.test("trusted prefixes match by bits, IPv4 and IPv6 apart", () => {
  const loopback = ["127.0.0.0/8", "::1/128"];
  assert.ok(inPrefixes("127.0.0.1", loopback));
  assert.ok(inPrefixes("127.255.0.9", loopback));
  assert.ok(inPrefixes("::1", loopback));
  assert.ok(inPrefixes("::ffff:127.0.0.1", loopback));
  assert.ok(!inPrefixes("128.0.0.1", loopback));
  assert.ok(!inPrefixes("::2", loopback));
  assert.ok(inPrefixes("2001:db8::5", ["2001:db8::/32"]));
  assert.ok(inPrefixes("10.1.2.3", ["10.1.2.3"]));
  assert.ok(!inPrefixes("garbage", loopback));
});
