/** The registry: accounts, presence, rooms and introductions (`chat registry`). */
import { join } from "node:path";
import type { CommandContext } from "../cli/mod.ts";
import { fileSink, type Level, Logger, stderrSink } from "../common/log.ts";
import { chatHome } from "../common/paths.ts";
import { showFingerprint } from "../common/fingerprint.ts";
import { loadIdentity } from "./identity.ts";
import { Registry } from "./server.ts";

export { Registry, type RegistryOptions } from "./server.ts";
export { loadIdentity, type RegistryIdentity } from "./identity.ts";
export { DEFAULT_SCRYPT, hashPassword } from "./passwords.ts";
export { SqliteStore } from "./sqlite_store.ts";
export { DEFAULT_STATUS, type Store } from "./store.ts";

/** `chat registry`: serves until SIGINT/SIGTERM, then exits 0. */
export async function registryMain(ctx: CommandContext): Promise<number> {
  const f = ctx.flags;
  if (("tls-cert" in f) !== ("tls-key" in f)) {
    console.error(
      "chat: --tls-cert and --tls-key go together\nusage: chat registry --tls-cert FILE --tls-key FILE",
    );
    return 2;
  }
  // Peers accept intervals of 1 ms to 1 h in the hello reply; outside that
  // range no peer could ever log in, so refuse it here as a bad value.
  for (const name of ["heartbeat-interval", "heartbeat-ttl"]) {
    const ms = f[name] as number;
    if (!(ms >= 1 && ms <= 3_600_000)) {
      console.error(
        `chat: --${name} must be between 1ms and 1h\nusage: chat registry [--heartbeat-interval 1s] [--heartbeat-ttl 3s]`,
      );
      return 2;
    }
  }
  if (!((f["handshake-timeout"] as number) >= 1)) {
    console.error(
      "chat: --handshake-timeout must be at least 1ms\nusage: chat registry [--handshake-timeout 10s]",
    );
    return 2;
  }
  const dbPath = (f.db as string | undefined) ??
    join(chatHome(), "registry.db");
  const sink = f["log-file"] ? fileSink(f["log-file"] as string) : stderrSink();
  const logger = new Logger(f["log-level"] as Level, sink);
  let registry: Registry;
  try {
    const identity = await loadIdentity(
      Registry.stateDirFor(dbPath),
      f["tls-cert"]
        ? { certFile: f["tls-cert"] as string, keyFile: f["tls-key"] as string }
        : undefined,
    );
    registry = await Registry.start({
      host: f.host as string,
      port: f.port as number,
      udpPort: f["udp-port"] as number,
      dbPath,
      identity,
      heartbeatIntervalMs: f["heartbeat-interval"] as number,
      heartbeatTtlMs: f["heartbeat-ttl"] as number,
      idleTimeoutMs: f["idle-timeout"] as number,
      handshakeTimeoutMs: f["handshake-timeout"] as number,
      logger,
    });
  } catch (err) {
    console.error(`chat: ${err instanceof Error ? err.message : err}`);
    return 1;
  }
  const host = f.host as string;
  console.log(
    `chat registry listening on ${
      host.includes(":") ? `[${host}]` : host
    }:${registry.port} ` +
      `(udp ${registry.udpPort}) fingerprint ${
        showFingerprint(registry.fingerprint)
      }`,
  );
  console.log(`database ${registry.dbPath}`);
  logger.info("listening", { port: registry.port, udp: registry.udpPort });
  if (!ctx.signal.aborted) {
    await new Promise((resolve) =>
      ctx.signal.addEventListener("abort", resolve, { once: true })
    );
  }
  logger.info("shutting down");
  await registry.close();
  return 0;
}
