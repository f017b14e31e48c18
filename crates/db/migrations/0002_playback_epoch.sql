-- Signed playback URLs are bound to a channel's playback epoch: renaming the channel, changing
-- its visibility or revoking a grant starts a new epoch, and URLs minted before stop working.
-- A channel created later under a reused slug has its own epoch, so old URLs never open it.
ALTER TABLE channels ADD COLUMN playback_epoch BIGINT NOT NULL DEFAULT 0;
UPDATE channels SET playback_epoch = created_at;
