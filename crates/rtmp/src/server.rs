//! The server side of an RTMP connection as a sans-IO state machine: bytes and time in, bytes
//! and events out. It answers the handshake, protocol control and the NetConnection/NetStream
//! commands a publisher sends (RTMP specification 1.0 §7.2), and leaves the decision about
//! a publish to its driver ([`ServerSession::accept_publish`] / [`ServerSession::reject_publish`]).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::amf0::{self, Amf0Error, Value};
use crate::chunk::{ChunkError, ChunkLimits, ChunkReader, ChunkWriter, Message};
use crate::handshake::{HandshakeError, HandshakeMode, ServerHandshake};
use crate::message::{self as msg, CSID_COMMAND};

/// Handshake must complete within this by default.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A publishing connection that sends no media for this long is closed by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection must have a publish accepted this soon after it opens (or after its last
/// publish ended) by default: encoders send connect, createStream and publish within a round
/// trip or two of the handshake, so only a peer that is not going to publish waits longer.
pub const DEFAULT_PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// Message streams (createStream) one connection may open.
pub const MAX_MESSAGE_STREAMS: usize = 16;
/// Longest app or stream name accepted.
pub const MAX_NAME_LENGTH: usize = 1024;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Chunk size we send with (announced by Set Chunk Size right after connect).
    pub chunk_size: u32,
    /// Window Acknowledgement Size we ask of the peer and Set Peer Bandwidth.
    pub window_ack_size: u32,
    pub handshake_timeout: Duration,
    /// Time without audio, video or metadata on a publishing stream before the connection is
    /// closed. Control messages, pings and commands do not count: a peer sending only those
    /// is not publishing anything.
    pub idle_timeout: Duration,
    /// Time a connection may spend without a publish accepted (from its start, or from the end
    /// of its last publish).
    pub publish_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            chunk_size: 4096,
            window_ack_size: 2_500_000,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            publish_timeout: DEFAULT_PUBLISH_TIMEOUT,
        }
    }
}

/// What happened on the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// The client connected to an application (already accepted).
    Connect { app: String, tc_url: Option<String> },
    /// The client wants to publish; answer with accept_publish or reject_publish.
    PublishRequest {
        stream_id: u32,
        app: String,
        stream_name: String,
        query: Option<String>,
        publish_type: String,
    },
    /// Stream metadata (`@setDataFrame onMetaData` or `onMetaData`).
    Metadata { stream_id: u32, values: Value },
    /// An FLV audio tag body.
    Audio {
        stream_id: u32,
        timestamp: u32,
        payload: Bytes,
    },
    /// An FLV video tag body.
    Video {
        stream_id: u32,
        timestamp: u32,
        payload: Bytes,
    },
    /// The publisher stopped (FCUnpublish, closeStream or deleteStream).
    Unpublish { stream_id: u32 },
}

/// Errors that end the connection.
#[derive(Debug, thiserror::Error)]
pub enum RtmpError {
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    #[error("bad command: {0}")]
    Amf0(#[from] Amf0Error),
    #[error("handshake not completed within the handshake timeout")]
    HandshakeTimeout,
    #[error("no media within the idle timeout")]
    IdleTimeout,
    #[error("no publish within the publish timeout")]
    PublishTimeout,
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
}

#[derive(Debug, Default)]
struct StreamState {
    /// Stream name while a publish is requested or running.
    publishing: Option<String>,
    accepted: bool,
}

/// One server-side RTMP connection.
pub struct ServerSession {
    config: ServerConfig,
    handshake: ServerHandshake,
    reader: ChunkReader,
    writer: ChunkWriter,
    input: BytesMut,
    output: VecDeque<Bytes>,
    events: VecDeque<ServerEvent>,
    app: Option<String>,
    next_stream_id: u32,
    streams: HashMap<u32, StreamState>,
    bytes_received: u64,
    last_ack: u64,
    peer_window: u32,
    started: Instant,
    /// When the connection last had no accepted publish: its start, or when its last publish
    /// ended. The publish timeout runs from here while nothing is published.
    unpublished_since: Instant,
    /// Last audio, video or metadata of an accepted publish (or the accept itself).
    last_media: Instant,
}

impl ServerSession {
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        let mut reader = ChunkReader::new();
        reader.set_limits(ChunkLimits::PRE_PUBLISH);
        Self {
            config,
            handshake: ServerHandshake::new(),
            reader,
            writer: ChunkWriter::new(),
            // Small until a publish: the driver grows it as media arrives.
            input: BytesMut::with_capacity(4 * 1024),
            output: VecDeque::new(),
            events: VecDeque::new(),
            app: None,
            next_stream_id: 1,
            streams: HashMap::new(),
            bytes_received: 0,
            last_ack: 0,
            peer_window: 0,
            started: now,
            unpublished_since: now,
            last_media: now,
        }
    }

