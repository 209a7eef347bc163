/** The registry: accounts, presence, rooms and introductions (`chat registry`). */
import {
  type CommandContext,
  type RegistrySettings,
  registrySettings,
  SettingsError,
} from "../cli/mod.ts";
import { fileSink, Logger, stderrSink } from "../common/log.ts";
import { showFingerprint } from "../common/fingerprint.ts";
import { aborted } from "../common/signals.ts";
import { loadIdentity } from "./identity.ts";
import {
  chooseDb,
  type DbChoice,
  describeDb,
  openStore,
} from "./open_store.ts";
import { Registry } from "./server.ts";
import { type Store, StoreOpenError } from "./store.ts";

export {
  DEFAULT_RELAY_PER_USER,
  Registry,
  type RegistryOptions,
  type RelaySettings,
} from "./server.ts";
export { PROBE_TIMEOUT_MS } from "./probe.ts";
export { loadIdentity, type RegistryIdentity } from "./identity.ts";
export { DEFAULT_SCRYPT, hashPassword } from "./passwords.ts";
export { SqliteStore } from "./sqlite_store.ts";
export { openStore } from "./open_store.ts";
export { DEFAULT_STATUS, type Store } from "./store.ts";

/** `chat registry`: serves until SIGINT/SIGTERM, then exits 0. */
export async function registryMain(ctx: CommandContext): Promise<number> {
  let s: RegistrySettings;
  try {
    s = registrySettings(ctx);
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    console.error(
      `chat: ${err.message}${err.usage ? `\nusage: ${err.usage}` : ""}`,
    );
    return err.exitCode;
  }
  let db: DbChoice;
  try {
    db = chooseDb(s.dbPath);
  } catch (err) {
    if (!(err instanceof StoreOpenError)) throw err;
    console.error(
      `chat: ${err.message}\nusage: chat registry --db PATH|postgres://USER@HOST/DB`,
    );
    return 2;
  }
  // A log file is capped and rotated (LOG_FILE_MAX_BYTES, LOG_FILES_KEPT).
  const file = s.logFile ? fileSink(s.logFile) : null;
  const sink = file ?? stderrSink();
  const logger = new Logger(s.logLevel, sink);
  let registry: Registry;
  let store: Store | null = null;
  try {
    const identity = await loadIdentity(s.stateDir, s.tls);
    store = await openStore(db);
    const given = store;
    // From here on the registry owns the store, and closes it if it fails.
    store = null;
    registry = await Registry.start({
      host: s.host,
      port: s.port,
      udpPort: s.udpPort,
      dbPath: db.engine === "sqlite" ? db.path : describeDb(db),
      store: given,
      stateDir: s.stateDir,
      ...(s.advertise !== undefined ? { advertise: s.advertise } : {}),
      identity,
      heartbeatIntervalMs: s.heartbeatIntervalMs,
      heartbeatTtlMs: s.heartbeatTtlMs,
      idleTimeoutMs: s.idleTimeoutMs,
      handshakeTimeoutMs: s.handshakeTimeoutMs,
      limits: s.limits,
      relay: s.relay ?? false,
      logger,
    });
  } catch (err) {
    await store?.close();
    console.error(`chat: ${err instanceof Error ? err.message : err}`);
    return 1;
  }
  console.log(
    `chat registry listening on ${
      s.host.includes(":") ? `[${s.host}]` : s.host
    }:${registry.port} ` +
      `(udp ${registry.udpPort}) fingerprint ${
        showFingerprint(registry.fingerprint)
      }`,
  );
  console.log(`database ${registry.dbPath}`);
  console.log(
    registry.relay
      ? `relay on port ${registry.relay.port}`
      : "relay off (--relay off): peers that cannot reach each other directly cannot talk",
  );
  logger.info("listening", { port: registry.port, udp: registry.udpPort });
  await aborted(ctx.signal);
  logger.info("shutting down");
  await registry.close();
  await file?.close();
  return 0;
}
