/**
 * Contact verification end to end with real processes: /verify in JSON mode
 * shows the same safety number on both sides, `chat verify NAME --confirm`
 * (logging in with the device key, no password) marks the contact verified,
 * and once the contact's device keys change (revoked and added again) the
 * change is an event and chats and offline messages are refused until
 * verified again.
 */
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { runChat, spawnPeer } from "../../helpers/peer_process.ts";
import { spawnRegistry } from "../../helpers/registry.ts";

Deno.test("verify a contact, and refuse it once its keys change", async (t) => {
  await using reg = await spawnRegistry();
  const aliceHome = await Deno.makeTempDir({ prefix: "chat-verify-alice-" });
  const bobHome = await Deno.makeTempDir({ prefix: "chat-verify-bob-" });
  const env = (home: string, extra: Record<string, string> = {}) => ({
    CHAT_HOME: home,
    CHAT_REGISTRY: `127.0.0.1:${reg.port}`,
    CHAT_REGISTRY_FINGERPRINT: `sha256:${reg.fingerprint}`,
    CHAT_PASSWORD: "",
    CHAT_USER: "",
    ...extra,
  });
  try {
    // The first chat peer with the password makes each machine a device.
    await using alice = await spawnPeer(reg, {
      user: "alice",
      home: aliceHome,
    });
    let bob = await spawnPeer(reg, { user: "bob", home: bobHome });
    let number = "";

    await t.step("both sides show the same safety number", async () => {
      const a = await alice.send("/verify bob");
      const b = await bob.send("/verify alice");
      assertEquals([a.ok, b.ok], [true, true], JSON.stringify([a, b]));
      number = String(a.safety_number);
      assertEquals(b.safety_number, number);
      assertEquals([a.verified, a.confirmed], [false, false]);
    });

    await t.step(
      "chat verify --confirm marks bob verified, logging in by key",
      async () => {
        const r = await runChat(["verify", "bob", "--confirm", "--json"], {
          env: env(aliceHome, { CHAT_USER: "alice" }),
        });
        assertEquals(r.code, 0, r.stderr);
        const v = JSON.parse(r.text);
        assertEquals([v.safety_number, v.verified, v.confirmed], [
          number,
          true,
          true,
        ]);
        const text = await runChat(["verify", "bob"], {
          env: env(aliceHome, { CHAT_USER: "alice" }),
        });
        assertEquals(text.code, 0, text.stderr);
        assertIncludes(text.text, `safety number with bob: ${number}`);
        assertIncludes(text.text, "bob is verified");
        const chat = await alice.send("/msg bob hello");
        assertEquals([chat.ok, chat.state], [true, "requested"]);
      },
    );

    await t.step("bob's new keys are announced and refused", async () => {
      assertEquals(await bob.quit(), 0);
      const out = await runChat(["logout", "--forget"], { env: env(bobHome) });
      assertEquals(out.code, 0, out.stderr);
      const back = await runChat(["login", "--user", "bob"], {
        env: env(bobHome, { CHAT_PASSWORD: "bob-password" }),
      });
      assertEquals(back.code, 0, back.stderr);
      bob = await spawnPeer(reg, {
        user: "bob",
        home: bobHome,
        signup: false,
        env: { CHAT_PASSWORD: "" },
      });
      const chat = await alice.send("/msg bob are you still you?");
      assertEquals(chat.ok, false, JSON.stringify(chat));
      assertIncludes(String(chat.error), "changed since you verified");
      const ev = await alice.waitFor(
        (l) => l.type === "contact_keys" && l.change === "key_changed",
        "the key change event",
      );
      assertEquals([ev.user, ev.verified, ev.refused], ["bob", true, true]);
      assertEquals(bob.events("chat_request").length, 0);
      // Offline too: no message is left for keys that were not verified.
      assertEquals(await bob.quit(), 0);
      const stored = await alice.send("/msg bob a letter");
      assertEquals(stored.ok, false, JSON.stringify(stored));
      assertIncludes(String(stored.error), "changed since you verified");
    });

    await t.step("verifying again lets messages through", async () => {
      const v = await alice.send("/verify bob");
      assertEquals([v.changed, v.verified], [true, true]);
      assert(v.safety_number !== number, "a new number");
      const c = await alice.send("/verify bob --confirm");
      assertEquals(c.confirmed, true);
      const stored = await alice.send("/msg bob a letter");
      assertEquals([stored.ok, stored.state], [true, "stored"]);
    });
  } finally {
    await Deno.remove(aliceHome, { recursive: true }).catch(() => {});
    await Deno.remove(bobHome, { recursive: true }).catch(() => {});
  }
});
