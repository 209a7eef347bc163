/**
 * Versioned schema migrations, applied in order from an empty database.
 *
 * Each step is written once per engine, side by side, so both engines always
 * have the same number of steps and step N means the same tables in each.
 * SQLite records how many have run in PRAGMA user_version; PostgreSQL in its
 * schema_version table (one row per applied step). Never edit a released
 * step: append a new one, for both engines.
 */

/** One schema step for both engines; the two texts mean the same tables. */
export interface Migration {
  /** What the step adds, for the schema_version table and for readers. */
  what: string;
  /** SQLite statements (node:sqlite, STRICT tables). */
  sqlite: string;
  /**
   * PostgreSQL statements, run as one simple query in one transaction.
   * Names are `chat_name` (citext in the C collation): unique and equal in any
   * ASCII case and sorted byte-wise, as SQLite's COLLATE NOCASE. `user` is a
   * reserved word there, so a room member's column is `member`.
   */
  postgres: string;
}

/** Every step, oldest first. */
export const MIGRATIONS: readonly Migration[] = [
  {
    what: "accounts, friends, blocks, rooms, invitations, offline messages",
    sqlite: `
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
    postgres: `
  CREATE EXTENSION IF NOT EXISTS citext;
  CREATE DOMAIN chat_name AS citext COLLATE "C";

  CREATE TABLE users (
    name          chat_name PRIMARY KEY,
    password_hash text NOT NULL,
    status        text NOT NULL,
    created_at    bigint NOT NULL,
    last_seen     bigint
  );

  CREATE TABLE friendships (
    requester  chat_name NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    addressee  chat_name NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    state      text NOT NULL CHECK (state IN ('pending', 'accepted')),
    created_at bigint NOT NULL,
    PRIMARY KEY (requester, addressee),
    CHECK (requester <> addressee)
  );
  CREATE INDEX friendships_by_addressee ON friendships(addressee);

  CREATE TABLE blocks (
    blocker    chat_name NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    blocked    chat_name NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    PRIMARY KEY (blocker, blocked),
    CHECK (blocker <> blocked)
  );
  CREATE INDEX blocks_by_blocked ON blocks(blocked);

  CREATE TABLE rooms (
    name          chat_name PRIMARY KEY,
    password_hash text,
    capacity      integer NOT NULL CHECK (capacity > 0),
    description   text NOT NULL,
    owner         chat_name NOT NULL REFERENCES users(name),
    created_at    bigint NOT NULL
  );

  CREATE TABLE room_members (
    room      chat_name NOT NULL REFERENCES rooms(name) ON DELETE CASCADE,
    member    chat_name NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    joined_at bigint NOT NULL,
    seq       integer NOT NULL,
    PRIMARY KEY (room, member)
  );
  CREATE INDEX room_members_by_member ON room_members(member);

  CREATE TABLE invitations (
    room       chat_name NOT NULL REFERENCES rooms(name) ON DELETE CASCADE,
    invitee    chat_name NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    inviter    chat_name NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    state      text NOT NULL CHECK (state IN ('pending', 'accepted', 'declined')),
    created_at bigint NOT NULL,
    PRIMARY KEY (room, invitee)
  );
  CREATE INDEX invitations_by_invitee ON invitations(invitee, state);

  CREATE TABLE offline_messages (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender    chat_name NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    recipient chat_name NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    text      text NOT NULL,
    sent_at   bigint NOT NULL
  );
  CREATE INDEX offline_by_recipient ON offline_messages(recipient, id);
  `,
  },
];
