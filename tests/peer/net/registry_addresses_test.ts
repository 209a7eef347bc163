import { assertEquals } from "../../helpers/assert.ts";
import {
  addressKey,
  expandTargets,
  rotate,
} from "../../../peer/net/registry_addresses.ts";

const base = { host: "h1", port: 15600, home: "/tmp/h" };

Deno.test("rotate starts anywhere and wraps round", () => {
  assertEquals(rotate([1, 2, 3], 0), [1, 2, 3]);
  assertEquals(rotate([1, 2, 3], 2), [3, 1, 2]);
  assertEquals(rotate([1, 2, 3], 4), [2, 3, 1]);
  assertEquals(rotate([1, 2, 3], -1), [3, 1, 2]);
  assertEquals(rotate([], 3), []);
});

Deno.test("every address of a list is a target, each knowing the others", async () => {
  const asked: string[] = [];
  const targets = await expandTargets(
    { ...base, host: "10.0.0.1", alternates: [{ host: "10.0.0.2", port: 2 }] },
    (h) => {
      asked.push(h);
      return Promise.resolve([]);
    },
  );
  assertEquals(targets.map(addressKey), ["10.0.0.1:15600", "10.0.0.2:2"]);
  assertEquals(asked, [], "IP addresses are not looked up");
  for (const t of targets) {
    assertEquals(t.alternates, [
      { host: "10.0.0.1", port: 15600 },
      { host: "10.0.0.2", port: 2 },
    ]);
  }
});

Deno.test("a name with several addresses becomes one target per address, trusted by the name", async () => {
  const targets = await expandTargets(
    { ...base, host: "chat.example.org" },
    () => Promise.resolve(["192.0.2.1", "192.0.2.2", "2001:db8::1"]),
  );
  assertEquals(targets.map((t) => [t.host, t.dialHost, t.port]), [
    ["chat.example.org", "192.0.2.1", 15600],
    ["chat.example.org", "192.0.2.2", 15600],
    ["chat.example.org", "2001:db8::1", 15600],
  ]);
});

Deno.test("a name with one address (or none in DNS) is dialled by name", async () => {
  for (const records of [[], ["192.0.2.1"]]) {
    const targets = await expandTargets(
      { ...base, host: "chat.example.org" },
      () => Promise.resolve(records),
    );
    assertEquals(targets.map((t) => [t.host, t.dialHost]), [
      ["chat.example.org", undefined],
    ]);
  }
});
