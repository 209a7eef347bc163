/**
 * F19 with a real certificate: `chat registry --tls-cert FILE --tls-key FILE`
 * serves the given certificate (and prints its fingerprint), and a peer
 * accepts a certificate valid under its CA roots without a pin — but only for
 * the host name the certificate names. The CA here is made by the test and
 * added to the peer's roots with DENO_CERT, as an operator's private CA or a
 * public one would be.
 */
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { fingerprintPem } from "../../common/fingerprint.ts";
import { assert, assertEquals, assertIncludes } from "../helpers/assert.ts";
import { runChat } from "../helpers/peer_process.ts";
import { spawnRegistry } from "../helpers/registry.ts";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

function serial(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] = b[0]! & 0x7f;
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A CA and a leaf for DNS:localhost that it signed, all PEM. */
async function makeChain() {
  const now = Date.now();
  const caKeys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: "CN=chat test CA",
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
    signingAlgorithm: ALG,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const leafKeys = await crypto.subtle.generateKey(ALG, true, [
    "sign",
    "verify",
  ]);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: "CN=localhost",
    issuer: ca.subject,
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
    signingAlgorithm: ALG,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", leafKeys.privateKey);
  return {
    caPem: ca.toString("pem"),
    leafPem: leaf.toString("pem"),
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
  };
}

Deno.test("a registry with --tls-cert/--tls-key serves that certificate, CA-trusted only for its own name", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "chat-tlscert-" });
  try {
    const chain = await makeChain();
    const certFile = join(dir, "registry.crt");
    const keyFile = join(dir, "registry.key");
    const caFile = join(dir, "ca.pem");
    await Deno.writeTextFile(certFile, chain.leafPem);
    await Deno.writeTextFile(keyFile, chain.keyPem, { mode: 0o600 });
    await Deno.writeTextFile(caFile, chain.caPem);
    await using reg = await spawnRegistry({
      home: join(dir, "registry"),
      args: ["--tls-cert", certFile, "--tls-key", keyFile],
    });
    const home = join(dir, "peer");
    const env = (registry: string, extra: Record<string, string> = {}) => ({
      CHAT_HOME: home,
      CHAT_REGISTRY: registry,
      CHAT_USER: "alice",
      CHAT_PASSWORD: "alice-password",
      ...extra,
    });

    await t.step(
      "it prints the fingerprint of the given certificate and creates none",
      async () => {
        assertEquals(reg.fingerprint, fingerprintPem(chain.leafPem));
        const made = [];
        for await (const e of Deno.readDir(join(dir, "registry"))) {
          made.push(e.name);
        }
        assert(
          !made.some((n) => n.endsWith(".pem") || n.endsWith(".crt")),
          `no self-signed certificate was made: ${made}`,
        );
      },
    );

    await t.step("a peer pinning that fingerprint signs up", async () => {
      const r = await runChat(["signup", "--user", "alice"], {
        env: env(`127.0.0.1:${reg.port}`, {
          CHAT_REGISTRY_FINGERPRINT: `sha256:${reg.fingerprint}`,
        }),
      });
      assertEquals(r.code, 0, r.stderr);
    });

    await t.step(
      "with the CA in its roots, a peer needs no pin for localhost",
      async () => {
        const r = await runChat(["search", "alice"], {
          env: env(`localhost:${reg.port}`, { DENO_CERT: caFile }),
        });
        assertEquals(r.code, 0, r.stderr);
        assertIncludes(r.text, "alice");
        const known = await Deno.readTextFile(join(home, "known_registries"))
          .catch(() => "");
        assertEquals(known, "", "a CA-valid certificate is not pinned");
      },
    );

    await t.step(
      "the same CA does not vouch for a name the certificate lacks",
      async () => {
        const r = await runChat(["search", "alice"], {
          env: env(`127.0.0.1:${reg.port}`, { DENO_CERT: caFile }),
        });
        assertEquals(r.code, 1);
        assertIncludes(r.stderr, "is not known yet and there is no terminal");
      },
    );

    await t.step(
      "without the CA, localhost is an unknown certificate",
      async () => {
        const r = await runChat(["search", "alice"], {
          env: env(`localhost:${reg.port}`),
        });
        assertEquals(r.code, 1);
        assertIncludes(r.stderr, "is not known yet and there is no terminal");
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
