-- Recordings were inserted with started_at 0 (their first progress report came before any
-- segment was stored) and never updated: they date from their creation instead.
UPDATE recordings SET started_at = created_at WHERE started_at = 0;
-- bytes now counts the MP4 a download gives (the fMP4 copy); stored_bytes what the object store
-- holds (fMP4 and MPEG-TS). Older rows counted both in bytes: about half was the fMP4 copy.
ALTER TABLE recordings ADD COLUMN stored_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE recordings SET stored_bytes = bytes, bytes = bytes / 2;
-- Webhook deliveries of "send a test event" are marked as tests.
ALTER TABLE webhook_deliveries ADD COLUMN test BIGINT NOT NULL DEFAULT 0;
