/**
 * Staggered racing (peer/net/race.ts) on a manual clock, and the candidate
 * endpoints a peer reports (peer/net/candidates.ts).
 */
import { localCandidates } from "../../../peer/net/candidates.ts";
import { RaceError, raceStaggered } from "../../../peer/net/race.ts";
import { MAX_CANDIDATES } from "../../../wire/mod.ts";
import { assert, assertEquals } from "../../helpers/assert.ts";
import { ManualClock } from "../../helpers/clock.ts";

/** An attempt the test settles by hand. */
function attempt<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  let started = false;
  const p = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return {
    run: () => {
      started = true;
      return p;
    },
    get started() {
      return started;
    },
    resolve,
    reject,
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("staggered race", async (t) => {
  await t.step(
    "the next attempt starts after the stagger; the first success wins; a late one is disposed of",
    async () => {
      const clock = new ManualClock(0);
      const [a, b] = [attempt<string>(), attempt<string>()];
      const disposed: string[] = [];
      const won = raceStaggered(
        [a.run, b.run],
        250,
        clock,
        (v) => disposed.push(v),
      );
      assert(a.started && !b.started);
      clock.advance(249);
      assert(!b.started);
      clock.advance(1);
      assert(b.started);
      b.resolve("b");
      assertEquals(await won, "b");
      a.resolve("a");
      await tick();
      assertEquals(disposed, ["a"]);
    },
  );

  await t.step("a failure starts the next at once", async () => {
    const clock = new ManualClock(0);
    const [a, b] = [attempt<string>(), attempt<string>()];
    const won = raceStaggered([a.run, b.run], 10_000, clock, () => {});
    a.reject(new Error("refused"));
    await tick();
    assert(b.started, "no need to wait out the stagger");
    b.resolve("b");
    assertEquals(await won, "b");
  });

  await t.step("all failing rejects with every error, in order", async () => {
    const clock = new ManualClock(0);
    const [a, b] = [attempt<string>(), attempt<string>()];
    const won = raceStaggered([a.run, b.run], 5, clock, () => {});
    clock.advance(5);
    b.reject(new Error("two"));
    a.reject(new Error("one"));
    try {
      await won;
      throw new Error("resolved");
    } catch (err) {
      assert(err instanceof RaceError);
      assertEquals(
        err.errors.map((e) => (e as Error).message),
        ["one", "two"],
      );
    }
    try {
      await raceStaggered([], 5, clock, () => {});
    } catch (err) {
      assert(err instanceof RaceError);
      assertEquals(err.message, "nothing to try");
    }
  });
});

Deno.test("candidates: IPv4 interface addresses with the port, no loopback or link-local, at most MAX_CANDIDATES", () => {
  const iface = (address: string, family: "IPv4" | "IPv6" = "IPv4") => ({
    family,
    name: "eth0",
    address,
    netmask: "",
    scopeid: null,
    cidr: `${address}/24`,
    mac: "00:00:00:00:00:00",
  });
  const list = () => [
    iface("127.0.0.1"),
    iface("10.1.0.2"),
    iface("169.254.3.4"),
    iface("fe80::1", "IPv6"),
    iface("2001:db8::5", "IPv6"),
    iface("10.1.0.2"),
    iface("192.168.1.20"),
  ];
  assertEquals(localCandidates(4000, "0.0.0.0", list), [
    { host: "10.1.0.2", port: 4000 },
    { host: "192.168.1.20", port: 4000 },
  ]);
  assertEquals(localCandidates(4000, "::", list), [
    { host: "10.1.0.2", port: 4000 },
    { host: "2001:db8::5", port: 4000 },
    { host: "192.168.1.20", port: 4000 },
  ]);
  // Listening on one address: that one, unless it is loopback.
  assertEquals(localCandidates(4000, "10.9.0.1", list), [{
    host: "10.9.0.1",
    port: 4000,
  }]);
  assertEquals(localCandidates(4000, "127.0.0.2", list), []);
  assertEquals(localCandidates(0, "0.0.0.0", list), []);
  const many = () =>
    Array.from({ length: 20 }, (_, i) => iface(`10.0.0.${i + 1}`));
  assertEquals(localCandidates(1, "0.0.0.0", many).length, MAX_CANDIDATES);
  assertEquals(
    localCandidates(1, "0.0.0.0", () => {
      throw new Deno.errors.NotCapable("no sys permission");
    }),
    [],
  );
});