    /// Bytes this connection holds for the peer: unparsed input plus partly received
    /// messages. The driver keeps a budget of these across connections.
    pub fn buffered_bytes(&self) -> usize {
        self.input.len() + self.reader.partial_bytes()
    }

    /// True while a publish is accepted on some message stream.
    pub fn is_publishing(&self) -> bool {
        self.streams.values().any(|s| s.accepted)
    }

    /// The buffer the driver reads socket data into (no copy), followed by
    /// [`ServerSession::process`].
    pub fn input_buffer(&mut self) -> &mut BytesMut {
        &mut self.input
    }

    /// Copies `data` in and processes it.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> Result<(), RtmpError> {
        self.input.extend_from_slice(data);
        self.process(data.len(), now)
    }

    /// Processes what is in the input buffer after `received` new bytes arrived.
    pub fn process(&mut self, received: usize, now: Instant) -> Result<(), RtmpError> {
        self.bytes_received += received as u64;
        if !self.handshake.is_done() {
            let mut out = Vec::new();
            let done = self.handshake.process(&mut self.input, &mut out)?;
            self.output.extend(out);
            if !done {
                return Ok(());
            }
        }
        while let Some(m) = self.reader.read(&mut self.input)? {
            self.on_message(m, now)?;
        }
        if self.peer_window > 0
            && self.bytes_received - self.last_ack >= u64::from(self.peer_window)
        {
            self.last_ack = self.bytes_received;
            self.send(msg::acknowledgement(self.bytes_received as u32));
        }
        Ok(())
    }

    /// Next bytes to write to the socket.
    pub fn poll_output(&mut self) -> Option<Bytes> {
        self.output.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// When [`ServerSession::handle_timeout`] should be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        Some(self.deadline().0)
    }

    /// The earliest deadline in force and the error it ends the connection with.
    fn deadline(&self) -> (Instant, RtmpError) {
        if self.is_publishing() {
            return (
                self.last_media + self.config.idle_timeout,
                RtmpError::IdleTimeout,
            );
        }
        let publish = self.unpublished_since + self.config.publish_timeout;
        let handshake = self.started + self.config.handshake_timeout;
        if !self.handshake.is_done() && handshake <= publish {
            (handshake, RtmpError::HandshakeTimeout)
        } else {
            (publish, RtmpError::PublishTimeout)
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), RtmpError> {
        let (deadline, error) = self.deadline();
        if now >= deadline {
            return Err(error);
        }
        Ok(())
    }

    /// The handshake flavour the client used (for logs and tests).
    pub fn handshake_mode(&self) -> Option<HandshakeMode> {
        self.handshake.is_done().then(|| self.handshake.mode())
    }

    /// Accepts a requested publish: Stream Begin + `NetStream.Publish.Start`.
    pub fn accept_publish(&mut self, stream_id: u32, now: Instant) -> Result<(), RtmpError> {
        let s = self
            .streams
            .get_mut(&stream_id)
            .ok_or(RtmpError::Protocol("no such stream"))?;
        let name = s
            .publishing
            .clone()
            .ok_or(RtmpError::Protocol("stream is not publishing"))?;
        s.accepted = true;
        self.last_media = now;
        self.send(msg::user_control(msg::UC_STREAM_BEGIN, stream_id));
        self.send(msg::on_status(
            stream_id,
            "status",
            "NetStream.Publish.Start",
            &format!("{name} is now published"),
        ));
        Ok(())
    }

    /// Refuses a requested publish with an `onStatus` error (`code` such as
    /// `NetStream.Publish.BadName`). The driver closes the connection after flushing output.
    pub fn reject_publish(&mut self, stream_id: u32, code: &str, description: &str) {
        if let Some(s) = self.streams.get_mut(&stream_id) {
            s.publishing = None;
            s.accepted = false;
        }
        self.send(msg::on_status(stream_id, "error", code, description));
    }

    fn send(&mut self, m: Message) {
        let mut out = Vec::new();
        self.writer.write(m.csid, &m, &mut out);
        self.output.extend(out);
    }

    fn on_message(&mut self, m: Message, now: Instant) -> Result<(), RtmpError> {
        match m.type_id {
            msg::SET_CHUNK_SIZE => {
                let size =
                    msg::read_u32(&m.payload).ok_or(RtmpError::Protocol("short Set Chunk Size"))?;
                self.reader.set_chunk_size(size & 0x7FFF_FFFF)?;
            }
            msg::ABORT => {
                if let Some(csid) = msg::read_u32(&m.payload) {
                    self.reader.abort(csid);
                }
            }
            msg::WINDOW_ACK_SIZE => {
                self.peer_window = msg::read_u32(&m.payload).unwrap_or(0);
            }
            msg::USER_CONTROL => {
                if let Some((msg::UC_PING_REQUEST, ts)) = msg::read_user_control(&m.payload) {
                    self.send(msg::user_control(msg::UC_PING_RESPONSE, ts));
                }
            }
            msg::ACKNOWLEDGEMENT | msg::SET_PEER_BANDWIDTH => {}
            msg::COMMAND_AMF0 => {
                let values = amf0::decode_all(&m.payload)?;
                self.on_command(m.stream_id, values, now)?;
            }
            msg::COMMAND_AMF3 => {
                // AMF3 command messages start with a format byte, then AMF0 values.
                let values = amf0::decode_all(m.payload.get(1..).unwrap_or_default())?;
                self.on_command(m.stream_id, values, now)?;
            }
            msg::DATA_AMF0 | msg::DATA_AMF3 => {
                let body = if m.type_id == msg::DATA_AMF3 {
                    m.payload.get(1..).unwrap_or_default()
                } else {
                    &m.payload[..]
                };
                // Metadata is informational: a malformed one is dropped, not fatal.
                if self.publishing(m.stream_id) {
                    self.last_media = now;
                }
                if let Ok(values) = amf0::decode_all(body) {
                    self.on_data(m.stream_id, values);
                }
            }
            msg::AUDIO | msg::VIDEO => self.on_media(m, now),
            msg::AGGREGATE => {
                for sub in msg::split_aggregate(&m) {
                    if matches!(sub.type_id, msg::AUDIO | msg::VIDEO) {
                        self.on_media(sub, now);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn publishing(&self, stream_id: u32) -> bool {
        self.streams.get(&stream_id).is_some_and(|s| s.accepted)
    }

    fn on_media(&mut self, m: Message, now: Instant) {
        // Media before the publish was accepted (or after it ended) is dropped.
        if m.payload.is_empty() || !self.publishing(m.stream_id) {
            return;
        }
        self.last_media = now;
        let (stream_id, timestamp, payload) = (m.stream_id, m.timestamp, m.payload);
        self.events.push_back(if m.type_id == msg::AUDIO {
            ServerEvent::Audio {
                stream_id,
                timestamp,
                payload,
            }
        } else {
            ServerEvent::Video {
                stream_id,
                timestamp,
                payload,
            }
        });
    }

    fn on_data(&mut self, stream_id: u32, values: Vec<Value>) {
        let meta = match values.first().and_then(Value::as_str) {
            Some("@setDataFrame")
                if values.get(1).and_then(Value::as_str) == Some("onMetaData") =>
            {
                values.get(2)
            }
            Some("onMetaData") => values.get(1),
            _ => None,
        };
        if let Some(v) = meta
            && self.publishing(stream_id)
        {
            self.events.push_back(ServerEvent::Metadata {
                stream_id,
                values: v.clone(),
            });
        }
    }

    fn result(&mut self, txn: f64, values: Vec<Value>) {
        let mut all = vec![Value::from("_result"), Value::Number(txn)];
        all.extend(values);
        self.send(msg::command(CSID_COMMAND, 0, &all));
    }

    fn on_command(&mut self, stream_id: u32, v: Vec<Value>, now: Instant) -> Result<(), RtmpError> {
        let name = v
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let txn = v.get(1).and_then(Value::as_f64).unwrap_or(0.0);
        let arg = |i: usize| v.get(i).and_then(Value::as_str).map(str::to_owned);
        match name.as_str() {
            "connect" => self.on_connect(txn, v.get(2)),
            "releaseStream" | "FCPublish" => {
                if name == "FCPublish" {
                    let stream = arg(3).unwrap_or_default();
                    self.send(msg::command(
                        CSID_COMMAND,
                        0,
                        &[
                            "onFCPublish".into(),
                            0.0.into(),
                            Value::Null,
                            Value::object([
                                ("code", "NetStream.Publish.Start".into()),
                                ("description", stream.as_str().into()),
                            ]),
                        ],
                    ));
                }
                if txn != 0.0 {
                    self.result(txn, vec![Value::Null, Value::Undefined]);
                }
            }
            "createStream" => {
                if self.streams.len() >= MAX_MESSAGE_STREAMS {
                    return Err(RtmpError::Protocol(
                        "too many message streams (MAX_MESSAGE_STREAMS)",
                    ));
                }
                let id = self.next_stream_id;
                self.next_stream_id += 1;
                self.streams.insert(id, StreamState::default());
                self.result(txn, vec![Value::Null, Value::Number(f64::from(id))]);
            }
            "publish" => {
                let Some(app) = self.app.clone() else {
                    return Err(RtmpError::Protocol("publish before connect"));
                };
                let full = arg(3).unwrap_or_default();
                if full.len() > MAX_NAME_LENGTH {
                    return Err(RtmpError::Protocol(
                        "stream name longer than MAX_NAME_LENGTH",
                    ));
                }
                let (stream_name, query) = match full.split_once('?') {
                    Some((n, q)) => (n.to_owned(), Some(q.to_owned())),
                    None => (full.clone(), None),
                };
                let publish_type = arg(4).unwrap_or_else(|| "live".to_owned());
                let Some(s) = self.streams.get_mut(&stream_id) else {
                    self.send(msg::on_status(
                        stream_id,
                        "error",
                        "NetStream.Publish.Failed",
                        "publish on a stream that was not created",
                    ));
                    return Ok(());
                };
                if s.publishing.is_some() {
                    self.send(msg::on_status(
                        stream_id,
                        "error",
                        "NetStream.Publish.BadName",
                        "already publishing",
                    ));
                    return Ok(());
                }
                s.publishing = Some(stream_name.clone());
                // Media may follow the publish command in the same read (before the driver
                // decides): from here on the peer may send real frames. A refused publish
                // closes the connection before anything more is read.
                self.reader.set_limits(ChunkLimits::MAX);
                self.events.push_back(ServerEvent::PublishRequest {
                    stream_id,
                    app,
                    stream_name,
                    query,
                    publish_type,
                });
            }
            "FCUnpublish" => {
                let target = arg(3);
                let ids: Vec<u32> = self
                    .streams
                    .iter()
                    .filter(|(_, s)| s.accepted && (target.is_none() || s.publishing == target))
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.stop_stream(id, now);
                }
                if txn != 0.0 {
                    self.result(txn, vec![Value::Null, Value::Undefined]);
                }
            }
            "closeStream" => self.stop_stream(stream_id, now),
            "deleteStream" => {
                let id = v
                    .get(3)
                    .and_then(Value::as_f64)
                    .map(|f| f as u32)
                    .unwrap_or(stream_id);
                self.stop_stream(id, now);
                self.streams.remove(&id);
            }
            "play" | "play2" => {
                self.send(msg::on_status(
                    stream_id,
                    "error",
                    "NetStream.Play.Failed",
                    "RTMP playback is not offered; watch over HLS or HTTP-FLV",
                ));
            }
            "_result" | "_error" | "onStatus" | "onBWDone" | "_checkbw" | "getStreamLength" => {}
            _ => {
                if txn != 0.0 {
                    let mut all = vec![Value::from("_error"), Value::Number(txn), Value::Null];
                    all.push(Value::object([
                        ("level", "error".into()),
                        ("code", "NetConnection.Call.Failed".into()),
                        (
                            "description",
                            format!("unknown command {name}").as_str().into(),
                        ),
                    ]));
                    self.send(msg::command(CSID_COMMAND, 0, &all));
                }
            }
        }
        Ok(())
    }

    fn stop_stream(&mut self, id: u32, now: Instant) {
        if let Some(s) = self.streams.get_mut(&id) {
            let was = s.accepted;
            s.accepted = false;
            s.publishing = None;
            if was {
                self.events
                    .push_back(ServerEvent::Unpublish { stream_id: id });
                if !self.is_publishing() {
                    self.unpublished_since = now;
                }
            }
        }
    }

    fn on_connect(&mut self, txn: f64, props: Option<&Value>) {
        let mut app = props
            .and_then(|p| p.get("app"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        // Some encoders append the query or a trailing slash to the app.
        if let Some((a, _)) = app.split_once('?') {
            app = a.to_owned();
        }
        let app = app
            .trim_end_matches('/')
            .chars()
            .take(MAX_NAME_LENGTH)
            .collect::<String>();
        let tc_url = props
            .and_then(|p| p.get("tcUrl"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let encoding = props
            .and_then(|p| p.get("objectEncoding"))
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        self.send(msg::window_ack_size(self.config.window_ack_size));
        self.send(msg::set_peer_bandwidth(self.config.window_ack_size));
        self.send(msg::set_chunk_size(self.config.chunk_size));
        self.writer.set_chunk_size(self.config.chunk_size);
        let mut server_props = vec![
            ("fmsVer".to_owned(), Value::from("FMS/3,5,7,7009")),
            ("capabilities".to_owned(), Value::Number(31.0)),
        ];
        // Enhanced RTMP: echo the codecs we accept of those the client offered.
        if let Some(Value::StrictArray(offered)) = props.and_then(|p| p.get("fourCcList")) {
            let ours = ["avc1", "hvc1", "mp4a"];
            let both: Vec<Value> = offered
                .iter()
                .filter_map(Value::as_str)
                .filter(|c| ours.contains(c))
                .map(Value::from)
                .collect();
            server_props.push(("fourCcList".to_owned(), Value::StrictArray(both)));
        }
        self.result(
            txn,
            vec![
                Value::Object(server_props),
                Value::object([
                    ("level", "status".into()),
                    ("code", "NetConnection.Connect.Success".into()),
                    ("description", "Connection succeeded.".into()),
                    ("objectEncoding", Value::Number(encoding)),
                ]),
            ],
        );
        self.app = Some(app.clone());
        self.events.push_back(ServerEvent::Connect { app, tc_url });
    }
}
