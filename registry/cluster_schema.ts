/**
 * The tables and functions of a registry cluster, in PostgreSQL only: which
 * registry processes are alive (each renews a lease), which of them holds
 * each online session, and the identity every one of them must present.
 *
 * They hold no data to keep — only who is online now — so they are not part
 * of the versioned store migrations (registry/migrations.ts), which SQLite
 * shares: every start creates what is missing and replaces the functions,
 * under an advisory lock so instances starting together take turns. The
 * functions send the notifications of what they change inside the same
 * transaction, so every instance hears of changes in the order they were
 * committed.
 */

/** Advisory-lock key of the cluster schema. */
const SCHEMA_LOCK = "chat:cluster-schema";

/** How long failures are kept (longer than any throttle's window). */
export const FAILURES_KEPT_S = 3600;

/** The channel every instance listens on for changes of the directory. */
export const CLUSTER_CHANNEL = "chat_cluster";

/** The channel of one instance: events for its users, kicks. */
export function instanceChannel(id: string): string {
  return `chat_i_${id}`;
}

/** One multi-statement query, so one transaction. */
export const CLUSTER_SCHEMA = `
  SELECT pg_advisory_xact_lock(hashtextextended('${SCHEMA_LOCK}', 0));

  CREATE TABLE IF NOT EXISTS cluster_instances (
    id          text PRIMARY KEY,
    address     text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL
  );

  CREATE TABLE IF NOT EXISTS online_sessions (
    id        text PRIMARY KEY,
    member    chat_name NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('peer', 'receive')),
    instance  text NOT NULL,
    host      text NOT NULL,
    p2p_port  integer,
    cert      text,
    cert_fp   text,
    login_at  bigint NOT NULL
  );
  -- One interactive session per user in the whole cluster.
  -- What introductions, reversals and relays of a session held by another
  -- instance need: its session key, the addresses it reported, whether the
  -- connect-back probe reached it (null until it is in), its device.
  ALTER TABLE online_sessions ADD COLUMN IF NOT EXISTS skey text;
  ALTER TABLE online_sessions ADD COLUMN IF NOT EXISTS cands jsonb;
  ALTER TABLE online_sessions ADD COLUMN IF NOT EXISTS reach boolean;
  ALTER TABLE online_sessions ADD COLUMN IF NOT EXISTS device text;
  CREATE UNIQUE INDEX IF NOT EXISTS online_sessions_one_peer
    ON online_sessions (member) WHERE kind = 'peer';
  CREATE INDEX IF NOT EXISTS online_sessions_instance
    ON online_sessions (instance);

  -- Failed logins and room passwords, counted by all instances together.
  CREATE TABLE IF NOT EXISTS cluster_failures (
    key text NOT NULL,
    at  timestamptz NOT NULL DEFAULT clock_timestamp()
  );
  CREATE INDEX IF NOT EXISTS cluster_failures_key ON cluster_failures (key, at);
  CREATE INDEX IF NOT EXISTS cluster_failures_at ON cluster_failures (at);

  -- The certificate fingerprint and ticket key every instance presents.
  CREATE TABLE IF NOT EXISTS cluster_identity (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    fingerprint text NOT NULL,
    signing_key text NOT NULL,
    set_at      timestamptz NOT NULL DEFAULT now()
  );

  -- Records a new session of p_instance. An interactive one takes the
  -- user's slot: status 'online' while a live instance holds it, unless
  -- p_replace; then the older session is removed and returned (old_id,
  -- old_instance) for its instance to be told. A slot held by an instance
  -- whose lease ran out is free, and its session is not returned.
  DROP FUNCTION IF EXISTS chat_claim_session(text, chat_name, text, text,
    text, integer, text, text, bigint, boolean);
  CREATE OR REPLACE FUNCTION chat_claim_session(p_id text, p_member chat_name,
    p_kind text, p_instance text, p_host text, p_port integer, p_cert text,
    p_fp text, p_at bigint, p_replace boolean, p_skey text, p_cands jsonb,
    p_device text,
    OUT status text, OUT old_id text, OUT old_instance text)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    status := 'ok';
    IF p_kind = 'peer' THEN
      PERFORM pg_advisory_xact_lock(
        hashtextextended('chat:online:' || lower(p_member::text), 0));
      SELECT s.id, s.instance INTO old_id, old_instance FROM online_sessions s
       WHERE s.member = p_member AND s.kind = 'peer';
      IF old_id IS NOT NULL THEN
        IF NOT p_replace AND EXISTS (
          SELECT 1 FROM cluster_instances i
           WHERE i.id = old_instance AND i.lease_until > clock_timestamp()) THEN
          status := 'online'; old_id := NULL; old_instance := NULL;
          RETURN;
        END IF;
        DELETE FROM online_sessions WHERE id = old_id;
        PERFORM pg_notify('${CLUSTER_CHANNEL}', json_build_object(
          't', 'down', 'id', old_id, 'i', old_instance)::text);
        -- An instance whose lease ran out is not told (it died, or it
        -- finds out when it registers again).
        IF NOT EXISTS (SELECT 1 FROM cluster_instances i
                        WHERE i.id = old_instance
                          AND i.lease_until > clock_timestamp()) THEN
          old_id := NULL; old_instance := NULL;
        END IF;
      END IF;
    END IF;
    INSERT INTO online_sessions (id, member, kind, instance, host, p2p_port,
      cert, cert_fp, login_at, skey, cands, device)
    VALUES (p_id, p_member, p_kind, p_instance, p_host, p_port, p_cert, p_fp,
      p_at, p_skey, p_cands, p_device);
    PERFORM pg_notify('${CLUSTER_CHANNEL}', json_build_object(
      't', 'up', 'id', p_id, 'u', lower(p_member::text), 'k', p_kind,
      'i', p_instance, 'h', p_host, 'p', p_port, 'f', p_fp, 'at', p_at)::text);
  END $$;

  -- Forgets a session that ended.
  CREATE OR REPLACE FUNCTION chat_release_session(p_id text)
  RETURNS void LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  DECLARE v_instance text;
  BEGIN
    DELETE FROM online_sessions WHERE id = p_id RETURNING instance
      INTO v_instance;
    IF FOUND THEN
      PERFORM pg_notify('${CLUSTER_CHANNEL}', json_build_object(
        't', 'down', 'id', p_id, 'i', v_instance)::text);
    END IF;
  END $$;

  -- (Re)registers an instance with a fresh lease and the sessions it holds
  -- (p_sessions: a JSON array of rows): its other rows go. Returns
  -- ('back', id) for each session whose row was missing and is written
  -- again (swept while the instance stalled, or while it was cut off), and
  -- ('lost', id) for each whose user another instance took meanwhile (the
  -- caller ends it as replaced).
  DROP FUNCTION IF EXISTS chat_register_instance(text, text, integer, jsonb);
  CREATE OR REPLACE FUNCTION chat_register_instance(p_instance text,
    p_address text, p_ttl_ms integer, p_sessions jsonb)
  RETURNS TABLE (r_what text, r_id text)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    INSERT INTO cluster_instances (id, address, lease_until)
    VALUES (p_instance, p_address,
      clock_timestamp() + p_ttl_ms * interval '1 millisecond')
    ON CONFLICT (id) DO UPDATE
      SET address = excluded.address, lease_until = excluded.lease_until;
    DELETE FROM online_sessions s WHERE s.instance = p_instance
      AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_sessions) e
                       WHERE e->>'id' = s.id);
    RETURN QUERY WITH ins AS (
      INSERT INTO online_sessions AS o (id, member, kind, instance, host,
        p2p_port, cert, cert_fp, login_at, skey, cands, reach, device)
      SELECT x.id, x.member, x.kind, p_instance, x.host, x.p2p_port, x.cert,
        x.cert_fp, x.login_at, x.skey, x.cands, x.reach, x.device
        FROM jsonb_to_recordset(p_sessions) AS x(id text, member text,
          kind text, host text, p2p_port integer, cert text, cert_fp text,
          login_at bigint, skey text, cands jsonb, reach boolean, device text)
      ON CONFLICT DO NOTHING RETURNING o.id)
      SELECT 'back'::text, ins.id FROM ins;
    PERFORM pg_notify('${CLUSTER_CHANNEL}', json_build_object(
      't', 'resync', 'i', p_instance)::text);
    RETURN QUERY SELECT 'lost'::text, e->>'id'
      FROM jsonb_array_elements(p_sessions) e
      WHERE NOT EXISTS (SELECT 1 FROM online_sessions s
                         WHERE s.id = e->>'id' AND s.instance = p_instance);
  END $$;

  -- Renews p_instance's lease and sweeps instances whose lease ran out:
  -- rows ('lost', NULL) when p_instance itself was swept (it must register
  -- again), ('dead', id) for each instance swept now and ('gone', user) for
  -- each interactive session it held.
  CREATE OR REPLACE FUNCTION chat_instance_tick(p_instance text,
    p_ttl_ms integer)
  RETURNS TABLE (what text, name text)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  DECLARE v_dead text;
  BEGIN
    UPDATE cluster_instances
       SET lease_until = clock_timestamp() + p_ttl_ms * interval '1 millisecond'
     WHERE id = p_instance;
    IF NOT FOUND THEN
      what := 'lost'; name := NULL; RETURN NEXT;
    END IF;
    DELETE FROM cluster_failures
     WHERE at < clock_timestamp() - interval '${FAILURES_KEPT_S} seconds';
    FOR v_dead IN DELETE FROM cluster_instances
                   WHERE lease_until < clock_timestamp() RETURNING id LOOP
      what := 'dead'; name := v_dead; RETURN NEXT;
      PERFORM pg_notify('${CLUSTER_CHANNEL}', json_build_object(
        't', 'gone', 'i', v_dead)::text);
      RETURN QUERY WITH gone AS (
        DELETE FROM online_sessions s WHERE s.instance = v_dead
        RETURNING s.member, s.kind)
        SELECT 'gone'::text, lower(g.member::text) FROM gone g
         WHERE g.kind = 'peer';
    END LOOP;
  END $$;

  -- Leaves the cluster: the instance's sessions and its row go.
  CREATE OR REPLACE FUNCTION chat_leave_cluster(p_instance text)
  RETURNS void LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    DELETE FROM online_sessions WHERE instance = p_instance;
    DELETE FROM cluster_instances WHERE id = p_instance;
    PERFORM pg_notify('${CLUSTER_CHANNEL}', json_build_object(
      't', 'gone', 'i', p_instance)::text);
  END $$;
`;
