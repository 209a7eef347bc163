/**
 * Each command's reply, typed from the handler that makes it to the front
 * end that shows it. A reply names its command (`name`, the parsed
 * command's) and says how the user spelled it (`command`, e.g. "/room"),
 * and carries that command's own data.
 */
import type { ReplyData } from "../../wire/mod.ts";
import type { VerifyResult } from "../net/mod.ts";
import type { Command } from "./commands.ts";
import type { PeerErrorCode } from "./errors.ts";
import type { PreferenceName } from "./preferences.ts";
import type {
  FileAnswer,
  FileOffered,
  RoomFileOffered,
  TransferInfo,
} from "./transfers/mod.ts";

/** One offline message as kept for /inbox. */
export interface InboxEntry {
  from: string;
  text: string;
  sent_at: string;
}

/** What /msg (or a plain line in a chat) did with the message. */
export type MessageReply =
  | { to: string; id: number; state: "sent" }
  | { to: string; id?: number; state: "requested"; notice?: string }
  | { to: string; state: "stored"; sent_at: string; notice: string };

/**
 * A page of a list: the registry's reply (with `total` and `next_offset`
 * when the list did not fit or a page was asked for) and, when entries
 * follow, `more`: the command line that shows the next page.
 */
export type Paged<T> = T & { more?: string };

/** The reply data of every command a handler answers. */
export interface ReplyDataMap {
  help: { text: string };
  quit: Record<never, never>;
  who: Paged<ReplyData<"who">>;
  search: ReplyData<"search">;
  profile: ReplyData<"profile">;
  status: ReplyData<"status">;
  friends: Paged<ReplyData<"friends">>;
  friend:
    | (ReplyData<"friend_request"> & { action: "add" })
    | (ReplyData<"friend_remove"> & { action: "remove" })
    | (ReplyData<"friend_accept"> & { action: "accept" })
    | (ReplyData<"friend_decline"> & { action: "decline" });
  requests: Paged<ReplyData<"requests">>;
  block: ReplyData<"block">;
  unblock: ReplyData<"unblock">;
  blocks: Paged<ReplyData<"blocks">>;
  chat: { with: string; state: "requested" | "open" };
  accept: { with: string; saving: boolean };
  reject: { with: string };
  msg: MessageReply;
  close: { with: string };
  save: { with: string; saving: boolean; path: string };
  inbox: { messages: InboxEntry[] };
  rooms: Paged<ReplyData<"rooms">>;
  room_create: ReplyData<"room_create">;
  join: ReplyData<"room_join">;
  leave: ReplyData<"room_leave">;
  members: Paged<ReplyData<"room_members">>;
  say: {
    room: string;
    id: number;
    recipients: string[];
    /** Members away (or unreachable) it was left for at the registry. */
    later: string[];
    unreached: string[];
  };
  invite: ReplyData<"room_invite">;
  invites: Paged<ReplyData<"invites">>;
  invite_answer:
    | (ReplyData<"invite_accept"> & { action: "accept" })
    | (ReplyData<"invite_decline"> & { action: "decline" });
  invite_withdraw: ReplyData<"invite_withdraw">;
  kick: ReplyData<"room_kick">;
  unban: ReplyData<"room_unban">;
  owner: ReplyData<"room_owner">;
  room_password: ReplyData<"room_password">;
  send: FileOffered | RoomFileOffered;
  files: { transfers: TransferInfo[] };
  file: FileAnswer;
  /** Every setting with its value; `changed` names the one /set changed. */
  set: {
    settings: Record<PreferenceName, string>;
    changed?: PreferenceName;
  };
  verify: VerifyResult;
}

/**
 * Commands a handler answers: every parsed command but a plain line, which
 * becomes /msg or /say before it is answered.
 */
export type Answered = keyof ReplyDataMap;

/** Every parsed command by name. */
export type CommandMap = { [C in Command as C["name"]]: C };

/** The parsed command of one name. */
export type CommandOf<N extends Command["name"]> = CommandMap[N];

/** A successful reply; for a union of names, the union of their replies. */
export type Success<N extends Answered = Answered> = {
  [K in N]: { ok: true; name: K; command: string; data: ReplyDataMap[K] };
}[N];

/** A refused or failed command, with the error's code. */
export interface Failure {
  ok: false;
  command: string;
  error: string;
  code: PeerErrorCode;
}

/** The reply to one command line. */
export type CommandReply = Success | Failure;

/** True when `r` is a successful reply to `name`: narrows its data to that command's. */
export function isReply<N extends Answered>(
  r: CommandReply,
  name: N,
): r is Extract<CommandReply, { name: N }> {
  return r.ok && r.name === name;
}

/** How a command is spelled on the command line: /room, /invite, /join… */
export function spelling(name: Answered): string {
  switch (name) {
    case "room_create":
    case "room_password":
      return "/room";
    case "invite_answer":
    case "invite_withdraw":
      return "/invite";
    default:
      return `/${name}`;
  }
}

/** How the user spelled a command: plain text reports what it became. */
export function commandName(cmd: Command, currentIsRoom: boolean): string {
  if (cmd.name === "text") return currentIsRoom ? "/say" : "/msg";
  return spelling(cmd.name);
}
