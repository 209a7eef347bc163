/**
 * The device keys a session remembers for a moment: a burst of offline
 * messages asks the registry once, lookups at the same time share one
 * request, `fresh` and the end of the moment ask again, failures are not
 * remembered.
 */
import { DeviceKeysCache } from "../../../peer/net/mod.ts";
import type { DeviceKeysSource } from "../../../peer/net/mod.ts";
import { assertEquals, assertRejects } from "../../helpers/assert.ts";

function source(): DeviceKeysSource & { asked: string[]; fail: boolean } {
  const s = {
    asked: [] as string[],
    fail: false,
    request(_type: "device_keys", fields: { user: string }) {
      s.asked.push(fields.user);
      if (s.fail) return Promise.reject(new Error("registry gone"));
      return Promise.resolve({
        devices: [
          { name: "b", sign: "s2", dh: "d2", created_at: "t" },
          { name: "a", sign: "s1", dh: "d1", created_at: "t" },
        ],
      });
    },
  };
  return s as unknown as DeviceKeysSource & { asked: string[]; fail: boolean };
}

Deno.test("device keys are asked for once per moment and per user", async () => {
  let now = 1_000;
  const cache = new DeviceKeysCache(15_000, () => now);
  const src = source();
  const all = await Promise.all(
    Array.from({ length: 50 }, () => cache.get(src, "bob")),
  );
  assertEquals(src.asked, ["bob"], "fifty lookups at once share one request");
  assertEquals(all[49]!.map((d) => d.name), ["a", "b"], "sorted by name");
  await cache.get(src, "BOB");
  assertEquals(src.asked.length, 1, "names are case-insensitive");
  await cache.get(src, "carol");
  assertEquals(src.asked, ["bob", "carol"]);
  await cache.get(src, "bob", { fresh: true });
  assertEquals(src.asked.length, 3, "fresh asks again");
  now += 14_999;
  await cache.get(src, "bob");
  assertEquals(src.asked.length, 3, "still within the moment");
  now += 1;
  await cache.get(src, "bob");
  assertEquals(src.asked.length, 4, "the moment is over");
});

Deno.test("a failed device keys lookup is not remembered", async () => {
  const cache = new DeviceKeysCache(15_000, () => 0);
  const src = source();
  src.fail = true;
  await assertRejects(() => cache.get(src, "bob"), /registry gone/);
  src.fail = false;
  assertEquals((await cache.get(src, "bob")).length, 2);
  assertEquals(src.asked.length, 2);
});
