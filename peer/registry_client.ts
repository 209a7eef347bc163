/**
 * The former path of peer/net/registry_client.ts, kept so that imports written before
 * the peer was split into layers still resolve; new code imports
 * peer/mod.ts (or, inside peer/, peer/net/mod.ts).
 */
export * from "./net/mod.ts";
