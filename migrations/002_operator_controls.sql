-- Operator controls: maintenance mode per instance and a config per service.

-- JSON {"reason", "since"} while the instance is held out of answers; NULL otherwise.
ALTER TABLE instances ADD COLUMN maintenance TEXT;

-- A service's operator defaults (load balancing, limit, passing, panic threshold), read whole.
-- Kept apart from `services`: a config outlives the service's tombstone.
CREATE TABLE service_configs (
  name TEXT PRIMARY KEY,
  config TEXT NOT NULL,
  modify_index INTEGER NOT NULL
);
