//! A minimal ISO BMFF box writer: nested boxes with their sizes filled in when they close.

use bytes::{BufMut, BytesMut};

pub struct BoxWriter {
    pub buf: BytesMut,
    open: Vec<usize>,
}

impl BoxWriter {
    pub fn new(capacity: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(capacity),
            open: Vec::new(),
        }
    }

    /// Opens a box; close it with [`BoxWriter::end`].
    pub fn start(&mut self, fourcc: &[u8; 4]) {
        self.open.push(self.buf.len());
        self.buf.put_u32(0);
        self.buf.put_slice(fourcc);
    }

    /// Opens a full box (version and flags).
    pub fn start_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) {
        self.start(fourcc);
        self.buf
            .put_u32((u32::from(version) << 24) | (flags & 0xFF_FFFF));
    }

    /// Closes the innermost open box, writing its size.
    pub fn end(&mut self) {
        if let Some(start) = self.open.pop() {
            let size = (self.buf.len() - start) as u32;
            self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }
}

/// The unity transformation matrix of mvhd/tkhd.
pub const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];
