/**
 * A registry restarted under thousands of peers (F18, bench R1) must not
 * collapse under their logins. Each login costs a scrypt derivation run one
 * at a time, so they queue; two rules keep the queue moving:
 *
 * - the registry skips the derivation of a client that hung up while its
 *   login waited (it reads one frame ahead, so it sees the hang-up);
 * - a peer waits for its login's reply far longer than for the rest
 *   (LOGIN_TIMEOUT_MS), instead of giving up after a few seconds and joining
 *   the end of the queue again.
 */
import { join } from "node:path";
import { Logger } from "../../common/log.ts";
import { FramedConn } from "../../common/conn.ts";
import { hashPassword } from "../../registry/passwords.ts";
import { SqliteStore } from "../../registry/sqlite_store.ts";
import type { Store } from "../../registry/store.ts";
import {
  LOGIN_TIMEOUT_MS,
  RegistrySession,
} from "../../peer/net/registry_session.ts";
import { RegistryError } from "../../peer/net/registry_client.ts";
import { PROTOCOL_VERSION } from "../../wire/mod.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { peerIdentity } from "../helpers/identity.ts";
import { startRegistry, until } from "../helpers/registry.ts";
import { loggedIn } from "../registry/support.ts";

const PW = "storm-password";

Deno.test("logins whose clients hung up while queued are skipped, not computed", async () => {
  await using reg = await startRegistry();
  const r = reg.registry;
  // 30 accounts, as after a restart: one account's parallel attempts from one
  // address are limited to 5 in flight (each counts as a failure until checked).
  const N = 30;
  const hash = await hashPassword(PW);
  for (let i = 0; i < N; i++) {
    await r.store.createUser(`crowd${i}`, hash, Date.now());
  }
  const caCerts = [await Deno.readTextFile(join(reg.dir, "registry-cert.pem"))];
  // 30 clients send hello and a login at the real scrypt cost (about 50 ms
  // each, one at a time), then hang up at once without waiting.
  await Promise.all(Array.from({ length: N }, async (_, i) => {
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: reg.port,
      caCerts,
    });
    const fc = new FramedConn(conn);
    fc.send({ type: "hello", id: 1, v: PROTOCOL_VERSION });
    fc.send({
      type: "login",
      id: 2,
      user: `crowd${i}`,
      password: PW,
      kind: "tool",
    });
    await fc.flush();
    fc.close();
  }));
  await until(
    () => r.service.connections === 0,
    "every hung-up connection gone",
    30_000,
  );
  await until(
    () => r.service.stats.abandoned + r.service.stats.logins >= N,
    "every login settled",
    30_000,
  );
  const { abandoned, logins } = r.service.stats;
  console.log(`  ${abandoned} of ${N} skipped, ${logins} computed`);
  assert(abandoned >= N / 2, `only ${abandoned} of ${N} skipped`);
  assertEquals(abandoned + logins, N);
  // The registry serves a client that waits, at once.
  await using c = await loggedIn(reg.target(), "crowd0", PW, { kind: "tool" });
  assertEquals((await c.request("search", { user: "crowd0" })).user, "crowd0");
});

/** A store whose reads of one account take `delayMs` (a busy registry). */
function slowUser(store: Store, user: string, delayMs: number): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== "getUser" || typeof value !== "function") {
        return typeof value === "function" ? value.bind(target) : value;
      }
      return async (name: string) => {
        if (name === user) await new Promise((r) => setTimeout(r, delayMs));
        return await value.call(target, name);
      };
    },
  });
}

Deno.test("a peer's login waits out a slow registry instead of giving up with the connection's timeout", async () => {
  assert(LOGIN_TIMEOUT_MS >= 60_000, "a login may wait at least a minute");
  const dir = await Deno.makeTempDir({ prefix: "chat-storm-" });
  const store = SqliteStore.open(join(dir, "registry.db"));
  await store.createUser(
    "patient",
    await hashPassword(PW, { N: 1024, r: 8, p: 1 }),
    Date.now(),
  );
  await using reg = await startRegistry({
    dir,
    store: slowUser(store, "patient", 1_500),
  });
  const id = await peerIdentity();
  // Every other request of this connection may take 300 ms at most.
  const target = { ...reg.target(), timeoutMs: 300 };
  const session = await RegistrySession.open({
    target,
    credentials: { user: "patient", password: PW },
    kind: "peer",
    p2pPort: 40_000,
    cert: id.cert,
    key: id.key,
    onEvent: () => {},
    onStatus: () => {},
    logger: new Logger("error", () => {}),
  });
  try {
    assertEquals(session.user, "patient");
    // The connection's own timeout still applies to ordinary requests.
    const err = await session.request("profile", { user: "patient" }).then(
      () => null,
      (e) => e,
    );
    assert(err instanceof RegistryError && err.code === "network", `${err}`);
  } finally {
    await session.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
