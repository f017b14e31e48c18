-- OnAir metadata schema, version 1. One schema for SQLite and PostgreSQL: only TEXT and BIGINT
-- columns (times are Unix milliseconds, flags are 0/1), so the same SQL and the same row mapping
-- serve both databases through sqlx's Any driver.

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,
    display_name      TEXT NOT NULL,
    password_hash     TEXT NOT NULL,
    role              TEXT NOT NULL,
    status            TEXT NOT NULL,
    email_verified_at BIGINT,
    totp_secret       TEXT,
    totp_pending      TEXT,
    totp_last_step    BIGINT,
    failed_logins     BIGINT NOT NULL DEFAULT 0,
    locked_until      BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    csrf_token   TEXT NOT NULL,
    ip           TEXT,
    user_agent   TEXT,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Single-use tokens mailed to users: e-mail verification and password reset.
CREATE TABLE user_tokens (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose);

CREATE TABLE channels (
    id                  TEXT PRIMARY KEY,
    slug                TEXT NOT NULL UNIQUE,
    title               TEXT NOT NULL,
    owner_id            TEXT NOT NULL REFERENCES users (id),
    visibility          TEXT NOT NULL,
    banned              BIGINT NOT NULL DEFAULT 0,
    banned_reason       TEXT,
    segment_duration_ms BIGINT,
    part_duration_ms    BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX channels_owner ON channels (owner_id);

-- Users allowed to watch a private channel.
CREATE TABLE channel_grants (
    channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);

CREATE TABLE devices (
    id                 TEXT PRIMARY KEY,
    owner_id           TEXT NOT NULL REFERENCES users (id),
    channel_id         TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    kind               TEXT NOT NULL,
    enabled            BIGINT NOT NULL DEFAULT 1,
    stream_key_hash    TEXT NOT NULL UNIQUE,
    stream_key_prefix  TEXT NOT NULL,
    last_seen_at       BIGINT,
    last_ip            TEXT,
    current_session_id TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX devices_owner ON devices (owner_id);
CREATE INDEX devices_channel ON devices (channel_id);

CREATE TABLE publish_sessions (
    id           TEXT PRIMARY KEY,
    channel_id   TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    device_id    TEXT,
    node         TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    ended_at     BIGINT,
    bytes        BIGINT NOT NULL DEFAULT 0,
    video_codec  TEXT,
    audio_codec  TEXT,
    width        BIGINT,
    height       BIGINT,
    publisher_ip TEXT,
    end_reason   TEXT
);
CREATE INDEX publish_sessions_channel ON publish_sessions (channel_id, started_at);
CREATE INDEX publish_sessions_device ON publish_sessions (device_id, started_at);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_id    TEXT,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT,
    target_id   TEXT,
    ip          TEXT,
    result      TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor_id, at);
CREATE INDEX audit_log_target ON audit_log (target_id, at);

CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    events     TEXT NOT NULL,
    enabled    BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhooks_owner ON webhooks (owner_id);

CREATE TABLE webhook_deliveries (
    id          TEXT PRIMARY KEY,
    webhook_id  TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    delivery_id TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event_kind  TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    status      BIGINT,
    error       TEXT,
    duration_ms BIGINT NOT NULL,
    succeeded   BIGINT NOT NULL,
    final       BIGINT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, at);

-- Mail that is not sent over SMTP (none configured) or is waiting to be: operators read it here.
CREATE TABLE mail_outbox (
    id         TEXT PRIMARY KEY,
    to_addr    TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at    BIGINT,
    error      TEXT
);

-- Node-wide secrets shared by every node of a cluster (playback URL signing keys).
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
