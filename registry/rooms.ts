/**
 * Room rules (F14, F15) as pure functions of the room's state, so every rule
 * is tested by a table and the service only fetches state and applies verdicts.
 */

/** Default capacity of a room created without --capacity. */
export const DEFAULT_CAPACITY = 50;

/** A refusal, phrased for the user, with its wire error code. */
export interface Refusal {
  code: "not_found" | "auth" | "full" | "forbidden" | "state" | "invalid";
  message: string;
}

/** What a join attempt knows about the room and the joiner. */
export interface JoinState {
  room: string;
  exists: boolean;
  locked: boolean;
  capacity: number;
  members: number;
  isMember: boolean;
  /** Kicked and not yet unbanned. */
  banned: boolean;
  invited: boolean;
  passwordGiven: boolean;
  /** Whether the given password matched; irrelevant when none was given. */
  passwordOk: boolean;
}

/**
 * Decides a join. A member joining again is fine (idempotent); an invitation
 * stands in for the password; capacity is checked last.
 */
export function decideJoin(s: JoinState): Refusal | "already" | null {
  if (!s.exists) {
    return { code: "not_found", message: `there is no room '${s.room}'` };
  }
  if (s.isMember) return "already";
  if (s.banned) {
    return {
      code: "forbidden",
      message:
        `you were removed from room '${s.room}' and cannot rejoin until its owner unbans you`,
    };
  }
  if (s.locked && !s.invited) {
    if (!s.passwordGiven) {
      return {
        code: "auth",
        message:
          `room '${s.room}' needs a password: /join ${s.room} --password P`,
      };
    }
    if (!s.passwordOk) {
      return { code: "auth", message: `wrong password for room '${s.room}'` };
    }
  }
  if (s.members >= s.capacity) {
    return {
      code: "full",
      message: `room '${s.room}' is full (${s.capacity} members)`,
    };
  }
  return null;
}

/** What an owner-only action knows. */
export interface AdminState {
  room: string;
  exists: boolean;
  actor: string;
  owner: string;
  /** The user acted upon, if any. */
  target?: string;
  targetIsMember?: boolean;
  targetIsBanned?: boolean;
}

/** Decides whether `actor` may kick `target`. */
export function decideKick(s: AdminState): Refusal | null {
  const base = ownerOnly(s, "remove members");
  if (base) return base;
  if (s.target === s.actor) {
    return {
      code: "invalid",
      message: `use /leave ${s.room} to leave your own room`,
    };
  }
  if (!s.targetIsMember) {
    return { code: "state", message: `${s.target} is not in room '${s.room}'` };
  }
  return null;
}

/** Decides whether `actor` may hand ownership to `target`. */
export function decideOwner(s: AdminState): Refusal | null {
  const base = ownerOnly(s, "hand over ownership");
  if (base) return base;
  if (s.target === s.actor) {
    return { code: "state", message: `you already own room '${s.room}'` };
  }
  if (!s.targetIsMember) {
    return {
      code: "state",
      message:
        `${s.target} is not in room '${s.room}'; only members can own it`,
    };
  }
  return null;
}

/** Decides whether `actor` may invite `target`. */
export function decideInvite(s: AdminState): Refusal | null {
  const base = ownerOnly(s, "invite");
  if (base) return base;
  if (s.targetIsMember) {
    return {
      code: "state",
      message: `${s.target} is already in room '${s.room}'`,
    };
  }
  if (s.targetIsBanned) {
    return {
      code: "state",
      message:
        `${s.target} is banned from room '${s.room}' — unban them before inviting`,
    };
  }
  return null;
}

/** Decides whether `actor` may lift `target`'s ban. */
export function decideUnban(s: AdminState): Refusal | null {
  const base = ownerOnly(s, "unban");
  if (base) return base;
  if (!s.targetIsBanned) {
    return {
      code: "state",
      message: `${s.target} is not banned from room '${s.room}'`,
    };
  }
  return null;
}

/** Decides whether `actor` may withdraw an invitation or set the password. */
export function decideOwnerOnly(s: AdminState, what: string): Refusal | null {
  return ownerOnly(s, what);
}

function ownerOnly(s: AdminState, what: string): Refusal | null {
  if (!s.exists) {
    return { code: "not_found", message: `there is no room '${s.room}'` };
  }
  if (s.actor !== s.owner) {
    return {
      code: "forbidden",
      message: `only the owner of '${s.room}' (${s.owner}) can ${what}`,
    };
  }
  return null;
}

/**
 * Who owns a room after `leaving` goes: unchanged unless the owner leaves, then
 * the longest-standing remaining member; null when nobody is left.
 */
export function ownerAfterLeave(
  owner: string,
  membersInJoinOrder: string[],
  leaving: string,
): string | null {
  const rest = membersInJoinOrder.filter((m) => m !== leaving);
  if (rest.length === 0) return null;
  return owner === leaving ? rest[0]! : owner;
}
