/**
 * The registry's sockets (registry/server.ts): a failed start leaves nothing
 * open, and one AbortSignal shuts a running registry down.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { loadIdentity, Registry } from "../../registry/mod.ts";
import { LISTEN_BACKLOG } from "../../registry/limits.ts";
import { SqliteStore } from "../../registry/sqlite_store.ts";
import { FAST_SCRYPT, startRegistry, until } from "../helpers/registry.ts";
import { loggedIn, signup } from "./support.ts";

/** A store that records whether it was closed. */
function watchedStore(): { store: SqliteStore; closed: () => boolean } {
  const store = SqliteStore.open(":memory:");
  let closed = false;
  const close = store.close.bind(store);
  store.close = () => {
    closed = true;
    close();
  };
  return { store, closed: () => closed };
}

Deno.test("a registry that cannot bind closes what it opened", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "chat-reg-" });
  try {
    const identity = await loadIdentity(dir);
    const base = {
      host: "127.0.0.1",
      dbPath: ":memory:",
      stateDir: dir,
      identity,
      scrypt: FAST_SCRYPT,
    };
    await using running = await Registry.start({
      ...base,
      port: 0,
      udpPort: 0,
    });

    await t.step("a TCP port in use: one error, the store closed", async () => {
      const { store, closed } = watchedStore();
      await assert.rejects(
        Registry.start({ ...base, port: running.port, udpPort: 0, store }),
        new RegExp(
          `^Error: cannot listen on 127\\.0\\.0\\.1:${running.port}: `,
        ),
      );
      assert.ok(closed());
    });

    await t.step(
      "a UDP port in use: one error, the TCP listener and the store closed",
      async () => {
        const sock = dgram.createSocket("udp4");
        await new Promise<void>((resolve) =>
          sock.bind(0, "127.0.0.1", resolve)
        );
        try {
          const udpPort = sock.address().port;
          const { store, closed } = watchedStore();
          // A free TCP port, to see it released afterwards.
          const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
          const port = (probe.addr as Deno.NetAddr).port;
          probe.close();
          await assert.rejects(
            Registry.start({ ...base, port, udpPort, store }),
            new RegExp(
              `^Error: cannot listen on udp 127\\.0\\.0\\.1:${udpPort}: `,
            ),
          );
          assert.ok(closed());
          Deno.listen({ hostname: "127.0.0.1", port }).close();
        } finally {
          await new Promise<void>((resolve) => sock.close(() => resolve()));
        }
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("aborting the registry's signal shuts it down and tells the clients", async () => {
  const stop = new AbortController();
  await using reg = await startRegistry({ signal: stop.signal });
  const target = reg.target();
  await signup(target, "alice", "password-alice");
  await using alice = await loggedIn(target, "alice", "password-alice", {
    beat: false,
  });
  stop.abort();
  assert.deepEqual(await alice.event("session_ended"), {
    type: "session_ended",
    reason: "shutdown",
  });
  await alice.client.closed;
  await until(
    () => reg.logs.some((l) => l.includes("stopped")),
    "the registry to stop",
  );
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port: reg.port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("the TLS listener queues LISTEN_BACKLOG connections (as the kernel allows)", async () => {
  await using reg = await startRegistry();
  const somaxconn = Number(
    (await Deno.readTextFile("/proc/sys/net/core/somaxconn")).trim(),
  );
  const out = await new Deno.Command("ss", {
    args: ["-Hltn", `sport = :${reg.port}`],
  }).output();
  assert.equal(out.code, 0);
  // LISTEN  Recv-Q  Send-Q (the queue's size)  Local  Peer
  const sendQ = Number(
    new TextDecoder().decode(out.stdout).trim().split(/\s+/)[2],
  );
  assert.equal(sendQ, Math.min(LISTEN_BACKLOG, somaxconn));
  assert.ok(sendQ > 511, `more than Deno's default: ${sendQ}`);
});
