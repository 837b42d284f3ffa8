-- The catalog: one row per instance, its checks, the per-service index and the global index.
-- JSON columns hold lists and maps that are always read and written whole.

CREATE TABLE catalog_index (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  value INTEGER NOT NULL
);
INSERT INTO catalog_index (id, value) VALUES (1, 0);

-- A service keeps its row after its last instance leaves, so a blocking query on it sees the
-- removal as a higher index, across restarts too.
CREATE TABLE services (
  name TEXT PRIMARY KEY,
  modify_index INTEGER NOT NULL
);

CREATE TABLE instances (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  address TEXT NOT NULL,
  port INTEGER NOT NULL,
  tags TEXT NOT NULL,
  meta TEXT NOT NULL,
  weight INTEGER NOT NULL,
  region TEXT,
  zone TEXT,
  create_index INTEGER NOT NULL,
  modify_index INTEGER NOT NULL
);
CREATE INDEX instances_by_name ON instances (name);

CREATE TABLE checks (
  id TEXT PRIMARY KEY,
  instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  definition TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('passing', 'warning', 'critical')),
  note TEXT NOT NULL,
  status_changed_at INTEGER NOT NULL
);
CREATE INDEX checks_by_instance ON checks (instance_id);
