/**
 * What command handlers see of the Peer: its parts and its state, and the
 * registry through one request function whose failures are UserErrors.
 * The Peer implements it; handlers never import the Peer itself.
 */
import type { ReplyData, RequestType } from "../../wire/mod.ts";
import type { RequestFields, VerifyResult } from "../net/mod.ts";
import type { Conversations } from "./conversations.ts";
import type { Inbox } from "./inbox.ts";
import type { Answered, CommandOf, ReplyDataMap } from "./replies.ts";
import type { Preferences } from "./preferences.ts";
import type { RoomBook } from "./room_book.ts";
import type { Transcripts } from "./transcripts.ts";
import type { Transfers } from "./transfers/mod.ts";

/** Where plain lines go. */
export type Conversation =
  | { kind: "user"; name: string }
  | { kind: "room"; name: string };

/** See the module doc. */
export interface PeerContext {
  /** The logged-in user. */
  self(): string;
  /** A registry request; a refusal is a UserError carrying its code. */
  request<K extends RequestType>(
    type: K,
    fields: RequestFields<K>,
  ): Promise<ReplyData<K>>;
  readonly conversations: Conversations;
  readonly transfers: Transfers;
  readonly rooms: RoomBook;
  readonly transcripts: Transcripts;
  readonly inbox: Inbox;
  /** Where plain lines go now. */
  current: Conversation | null;
  /** Users we have blocked. */
  readonly blocked: Set<string>;
  /** Names seen, for completion. */
  readonly knownUsers: Set<string>;
  /** Rooms seen, for completion. */
  readonly knownRooms: Set<string>;
  /** Logs out and releases everything. */
  stop(): Promise<void>;
  /**
   * Leaves a message for `user` with the registry: the one offline-send
   * path, for /msg to someone offline and for a request nobody answered.
   */
  storeOffline(user: string, text: string): Promise<ReplyData<"offline_send">>;
  /** The settings /set shows and changes. */
  preferences(): Preferences;
  /** Changes the settings and keeps them in CHAT_HOME for later sessions. */
  setPreferences(p: Preferences): Promise<void>;
  /**
   * Compares `user`'s device keys at the registry with the pins; a
   * UserError when `user` is refused (a verified contact whose keys changed).
   */
  checkContact(user: string): Promise<void>;
  /** The safety number with `user`; `confirm` marks them verified. */
  verify(user: string, confirm: boolean): Promise<VerifyResult>;
}

/** The handler of one command: its parsed form in, its reply data out. */
export type Handler<N extends Answered> = (
  peer: PeerContext,
  cmd: CommandOf<N>,
) => Promise<ReplyDataMap[N]>;

/** Handlers of a set of commands, one each. */
export type HandlerTable<N extends Answered> = { [K in N]: Handler<K> };

/** Forgets the current conversation if it is this one. */
export function leaveIfCurrent(
  peer: PeerContext,
  kind: Conversation["kind"],
  name: string,
): void {
  if (peer.current?.kind === kind && peer.current.name === name) {
    peer.current = null;
  }
}
