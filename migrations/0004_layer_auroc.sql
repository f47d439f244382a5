-- Per probe image: how well a layer ranks its model's wrong pixels (AUROC). Set on the
-- flaw maps (F's raw map) and on the predictions (the model's own confidence, the
-- baseline F must beat); NULL elsewhere and where the image has no ground truth.
ALTER TABLE snapshot_layers ADD COLUMN auroc REAL;
