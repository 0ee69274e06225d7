//! The server name a TLS client asks for, read from its ClientHello without terminating TLS
//! (data plane, `tls-passthrough` listeners).
//!
//! A passthrough connection reads the client's first bytes with [`read_client_hello`], routes
//! on the name it returns, connects upstream and writes *exactly the bytes read* there before
//! copying both ways: nothing is consumed or altered, so the upstream sees the client's own
//! handshake. [`Scan`] is the parser behind it, fed the buffer again after every read;
//! [`parse_sni`] answers for one buffer. Ours rather than rustls' `Acceptor` (README,
//! *Parsers*): the `Acceptor` refuses hellos a backend may well accept (no
//! `signature_algorithms`, no null compression), drops IP-literal names, and is slower.
//!
//! Invariants:
//! - No input panics or indexes out of bounds: every length is checked before it is used
//!   (a property test feeds random bytes and mutated real hellos).
//! - At most [`MAX_HELLO`] bytes are buffered. A ClientHello whose records need more is
//!   [`SniError::TooLarge`]; 16 KiB is about nine times a post-quantum hello (an
//!   X25519MLKEM768 key share is 1,216 bytes, a whole browser hello about 1,800).
//! - A hello may be split across several handshake records and arrive in reads of any size:
//!   every proper prefix of a valid hello is [`Peek::Incomplete`], never an error.
//! - Reading costs time linear in the bytes read, however they are cut: [`read_client_hello`]
//!   keeps one [`Scan`], which looks at each whole record once (a hello in 1-byte records
//!   dripped a byte per read used to be walked again after every read: quadratic).
//! - A name returned is a valid ASCII host name (letters, digits, `-`, `.`, `_`; 1 to 253
//!   bytes), lowercased: callers compare it as is.
//! - The ClientHello is parsed strictly (framing of every extension, no duplicate
//!   `server_name`), so berth never routes on one name while the upstream sees another.

use std::fmt;
use std::io;

use bytes::BufMut;
use tokio::io::{AsyncRead, AsyncReadExt};

use hello::parse_client_hello;

mod hello;
#[cfg(test)]
mod tests;

/// Record header: content type, legacy version (2 bytes), fragment length (2 bytes).
const RECORD_HEADER: usize = 5;
/// Handshake message header: type, body length (3 bytes).
const HANDSHAKE_HEADER: usize = 4;
/// Largest record fragment a peer may send (RFC 8446 §5.1).
const MAX_FRAGMENT: usize = 1 << 14;
const CONTENT_HANDSHAKE: u8 = 0x16;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const EXTENSION_SERVER_NAME: u16 = 0;
const NAME_TYPE_HOST: u8 = 0;
/// Longest host name (RFC 1035, without a trailing dot).
const MAX_NAME: usize = 253;
/// Bytes asked for per read.
const READ_CHUNK: usize = 4096;

/// The most bytes a ClientHello may take on the wire, record headers included: one full
/// record. A hello split across records must fit the same budget.
pub const MAX_HELLO: usize = MAX_FRAGMENT + RECORD_HEADER;

/// Why no server name could be read. Not having one is no error: see [`Peek::NoSni`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SniError {
    #[error("not a TLS handshake")]
    NotTls,
    #[error("first TLS handshake message is not a ClientHello")]
    NotClientHello,
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
    #[error("ClientHello larger than {MAX_HELLO} bytes")]
    TooLarge,
    #[error("server name is not a valid host name")]
    BadName,
    #[error("connection closed before the ClientHello was complete")]
    Closed,
    #[error("reading the ClientHello: {0}")]
    Io(io::ErrorKind),
}

impl SniError {
    /// A short stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotTls => "not_tls",
            Self::NotClientHello => "not_client_hello",
            Self::Malformed(_) => "malformed",
            Self::TooLarge => "too_large",
            Self::BadName => "bad_name",
            Self::Closed => "closed",
            Self::Io(_) => "io",
        }
    }
}

