-- Cluster (issue #14): the nodes sharing this database, and who owns which stream.
--
-- Times in both tables are the database's clock (Unix ms), never a node's: a node whose clock
-- is off must not look alive, or dead, to the others.

CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    -- How other nodes reach this one (its HTTP origin), and where encoders publish to it.
    internal_url TEXT NOT NULL,
    rtmp_url TEXT NOT NULL,
    -- active, draining or gone.
    state TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    -- Load at the last heartbeat.
    streams BIGINT NOT NULL DEFAULT 0,
    viewers BIGINT NOT NULL DEFAULT 0,
    cpu_milli BIGINT NOT NULL DEFAULT 0
);

-- One row per stream (a rendition of a channel, by slug) ever claimed. `epoch` grows by one
-- with every claim: writes that belong to a stream life carry it, and a write with an older
-- epoch changes nothing (fencing).
CREATE TABLE stream_owners (
    channel TEXT NOT NULL,
    rendition TEXT NOT NULL,
    node TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    released BIGINT NOT NULL DEFAULT 0,
    claimed_at BIGINT NOT NULL,
    PRIMARY KEY (channel, rendition)
);

-- Limits that must hold across the nodes of a cluster (a node's memory would multiply them by
-- the number of nodes). GCRA state: the theoretical arrival time, Unix ms.
CREATE TABLE rate_limits (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    tat BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

-- Failed sign-ins to addresses without an account lock them exactly like accounts (so a
-- lockout does not tell which addresses exist).
CREATE TABLE login_lockouts (
    email TEXT PRIMARY KEY,
    failed_logins BIGINT NOT NULL,
    locked_until BIGINT,
    updated_at BIGINT NOT NULL
);
