/**
 * Sealed messages (peer/net/sealed.ts): a box opens on its device with the
 * sender's keys and header, and nothing else opens it — a changed byte,
 * another sender's signing key, another device, another recipient or
 * message id, or another sender named in the header.
 */
import { assert, assertEquals, assertRejects } from "../../helpers/assert.ts";
import { Device } from "../../../peer/net/device.ts";
import {
  newMessageId,
  open,
  seal,
  SealError,
  type SealHeader,
} from "../../../peer/net/sealed.ts";
import { base64url, fromBase64url } from "../../../wire/mod.ts";

Deno.test("sealed boxes open only as sealed", async (t) => {
  const home = await Deno.makeTempDir({ prefix: "chat-sealed-" });
  try {
    const reg = "127.0.0.1:1";
    const alice = await Device.create(home, reg, "alice", "laptop");
    const bob = await Device.create(home, reg, "bob", "desk");
    const bob2 = await Device.create(home, reg, "bob", "phone");
    const mallory = await Device.create(home, reg, "mallory", "laptop");
    const h: SealHeader = {
      kind: "msg",
      from: "alice",
      fromDevice: "laptop",
      to: "bob",
      toDevice: "desk",
      mid: newMessageId(),
    };
    const aliceKeys = { sign: alice.signPublic, dh: alice.dhPublic };
    const box = await seal(alice, bob.dhPublic, h, "hello bob ✓");

    await t.step("the recipient device reads it", async () => {
      assertEquals(await open(bob, aliceKeys, h, box), "hello bob ✓");
    });

    await t.step("a changed byte anywhere is refused", async () => {
      const raw = fromBase64url(box)!;
      for (const at of [1, 40, 50, 120, raw.length - 1]) {
        const bad = raw.slice();
        bad[at]! ^= 1;
        const err = await assertRejects(() =>
          open(bob, aliceKeys, h, base64url(bad))
        );
        assert(err instanceof SealError, String(err));
      }
    });

    await t.step("a box signed by another device is refused", async () => {
      // mallory seals to bob claiming to be alice: the signature is hers.
      const forged = await seal(mallory, bob.dhPublic, h, "from alice, honest");
      const err = await assertRejects(
        () => open(bob, aliceKeys, h, forged),
        /^the signature is not that of alice's device 'laptop'$/,
      );
      assert(err instanceof SealError);
    });

    await t.step("moved to another device, user or id: refused", async () => {
      // bob's other device cannot open the copy sealed for this one.
      await assertRejects(
        () => open(bob2, aliceKeys, { ...h, toDevice: "phone" }, box),
        /cannot be decrypted on this device|signature/,
      );
      for (
        const other of [
          { ...h, toDevice: "phone" },
          { ...h, to: "carol" },
          { ...h, mid: newMessageId() },
          { ...h, from: "mallory" },
          { ...h, kind: "room:lobby" },
        ]
      ) {
        const err = await assertRejects(() => open(bob, aliceKeys, other, box));
        assert(err instanceof SealError, String(err));
      }
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
