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
  HELP_ALIASES,
  helpText,
  type ParsedLine,
  parseLine,
  tokenize,
} from "./commands.ts";
export type { Conversation } from "./context.ts";
export { CHAT_REQUEST_TTL_MS } from "./conversations.ts";
export { type PeerErrorCode, UserError } from "./errors.ts";
export type { EventSink, PeerEvent, PeerEventType } from "./events.ts";
export { allPages } from "./pages.ts";
export { Peer, type PeerOptions, type SessionEnd } from "./peer.ts";
export {
  type Answered,
  type CommandReply,
  type Failure,
  type InboxEntry,
  isReply,
  type MessageReply,
  type Paged,
  type ReplyDataMap,
  spelling,
  type Success,
} from "./replies.ts";
export {
  type ChunkSink,
  type ChunkSource,
  closeQuietly,
  type Destination,
  type FileAnswer,
  type FileOffered,
  type Offered,
  openForReading,
  type RoomFileOffered,
  sanitizeFileName,
  type TransferInfo,
  type TransferResult,
  Transfers,
} from "./transfers/mod.ts";
