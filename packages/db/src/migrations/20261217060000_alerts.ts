import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  // Places: a circle (centre, radius in metres) or a polygon (a GeoJSON Polygon's coordinates,
  // [longitude, latitude] pairs, outer ring first). tracker_ids NULL: every tracker.
  await sql`
    CREATE TABLE alert_places (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      shape text NOT NULL CHECK (shape IN ('circle', 'polygon')),
      center_latitude double precision CHECK (center_latitude BETWEEN -90 AND 90),
      center_longitude double precision CHECK (center_longitude BETWEEN -180 AND 180),
      radius_m double precision CHECK (radius_m > 0),
      polygon jsonb,
      tracker_ids uuid[],
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK (
        (shape = 'circle' AND center_latitude IS NOT NULL AND center_longitude IS NOT NULL
          AND radius_m IS NOT NULL AND polygon IS NULL)
        OR (shape = 'polygon' AND polygon IS NOT NULL AND center_latitude IS NULL
          AND center_longitude IS NULL AND radius_m IS NULL))
    )`.execute(db)

  // Where alerts go. webhook: url + secret (Standard Webhooks' whsec_…); ntfy: url (server) + topic
  // (+ an optional access token in secret); mqtt: topic on the bridge's broker.
  await sql`
    CREATE TABLE alert_channels (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      kind text NOT NULL CHECK (kind IN ('webhook', 'ntfy', 'mqtt')),
      url text,
      topic text,
      secret text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK (kind <> 'webhook' OR (url IS NOT NULL AND secret IS NOT NULL)),
      CHECK (kind <> 'ntfy' OR (url IS NOT NULL AND topic IS NOT NULL)),
      CHECK (kind <> 'mqtt' OR topic IS NOT NULL)
    )`.execute(db)

  // Rules. enter / leave: place_id, hysteresis_m (outside only beyond the boundary plus this) and
  // confirmations (reports in a row that a change takes); not_seen: not_seen_seconds; battery:
  // battery_at_or_below. tracker_ids NULL: every tracker (the place's own list applies too).
  // muted: evaluated and recorded, not delivered.
  await sql`
    CREATE TABLE alert_rules (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      kind text NOT NULL CHECK (kind IN ('enter', 'leave', 'not_seen', 'battery')),
      place_id uuid REFERENCES alert_places (id) ON DELETE CASCADE,
      hysteresis_m double precision NOT NULL DEFAULT 50 CHECK (hysteresis_m >= 0),
      confirmations integer NOT NULL DEFAULT 2 CHECK (confirmations BETWEEN 1 AND 10),
      not_seen_seconds integer CHECK (not_seen_seconds > 0),
      battery_at_or_below text CHECK (battery_at_or_below IN ('medium', 'low', 'critical')),
      tracker_ids uuid[],
      channel_ids uuid[] NOT NULL DEFAULT '{}',
      enabled boolean NOT NULL DEFAULT true,
      muted boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK ((kind IN ('enter', 'leave')) = (place_id IS NOT NULL)),
      CHECK ((kind = 'not_seen') = (not_seen_seconds IS NOT NULL)),
      CHECK ((kind = 'battery') = (battery_at_or_below IS NOT NULL))
    )`.execute(db)
  await sql`CREATE INDEX alert_rules_place ON alert_rules (place_id)`.execute(db)

  // What happened, in report time: between occurred_after (the last report in the old state; NULL
  // when unknown) and occurred_before (the first report in the new one; for not_seen, last seen plus
  // the duration), confirmed by the report at confirmed_at, learnt at detected_at. A late report that
  // moves the interval updates it (refined_at); one that undoes it cancels it (cancelled_at, reason).
  // One live event per transition, enforced here: a second evaluator's insert conflicts.
  await sql`
    CREATE TABLE alert_events (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      rule_id uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
      tracker_id uuid NOT NULL REFERENCES trackers (id) ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('enter', 'leave', 'not_seen', 'battery')),
      occurred_after timestamptz,
      occurred_before timestamptz NOT NULL,
      confirmed_at timestamptz NOT NULL,
      latitude double precision,
      longitude double precision,
      detail jsonb NOT NULL DEFAULT '{}',
      detected_at timestamptz NOT NULL DEFAULT now(),
      refined_at timestamptz,
      cancelled_at timestamptz,
      cancel_reason text,
      CHECK (occurred_after IS NULL OR occurred_after <= occurred_before),
      CHECK ((cancelled_at IS NULL) = (cancel_reason IS NULL))
    )`.execute(db)
  await sql`
    CREATE UNIQUE INDEX alert_events_one_live_per_transition
      ON alert_events (rule_id, tracker_id, kind, occurred_before) WHERE cancelled_at IS NULL`.execute(db)
  await sql`CREATE INDEX alert_events_tracker_time ON alert_events (tracker_id, occurred_before DESC)`.execute(
    db,
  )
  await sql`CREATE INDEX alert_events_detected ON alert_events (detected_at DESC)`.execute(db)

  // The outbox: one row per event, channel and action, written in the evaluation's transaction; its
  // id is the idempotency key every attempt carries. A deliverer leases due rows (leased_until),
  // sends, and records the attempt; past the attempt limit the row is given up (status failed).
  await sql`
    CREATE TABLE alert_outbox (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      event_id uuid NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
      channel_id uuid NOT NULL REFERENCES alert_channels (id) ON DELETE CASCADE,
      action text NOT NULL CHECK (action IN ('fired', 'cancelled')),
      payload jsonb NOT NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      leased_until timestamptz,
      last_error text,
      delivered_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (event_id, channel_id, action)
    )`.execute(db)
  await sql`CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at) WHERE status = 'pending'`.execute(
    db,
  )
  await sql`CREATE INDEX alert_outbox_channel ON alert_outbox (channel_id)`.execute(db)

  await sql`
    CREATE TABLE alert_delivery_attempts (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      outbox_id uuid NOT NULL REFERENCES alert_outbox (id) ON DELETE CASCADE,
      attempt integer NOT NULL,
      attempted_at timestamptz NOT NULL DEFAULT now(),
      duration_ms integer NOT NULL,
      ok boolean NOT NULL,
      status_code integer,
      error text
    )`.execute(db)
  await sql`CREATE INDEX alert_delivery_attempts_outbox ON alert_delivery_attempts (outbox_id, attempt)`.execute(
    db,
  )

  // Work for the evaluator: which report-time span of which tracker got new reports, written in the
  // same transaction as the reports (so a crash after the insert loses no evaluation).
  await sql`
    CREATE TABLE alert_pending (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      tracker_id uuid NOT NULL REFERENCES trackers (id) ON DELETE CASCADE,
      from_ts timestamptz NOT NULL,
      to_ts timestamptz NOT NULL,
      queued_at timestamptz NOT NULL DEFAULT now(),
      CHECK (from_ts <= to_ts)
    )`.execute(db)
  await sql`CREATE INDEX alert_pending_tracker ON alert_pending (tracker_id)`.execute(db)

  // One row per tracker that evaluators lock (FOR UPDATE) while they evaluate it: two evaluators of
  // the same tracker take turns, whatever process they run in.
  await sql`
    CREATE TABLE alert_tracker_state (
      tracker_id uuid PRIMARY KEY REFERENCES trackers (id) ON DELETE CASCADE,
      evaluated_at timestamptz
    )`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'alert_tracker_state',
    'alert_pending',
    'alert_delivery_attempts',
    'alert_outbox',
    'alert_events',
    'alert_rules',
    'alert_channels',
    'alert_places',
  ])
    await sql`DROP TABLE ${sql.table(table)}`.execute(db)
}
