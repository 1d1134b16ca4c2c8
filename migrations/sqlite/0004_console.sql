-- The console (issue 16). `attempts`: the failover path with each attempt's timing and
-- outcome, a JSON array (rows logged before this read '[]').
ALTER TABLE request_logs ADD COLUMN attempts TEXT NOT NULL DEFAULT '[]';

-- The request log is read newest first, paged by id (ids start with the arrival time).
-- A filter on a key, one of many and some rare, is a range of (client_key, id); the other
-- filters read back from the newest row until a page is found, and a search for error text
-- reads only the rows with an error. Only these two indexes: every index is paid for on each
-- write of the log, and three more (model, upstream, status) halved the gateway's throughput
-- on 2 cores with SQLite (bench/README.md, "Console queries", has the timings).
CREATE INDEX IF NOT EXISTS request_logs_client_key_id ON request_logs (client_key, id);
CREATE INDEX IF NOT EXISTS request_logs_errors_id ON request_logs (id) WHERE error IS NOT NULL;
