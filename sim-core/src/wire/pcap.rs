//! A classic pcap writer into memory, so a simulated capture opens in Wireshark.
//!
//! Format: tcpdump.org "pcap-savefile" / draft-ietf-opsawg-pcap. A 24-byte file
//! header, then per packet a 16-byte record header and the frame bytes. We use the
//! nanosecond-resolution magic 0xa1b23c4d because simulated time is integer
//! nanoseconds; fields are written little-endian and readers detect the byte order
//! from the magic. Writing to disk is the caller's job (sim-core does no I/O).

use crate::time::SimTime;

/// Magic for nanosecond timestamps (draft-ietf-opsawg-pcap §4).
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
pub const VERSION_MAJOR: u16 = 2;
pub const VERSION_MINOR: u16 = 4;
/// Frames longer than this are cut in the capture (orig_len keeps the real size).
pub const SNAPLEN: u32 = 65_535;
/// LINKTYPE_ETHERNET (tcpdump.org link-layer header types).
pub const LINKTYPE_ETHERNET: u32 = 1;
pub const FILE_HEADER_LEN: usize = 24;
pub const RECORD_HEADER_LEN: usize = 16;

/// Accumulates a pcap stream. Frames are stored exactly as given, 802.1Q tags included.
#[derive(Clone, Debug)]
pub struct PcapWriter {
    buf: Vec<u8>,
    packets: usize,
}

impl Default for PcapWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl PcapWriter {
    /// A stream holding only the file header.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(FILE_HEADER_LEN);
        buf.extend_from_slice(&MAGIC_NANOS.to_le_bytes());
        buf.extend_from_slice(&VERSION_MAJOR.to_le_bytes());
        buf.extend_from_slice(&VERSION_MINOR.to_le_bytes());
        buf.extend_from_slice(&0i32.to_le_bytes()); // thiszone: always 0 (UTC)
        buf.extend_from_slice(&0u32.to_le_bytes()); // sigfigs: always 0
        buf.extend_from_slice(&SNAPLEN.to_le_bytes());
        buf.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        PcapWriter { buf, packets: 0 }
    }

    /// Appends one frame seen at simulated time `at` (seconds since the run's start;
    /// Wireshark shows them as dates in January 1970). Seconds past u32::MAX saturate.
    pub fn record(&mut self, at: SimTime, frame: &[u8]) {
        let ns = at.as_nanos();
        let secs = u32::try_from(ns / 1_000_000_000).unwrap_or(u32::MAX);
        let nanos = (ns % 1_000_000_000) as u32;
        let orig_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let incl_len = orig_len.min(SNAPLEN);
        self.buf.extend_from_slice(&secs.to_le_bytes());
        self.buf.extend_from_slice(&nanos.to_le_bytes());
        self.buf.extend_from_slice(&incl_len.to_le_bytes());
        self.buf.extend_from_slice(&orig_len.to_le_bytes());
        self.buf.extend_from_slice(&frame[..incl_len as usize]);
        self.packets += 1;
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Number of frames recorded so far.
    pub fn packets(&self) -> usize {
        self.packets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], i: usize) -> u32 {
        u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
    }

    #[test]
    fn file_header_bytes() {
        let w = PcapWriter::new();
        assert_eq!(
            w.bytes(),
            &[
                0x4d, 0x3c, 0xb2, 0xa1, // magic, little-endian, nanosecond resolution
                2, 0, 4, 0, // version 2.4
                0, 0, 0, 0, // thiszone
                0, 0, 0, 0, // sigfigs
                0xff, 0xff, 0, 0, // snaplen 65535
                1, 0, 0, 0, // LINKTYPE_ETHERNET
            ]
        );
        assert_eq!(w.packets(), 0);
    }

    #[test]
    fn record_layout() {
        let mut w = PcapWriter::new();
        let f1 = [0xaau8; 60];
        let f2 = [0x81u8, 0x00, 1, 2, 3];
        w.record(SimTime(12_000_200_000), &f1);
        w.record(SimTime(3_000_000_007), &f2);
        assert_eq!(w.packets(), 2);
        let b = w.into_bytes();
        assert_eq!(b.len(), 24 + 16 + 60 + 16 + 5);
        let r = 24;
        assert_eq!(u32_at(&b, r), 12);
        assert_eq!(u32_at(&b, r + 4), 200_000);
        assert_eq!(u32_at(&b, r + 8), 60);
        assert_eq!(u32_at(&b, r + 12), 60);
        assert_eq!(&b[r + 16..r + 76], &f1);
        let r = r + 76;
        assert_eq!(u32_at(&b, r), 3);
        assert_eq!(u32_at(&b, r + 4), 7);
        assert_eq!(u32_at(&b, r + 8), 5);
        assert_eq!(&b[r + 16..], &f2);
    }

    #[test]
    fn long_frames_are_cut_to_snaplen() {
        let mut w = PcapWriter::new();
        let big = vec![7u8; 70_000];
        w.record(SimTime::ZERO, &big);
        let b = w.bytes();
        assert_eq!(u32_at(b, 24 + 8), SNAPLEN);
        assert_eq!(u32_at(b, 24 + 12), 70_000);
        assert_eq!(b.len(), 24 + 16 + SNAPLEN as usize);
    }

    #[test]
    fn far_future_seconds_saturate() {
        let mut w = PcapWriter::new();
        w.record(SimTime::MAX, &[]);
        assert_eq!(u32_at(w.bytes(), 24), u32::MAX);
        assert_eq!(u32_at(w.bytes(), 28), (u64::MAX % 1_000_000_000) as u32);
    }
}
