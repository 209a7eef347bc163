/**
 * Contact verification (peer/net/contacts.ts) over real endpoints, a real
 * registry and real P2P links: keys pinned at first contact and proved in
 * every handshake, the same safety number on both sides, and a registry
 * patched (in this test only) to lie about a user's device keys — detected
 * and refused for a verified contact, announced for a pinned one — a new
 * device announced, and a link without a device proof refused.
 */
import { join } from "node:path";
import { silentLogger } from "../../../common/log.ts";
import {
  ContactError,
  type ContactNotice,
  Contacts,
  type Credentials,
  Device,
  Endpoint,
  LinkError,
  type P2PLink,
} from "../../../peer/net/mod.ts";
import { SqliteStore } from "../../../registry/sqlite_store.ts";
import type { DeviceRecord, Store } from "../../../registry/store.ts";
import { base64url, deviceProofPayload } from "../../../wire/mod.ts";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import {
  startRegistry,
  type TestRegistry,
  until,
} from "../../helpers/registry.ts";

/**
 * A registry whose answers about some users' devices are replaced: the
 * lie a compromised registry would tell. Logins still check the real keys.
 */
async function lyingRegistry() {
  const dir = await Deno.makeTempDir({ prefix: "chat-contacts-" });
  const real = SqliteStore.open(join(dir, "registry.db"));
  const lies = new Map<string, DeviceRecord[]>();
  const store = new Proxy(real, {
    get(target, prop) {
      if (prop === "devicesOf") {
        return (user: string) =>
          lies.has(user)
            ? Promise.resolve(lies.get(user)!)
            : target.devicesOf(user);
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as Store;
  const reg = await startRegistry({ dir, store });
  return {
    reg,
    /** From now on the registry serves fresh keys of its own for `user`'s devices. */
    async lie(user: string): Promise<void> {
      const truth = await real.devicesOf(user);
      lies.set(
        user,
        await Promise.all(truth.map(async (d) => {
          const fake = await Device.create(dir, "fake", user, d.name);
          return { ...d, signKey: fake.signPublic, dhKey: fake.dhPublic };
        })),
      );
    },
    truth(user: string): void {
      lies.delete(user);
    },
    async [Symbol.asyncDispose]() {
      await reg.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

interface Peer extends AsyncDisposable {
  endpoint: Endpoint;
  contacts: Contacts;
  notices: ContactNotice[];
  inbound: P2PLink[];
  home: string;
}

/** A listening endpoint of `user` on a machine (`home`) that is one of its devices. */
async function peer(
  reg: TestRegistry,
  user: string,
  home: string,
  o: { device?: string | null; signup?: boolean } = {},
): Promise<Peer> {
  const notices: ContactNotice[] = [];
  const inbound: P2PLink[] = [];
  const registry = `127.0.0.1:${reg.port}`;
  const credentials: Credentials = { user, password: `${user}-password` };
  if (o.device !== null) {
    credentials.device = await Device.load(home, registry, user) ??
      await Device.create(home, registry, user, o.device ?? `${user}-pc`);
  }
  const endpoint = await Endpoint.open({
    target: { ...reg.target(), home },
    credentials,
    kind: "peer",
    listen: { port: 0, host: "127.0.0.1" },
    signup: o.signup ?? true,
    replace: true,
    home,
    logger: silentLogger,
    onInbound: (link) => inbound.push(link),
    onContact: (n) => notices.push(n),
  });
  return {
    endpoint,
    contacts: endpoint.contacts!,
    notices,
    inbound,
    home,
    [Symbol.asyncDispose]: () => endpoint.close(),
  };
}

async function refused(p: Promise<unknown>): Promise<string> {
  try {
    const r = await p;
    if (r && typeof r === "object" && "link" in r) {
      (r as { link: P2PLink }).link.conn.close();
    }
  } catch (err) {
    if (err instanceof LinkError) return err.message;
    throw err;
  }
  throw new Error("the link was opened");
}

async function linked(from: Peer, to: Peer, user: string): Promise<void> {
  const before = to.inbound.length;
  const { link } = await from.endpoint.links.open(user, "chat");
  await until(() => to.inbound.length > before, "the inbound link");
  link.conn.close();
}

Deno.test("contact verification", async (t) => {
  await using w = await lyingRegistry();
  const homes = await Deno.makeTempDir({ prefix: "chat-contacts-homes-" });
  const home = (n: string) => join(homes, n);
  await using alice = await peer(w.reg, "alice", home("alice"));
  await using bob = await peer(w.reg, "bob", home("bob"));
  await using carol = await peer(w.reg, "carol", home("carol"));
  let number = "";
  try {
    await t.step(
      "first contact pins the other side's device keys, 0600",
      async () => {
        await linked(alice, bob, "bob");
        await until(
          () => bob.notices.some((n) => n.user === "alice"),
          "bob pinned alice",
        );
        assertEquals(alice.notices, [{
          change: "pinned",
          user: "bob",
          devices: ["bob-pc"],
          verified: false,
          refused: false,
        }]);
        const path = Contacts.pathOf(
          home("alice"),
          `127.0.0.1:${w.reg.port}`,
          "alice",
        );
        assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
        assertEquals(
          (await Deno.stat(join(path, ".."))).mode! & 0o777,
          0o700,
        );
        const pinned = JSON.parse(await Deno.readTextFile(path));
        const bobDevice = await Device.load(
          home("bob"),
          `127.0.0.1:${w.reg.port}`,
          "bob",
        );
        assertEquals(
          pinned.contacts.bob.devices["bob-pc"].sign,
          bobDevice!.signPublic,
        );
        // A second link is checked against the pins, and announces nothing.
        await linked(bob, alice, "alice");
        assertEquals(alice.notices.length, 1);
      },
    );

    await t.step("both sides compute the same safety number", async () => {
      const a = await alice.contacts.verify("bob", false);
      number = a.safety_number;
      const b = await bob.contacts.verify("alice", false);
      assertEquals(a.safety_number, b.safety_number);
      assert(/^(\d{5} ){3}\d{5}$/.test(a.safety_number), a.safety_number);
      assertEquals([a.mine, a.theirs], [["alice-pc"], ["bob-pc"]]);
      assertEquals([a.verified, a.confirmed], [false, false]);
      const other = await alice.contacts.verify("carol", false);
      assert(other.safety_number !== a.safety_number);
      const done = await alice.contacts.verify("bob", true);
      assertEquals([done.verified, done.confirmed], [true, true]);
      assertEquals(done.safety_number, a.safety_number);
      await linked(alice, bob, "bob");
    });

    await t.step(
      "a registry lying about a verified contact's keys is refused both ways",
      async () => {
        await w.lie("bob");
        const why = await refused(alice.endpoint.links.open("bob", "chat"));
        assertIncludes(why, "changed since you verified");
        const loud = alice.notices.filter((n) => n.change === "key_changed");
        assertEquals(loud, [{
          change: "key_changed",
          user: "bob",
          devices: ["bob-pc"],
          verified: true,
          refused: true,
        }]);
        // bob's link into alice is refused by alice's check, and announced once.
        const before = alice.inbound.length;
        await refused(bob.endpoint.links.open("alice", "chat"));
        assertEquals(alice.inbound.length, before);
        assertEquals(
          alice.notices.filter((n) => n.change === "key_changed").length,
          1,
        );
        // Offline messages to or from bob pass the same check.
        let err: unknown = null;
        await alice.contacts.check("bob").catch((e) => err = e);
        assert(err instanceof ContactError && err.code === "changed");
        // /verify shows the number of the keys now vouched for, and the change.
        const v = await alice.contacts.verify("bob", false);
        assertEquals([v.verified, v.changed], [true, true]);
        assert(v.safety_number !== number, "the numbers differ");
        // bob's own half comes from his device file: he sees the lie too.
        err = null;
        await bob.contacts.verify("alice", false).catch((e) => err = e);
        assert(err instanceof ContactError, String(err));
        assertIncludes(err.message, "does not list this machine's keys");
      },
    );

    await t.step(
      "once the registry tells the truth again the verified pins work",
      async () => {
        w.truth("bob");
        await linked(alice, bob, "bob");
        assertEquals(
          (await alice.contacts.verify("bob", false)).changed,
          false,
        );
      },
    );

    await t.step(
      "a lie about a pinned contact is announced, and its link proves nothing",
      async () => {
        await linked(alice, carol, "carol");
        await w.lie("carol");
        const why = await refused(alice.endpoint.links.open("carol", "chat"));
        assertIncludes(why, "did not prove the key of device 'carol-pc'");
        const n = alice.notices.filter((n) => n.user === "carol").at(-1)!;
        assertEquals(
          [n.change, n.verified, n.refused],
          ["key_changed", false, false],
        );
        w.truth("carol");
      },
    );

    await t.step(
      "a new device of a contact is announced; a verified one waits for verification",
      async () => {
        await linked(carol, bob, "bob");
        // bob adds his desk: a password login from another machine.
        {
          await using _desk = await peer(w.reg, "bob", home("bob-desk"), {
            device: "bob-desk",
            signup: false,
          });
        }
        // bob is back on his pc (the desk's login replaced him there).
        await using back = await peer(w.reg, "bob", home("bob"), {
          signup: false,
        });
        // carol's pins just follow (she is not verified).
        await linked(carol, back, "bob");
        const c = carol.notices.filter((n) => n.user === "bob").at(-1)!;
        assertEquals([c.change, c.devices, c.refused], [
          "new_device",
          ["bob-desk"],
          false,
        ]);
        const why = await refused(alice.endpoint.links.open("bob", "chat"));
        assertIncludes(why, "changed since you verified");
        const a = alice.notices.at(-1)!;
        assertEquals([a.change, a.devices, a.refused], [
          "new_device",
          ["bob-desk"],
          true,
        ]);
        const v = await alice.contacts.verify("bob", false);
        assertEquals(v.theirs, ["bob-desk", "bob-pc"]);
        const mirror = await back.contacts.verify("alice", false);
        assertEquals(mirror.safety_number, v.safety_number);
        assertEquals(mirror.mine, ["bob-pc", "bob-desk"]);
        await alice.contacts.verify("bob", true);
        await linked(alice, back, "bob");
      },
    );
  } finally {
    await Deno.remove(homes, { recursive: true }).catch(() => {});
  }
});

Deno.test("a link without the device proof a contact has pinned is refused, and a proof is bound to its ticket", async () => {
  await using w = await lyingRegistry();
  const homes = await Deno.makeTempDir({ prefix: "chat-contacts-homes-" });
  try {
    await using alice = await peer(w.reg, "alice", join(homes, "alice"));
    {
      await using bob = await peer(w.reg, "bob", join(homes, "bob"));
      await linked(bob, alice, "alice");
    }
    // bob again, from a machine that is not one of his devices.
    await using bare = await peer(w.reg, "bob", join(homes, "bare"), {
      device: null,
      signup: false,
    });
    const before = alice.inbound.length;
    await refused(bare.endpoint.links.open("alice", "chat"));
    assertEquals(alice.inbound.length, before);
    // A proof made for one ticket does not pass for another.
    const device = (await Device.load(
      join(homes, "bob"),
      `127.0.0.1:${w.reg.port}`,
      "bob",
    ))!;
    const cert = "ab".repeat(32);
    const sig = base64url(
      await device.sign(await deviceProofPayload("hello", "ticket-1", cert)),
    );
    const proof = { device: device.name, sig };
    assertEquals(
      await alice.contacts.checkLink(
        "bob",
        proof,
        await deviceProofPayload("hello", "ticket-1", cert),
      ),
      null,
    );
    for (
      const other of [
        await deviceProofPayload("hello", "ticket-2", cert),
        await deviceProofPayload("welcome", "ticket-1", cert),
        await deviceProofPayload("hello", "ticket-1", "cd".repeat(32)),
      ]
    ) {
      assertIncludes(
        (await alice.contacts.checkLink("bob", proof, other)) ?? "accepted",
        "did not prove",
      );
    }
  } finally {
    await Deno.remove(homes, { recursive: true }).catch(() => {});
  }
});
