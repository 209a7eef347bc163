/**
 * Named limits shared by both ends of every connection. Changing one is a
 * protocol change: keep docs/protocol.md in step.
 */

/** Protocol version carried by the first message of every connection. */
export const PROTOCOL_VERSION = 1;

/** User and room names: case-insensitive, stored lower-case. */
export const NAME_PATTERN = /^[a-z0-9_.-]{1,32}$/;

/** Shortest acceptable password at sign-up. */
export const MIN_PASSWORD_CHARS = 8;
/** Longest password we are willing to hash. */
export const MAX_PASSWORD_CHARS = 1024;

/** Longest chat or room message. */
export const MAX_TEXT_CHARS = 8192;
/**
 * Longest sealed copy of a message, base64url: a MAX_TEXT_CHARS message of
 * 4-byte characters with its JSON, key, nonce, signature and tag.
 */
export const MAX_SEALED_BOX_CHARS = 45_000;
/**
 * Most recipient devices one sealed message is sent to (the registry's
 * devices per user, MAX_DEVICES_PER_USER): 20 copies fit in one frame.
 */
export const MAX_SEALED_DEVICES = 20;
/**
 * Most members one room_keys or room_store request names (a peer splits a
 * larger room's backlog, also by bytes, so each request fits its frame).
 */
export const MAX_BACKLOG_MEMBERS = 100;
/** Longest status text. */
export const MAX_STATUS_CHARS = 140;
/** Longest room description. */
export const MAX_DESCRIPTION_CHARS = 280;
/** Largest room capacity. */
export const MAX_ROOM_CAPACITY = 1000;
/** Longest file name accepted on the wire; receivers sanitise and shorten it. */
export const MAX_WIRE_FILE_NAME_CHARS = 16384;

/** Largest UDP datagram either side accepts. */
export const MAX_DATAGRAM_BYTES = 1200;

/** Most entries any list reply carries; replies say when they were cut. */
export const MAX_LIST_ITEMS = 2000;

/** Entries a paged list reply carries when the request names no limit. */
export const DEFAULT_PAGE_ITEMS = 200;
/** Most entries a paged request may ask for. */
export const MAX_PAGE_ITEMS = 1000;
/**
 * Most bytes the entries of one page may take when encoded; a page stops
 * early at this size, so no reply can outgrow MAX_FRAME_BYTES.
 */
export const MAX_PAGE_BYTES = 256 * 1024;
/** Longest room-name search text. */
export const MAX_SEARCH_CHARS = 32;

/** Longest PEM certificate a peer may register. */
export const MAX_CERT_CHARS = 4096;

/** Longest introduction ticket. */
export const MAX_TICKET_CHARS = 2048;

/** Most candidate endpoints a peer reports at login (its own addresses). */
export const MAX_CANDIDATES = 8;

/** The name every peer certificate carries; dialers check it (and the pin). */
export const PEER_CERT_NAME = "chat-peer";
