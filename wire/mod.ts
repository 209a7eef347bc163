/**
 * The chat wire protocol: frames, the message catalog, the one decoder of
 * untrusted bytes, heartbeat datagrams, introduction tickets and the relay
 * handshake. Pure: no I/O.
 */
export * from "./budget.ts";
export * from "./frame.ts";
export * from "./limits.ts";
export * from "./messages.ts";
export * from "./decode.ts";
export * from "./datagram.ts";
export * from "./ticket.ts";
export * from "./device_login.ts";
export * from "./device_proof.ts";
export * from "./relay.ts";
export type { Field, Infer, Shape } from "./schema.ts";
export { HeartbeatKey } from "./heartbeat_mac.ts";
