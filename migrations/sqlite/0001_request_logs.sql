-- One row per request the gateway answered (see src/recorder). Booleans are 0/1,
-- created_at is UTC ISO-8601 text (sorts as time), tried and tool_calls are JSON text.
CREATE TABLE request_logs (
    id                TEXT    PRIMARY KEY NOT NULL,
    created_at        TEXT    NOT NULL,
    client_key        TEXT,
    endpoint          TEXT    NOT NULL,
    model             TEXT,
    upstream          TEXT,
    upstream_model    TEXT,
    stream            BOOLEAN NOT NULL,
    status            INTEGER NOT NULL,
    tried             TEXT    NOT NULL,
    error             TEXT,
    latency_ms        REAL    NOT NULL,
    ttft_ms           REAL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    total_tokens      INTEGER,
    finish_reason     TEXT,
    request_body      TEXT,
    response_content  TEXT,
    reasoning_content TEXT,
    tool_calls        TEXT,
    cancelled         BOOLEAN NOT NULL DEFAULT 0,
    malformed         BOOLEAN NOT NULL DEFAULT 0
);

CREATE INDEX request_logs_created_at ON request_logs (created_at);
