/**
 * The registry's identity files are written whole or not at all (SPEC §3:
 * the registry starts cleanly after a kill -9, also one during its first
 * start). A write cut off half-way is simulated by a Deno.writeTextFile that
 * writes half of its text and then fails, as a process killed mid-write would
 * leave it.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  CERT_FILE,
  KEY_FILE,
  loadIdentity,
  SIGNING_FILE,
} from "../../registry/identity.ts";

Deno.test("an identity write cut off half-way leaves the registry able to start", async (t) => {
  const real = Deno.writeTextFile;
  for (const victim of [KEY_FILE, CERT_FILE, SIGNING_FILE]) {
    await t.step(`cut off while writing ${victim}`, async () => {
      const dir = await Deno.makeTempDir({ prefix: "chat-identity-" });
      try {
        let cut = false;
        const halfway: typeof Deno.writeTextFile = async (path, data, o) => {
          if (!cut && String(path).includes(victim)) {
            cut = true;
            const text = String(data);
            await real(path, text.slice(0, text.length >> 1), o);
            throw new Error("killed half-way through a write");
          }
          return await real(path, data, o);
        };
        Deno.writeTextFile = halfway;
        try {
          await loadIdentity(dir).then(
            () => assert(false, "the cut-off write did not fail"),
            (err) =>
              assertEquals(err.message, "killed half-way through a write"),
          );
        } finally {
          Deno.writeTextFile = real;
        }
        assert(cut);
        // The next start loads or creates a whole identity, and keeps it.
        const first = await loadIdentity(dir);
        const again = await loadIdentity(dir);
        assertEquals(again.fingerprint, first.fingerprint);
        assertEquals(again.signingPublicKey, first.signingPublicKey);
        const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
        assertEquals(left, [CERT_FILE, KEY_FILE, SIGNING_FILE].sort());
      } finally {
        Deno.writeTextFile = real;
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
});
