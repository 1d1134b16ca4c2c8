-- One row per request the gateway answered (see src/recorder); several gateways may share
-- this table. tried and tool_calls are JSON text, kept as TEXT so both backends read alike.
CREATE TABLE request_logs (
    id                TEXT             PRIMARY KEY,
    created_at        TIMESTAMPTZ      NOT NULL,
    client_key        TEXT,
    endpoint          TEXT             NOT NULL,
    model             TEXT,
    upstream          TEXT,
    upstream_model    TEXT,
    stream            BOOLEAN          NOT NULL,
    status            INTEGER          NOT NULL,
    tried             TEXT             NOT NULL,
    error             TEXT,
    latency_ms        DOUBLE PRECISION NOT NULL,
    ttft_ms           DOUBLE PRECISION,
    prompt_tokens     BIGINT,
    completion_tokens BIGINT,
    total_tokens      BIGINT,
    finish_reason     TEXT,
    request_body      TEXT,
    response_content  TEXT,
    reasoning_content TEXT,
    tool_calls        TEXT,
    cancelled         BOOLEAN          NOT NULL DEFAULT FALSE,
    malformed         BOOLEAN          NOT NULL DEFAULT FALSE
);

CREATE INDEX request_logs_created_at ON request_logs (created_at);
