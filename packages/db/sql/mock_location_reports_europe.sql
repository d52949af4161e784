-- Mock location data (the seed's bulk test). For every tracker that has a key but no history yet,
-- one week of reports (one every 30 minutes) around a random European city goes into
-- location_reports; the continuous aggregates and the refresher carry them into location_history.
-- Run it with `pnpm db:mock-data`, or from psql: \i packages/db/sql/mock_location_reports_europe.sql
WITH cities (name, latitude, longitude) AS (
  VALUES
    ('Berlin, DE', 52.5200, 13.4050), ('Paris, FR', 48.8566, 2.3522), ('London, GB', 51.5074, -0.1278),
    ('Madrid, ES', 40.4168, -3.7038), ('Rome, IT', 41.9028, 12.4964), ('Vienna, AT', 48.2082, 16.3738),
    ('Amsterdam, NL', 52.3676, 4.9041), ('Brussels, BE', 50.8503, 4.3517), ('Lisbon, PT', 38.7223, -9.1393),
    ('Dublin, IE', 53.3498, -6.2603), ('Copenhagen, DK', 55.6761, 12.5683), ('Stockholm, SE', 59.3293, 18.0686),
    ('Oslo, NO', 59.9139, 10.7522), ('Helsinki, FI', 60.1699, 24.9384), ('Warsaw, PL', 52.2297, 21.0122),
    ('Prague, CZ', 50.0755, 14.4378), ('Budapest, HU', 47.4979, 19.0402), ('Zurich, CH', 47.3769, 8.5417),
    ('Munich, DE', 48.1351, 11.5820), ('Barcelona, ES', 41.3874, 2.1686), ('Milan, IT', 45.4642, 9.1900),
    ('Athens, GR', 37.9838, 23.7275), ('Edinburgh, GB', 55.9533, -3.1883), ('Porto, PT', 41.1579, -8.6291)
),
targets AS (
  SELECT DISTINCT ON (t.id) t.id AS tracker_id, k.hashed_adv_key
    FROM trackers t
    JOIN tracker_keys k ON k.tracker_id = t.id
   WHERE NOT EXISTS (SELECT 1 FROM location_reports r WHERE r.tracker_id = t.id)
   ORDER BY t.id, k.created_at, k.hashed_adv_key
),
placed AS (
  -- The reference to targets makes the city a new random pick for every tracker.
  SELECT t.tracker_id, t.hashed_adv_key, c.name, c.latitude, c.longitude
    FROM targets t
   CROSS JOIN LATERAL (SELECT * FROM cities WHERE t.tracker_id IS NOT NULL ORDER BY random() LIMIT 1) c
)
INSERT INTO location_reports
  (hashed_adv_key, "timestamp", tracker_id, latitude, longitude, horizontal_accuracy, confidence, status, nearest_city)
SELECT p.hashed_adv_key,
       date_trunc('minute', now()) - g * INTERVAL '30 minutes',
       p.tracker_id,
       p.latitude + (random() - 0.5) * 0.04,
       p.longitude + (random() - 0.5) * 0.06,
       (5 + random() * 45)::int,
       2,
       0,
       p.name
  FROM placed p
 CROSS JOIN generate_series(0, 7 * 48 - 1) AS g
ON CONFLICT DO NOTHING;
