/**
 * The peer core: commands in, typed events and replies out. It owns the
 * conversations, the room book, the inbox, transcripts and file transfers,
 * and prints nothing; the front ends above it decide how things look.
 */
export {
  type Command,
  COMMAND_HELP,
  COMMAND_NAMES,
  type CommandHelp,
  helpText,
  type ParsedLine,
  parseLine,
  tokenize,
} from "./commands.ts";
export { CHAT_REQUEST_TTL_MS } from "./conversations.ts";
export { UserError } from "./errors.ts";
export type { EventSink, PeerEvent, PeerEventType } from "./events.ts";
export {
  type CommandReply,
  type Conversation,
  type InboxEntry,
  Peer,
  type PeerOptions,
} from "./peer.ts";
export {
  type ChunkSink,
  type ChunkSource,
  type Destination,
  type TransferInfo,
  type TransferResult,
  Transfers,
} from "./transfers.ts";
