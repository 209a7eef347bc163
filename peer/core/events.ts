/**
 * What the peer core tells its front ends. The JSON mode prints
 * these objects as they are; the shell formats them for people.
 */
import type { ContactNotice, LinkPath } from "../net/mod.ts";

/** Every event the core emits. */
export type PeerEvent =
  /** `created`: this login made the account first (--signup). */
  | { type: "ready"; user: string; port: number; created?: true }
  | { type: "presence"; user: string; online: boolean }
  | { type: "friend_request"; from: string }
  | { type: "friend_accepted"; user: string }
  | { type: "friend_removed"; user: string }
  | { type: "chat_request"; from: string; text?: string }
  /** `auto`: a friend's request, accepted at once (accept-friends on). */
  | {
    type: "chat_started";
    with: string;
    saving: boolean;
    path: LinkPath;
    auto?: boolean;
  }
  /**
   * A link to a user was opened (by us or by them): the one a chat or a
   * room's messages use, with the path it took.
   */
  | {
    type: "link";
    with: string;
    purpose: "chat";
    path: LinkPath;
    inbound: boolean;
    /** Set when it replaces the lost link of an open chat. */
    restored?: boolean;
  }
  | { type: "chat_rejected"; by: string; reason?: string }
  | { type: "chat_request_expired"; from: string }
  | { type: "chat_closed"; with: string; reason: string }
  | {
    type: "message";
    from: string;
    text: string;
    id: number;
    room?: string;
    at: string;
    /** A room message said while we were away, from the room's backlog. */
    backlog?: true;
  }
  /** A room's backlog for us overflowed while we were away. */
  | { type: "backlog_dropped"; room: string; count: number }
  | {
    type: "delivered";
    to: string;
    id: number;
    room?: string;
  }
  /** A device of `to` fetched the offline message stored at `sent_at`. */
  | {
    type: "offline_delivered";
    to: string;
    sent_at: string;
    delivered_at: string;
  }
  /**
   * A message of a chat request nobody answered (or whose receiver could
   * not be reached) was left with the registry as an offline message.
   */
  | { type: "stored"; to: string; id: number; sent_at: string; notice: string }
  | { type: "offline_message"; from: string; text: string; sent_at: string }
  | { type: "room_invite"; room: string; from: string }
  /** The room's owner withdrew our invitation (or the room changed hands). */
  | { type: "invite_withdrawn"; room: string }
  /**
   * At login, more friend requests or invitations wait than were pushed:
   * /requests and /invites list them all.
   */
  | { type: "pending"; friend_requests: number; invites: number }
  | { type: "room_joined"; room: string; user: string }
  | {
    type: "room_left";
    room: string;
    user: string;
    reason: "left" | "kicked";
    /** Who removed them (a kick seen as it happened). */
    by?: string;
  }
  | { type: "room_owner"; room: string; user: string }
  | {
    type: "file_offer";
    from: string;
    id: string;
    name: string;
    size: number | null;
    room?: string;
    path: LinkPath;
  }
  | {
    type: "file_progress";
    id: string;
    direction: "in" | "out";
    peer: string;
    name: string;
    bytes: number;
    size: number | null;
    /** Bytes per second over the transfer so far. */
    rate: number;
  }
  | {
    type: "file_received";
    from: string;
    id: string;
    path: string;
    size: number;
    sha256: string;
    /** How the link went: direct, reversed or relayed. */
    via: LinkPath;
  }
  | {
    type: "file_sent";
    to: string;
    id: string;
    size: number;
    sha256: string;
    via: LinkPath;
  }
  | { type: "transfer_failed"; id: string; reason: string }
  | { type: "registry_lost" }
  | { type: "registry_restored" }
  /** `again`: logging in again by itself (a heartbeat timeout). */
  | { type: "timeout"; reason?: string; again?: boolean }
  | { type: "session_ended"; reason: string }
  /**
   * A contact's device keys: first pinned, a new device, a changed key, a
   * device gone. `refused` when the contact was verified: links and offline
   * messages are refused until /verify NAME --confirm.
   */
  | ({ type: "contact_keys" } & ContactNotice)
  /** An offline message held back because its sender's verified keys changed. */
  | { type: "offline_held"; from: string; sent_at: string; reason: string }
  /** A sealed message that was altered or not signed by its sender: dropped. */
  | { type: "offline_refused"; from: string; sent_at: string; reason: string }
  | { type: "error"; message: string };

/** An event type name. */
export type PeerEventType = PeerEvent["type"];

/** A listener of core events. */
export type EventSink = (ev: PeerEvent) => void;
