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
   * PostgreSQL statements, run in one transaction with the step's record.
   * Names are `chat_name` (citext in the C collation): unique and equal in any
   * ASCII case and sorted byte-wise, as SQLite's COLLATE NOCASE. `user` is a
   * reserved word there, so a room member's column is `member`. Rules that
   * read before they write are functions, so each store call is one
   * statement (see registry/postgres_store.ts for why).
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

  -- The store's read-then-write rules, each one statement for the client.
  -- In READ COMMITTED every statement of a function sees what was committed
  -- before it started, so once a function holds its lock it sees the work of
  -- the previous holder: two registries never both pass the same check.

  -- A request from a to b; accepts at once if b had asked a.
  CREATE FUNCTION chat_request_friend(p_a chat_name, p_b chat_name, p_now bigint)
  RETURNS text LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  DECLARE r record;
  BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('chat:friends:' ||
      least(lower(p_a::text) COLLATE "C", lower(p_b::text) COLLATE "C") || ' ' ||
      greatest(lower(p_a::text) COLLATE "C", lower(p_b::text) COLLATE "C"), 0));
    SELECT requester, state INTO r FROM friendships
     WHERE (requester = p_a AND addressee = p_b)
        OR (requester = p_b AND addressee = p_a);
    IF FOUND THEN
      IF r.state = 'accepted' THEN RETURN 'friends'; END IF;
      IF r.requester = p_a THEN RETURN 'pending'; END IF;
      UPDATE friendships SET state = 'accepted', created_at = p_now
       WHERE requester = p_b AND addressee = p_a;
      RETURN 'friends';
    END IF;
    INSERT INTO friendships (requester, addressee, state, created_at)
    VALUES (p_a, p_b, 'pending', p_now);
    RETURN 'pending';
  END $$;

  -- Joins a room with space; the room's row locks its capacity and order.
  -- status: ok, not_found, state (already a member) or full.
  CREATE FUNCTION chat_add_member(p_room chat_name, p_user chat_name,
    p_now bigint, OUT status text, OUT capacity integer)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    SELECT r.capacity INTO capacity FROM rooms r
     WHERE r.name = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN status := 'not_found'; RETURN; END IF;
    IF EXISTS (SELECT 1 FROM room_members
                WHERE room = p_room AND member = p_user) THEN
      status := 'state'; RETURN;
    END IF;
    IF (SELECT count(*) FROM room_members WHERE room = p_room) >= capacity THEN
      status := 'full'; RETURN;
    END IF;
    INSERT INTO room_members (room, member, joined_at, seq)
    VALUES (p_room, p_user, p_now,
      (SELECT COALESCE(max(seq), 0) + 1 FROM room_members WHERE room = p_room));
    status := 'ok';
  END $$;

  -- Leaves a room, as ownerAfterLeave (registry/rooms.ts) decides: the owner
  -- stays unless leaving, then the longest-standing member owns the room;
  -- the room goes when nobody is left.
  CREATE FUNCTION chat_remove_member(p_room chat_name, p_user chat_name,
    OUT removed boolean, OUT new_owner text, OUT deleted boolean)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  DECLARE cur chat_name; nxt chat_name;
  BEGIN
    removed := false; deleted := false;
    SELECT owner INTO cur FROM rooms WHERE name = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN RETURN; END IF;
    DELETE FROM room_members WHERE room = p_room AND member = p_user;
    IF NOT FOUND THEN RETURN; END IF;
    removed := true;
    SELECT member INTO nxt FROM room_members WHERE room = p_room
     ORDER BY seq LIMIT 1;
    IF NOT FOUND THEN
      DELETE FROM rooms WHERE name = p_room;
      deleted := true;
    ELSIF cur = p_user THEN
      UPDATE rooms SET owner = nxt WHERE name = p_room;
      new_owner := nxt;
    END IF;
  END $$;

  -- Stores a message unless the recipient has p_max waiting (new_id null).
  CREATE FUNCTION chat_store_offline(p_from chat_name, p_to chat_name,
    p_text text, p_now bigint, p_max integer,
    OUT new_id bigint, OUT waiting integer)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    PERFORM pg_advisory_xact_lock(
      hashtextextended('chat:offline:' || lower(p_to::text), 0));
    SELECT count(*) INTO waiting FROM offline_messages WHERE recipient = p_to;
    IF waiting >= p_max THEN RETURN; END IF;
    INSERT INTO offline_messages (sender, recipient, text, sent_at)
    VALUES (p_from, p_to, p_text, p_now) RETURNING id INTO new_id;
  END $$;
  `,
  },
  {
    what: "room bans; caps on rooms owned, pending requests and offline mail",
    sqlite: `
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
    postgres: `
  CREATE TABLE room_bans (
    room       chat_name NOT NULL REFERENCES rooms(name) ON DELETE CASCADE,
    member     chat_name NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    banned_by  chat_name NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (room, member)
  );
  CREATE INDEX rooms_by_owner ON rooms(owner);
  CREATE INDEX invitations_by_inviter ON invitations(inviter, state);

  -- The functions of step 1 that now check caps are replaced. Every cap is
  -- counted under an advisory lock on whose count it is; a function takes
  -- its locks in one order (pair, then sender, then recipient), so two
  -- calls never wait on each other in a cycle.
  DROP FUNCTION chat_request_friend(chat_name, chat_name, bigint);
  DROP FUNCTION chat_remove_member(chat_name, chat_name);
  DROP FUNCTION chat_store_offline(chat_name, chat_name, text, bigint, integer);

  -- A request from a to b; accepts at once if b had asked a. A new pending
  -- request is refused (status sender_limit or recipient_limit, n the
  -- count) when a has p_per_sender pending or b has p_per_recipient.
  CREATE FUNCTION chat_request_friend(p_a chat_name, p_b chat_name,
    p_now bigint, p_per_sender integer, p_per_recipient integer,
    OUT status text, OUT n integer)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  DECLARE r record;
  BEGIN
    n := 0;
    PERFORM pg_advisory_xact_lock(hashtextextended('chat:friends:' ||
      least(lower(p_a::text) COLLATE "C", lower(p_b::text) COLLATE "C") || ' ' ||
      greatest(lower(p_a::text) COLLATE "C", lower(p_b::text) COLLATE "C"), 0));
    SELECT requester, state INTO r FROM friendships
     WHERE (requester = p_a AND addressee = p_b)
        OR (requester = p_b AND addressee = p_a);
    IF FOUND THEN
      IF r.state = 'accepted' THEN status := 'friends'; RETURN; END IF;
      IF r.requester = p_a THEN status := 'pending'; RETURN; END IF;
      UPDATE friendships SET state = 'accepted', created_at = p_now
       WHERE requester = p_b AND addressee = p_a;
      status := 'friends'; RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(
      hashtextextended('chat:requests-from:' || lower(p_a::text), 0));
    SELECT count(*) INTO n FROM friendships
     WHERE requester = p_a AND state = 'pending';
    IF n >= p_per_sender THEN status := 'sender_limit'; RETURN; END IF;
    PERFORM pg_advisory_xact_lock(
      hashtextextended('chat:requests-to:' || lower(p_b::text), 0));
    SELECT count(*) INTO n FROM friendships
     WHERE addressee = p_b AND state = 'pending';
    IF n >= p_per_recipient THEN status := 'recipient_limit'; RETURN; END IF;
    INSERT INTO friendships (requester, addressee, state, created_at)
    VALUES (p_a, p_b, 'pending', p_now);
    status := 'pending'; n := 0;
  END $$;

  -- Creates a room with its owner as first member unless the owner already
  -- owns p_max_owned rooms (status limit, owned the count) or the name is
  -- taken (status taken).
  CREATE FUNCTION chat_create_room(p_name chat_name, p_hash text,
    p_capacity integer, p_description text, p_owner chat_name, p_now bigint,
    p_max_owned integer, OUT status text, OUT owned integer)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    PERFORM pg_advisory_xact_lock(
      hashtextextended('chat:owner:' || lower(p_owner::text), 0));
    SELECT count(*) INTO owned FROM rooms WHERE owner = p_owner;
    IF owned >= p_max_owned THEN status := 'limit'; RETURN; END IF;
    INSERT INTO rooms (name, password_hash, capacity, description, owner, created_at)
    VALUES (p_name, p_hash, p_capacity, p_description, p_owner, p_now)
    ON CONFLICT (name) DO NOTHING;
    IF NOT FOUND THEN status := 'taken'; RETURN; END IF;
    INSERT INTO room_members (room, member, joined_at, seq)
    VALUES (p_name, p_owner, p_now, 1);
    status := 'ok';
  END $$;

  -- Leaves a room, as ownerAfterLeave (registry/rooms.ts) decides: the owner
  -- stays unless leaving, then the longest-standing member owns the room and
  -- the pending invitations are withdrawn (withdrawn: their invitees); the
  -- room goes when nobody is left.
  CREATE FUNCTION chat_remove_member(p_room chat_name, p_user chat_name,
    OUT removed boolean, OUT new_owner text, OUT deleted boolean,
    OUT withdrawn text[])
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  DECLARE cur chat_name; nxt chat_name;
  BEGIN
    removed := false; deleted := false; withdrawn := '{}';
    SELECT owner INTO cur FROM rooms WHERE name = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN RETURN; END IF;
    DELETE FROM room_members WHERE room = p_room AND member = p_user;
    IF NOT FOUND THEN RETURN; END IF;
    removed := true;
    SELECT member INTO nxt FROM room_members WHERE room = p_room
     ORDER BY seq LIMIT 1;
    IF NOT FOUND THEN
      DELETE FROM rooms WHERE name = p_room;
      deleted := true;
    ELSIF cur = p_user THEN
      UPDATE rooms SET owner = nxt WHERE name = p_room;
      new_owner := nxt;
      WITH gone AS (
        DELETE FROM invitations WHERE room = p_room AND state = 'pending'
        RETURNING invitee)
      SELECT COALESCE(array_agg(invitee::text ORDER BY invitee), '{}')
        INTO withdrawn FROM gone;
    END IF;
  END $$;

  -- Creates or renews a pending invitation. A new one is refused (status
  -- sender_limit or recipient_limit, n the count) when the inviter has
  -- p_per_sender pending or the invitee p_per_recipient.
  CREATE FUNCTION chat_invite(p_room chat_name, p_invitee chat_name,
    p_inviter chat_name, p_now bigint, p_per_sender integer,
    p_per_recipient integer, OUT status text, OUT n integer)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    n := 0;
    PERFORM pg_advisory_xact_lock(
      hashtextextended('chat:invites-from:' || lower(p_inviter::text), 0));
    PERFORM pg_advisory_xact_lock(
      hashtextextended('chat:invites-to:' || lower(p_invitee::text), 0));
    IF NOT EXISTS (SELECT 1 FROM invitations WHERE room = p_room
                    AND invitee = p_invitee AND state = 'pending') THEN
      SELECT count(*) INTO n FROM invitations
       WHERE inviter = p_inviter AND state = 'pending';
      IF n >= p_per_sender THEN status := 'sender_limit'; RETURN; END IF;
      SELECT count(*) INTO n FROM invitations
       WHERE invitee = p_invitee AND state = 'pending';
      IF n >= p_per_recipient THEN status := 'recipient_limit'; RETURN; END IF;
    END IF;
    INSERT INTO invitations (room, invitee, inviter, state, created_at)
    VALUES (p_room, p_invitee, p_inviter, 'pending', p_now)
    ON CONFLICT (room, invitee) DO UPDATE
    SET inviter = excluded.inviter, state = 'pending',
        created_at = excluded.created_at;
    status := 'ok'; n := 0;
  END $$;

  -- Stores a message unless the recipient has p_per_recipient waiting
  -- (status recipient) or p_per_pair from this sender (status pair), with
  -- waiting the count. With p_discard the caps are checked but nothing is
  -- kept (new_id 0).
  CREATE FUNCTION chat_store_offline(p_from chat_name, p_to chat_name,
    p_text text, p_now bigint, p_per_recipient integer, p_per_pair integer,
    p_discard boolean, OUT status text, OUT new_id bigint, OUT waiting integer)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    PERFORM pg_advisory_xact_lock(
      hashtextextended('chat:offline:' || lower(p_to::text), 0));
    SELECT count(*) INTO waiting FROM offline_messages WHERE recipient = p_to;
    IF waiting >= p_per_recipient THEN status := 'recipient'; RETURN; END IF;
    SELECT count(*) INTO waiting FROM offline_messages
     WHERE recipient = p_to AND sender = p_from;
    IF waiting >= p_per_pair THEN status := 'pair'; RETURN; END IF;
    status := 'ok';
    IF p_discard THEN new_id := 0; RETURN; END IF;
    INSERT INTO offline_messages (sender, recipient, text, sent_at)
    VALUES (p_from, p_to, p_text, p_now) RETURNING id INTO new_id;
  END $$;
  `,
  },
  {
    what: "devices: each machine's login and encryption public keys",
    sqlite: `
  CREATE TABLE devices (
    user       TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    name       TEXT NOT NULL COLLATE NOCASE,
    sign_key   TEXT NOT NULL,
    dh_key     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used  INTEGER,
    PRIMARY KEY (user, name)
  ) STRICT;
  `,
    postgres: `
  CREATE TABLE devices (
    member     chat_name NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    name       chat_name NOT NULL,
    sign_key   text NOT NULL,
    dh_key     text NOT NULL,
    created_at bigint NOT NULL,
    last_used  bigint,
    PRIMARY KEY (member, name)
  );

  -- Adds a device, or replaces the keys of the user's device of that name,
  -- unless the user has p_max other devices (status limit, n the count).
  CREATE FUNCTION chat_add_device(p_user chat_name, p_name chat_name,
    p_sign text, p_dh text, p_now bigint, p_max integer,
    OUT status text, OUT n integer)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    PERFORM pg_advisory_xact_lock(
      hashtextextended('chat:devices:' || lower(p_user::text), 0));
    UPDATE devices SET sign_key = p_sign, dh_key = p_dh, created_at = p_now,
      last_used = p_now
     WHERE member = p_user AND name = p_name;
    IF FOUND THEN status := 'replaced'; n := 0; RETURN; END IF;
    SELECT count(*) INTO n FROM devices WHERE member = p_user;
    IF n >= p_max THEN status := 'limit'; RETURN; END IF;
    INSERT INTO devices (member, name, sign_key, dh_key, created_at, last_used)
    VALUES (p_user, p_name, p_sign, p_dh, p_now, p_now);
    status := 'added'; n := 0;
  END $$;
  `,
  },
  {
    what: "delivery notices of offline messages, kept for their senders",
    sqlite: `
  CREATE TABLE offline_receipts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    sender       TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    recipient    TEXT NOT NULL COLLATE NOCASE,
    sent_at      INTEGER NOT NULL,
    delivered_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX offline_receipts_by_sender ON offline_receipts(sender, id);
  `,
    postgres: `
  CREATE TABLE offline_receipts (
    id           bigserial PRIMARY KEY,
    sender       chat_name NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    recipient    chat_name NOT NULL,
    sent_at      bigint NOT NULL,
    delivered_at bigint NOT NULL
  );
  CREATE INDEX offline_receipts_by_sender ON offline_receipts(sender, id);
  `,
  },
  {
    what: "rooms' backlog for members who are away, and what overflowed",
    sqlite: `
  ALTER TABLE offline_messages ADD COLUMN room TEXT COLLATE NOCASE;
  CREATE INDEX offline_by_room ON offline_messages(recipient, room, id);
  CREATE TABLE backlog_drops (
    recipient TEXT NOT NULL COLLATE NOCASE,
    room      TEXT NOT NULL COLLATE NOCASE,
    dropped   INTEGER NOT NULL,
    PRIMARY KEY (recipient, room)
  ) STRICT;
  `,
    postgres: `
  ALTER TABLE offline_messages ADD COLUMN room chat_name;
  CREATE INDEX offline_by_room ON offline_messages(recipient, room, id);
  CREATE TABLE backlog_drops (
    recipient chat_name NOT NULL,
    room      chat_name NOT NULL,
    dropped   integer NOT NULL,
    PRIMARY KEY (recipient, room)
  );

  -- The caps on offline messages count messages to the user, not a room's.
  CREATE OR REPLACE FUNCTION chat_store_offline(p_from chat_name,
    p_to chat_name, p_text text, p_now bigint, p_per_recipient integer,
    p_per_pair integer, p_discard boolean,
    OUT status text, OUT new_id bigint, OUT waiting integer)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    PERFORM pg_advisory_xact_lock(
      hashtextextended('chat:offline:' || lower(p_to::text), 0));
    SELECT count(*) INTO waiting FROM offline_messages
     WHERE recipient = p_to AND room IS NULL;
    IF waiting >= p_per_recipient THEN status := 'recipient'; RETURN; END IF;
    SELECT count(*) INTO waiting FROM offline_messages
     WHERE recipient = p_to AND sender = p_from AND room IS NULL;
    IF waiting >= p_per_pair THEN status := 'pair'; RETURN; END IF;
    status := 'ok';
    IF p_discard THEN new_id := 0; RETURN; END IF;
    INSERT INTO offline_messages (sender, recipient, text, sent_at)
    VALUES (p_from, p_to, p_text, p_now) RETURNING id INTO new_id;
  END $$;

  -- Keeps a room message for one member, dropping (and counting) what
  -- passes p_max of that room for them.
  CREATE FUNCTION chat_store_backlog(p_from chat_name, p_to chat_name,
    p_room chat_name, p_text text, p_now bigint, p_max integer,
    OUT dropped integer)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    PERFORM pg_advisory_xact_lock(
      hashtextextended('chat:offline:' || lower(p_to::text), 0));
    INSERT INTO offline_messages (sender, recipient, text, sent_at, room)
    VALUES (p_from, p_to, p_text, p_now, p_room);
    DELETE FROM offline_messages WHERE id IN (
      SELECT id FROM offline_messages
       WHERE recipient = p_to AND room = p_room
       ORDER BY id DESC OFFSET p_max);
    GET DIAGNOSTICS dropped = ROW_COUNT;
    IF dropped > 0 THEN
      INSERT INTO backlog_drops (recipient, room, dropped)
      VALUES (p_to, p_room, dropped)
      ON CONFLICT (recipient, room)
      DO UPDATE SET dropped = backlog_drops.dropped + excluded.dropped;
    END IF;
  END $$;
  `,
  },
];
