//! What a webhook says: one JSON object per event.
//!
//! ```json
//! {
//!   "id": "01J9Z3N4X8Q6R2T5V7W9Y1A3C5",
//!   "occurred_at": "2025-06-01T12:00:00.123Z",
//!   "type": "publish.stopped",
//!   "data": {
//!     "channel_id": "ch_1", "channel_slug": "studio-a", "device_id": null,
//!     "publish_session_id": "01J9Z3...", "duration_ms": 3600000, "bytes": 1800000000,
//!     "end_reason": "unpublished"
//!   }
//! }
//! ```
//!
//! * `id` is a ULID, unique per event and identical across retries and endpoints, so receivers
//!   can deduplicate on it.
//! * `type` selects the shape of `data` ([`EventData`]); receivers should ignore types and
//!   fields they do not know, new ones may be added.
//! * `occurred_at` is RFC 3339 in UTC with millisecond precision: when it happened, not when it
//!   was sent.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Why an event could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("encoding webhook event {id} as JSON: {source}")]
    Encode {
        id: String,
        source: serde_json::Error,
    },
}

/// One webhook event. Serializes as `{"id", "occurred_at", "type", "data"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// ULID.
    pub id: String,
    /// RFC 3339, UTC.
    pub occurred_at: String,
    /// The `type` tag and its `data`.
    #[serde(flatten)]
    pub data: EventData,
    /// `true` only on an event sent with "send a test event" (channel `test`): receivers can
    /// tell it from a real one. Absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

/// The event types and their payloads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EventData {
    /// A publisher's stream was accepted and is live.
    #[serde(rename = "publish.started")]
    PublishStarted(PublishStarted),
    /// A publish session ended.
    #[serde(rename = "publish.stopped")]
    PublishStopped(PublishStopped),
    /// A recording of a publish session is complete in object storage.
    #[serde(rename = "record.done")]
    RecordDone(RecordDone),
}

/// The publish session an event is about; common to every event type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRef {
    pub channel_id: String,
    pub channel_slug: String,
    /// The device whose stream key was used, if the publish was authorized by one.
    #[serde(default)]
    pub device_id: Option<String>,
    pub publish_session_id: String,
}

/// `publish.started`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishStarted {
    #[serde(flatten)]
    pub publish: PublishRef,
}

/// `publish.stopped`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishStopped {
    #[serde(flatten)]
    pub publish: PublishRef,
    /// Wall-clock length of the session.
    pub duration_ms: u64,
    /// Bytes received from the publisher.
    pub bytes: u64,
    pub end_reason: EndReason,
}

/// `record.done`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDone {
    #[serde(flatten)]
    pub publish: PublishRef,
    /// The recording's id in the API (`/api/v1/recordings/{id}`).
    #[serde(default)]
    pub recording_id: String,
    /// Its playlist on the origin (`/vod/{id}/index.m3u8`; the channel's playback rules
    /// apply: `POST /api/v1/recordings/{id}/playback-url` signs it).
    #[serde(default)]
    pub playlist_path: String,
    /// Object-storage key prefix under which the recording's objects are stored.
    pub object_prefix: String,
    /// Media duration of the recording.
    pub duration_ms: u64,
}

/// Why a publish session ended. Receivers should treat unknown values like `error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The publisher unpublished (`FCUnpublish` / `deleteStream`).
    Unpublished,
    /// The connection closed without an unpublish.
    Disconnected,
    /// No media arrived for the idle timeout.
    IdleTimeout,
    /// An operator or the API ended the session.
    Kicked,
    /// The node shut down.
    Shutdown,
    /// A protocol or internal error ended the session.
    Error,
}

/// The event type alone, for headers, metrics and the delivery log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    PublishStarted,
    PublishStopped,
    RecordDone,
}

impl EventKind {
    /// The wire name: `publish.started`, `publish.stopped`, `record.done`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PublishStarted => "publish.started",
            EventKind::PublishStopped => "publish.stopped",
            EventKind::RecordDone => "record.done",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EventData {
    pub fn kind(&self) -> EventKind {
        match self {
            EventData::PublishStarted(_) => EventKind::PublishStarted,
            EventData::PublishStopped(_) => EventKind::PublishStopped,
            EventData::RecordDone(_) => EventKind::RecordDone,
        }
    }

    /// The publish session the event is about.
    pub fn publish(&self) -> &PublishRef {
        match self {
            EventData::PublishStarted(e) => &e.publish,
            EventData::PublishStopped(e) => &e.publish,
            EventData::RecordDone(e) => &e.publish,
        }
    }
}

impl WebhookEvent {
    /// A new event that occurred now, with a fresh ULID.
    pub fn new(data: EventData) -> Self {
        Self::at(data, SystemTime::now())
    }

    /// A new event that occurred at `when`, with a fresh ULID.
    pub fn at(data: EventData, when: SystemTime) -> Self {
        Self {
            id: ulid::Ulid::generate().to_string(),
            occurred_at: humantime::format_rfc3339_millis(when).to_string(),
            data,
            test: false,
        }
    }

    pub fn kind(&self) -> EventKind {
        self.data.kind()
    }

    /// The JSON body sent to endpoints.
    pub fn to_json(&self) -> Result<Vec<u8>, EventError> {
        serde_json::to_vec(self).map_err(|source| EventError::Encode {
            id: self.id.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn publish() -> PublishRef {
        PublishRef {
            channel_id: "ch_1".into(),
            channel_slug: "studio-a".into(),
            device_id: None,
            publish_session_id: "ps_1".into(),
        }
    }

    #[test]
    fn json_shape_is_flat_and_tagged() {
        let when = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let ev = WebhookEvent::at(
            EventData::PublishStopped(PublishStopped {
                publish: publish(),
                duration_ms: 5_000,
                bytes: 42,
                end_reason: EndReason::IdleTimeout,
            }),
            when,
        );
        let v: serde_json::Value = serde_json::from_slice(&ev.to_json().unwrap()).unwrap();
        assert_eq!(v["type"], "publish.stopped");
        assert_eq!(v["id"].as_str().unwrap().len(), 26);
        assert_eq!(v["occurred_at"], "2023-11-14T22:13:20.123Z");
        assert_eq!(
            v["data"],
            serde_json::json!({
                "channel_id": "ch_1", "channel_slug": "studio-a", "device_id": null,
                "publish_session_id": "ps_1", "duration_ms": 5000, "bytes": 42,
                "end_reason": "idle_timeout"
            })
        );
        let back: WebhookEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, ev);
        assert_eq!(back.kind().as_str(), "publish.stopped");
    }

    #[test]
    fn every_kind_round_trips() {
        for data in [
            EventData::PublishStarted(PublishStarted { publish: publish() }),
            EventData::RecordDone(RecordDone {
                publish: PublishRef {
                    device_id: Some("dev_9".into()),
                    ..publish()
                },
                recording_id: "rec1".into(),
                playlist_path: "/vod/rec1/index.m3u8".into(),
                object_prefix: "rec/ch_1/ps_1/".into(),
                duration_ms: 1,
            }),
        ] {
            let ev = WebhookEvent::new(data);
            let json = ev.to_json().unwrap();
            let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
            assert_eq!(v["type"], ev.kind().as_str());
            assert_eq!(serde_json::from_slice::<WebhookEvent>(&json).unwrap(), ev);
        }
    }
}
