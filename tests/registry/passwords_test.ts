import assert from "node:assert/strict";
import {
  BusyError,
  hashPassword,
  ScryptPool,
  verifyPassword,
} from "../../registry/passwords.ts";

const FAST = { N: 1024, r: 8, p: 1 };

Deno.test("password hashing", async (t) => {
  await t.step("a hash verifies its own password and no other", async () => {
    const h = await hashPassword("correct horse", FAST);
    assert.equal(await verifyPassword("correct horse", h), true);
    assert.equal(await verifyPassword("correct horsE", h), false);
    assert.equal(await verifyPassword("", h), false);
  });

  await t.step(
    "the hash records its parameters and never holds the password",
    async () => {
      const h = await hashPassword("correct horse", FAST);
      assert.match(h, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
      assert.equal(h.includes("correct"), false);
    },
  );

  await t.step("each hash has its own salt", async () => {
    const a = await hashPassword("same", FAST);
    const b = await hashPassword("same", FAST);
    assert.notEqual(a, b);
    assert.equal(await verifyPassword("same", b), true);
  });

  await t.step("equivalent Unicode spellings verify alike (NFC)", async () => {
    const h = await hashPassword("caf\u00e9-password", FAST);
    assert.equal(await verifyPassword("cafe\u0301-password", h), true);
  });

  await t.step("a malformed or over-costly hash never matches", async () => {
    for (
      const bad of [
        "",
        "plain",
        "scrypt$1024$8$1$c2FsdA==",
        "bcrypt$1024$8$1$c2FsdA==$aGFzaA==",
        "scrypt$0$8$1$c2FsdA==$aGFzaA==",
        "scrypt$x$8$1$c2FsdA==$aGFzaA==",
        `scrypt$${2 ** 21}$8$1$c2FsdA==$aGFzaA==`,
        "scrypt$1024$8$1$!!!$aGFzaA==",
      ]
    ) {
      assert.equal(await verifyPassword("x", bad), false, bad);
    }
  });

  await t.step(
    "many derivations at once all finish with the right answers",
    async () => {
      // Derivations are queued behind a small limit; none may be lost or mixed.
      const h = await hashPassword("queued", FAST);
      const results = await Promise.all(
        Array.from(
          { length: 40 },
          (_, i) => verifyPassword(i % 2 ? "queued" : "other", h),
        ),
      );
      assert.deepEqual(
        results,
        Array.from({ length: 40 }, (_, i) => i % 2 === 1),
      );
    },
  );
});

Deno.test("the scrypt pool: bounded lanes, checks before hashes", async () => {
  const pool = new ScryptPool({ maxQueuedChecks: 2, maxQueuedHashes: 1 }, 1);
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const order: string[] = [];
  const job = (name: string, wait?: Promise<void>) => async () => {
    await wait;
    order.push(name);
  };
  const first = pool.run("hash", job("first", gate));
  const hash = pool.run("hash", job("hash"));
  await assert.rejects(pool.run("hash", job("refused")), (err) => {
    assert.ok(err instanceof BusyError);
    assert.match(
      err.message,
      /^the registry is busy \(1 password checks waiting\), retry in \d+ s$/,
    );
    return true;
  });
  const checks = [
    pool.run("check", job("check1")),
    pool.run("check", job("check2")),
  ];
  await assert.rejects(pool.run("check", job("refused")), BusyError);
  assert.deepEqual(pool.queued, { check: 2, hash: 1 });
  release();
  await Promise.all([first, hash, ...checks]);
  assert.deepEqual(order, ["first", "check1", "check2", "hash"]);
  assert.equal(pool.running, 0);
});
