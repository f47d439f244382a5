-- Runs and everything they produce. Large arrays (snapshot layers) live as PNG files under
-- the data directory; the database holds one row per file.

CREATE TABLE runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL,
    config           TEXT    NOT NULL,              -- RunConfig as JSON
    task             TEXT    NOT NULL,
    algorithm        TEXT    NOT NULL,
    arch_t1          TEXT    NOT NULL,
    arch_t2          TEXT,
    label_ratio      REAL    NOT NULL,
    seed             INTEGER NOT NULL,
    tags             TEXT    NOT NULL DEFAULT '',   -- comma separated
    status           TEXT    NOT NULL CHECK (status IN
                         ('queued', 'running', 'stopping', 'stopped', 'finished', 'failed', 'interrupted')),
    parent_id        INTEGER REFERENCES runs(id),   -- the run this one was cloned or resumed from
    resume_from      TEXT,                          -- checkpoint to start from (resume)
    device           TEXT,
    total_iterations INTEGER,
    current_step     INTEGER NOT NULL DEFAULT 0,
    best_t1          REAL,
    best_t2          REAL,
    error            TEXT,
    created_at       INTEGER NOT NULL,              -- unix milliseconds
    started_at       INTEGER,
    finished_at      INTEGER
);
CREATE INDEX runs_status ON runs(status);

CREATE TABLE step_metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step   INTEGER NOT NULL,
    data   TEXT    NOT NULL,                        -- StepMetrics as JSON
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;

CREATE TABLE evaluations (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step   INTEGER NOT NULL,
    data   TEXT    NOT NULL,                        -- EvalReport as JSON
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;

CREATE TABLE probes (
    run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx     INTEGER NOT NULL,
    name    TEXT    NOT NULL,
    labeled INTEGER NOT NULL,
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;

CREATE TABLE snapshot_layers (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step   INTEGER NOT NULL,
    probe  INTEGER NOT NULL,
    layer  TEXT    NOT NULL,
    kind   TEXT    NOT NULL,                        -- rgb, classes, map
    path   TEXT    NOT NULL,                        -- relative to the data directory
    vmin   REAL,                                    -- map: value of PNG level 0
    vmax   REAL,                                    -- map: value of PNG level 65535
    PRIMARY KEY (run_id, step, probe, layer)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step       INTEGER NOT NULL,
    best       INTEGER NOT NULL,
    path       TEXT    NOT NULL,                    -- relative to the data directory
    bytes      INTEGER NOT NULL,
    sha256     TEXT    NOT NULL,
    metrics    TEXT,                                -- the evaluation at that step, JSON
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, path)
) WITHOUT ROWID;

CREATE TABLE run_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    at      INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    message TEXT    NOT NULL
);
CREATE INDEX run_events_run ON run_events(run_id, id);
