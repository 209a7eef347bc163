/**
 * A reconnection gives the TCP connect a short time and the TLS handshake
 * and hello a long one (RECONNECT_HANDSHAKE_TIMEOUT_MS): a registry that
 * accepted the connection is up, only busy (a restart's storm of
 * reconnections), and a peer that gave up on it halfway would throw away
 * the work done for it. A proxy that accepts at once and forwards only
 * after a delay plays the busy registry.
 */
import {
  RECONNECT_HANDSHAKE_TIMEOUT_MS,
  RECONNECT_TIMEOUT_MS,
} from "../../../peer/net/registry_session.ts";
import {
  RegistryClient,
  RegistryError,
} from "../../../peer/net/registry_client.ts";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { startRegistry } from "../../helpers/registry.ts";

/** Accepts at once; forwards to `port` only `delayMs` after accepting. */
function slowProxy(port: number, delayMs: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const done = (async () => {
    for await (const inbound of listener) {
      open.add(inbound);
      (async () => {
        await new Promise((r) => setTimeout(r, delayMs));
        const outbound = await Deno.connect({ hostname: "127.0.0.1", port });
        open.add(outbound);
        await Promise.all([
          inbound.readable.pipeTo(outbound.writable).catch(() => {}),
          outbound.readable.pipeTo(inbound.writable).catch(() => {}),
        ]);
      })().catch(() => {});
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch {
          // Already closed by its pipe.
        }
      }
      await done.catch(() => {});
    },
  };
}

Deno.test("a reconnection waits far longer for TLS and hello than for the TCP connect", () => {
  assert(
    RECONNECT_HANDSHAKE_TIMEOUT_MS >= 6 * RECONNECT_TIMEOUT_MS,
    "the handshake may take many times the connect's limit",
  );
});

Deno.test("a registry that accepted but answers TLS late is waited for, within the handshake limit", async () => {
  await using reg = await startRegistry();
  await using proxy = slowProxy(reg.port, 600);
  const target = { ...reg.target(), port: proxy.port };
  // TCP is accepted at once, so the connect's 200 ms are met; TLS and hello
  // come after 600 ms, within the handshake's 10 s.
  const client = await RegistryClient.connect({
    ...target,
    timeoutMs: 200,
    handshakeTimeoutMs: 10_000,
  });
  try {
    assertEquals(typeof client.hello.signing_key, "string");
    // Other requests keep the connection's own limit.
    assertEquals(
      (await client.request("ping", {}).catch((e) => e)).code,
      "auth",
    );
  } finally {
    client.close();
    await client.closed;
  }
  // Without a handshake limit of its own, the connect's limit applies to TLS.
  const err = await RegistryClient.connect({ ...target, timeoutMs: 200 })
    .then((c) => {
      c.close();
      return null;
    }, (e) => e);
  assert(err instanceof RegistryError && err.code === "network", `${err}`);
  assertIncludes(err.message, "did not finish TLS within 0.2 s");
});

Deno.test("a TCP connect unanswered in time (a full accept queue) counts as never having reached the registry", async () => {
  // A listener that never accepts, with a queue of one: two connections
  // fill it and the kernel leaves the next one unanswered. That cost the
  // server nothing, so the backoff retries it within its short cap.
  const listener = Deno.listen({
    hostname: "127.0.0.1",
    port: 0,
    tcpBacklog: 1,
  } as Deno.TcpListenOptions);
  const port = (listener.addr as Deno.NetAddr).port;
  const queued = [
    await Deno.connect({ hostname: "127.0.0.1", port }),
    await Deno.connect({ hostname: "127.0.0.1", port }),
  ];
  const home = await Deno.makeTempDir({ prefix: "chat-unanswered-" });
  try {
    const err = await RegistryClient.connect({
      host: "127.0.0.1",
      port,
      home,
      timeoutMs: 300,
      handshakeTimeoutMs: 10_000,
    }).then((c) => {
      c.close();
      return null;
    }, (e) => e);
    assert(err instanceof RegistryError && err.code === "network", `${err}`);
    assertIncludes(err.message, "no answer");
    assert(err.unreachable, `counted as reached: ${err.message}`);
  } finally {
    for (const c of queued) c.close();
    listener.close();
    await Deno.remove(home, { recursive: true });
  }
});
