/**
 * Versioned schema migrations, applied in order from an empty database.
 * PRAGMA user_version records how many have run. Never edit a released step:
 * append a new one.
 */
export const MIGRATIONS: string[] = [
  // 1: accounts, friends, blocks, rooms, invitations, offline messages.
  `
  CREATE TABLE users (
    name          TEXT PRIMARY KEY COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen     INTEGER
  ) STRICT;

  CREATE TABLE friendships (
    requester  TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    addressee  TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'accepted')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (requester, addressee),
    CHECK (requester <> addressee)
  ) STRICT;
  CREATE INDEX friendships_by_addressee ON friendships(addressee);

  CREATE TABLE blocks (
    blocker    TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    blocked    TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (blocker, blocked),
    CHECK (blocker <> blocked)
  ) STRICT;
  CREATE INDEX blocks_by_blocked ON blocks(blocked);

  CREATE TABLE rooms (
    name          TEXT PRIMARY KEY COLLATE NOCASE,
    password_hash TEXT,
    capacity      INTEGER NOT NULL CHECK (capacity > 0),
    description   TEXT NOT NULL,
    owner         TEXT NOT NULL REFERENCES users(name),
    created_at    INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE room_members (
    room      TEXT NOT NULL REFERENCES rooms(name) ON DELETE CASCADE,
    user      TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    joined_at INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (room, user)
  ) STRICT;
  CREATE INDEX room_members_by_user ON room_members(user);

  CREATE TABLE invitations (
    room       TEXT NOT NULL REFERENCES rooms(name) ON DELETE CASCADE,
    invitee    TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    inviter    TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'declined')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (room, invitee)
  ) STRICT;
  CREATE INDEX invitations_by_invitee ON invitations(invitee, state);

  CREATE TABLE offline_messages (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    sender    TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    recipient TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    text      TEXT NOT NULL,
    sent_at   INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX offline_by_recipient ON offline_messages(recipient, id);
  `,
  // 2: bans from rooms; indexes for the per-user quotas.
  `
  CREATE TABLE room_bans (
    room       TEXT NOT NULL REFERENCES rooms(name) ON DELETE CASCADE,
    user       TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    banned_by  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (room, user)
  ) STRICT;
  CREATE INDEX rooms_by_owner ON rooms(owner);
  CREATE INDEX invitations_by_inviter ON invitations(inviter, state);
  `,
];
