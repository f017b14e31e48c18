//! Program-specific information: PAT and PMT sections (ISO/IEC 13818-1:2019 §2.4.4) with the
//! MPEG-2 CRC32 (Annex A).

use bytes::{BufMut, BytesMut};

/// CRC-32/MPEG-2 (polynomial 0x04C11DB7, no reflection, initial 0xFFFFFFFF, no final xor).
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn section(table_id: u8, id: u16, body: &[u8]) -> BytesMut {
    let mut s = BytesMut::with_capacity(12 + body.len());
    s.put_u8(table_id);
    // section_syntax_indicator 1, '0', reserved '11', section_length (12 bits)
    let len = 5 + body.len() + 4;
    s.put_u16(0xB000 | (len as u16 & 0x0FFF));
    s.put_u16(id);
    s.put_u8(0xC1); // reserved, version 0, current_next 1
    s.put_u8(0); // section_number
    s.put_u8(0); // last_section_number
    s.put_slice(body);
    let crc = crc32_mpeg2(&s);
    s.put_u32(crc);
    s
}

/// PAT with one program.
pub fn pat(program: u16, pmt_pid: u16) -> BytesMut {
    let mut body = BytesMut::new();
    body.put_u16(program);
    body.put_u16(0xE000 | pmt_pid);
    section(0x00, 1, &body)
}

/// PMT of one program: (stream_type, pid) per elementary stream.
pub fn pmt(program: u16, pcr_pid: u16, streams: &[(u8, u16)]) -> BytesMut {
    let mut body = BytesMut::new();
    body.put_u16(0xE000 | pcr_pid);
    body.put_u16(0xF000); // program_info_length 0
    for &(stream_type, pid) in streams {
        body.put_u8(stream_type);
        body.put_u16(0xE000 | pid);
        body.put_u16(0xF000); // ES_info_length 0
    }
    section(0x02, program, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
        // A section's CRC over itself (data + CRC) is zero.
        assert_eq!(crc32_mpeg2(&pat(1, 0x1000)), 0);
    }
}
