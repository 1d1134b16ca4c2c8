-- The console (issue 16). `attempts`: the failover path with each attempt's timing and
-- outcome, a JSON array (rows logged before this read '[]').
ALTER TABLE request_logs ADD COLUMN attempts TEXT NOT NULL DEFAULT '[]';

-- The request log is read newest first, paged by id (ids start with the arrival time), and
-- filtered by one column at a time: with (column, id) an equality filter is a range scan in
-- id order, however rare its rows (bench/README.md, "Console queries", has the timings).
CREATE INDEX IF NOT EXISTS request_logs_client_key_id ON request_logs (client_key, id);
CREATE INDEX IF NOT EXISTS request_logs_model_id ON request_logs (model, id);
CREATE INDEX IF NOT EXISTS request_logs_upstream_id ON request_logs (upstream, id);
CREATE INDEX IF NOT EXISTS request_logs_status_id ON request_logs (status, id);
-- The error-text search reads only the rows with an error, newest first.
CREATE INDEX IF NOT EXISTS request_logs_errors_id ON request_logs (id) WHERE error IS NOT NULL;
