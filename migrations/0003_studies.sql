-- Studies: a label-ratio x algorithm x seed grid of runs (the paper's table). The runs are
-- ordinary runs that point back to their study; one run per cell of the grid.
CREATE TABLE studies (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    config     TEXT    NOT NULL,                    -- StudyConfig as JSON
    created_at INTEGER NOT NULL
);

ALTER TABLE runs ADD COLUMN study_id INTEGER REFERENCES studies(id);
CREATE UNIQUE INDEX runs_study_cell ON runs(study_id, algorithm, label_ratio, seed) WHERE study_id IS NOT NULL;