/// What the bytes read so far say.
// The name is inline on purpose (no allocation per connection); a `Peek` is a short-lived
// return value.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peek {
    /// A prefix of a ClientHello: read more.
    Incomplete,
    /// A whole ClientHello without a `host_name` server name.
    NoSni,
    /// A whole ClientHello asking for this name.
    Sni(HostName),
}

/// A validated, lowercased host name, kept inline (no allocation).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HostName {
    len: u8,
    bytes: [u8; MAX_NAME],
}

impl HostName {
    /// `name` lowercased, if it is a host name.
    fn parse(name: &[u8]) -> Result<Self, SniError> {
        let valid = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
        if name.is_empty() || name.len() > MAX_NAME || !name.iter().all(valid) {
            return Err(SniError::BadName);
        }
        let mut bytes = [0; MAX_NAME];
        for (to, from) in bytes.iter_mut().zip(name) {
            *to = from.to_ascii_lowercase();
        }
        // Fits: checked against MAX_NAME (253) above.
        let len = name.len() as u8;
        Ok(Self { len, bytes })
    }

    pub fn as_str(&self) -> &str {
        // Invariant: `parse` stores ASCII bytes only, which are valid UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("host names are ASCII")
    }
}

impl AsRef<str> for HostName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Reads from `r` into `buf` until it holds a whole ClientHello, and returns its server
/// name (`None`: the client sent none). `buf` keeps every byte read, possibly some past the
/// hello: the caller forwards all of them upstream first. Bytes already in `buf` count as
/// read. The caller bounds the time this takes (header-read timeout).
pub async fn read_client_hello<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> Result<Option<HostName>, SniError> {
    let mut scan = Scan::default();
    loop {
        match scan.peek(buf)? {
            Peek::Sni(name) => return Ok(Some(name)),
            Peek::NoSni => return Ok(None),
            Peek::Incomplete if buf.len() >= MAX_HELLO => return Err(SniError::TooLarge),
            Peek::Incomplete => read_some(r, buf).await?,
        }
    }
}

/// Appends one read's bytes (at most up to [`MAX_HELLO`] in `buf`), into spare capacity:
/// nothing is zeroed per read.
async fn read_some<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> Result<(), SniError> {
    let room = MAX_HELLO.saturating_sub(buf.len()).min(READ_CHUNK);
    buf.reserve(room);
    match r.read_buf(&mut buf.limit(room)).await {
        Ok(0) => Err(SniError::Closed),
        Ok(_) => Ok(()),
        Err(e) => Err(SniError::Io(e.kind())),
    }
}

/// What `buf`, the first bytes a client sent, says about its server name. Bytes past the
/// ClientHello are ignored.
pub fn parse_sni(buf: &[u8]) -> Result<Peek, SniError> {
    Scan::default().peek(buf)
}

/// A walk over a ClientHello's records that resumes where the last call stopped: each whole
/// record is checked once, however many reads the hello takes.
#[derive(Debug, Default, Clone)]
pub struct Scan {
    /// Where the next record's header starts; the records before it are whole and checked.
    pos: usize,
    /// Handshake bytes in the records before `pos`.
    before: usize,
    /// The handshake header's first `before.min(4)` bytes.
    header: [u8; HANDSHAKE_HEADER],
}

impl Scan {
    /// What `buf` says. `buf` must begin with the bytes earlier calls were given (the same
    /// connection's bytes, more of them), and no call may follow one that was not
    /// [`Peek::Incomplete`].
    pub fn peek(&mut self, buf: &[u8]) -> Result<Peek, SniError> {
        let Some(message) = self.find_hello(buf)? else {
            return Ok(Peek::Incomplete);
        };
        let name = match message {
            Message::Contiguous(body) => parse_client_hello(body)?,
            Message::Fragmented(len) => parse_client_hello(&reassemble(buf, len)?)?,
        };
        Ok(name.map_or(Peek::NoSni, Peek::Sni))
    }
}

