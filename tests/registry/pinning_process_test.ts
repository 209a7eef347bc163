/**
 * Registry pinning (F19) as the RegistryClient does it against a real
 * `chat registry` process: an explicit pin, trust on first use through a
 * prompt, the known_registries file, and a changed certificate refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { RegistryClient } from "../../peer/mod.ts";
import type { RegistryTarget } from "../../peer/mod.ts";
import { refused, withRegistryProcess } from "./support.ts";

const WRONG = "ab".repeat(32);

Deno.test("registry process: certificate pinning", async (t) => {
  await withRegistryProcess([], async (reg) => {
    const home = await Deno.makeTempDir({ prefix: "chat-pin-" });
    const known = join(home, "known_registries");
    const name = `127.0.0.1:${reg.port}`;
    const fp = reg.fingerprint;
    const target = (extra: Partial<RegistryTarget> = {}): RegistryTarget => ({
      host: "127.0.0.1",
      port: reg.port,
      home,
      ...extra,
    });
    const knownText = () => Deno.readTextFile(known).catch(() => null);
    try {
      await t.step(
        "a wrong pin is refused, naming both fingerprints",
        async () => {
          const err = await refused(
            RegistryClient.connect(target({ pin: WRONG })),
            "trust",
            /someone may be impersonating the registry/,
          );
          assert.ok(err.message.includes(`presented certificate sha256:${fp}`));
          assert.ok(err.message.includes(`but sha256:${WRONG} was expected`));
        },
      );

      await t.step("the right pin connects", async () => {
        const c = await RegistryClient.connect(target({ pin: fp }));
        assert.equal(c.fingerprint, fp);
        assert.equal(c.hello.v, 1);
        c.close();
        await c.closed;
        assert.equal(await knownText(), null, "a pin writes nothing");
      });

      await t.step(
        "no pin and no terminal to ask: refused, showing the fingerprint",
        async () => {
          const err = await refused(
            RegistryClient.connect(target()),
            "trust",
            /is not known yet and there is no terminal to ask/,
          );
          assert.ok(err.message.includes(`sha256:${fp}`));
          assert.match(err.message, /--registry-fingerprint/);
          assert.equal(await knownText(), null);
        },
      );

      await t.step(
        "a prompt answered no: refused, nothing remembered",
        async () => {
          await refused(
            RegistryClient.connect(
              target({ ask: () => Promise.resolve(false) }),
            ),
            "trust",
            new RegExp(`registry ${name} was not trusted; nothing was sent`),
          );
          assert.equal(await knownText(), null);
        },
      );

      await t.step(
        "a prompt answered yes: trusted and written to known_registries",
        async () => {
          const asked: [string, string][] = [];
          const c = await RegistryClient.connect(target({
            ask: (n, f) => {
              asked.push([n, f]);
              return Promise.resolve(true);
            },
          }));
          c.close();
          await c.closed;
          assert.deepEqual(asked, [[name, fp]]);
          assert.equal(await knownText(), `${name} sha256:${fp}\n`);
          const mode = (await Deno.stat(known)).mode! & 0o777;
          assert.equal(mode, 0o600, "the file is private");
        },
      );

      await t.step(
        "a later connect trusts the file without asking",
        async () => {
          const c = await RegistryClient.connect(target({
            ask: () => {
              throw new Error("must not ask again");
            },
          }));
          assert.equal(c.fingerprint, fp);
          c.close();
          await c.closed;
        },
      );

      await t.step(
        "a changed fingerprint on file is refused loudly",
        async () => {
          await Deno.writeTextFile(
            known,
            `other.example:15600 sha256:${fp}\n${name} sha256:${WRONG}\n`,
          );
          let asked = false;
          const err = await refused(
            RegistryClient.connect(target({
              ask: () => {
                asked = true;
                return Promise.resolve(true);
              },
            })),
            "trust",
            /^REGISTRY CERTIFICATE CHANGED: /,
          );
          assert.equal(asked, false, "a changed key is never just asked about");
          assert.ok(err.message.includes(`now presents sha256:${fp}`));
          assert.ok(err.message.includes(`but sha256:${WRONG} is on file`));
          assert.ok(err.message.includes(known));
          assert.match(
            await knownText() ?? "",
            new RegExp(`${name} sha256:${WRONG}`),
            "the file is left alone",
          );
        },
      );

      await t.step("an explicit pin overrides the file", async () => {
        const c = await RegistryClient.connect(target({ pin: fp }));
        c.close();
        await c.closed;
      });
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  });
});
