//! A publishing RTMP client as a sans-IO state machine: handshake, connect, createStream,
//! publish, then audio/video/metadata. Used by our tests (driven against [`crate::ServerSession`]
//! in memory) and by the load tool.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::amf0::{self, Value};
use crate::chunk::{ChunkReader, ChunkWriter, Message};
use crate::handshake::ClientHandshake;
use crate::message::{self as msg, CSID_AUDIO, CSID_COMMAND, CSID_DATA, CSID_VIDEO};
use crate::server::RtmpError;

/// What to publish where.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub app: String,
    pub tc_url: String,
    pub stream_name: String,
    /// Outgoing chunk size (announced before connect).
    pub chunk_size: u32,
}

/// Progress of the client.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    Connected,
    /// `NetStream.Publish.Start` arrived: media may be sent.
    Publishing,
    /// Any `onStatus` (including errors such as `NetStream.Publish.BadName`).
    Status {
        level: String,
        code: String,
        description: String,
    },
}

const TXN_CONNECT: f64 = 1.0;
const TXN_CREATE_STREAM: f64 = 4.0;

pub struct ClientSession {
    config: ClientConfig,
    handshake: ClientHandshake,
    handshaken: bool,
    reader: ChunkReader,
    writer: ChunkWriter,
    input: BytesMut,
    output: VecDeque<Bytes>,
    events: VecDeque<ClientEvent>,
    stream_id: u32,
}

impl ClientSession {
    /// Starts the handshake (C0+C1 are queued).
    pub fn new(config: ClientConfig) -> Self {
        let mut handshake = ClientHandshake::default();
        let c0c1 = handshake.start();
        Self {
            config,
            handshake,
            handshaken: false,
            reader: ChunkReader::new(),
            writer: ChunkWriter::new(),
            input: BytesMut::new(),
            output: VecDeque::from([c0c1]),
            events: VecDeque::new(),
            stream_id: 0,
        }
    }

    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), RtmpError> {
        self.input.extend_from_slice(data);
        if !self.handshaken {
            let mut out = Vec::new();
            if !self.handshake.process(&mut self.input, &mut out)? {
                return Ok(());
            }
            self.output.extend(out);
            self.handshaken = true;
            self.send(msg::set_chunk_size(self.config.chunk_size));
            self.writer.set_chunk_size(self.config.chunk_size);
            let connect = [
                Value::from("connect"),
                Value::Number(TXN_CONNECT),
                Value::object([
                    ("app", self.config.app.as_str().into()),
                    ("type", "nonprivate".into()),
                    ("flashVer", "FMLE/3.0 (compatible; OnAir)".into()),
                    ("tcUrl", self.config.tc_url.as_str().into()),
                ]),
            ];
            self.send(msg::command(CSID_COMMAND, 0, &connect));
        }
        while let Some(m) = self.reader.read(&mut self.input)? {
            self.on_message(m)?;
        }
        Ok(())
    }

    pub fn poll_output(&mut self) -> Option<Bytes> {
        self.output.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Sends `@setDataFrame onMetaData`.
    pub fn send_metadata(&mut self, meta: Value) {
        let payload =
            amf0::encode_all(&["@setDataFrame".into(), "onMetaData".into(), meta]).freeze();
        let m = Message {
            csid: CSID_DATA,
            timestamp: 0,
            type_id: msg::DATA_AMF0,
            stream_id: self.stream_id,
            payload,
        };
        self.send(m);
    }

    /// Sends an FLV audio tag body.
    pub fn send_audio(&mut self, timestamp: u32, payload: Bytes) {
        let m = Message {
            csid: CSID_AUDIO,
            timestamp,
            type_id: msg::AUDIO,
            stream_id: self.stream_id,
            payload,
        };
        self.send(m);
    }

    /// Sends an FLV video tag body.
    pub fn send_video(&mut self, timestamp: u32, payload: Bytes) {
        let m = Message {
            csid: CSID_VIDEO,
            timestamp,
            type_id: msg::VIDEO,
            stream_id: self.stream_id,
            payload,
        };
        self.send(m);
    }

    /// FCUnpublish + deleteStream, as encoders do on a clean stop.
    pub fn unpublish(&mut self) {
        let name = self.config.stream_name.clone();
        self.send(msg::command(
            CSID_COMMAND,
            0,
            &[
                "FCUnpublish".into(),
                6.0.into(),
                Value::Null,
                name.as_str().into(),
            ],
        ));
        let id = f64::from(self.stream_id);
        self.send(msg::command(
            CSID_COMMAND,
            0,
            &["deleteStream".into(), 7.0.into(), Value::Null, id.into()],
        ));
    }

    fn send(&mut self, m: Message) {
        let mut out = Vec::new();
        self.writer.write(m.csid, &m, &mut out);
        self.output.extend(out);
    }

    fn on_message(&mut self, m: Message) -> Result<(), RtmpError> {
        match m.type_id {
            msg::SET_CHUNK_SIZE => {
                let size =
                    msg::read_u32(&m.payload).ok_or(RtmpError::Protocol("short Set Chunk Size"))?;
                self.reader.set_chunk_size(size)?;
            }
            msg::COMMAND_AMF0 => {
                let v = amf0::decode_all(&m.payload)?;
                let name = v.first().and_then(Value::as_str).unwrap_or_default();
                let txn = v.get(1).and_then(Value::as_f64).unwrap_or(0.0);
                match name {
                    "_result" if txn == TXN_CONNECT => {
                        self.events.push_back(ClientEvent::Connected);
                        let name = self.config.stream_name.clone();
                        self.send(msg::command(
                            CSID_COMMAND,
                            0,
                            &[
                                "releaseStream".into(),
                                2.0.into(),
                                Value::Null,
                                name.as_str().into(),
                            ],
                        ));
                        self.send(msg::command(
                            CSID_COMMAND,
                            0,
                            &[
                                "FCPublish".into(),
                                3.0.into(),
                                Value::Null,
                                name.as_str().into(),
                            ],
                        ));
                        self.send(msg::command(
                            CSID_COMMAND,
                            0,
                            &["createStream".into(), TXN_CREATE_STREAM.into(), Value::Null],
                        ));
                    }
                    "_result" if txn == TXN_CREATE_STREAM => {
                        self.stream_id = v.get(3).and_then(Value::as_f64).unwrap_or(1.0) as u32;
                        let name = self.config.stream_name.clone();
                        let publish = [
                            "publish".into(),
                            5.0.into(),
                            Value::Null,
                            name.as_str().into(),
                            "live".into(),
                        ];
                        self.send(msg::command(
                            msg::CSID_STREAM_COMMAND,
                            self.stream_id,
                            &publish,
                        ));
                    }
                    "onStatus" => {
                        let info = v.get(3);
                        let field = |k: &str| {
                            info.and_then(|i| i.get(k))
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned()
                        };
                        let code = field("code");
                        if code == "NetStream.Publish.Start" {
                            self.events.push_back(ClientEvent::Publishing);
                        }
                        self.events.push_back(ClientEvent::Status {
                            level: field("level"),
                            code,
                            description: field("description"),
                        });
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }
}
