-- A recovered stream's tokens include an estimate for an attempt that broke before it
-- reported its usage (issue 11).
ALTER TABLE request_logs ADD COLUMN usage_estimated BOOLEAN NOT NULL DEFAULT 0;
