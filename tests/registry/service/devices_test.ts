/**
 * Devices (registry/handlers/devices.ts and the device login of
 * accounts.ts): a password login adds the machine, a device login signs a
 * fresh challenge of its own connection and the registry's certificate, a
 * replayed or relayed signature is refused, revoking ends live sessions,
 * and the password can be changed.
 */
import assert from "node:assert/strict";
import { base64url, deviceLoginPayload } from "../../../wire/mod.ts";
import type { SessionKind } from "../../../registry/sessions.ts";
import { derivations } from "../../../registry/passwords.ts";
import {
  type Conn,
  type Fields,
  Fixture,
  FIXTURE_FINGERPRINT,
  loginFields,
  PASSWORD,
} from "./support.ts";

/** A device's key pairs, as a peer keeps them. */
interface TestDevice {
  name: string;
  sign: CryptoKeyPair;
  signPublic: string;
  dhPublic: string;
}

async function newDevice(name: string): Promise<TestDevice> {
  const sign = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const dh = await crypto.subtle.generateKey({ name: "X25519" }, true, [
    "deriveBits",
  ]) as CryptoKeyPair;
  const raw = async (k: CryptoKey) =>
    base64url(new Uint8Array(await crypto.subtle.exportKey("raw", k)));
  return {
    name,
    sign,
    signPublic: await raw(sign.publicKey),
    dhPublic: await raw(dh.publicKey),
  };
}

/** A password login of `user` that adds `d`. */
function enrolFields(
  user: string,
  d: TestDevice,
  kind: SessionKind = "tool",
): Fields<"login"> {
  return {
    ...loginFields(user, { kind }),
    device: d.name,
    device_sign: d.signPublic,
    device_dh: d.dhPublic,
  };
}

/** Signs a device login of `user` over `nonce` for the registry `registry`. */
async function signedFields(
  user: string,
  d: TestDevice,
  nonce: string,
  kind: SessionKind = "tool",
  registry = FIXTURE_FINGERPRINT,
): Promise<Fields<"login">> {
  const { password: _, ...base } = loginFields(user, { kind });
  const payload = deviceLoginPayload({
    registry,
    nonce,
    user,
    device: d.name,
    kind,
    cert: "",
    key: base.key ?? "",
  });
  const sig = base64url(
    new Uint8Array(
      await crypto.subtle.sign("Ed25519", d.sign.privateKey, payload),
    ),
  );
  return { ...base, device: d.name, sig };
}

/** A fresh connection that logs in with the device key. */
async function deviceLogin(
  fx: Fixture,
  user: string,
  d: TestDevice,
): Promise<Conn> {
  const c = await fx.greeted();
  const { nonce } = await c.request("challenge", {});
  await c.request("login", await signedFields(user, d, nonce));
  return c;
}

Deno.test("device login", async (t) => {
  using fx = await Fixture.create();
  await fx.signup("alice", "bob");
  const laptop = await newDevice("Laptop");

  await t.step("a password login adds the machine as a device", async () => {
    const c = await fx.greeted();
    const r = await c.request("login", enrolFields("alice", laptop));
    assert.equal(r.device, "laptop");
    const list = await c.request("devices", {});
    assert.equal(list.devices.length, 1);
    assert.equal(list.devices[0]!.name, "laptop");
    assert.equal(list.devices[0]!.current, true);
    assert.equal(fx.logsWith("device added user=alice").length, 1);
    await c.disconnect();
  });

  await t.step("a signed challenge logs in without scrypt", async () => {
    const before = derivations.done;
    fx.clock.advance(5_000);
    const c = await deviceLogin(fx, "alice", laptop);
    assert.equal(derivations.done, before, "no password derivation ran");
    assert.equal(c.state.session?.device, "laptop");
    // Written in one batch with the next sweep.
    const at = fx.clock.now();
    fx.clock.advance(1_000);
    await fx.service.sweep(fx.clock.now());
    const d = (await fx.store.getDevice("alice", "laptop"))!;
    assert.equal(d.lastUsed, at);
    await c.disconnect();
  });

  await t.step("a peer session signs its certificate and key", async () => {
    const c = await fx.greeted();
    const { nonce } = await c.request("challenge", {});
    const fields = await signedFields("alice", laptop, nonce, "peer");
    // Signed for a tool login but sent as a peer one: the kind is covered.
    const tool = await signedFields("alice", laptop, nonce, "tool");
    await c.refused(
      "login",
      { ...fields, sig: tool.sig! },
      "auth",
      /signature of device 'laptop' does not match/,
    );
    await c.disconnect();
  });

  await t.step("a replayed signature is refused", async () => {
    const c = await fx.greeted();
    const { nonce } = await c.request("challenge", {});
    const fields = await signedFields("alice", laptop, nonce);
    await c.request("login", fields);
    await c.request("logout", {});
    // The same signature again on the same connection: the nonce is spent.
    await c.refused("login", fields, "state", /no fresh challenge/);
    // And on another connection, which has its own nonce.
    const other = await fx.greeted();
    await other.request("challenge", {});
    await other.refused("login", fields, "auth", /does not match/);
    await c.disconnect();
    await other.disconnect();
  });

  await t.step(
    "a signature made for another registry (a relay) is refused",
    async () => {
      const c = await fx.greeted();
      const { nonce } = await c.request("challenge", {});
      // The peer was talking to a registry with another certificate, which
      // passed our nonce on: the peer signed that registry's fingerprint.
      const relayed = await signedFields(
        "alice",
        laptop,
        nonce,
        "tool",
        "cd".repeat(32),
      );
      await c.refused("login", relayed, "auth", /does not match/);
      await c.disconnect();
    },
  );

  await t.step("a challenge expires", async () => {
    const c = await fx.greeted();
    const { nonce } = await c.request("challenge", {});
    fx.clock.advance(21_000);
    await c.refused(
      "login",
      await signedFields("alice", laptop, nonce),
      "state",
      /no fresh challenge/,
    );
    await c.disconnect();
  });

  await t.step("another user's device is not known", async () => {
    const c = await fx.greeted();
    const { nonce } = await c.request("challenge", {});
    await c.refused(
      "login",
      await signedFields("bob", laptop, nonce),
      "auth",
      /device 'laptop' of bob is not known/,
    );
    await c.disconnect();
  });

  await t.step(
    "another machine of the same name gets a number and takes nothing over",
    async () => {
      const live = await deviceLogin(fx, "alice", laptop);
      const twin = await newDevice("laptop");
      const c = await fx.greeted();
      const r = await c.request("login", enrolFields("alice", twin));
      assert.equal(r.device, "laptop-2");
      assert.ok(live.state.session, "the first laptop's session lives on");
      assert.equal(
        (await fx.store.getDevice("alice", "laptop"))?.signKey,
        laptop.signPublic,
      );
      await c.disconnect();
      await live.disconnect();
    },
  );

  await t.step("a login needs a password or a signature", async () => {
    const c = await fx.greeted();
    const { password: _, ...bare } = loginFields("alice", { kind: "tool" });
    await c.refused("login", bare, "invalid", /needs a password/);
    await c.refused(
      "login",
      { ...loginFields("alice", { kind: "tool" }), device: "x" },
      "invalid",
      /device_sign and device_dh/,
    );
    await c.disconnect();
  });
});

