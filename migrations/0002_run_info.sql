-- The engine's description of a run's latest start (device, split, probes, class names),
-- as JSON; it was kept in run_events before, which mixed data into the event log.
ALTER TABLE runs ADD COLUMN info TEXT;