/// Where a whole ClientHello message lies in the buffer.
enum Message<'a> {
    /// In the first record: its body.
    Contiguous(&'a [u8]),
    /// Across records: its length, handshake header included.
    Fragmented(usize),
}

/// One handshake record's fragment, as positions in the buffer.
struct Record {
    start: usize,
    /// End of the fragment; may lie past the bytes read so far.
    end: usize,
}

/// The record whose header starts at `pos`, or `None` when its header is not all read.
fn record(buf: &[u8], pos: usize) -> Result<Option<Record>, SniError> {
    let first = pos == 0;
    let header = buf.get(pos..).unwrap_or_default();
    let content_type = header.first().copied();
    let major = header.get(1).copied();
    if content_type.is_some_and(|t| t != CONTENT_HANDSHAKE) || major.is_some_and(|v| v != 3) {
        return Err(if first {
            SniError::NotTls
        } else {
            SniError::Malformed("record interleaved with the ClientHello")
        });
    }
    let Some(&[_, _, _, hi, lo]) = header.get(..RECORD_HEADER) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len == 0 || len > MAX_FRAGMENT {
        return Err(SniError::Malformed("record length"));
    }
    let start = pos + RECORD_HEADER;
    Ok(Some(Record {
        start,
        end: start + len,
    }))
}

impl Scan {
    /// The ClientHello message once all its bytes are in `buf`; errors as soon as the bytes
    /// read show one.
    fn find_hello<'a>(&mut self, buf: &'a [u8]) -> Result<Option<Message<'a>>, SniError> {
        while let Some(rec) = record(buf, self.pos)? {
            let available = buf
                .get(rec.start..rec.end.min(buf.len()))
                .unwrap_or_default();
            let mut header = self.header;
            for (i, &b) in available
                .iter()
                .enumerate()
                .take(HANDSHAKE_HEADER.saturating_sub(self.before))
            {
                header[self.before + i] = b;
            }
            let seen = self.before + available.len();
            if seen >= 1 && header[0] != HANDSHAKE_CLIENT_HELLO {
                return Err(SniError::NotClientHello);
            }
            if seen >= HANDSHAKE_HEADER {
                let [_, a, b, c] = header;
                let needed = HANDSHAKE_HEADER + u32::from_be_bytes([0, a, b, c]) as usize;
                // Handshake bytes from this record on. `before < needed`: the walk stops at
                // the record where the message ends.
                let rest = needed.saturating_sub(self.before);
                let len = rec.end - rec.start;
                let message_end = rec.start + rest;
                // The least the whole hello can take: the rest of it in one more record.
                let least = if rest <= len {
                    message_end
                } else {
                    rec.end + RECORD_HEADER + (rest - len)
                };
                if least > MAX_HELLO {
                    return Err(SniError::TooLarge);
                }
                if message_end <= rec.end && message_end <= buf.len() {
                    return Ok(Some(if self.pos == 0 {
                        Message::Contiguous(&buf[rec.start + HANDSHAKE_HEADER..message_end])
                    } else {
                        Message::Fragmented(needed)
                    }));
                }
            }
            if rec.end > buf.len() {
                break;
            }
            // This record is whole and checked: the next call starts after it.
            self.header = header;
            self.before += rec.end - rec.start;
            self.pos = rec.end;
        }
        Ok(None)
    }
}

/// The ClientHello message's body, copied out of the records that carry it (rare: clients
/// send one record).
fn reassemble(buf: &[u8], len: usize) -> Result<Vec<u8>, SniError> {
    let mut message = Vec::with_capacity(len);
    let mut pos = 0;
    while message.len() < len {
        // `find_hello` walked these records and saw them whole.
        let Some(rec) = record(buf, pos)? else {
            return Err(SniError::Malformed("records"));
        };
        let take = (len - message.len()).min(rec.end - rec.start);
        let fragment = buf.get(rec.start..rec.start + take);
        message.extend_from_slice(fragment.ok_or(SniError::Malformed("records"))?);
        pos = rec.end;
    }
    message.drain(..HANDSHAKE_HEADER);
    Ok(message)
}