Deno.test("revoking a device ends its live sessions at once", async () => {
  using fx = await Fixture.create();
  await fx.signup("alice");
  const laptop = await newDevice("laptop");
  const phone = await newDevice("phone");
  const first = await fx.greeted();
  await first.request("login", enrolFields("alice", laptop, "peer"));
  const admin = await fx.greeted();
  await admin.request("login", enrolFields("alice", phone));
  assert.deepEqual(
    (await admin.request("devices", {})).devices.map((d) => [
      d.name,
      d.current,
    ]),
    [["laptop", false], ["phone", true]],
  );
  assert.deepEqual(
    await admin.request("device_revoke", { name: "LAPTOP" }),
    { name: "laptop", sessions: 1 },
  );
  assert.deepEqual(first.events("session_ended"), [
    { type: "session_ended", reason: "revoked" },
  ]);
  assert.equal(first.link.closedBy, "closeAfterFlush");
  assert.equal(first.state.session, null);
  assert.equal(fx.service.sessions.peerOf("alice"), undefined);
  // Its key no longer logs in.
  const again = await fx.greeted();
  const { nonce } = await again.request("challenge", {});
  await again.refused(
    "login",
    await signedFields("alice", laptop, nonce),
    "auth",
    /not known to this registry/,
  );
  await admin.refused(
    "device_revoke",
    { name: "laptop" },
    "not_found",
    /no device named 'laptop'/,
  );
  // Revoking the device one is on ends that session too, after its reply.
  assert.deepEqual(
    await admin.request("device_revoke", { name: "phone" }),
    { name: "phone", sessions: 0 },
  );
  assert.equal(admin.state.session, null);
  await again.disconnect();
  await admin.disconnect();
});

Deno.test("device_logout ends a device's other sessions and keeps it", async () => {
  using fx = await Fixture.create();
  await fx.signup("alice");
  const laptop = await newDevice("laptop");
  const peer = await fx.greeted();
  await peer.request("login", enrolFields("alice", laptop, "peer"));
  const tool = await deviceLogin(fx, "alice", laptop);
  assert.deepEqual(
    await tool.request("device_logout", { name: "laptop" }),
    { name: "laptop", sessions: 1 },
  );
  assert.equal(peer.state.session, null);
  assert.ok(tool.state.session, "the asking session stays");
  assert.ok(await fx.store.getDevice("alice", "laptop"));
  await peer.disconnect();
  await tool.disconnect();
});

Deno.test("a password login adds at most maxDevicesPerUser devices", async () => {
  using fx = await Fixture.create({ maxDevicesPerUser: 1 });
  await fx.signup("alice");
  const c = await fx.greeted();
  await c.request("login", enrolFields("alice", await newDevice("one")));
  await c.request("logout", {});
  await c.refused(
    "login",
    enrolFields("alice", await newDevice("two")),
    "limit",
    /alice has 1 devices \(the limit is 1\)/,
  );
  await c.disconnect();
});

Deno.test("passwd changes the password after checking the old one", async () => {
  using fx = await Fixture.create();
  await fx.signup("alice");
  const c = await fx.login("alice", { kind: "tool" });
  await c.refused(
    "passwd",
    { old: "not the password", new: "a new password" },
    "auth",
    /wrong password for alice/,
  );
  await c.refused(
    "passwd",
    { old: PASSWORD, new: "short" },
    "invalid",
    /too short/,
  );
  await c.request("passwd", { old: PASSWORD, new: "a new password" });
  assert.equal(fx.logsWith("password changed user=alice").length, 1);
  const old = await fx.greeted();
  await old.refused(
    "login",
    loginFields("alice", { kind: "tool" }),
    "auth",
    /wrong password/,
  );
  await old.request("login", {
    ...loginFields("alice", { kind: "tool" }),
    password: "a new password",
  });
  await c.disconnect();
  await old.disconnect();
});
