-- What the request cost in USD at its model's configured price (issue 15); NULL when the
-- model has no price or the answer reported no usage.
ALTER TABLE request_logs ADD COLUMN cost_usd REAL;
