//! HTTP/2 frame boundaries of a client's byte stream (data plane), for the watchdog.
//!
//! Not a parser: [`Frames`] reads the 9-byte frame headers (a 24-bit payload length, the
//! type, the flags), skips payloads, and knows whether the bytes read so far stop inside a
//! frame, or inside a header block (a HEADERS frame without END_HEADERS, up to the
//! CONTINUATION frame that has it: h2 surfaces only whole header blocks). Cost per read: a
//! few integer operations per frame header it crosses; a payload is skipped in one step.

/// The connection preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`) counts as a frame of its own.
const PREFACE_LEN: u32 = 24;
/// Bytes in a frame header.
const HEADER_LEN: u8 = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;

/// Where an HTTP/2 client's bytes stand, from the first byte of its preface.
#[derive(Debug)]
pub struct Frames {
    /// Payload bytes of the current frame still to come.
    left: u32,
    /// Bytes of the current frame header read so far (0: none, or in its payload).
    head_len: u8,
    /// The current frame header's length (being assembled), type.
    len: u32,
    kind: u8,
    /// Inside a header block.
    in_block: bool,
    /// Frames outside a header block and whole header blocks completed (wraps).
    done: u64,
}

impl Default for Frames {
    /// A connection whose preface is yet to be read.
    fn default() -> Self {
        Self {
            left: PREFACE_LEN,
            head_len: 0,
            len: 0,
            kind: 0,
            in_block: false,
            done: 0,
        }
    }
}

impl Frames {
    /// Follows `bytes`, the next ones read.
    #[inline]
    pub fn read(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.left > 0 {
                let n = bytes.len().min(self.left as usize);
                // `n <= self.left`, a `u32`: the cast is exact.
                self.left -= n as u32;
                bytes = &bytes[n..];
                if self.left == 0 {
                    self.frame_done();
                }
                continue;
            }
            self.header_byte(bytes[0]);
            bytes = &bytes[1..];
        }
    }

    fn header_byte(&mut self, b: u8) {
        match self.head_len {
            0..=2 => self.len = (self.len << 8) | u32::from(b),
            3 => self.kind = b,
            4 => match self.kind {
                HEADERS => self.in_block = b & END_HEADERS == 0,
                CONTINUATION if b & END_HEADERS != 0 => self.in_block = false,
                _ => {}
            },
            _ => {}
        }
        self.head_len += 1;
        if self.head_len == HEADER_LEN {
            self.head_len = 0;
            self.left = std::mem::take(&mut self.len);
            if self.left == 0 {
                self.frame_done();
            }
        }
    }

    fn frame_done(&mut self) {
        if !self.in_block {
            self.done = self.done.wrapping_add(1);
        }
    }

    /// Inside a frame or a header block.
    #[inline]
    pub fn inside(&self) -> bool {
        self.left > 0 || self.head_len > 0 || self.in_block
    }

    /// What the watchdog reads: frames completed, shifted left once, the low bit set while
    /// [`Self::inside`]. It stays the same as long as no frame is completed.
    #[inline]
    pub fn published(&self) -> u64 {
        (self.done << 1) | u64::from(self.inside())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn header(len: u32, kind: u8, flags: u8) -> Vec<u8> {
        let l = len.to_be_bytes();
        vec![l[1], l[2], l[3], kind, flags, 0, 0, 0, 1]
    }

    #[test]
    fn the_preface_and_whole_frames_end_on_a_boundary() {
        let mut f = Frames::default();
        f.read(&PREFACE[..10]);
        assert!(f.inside());
        f.read(&PREFACE[10..]);
        assert!(!f.inside());
        let mut bytes = header(0, 0x4, 0); // SETTINGS
        bytes.extend(header(5, HEADERS, END_HEADERS | 0x1));
        bytes.extend([0x82; 5]);
        f.read(&bytes);
        assert!(!f.inside());
        assert_eq!(f.published(), 3 << 1);
    }

    #[test]
    fn a_trickled_frame_is_inside_and_completes_nothing() {
        let mut f = Frames::default();
        f.read(PREFACE);
        let before = f.published();
        let mut frame = header(100, HEADERS, END_HEADERS);
        frame.extend([0x82; 99]);
        for b in &frame {
            f.read(std::slice::from_ref(b));
            assert!(f.inside());
            assert_eq!(f.published(), before | 1);
        }
        f.read(&[0x82]);
        assert!(!f.inside());
        assert_eq!(f.published(), before + 2);
    }

    #[test]
    fn a_header_block_is_inside_until_end_headers() {
        let mut f = Frames::default();
        f.read(PREFACE);
        let start = f.published();
        let mut bytes = header(2, HEADERS, 0);
        bytes.extend([0x82; 2]);
        bytes.extend(header(1, CONTINUATION, 0));
        bytes.push(0x84);
        f.read(&bytes);
        // Whole frames, but the block is open: nothing completed.
        assert_eq!(f.published(), start | 1);
        let mut last = header(1, CONTINUATION, END_HEADERS);
        last.push(0x86);
        f.read(&last);
        assert_eq!(f.published(), start + 2);
    }

    #[test]
    fn large_payloads_split_across_reads() {
        let mut f = Frames::default();
        f.read(PREFACE);
        let mut data = header(70_000, 0x0, 0);
        data.extend(vec![0; 70_000]);
        data.extend(header(0, 0x4, 0x1));
        for chunk in data.chunks(4096) {
            f.read(chunk);
        }
        assert!(!f.inside());
        assert_eq!(f.published() >> 1, 3);
    }
}
