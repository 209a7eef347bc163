/**
 * The peer: its subcommands for main.ts, and what the benchmarks drive —
 * the Peer core, the JSON mode's line reader and the networking pieces the
 * load generators share with the product.
 */
export {
  devicesMain,
  loginMain,
  logoutMain,
  passwdMain,
  peerMain,
  receiveMain,
  searchMain,
  sendMain,
  signupMain,
  verifyMain,
  webMain,
  whoMain,
} from "./cmd/mod.ts";
export {
  type CommandReply,
  isReply,
  Peer,
  type PeerEvent,
  type PeerOptions,
} from "./core/mod.ts";
export { readLines, Screen } from "./front/mod.ts";
export {
  Backoff,
  backoffDelay,
  connectTlsUnverified,
  createPeerIdentity,
  DEFAULT_BACKOFF,
  Device,
  deviceLoginFields,
  Endpoint,
  HeartbeatSender,
  LOGIN_TIMEOUT_MS,
  RECONNECT_HANDSHAKE_TIMEOUT_MS,
  RECONNECT_TIMEOUT_MS,
  RegistryClient,
  RegistryError,
  type RegistryTarget,
  type RequestFields,
} from "./net/mod.ts";
