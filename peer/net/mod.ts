/**
 * The peer's networking: the registry client and its self-healing session,
 * heartbeats, reconnection backoff, registry trust, this run's identity and
 * the authenticated P2P links. Below the core; knows nothing of commands.
 */
export {
  Backoff,
  backoffDelay,
  type BackoffPolicy,
  DEFAULT_BACKOFF,
} from "./backoff.ts";
export {
  ContactError,
  type ContactNotice,
  Contacts,
  CONTACTS_DIR,
  type ContactsOptions,
  type DeviceProof,
  type VerifyResult,
} from "./contacts.ts";
export { Device, DeviceFileError, DEVICES_DIR } from "./device.ts";
export {
  DeviceKeysCache,
  type DeviceKeysSource,
  fetchDeviceKeys,
  type VouchedDevice,
} from "./device_keys.ts";
export { Endpoint, type EndpointOptions } from "./endpoint.ts";
export { HeartbeatSender } from "./heartbeat.ts";
export {
  createPeerIdentity,
  PEER_CERT_NAME,
  type PeerIdentity,
} from "./identity.ts";
export { localCandidates } from "./candidates.ts";
export {
  DIRECT_TIMING,
  LinkError,
  type LinkErrorCode,
  Links,
  type LinksOptions,
  type OpenLink,
  RELAY_PAIR_MS,
  REVERSE_WAIT_MS,
} from "./links.ts";
export {
  type DeviceAuth,
  DialError,
  type DialTarget,
  type LinkPath,
  type P2PLink,
  P2PNode,
  type P2PNodeOptions,
  type Purpose,
  type RaceTiming,
} from "./p2p.ts";
export { RaceError, raceStaggered } from "./race.ts";
export {
  type ClientOptions,
  type HelloInfo,
  RegistryClient,
  RegistryError,
  type RegistryTarget,
  type RequestFields,
  type TrustPrompt,
} from "./registry_client.ts";
export {
  type Credentials,
  deviceLoginFields,
  LOGIN_TIMEOUT_MS,
  RECONNECT_HANDSHAKE_TIMEOUT_MS,
  RECONNECT_TIMEOUT_MS,
  RegistrySession,
  type RegistrySessionOptions,
  type SessionStatus,
} from "./registry_session.ts";
export {
  type CheckedTls,
  connectTlsUnverified,
  type PresentedCert,
} from "./tls_socket.ts";
export {
  decideTrust,
  KNOWN_REGISTRIES,
  knownFingerprint,
  rememberFingerprint,
  type TrustVerdict,
} from "./trust.ts";
export { newMessageId, open, seal, SealError } from "./sealed.ts";
