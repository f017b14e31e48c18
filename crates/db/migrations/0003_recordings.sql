-- Recordings: a stream life (sid) stored under its object prefix, with its stored playlist.
-- channel_id is empty for streams published without a channel row (open publishing).
ALTER TABLE channels ADD COLUMN record BIGINT NOT NULL DEFAULT 1;
ALTER TABLE channels ADD COLUMN retention_days BIGINT;
CREATE TABLE recordings (
    id           TEXT PRIMARY KEY,
    channel_id   TEXT NOT NULL,
    channel_slug TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    status       TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    ended_at     BIGINT,
    duration_ms  BIGINT NOT NULL DEFAULT 0,
    bytes        BIGINT NOT NULL DEFAULT 0,
    segments     BIGINT NOT NULL DEFAULT 0,
    codecs       TEXT,
    width        BIGINT,
    height       BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX recordings_channel ON recordings (channel_id, started_at);
