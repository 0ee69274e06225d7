//! The server name a TLS client asks for, read from its ClientHello without terminating TLS
//! (data plane, `tls-passthrough` listeners).
//!
//! A passthrough connection reads the client's first bytes with [`read_client_hello`], routes
//! on the name it returns, connects upstream and writes *exactly the bytes read* there before
//! copying both ways: nothing is consumed or altered, so the upstream sees the client's own
//! handshake. [`parse_sni`] is the pure parser behind it, called again after every read.
//!
//! Invariants:
//! - No input panics or indexes out of bounds: every length is checked before it is used
//!   (a property test feeds random bytes and mutated real hellos).
//! - At most [`MAX_HELLO`] bytes are buffered. A ClientHello whose records need more is
//!   [`SniError::TooLarge`]; 16 KiB is about nine times a post-quantum hello (an
//!   X25519MLKEM768 key share is 1,216 bytes, a whole browser hello about 1,800).
//! - A hello may be split across several handshake records and arrive in reads of any size:
//!   every proper prefix of a valid hello is [`Peek::Incomplete`], never an error.
//! - A name returned is a valid ASCII host name (letters, digits, `-`, `.`, `_`; 1 to 253
//!   bytes), lowercased: callers compare it as is.
//! - The ClientHello is parsed strictly (framing of every extension, no duplicate
//!   `server_name`), so berth never routes on one name while the upstream sees another.

use std::fmt;
use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

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
    loop {
        match parse_sni(buf)? {
            Peek::Sni(name) => return Ok(Some(name)),
            Peek::NoSni => return Ok(None),
            Peek::Incomplete if buf.len() >= MAX_HELLO => return Err(SniError::TooLarge),
            Peek::Incomplete => read_some(r, buf).await?,
        }
    }
}

/// Appends one read's bytes (at most up to [`MAX_HELLO`] in `buf`).
async fn read_some<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> Result<(), SniError> {
    let start = buf.len();
    buf.resize(MAX_HELLO.min(start + READ_CHUNK), 0);
    let read = r.read(&mut buf[start..]).await;
    buf.truncate(start + read.as_ref().map_or(0, |n| *n));
    match read {
        Ok(0) => Err(SniError::Closed),
        Ok(_) => Ok(()),
        Err(e) => Err(SniError::Io(e.kind())),
    }
}

/// What `buf`, the first bytes a client sent, says about its server name. Bytes past the
/// ClientHello are ignored.
pub fn parse_sni(buf: &[u8]) -> Result<Peek, SniError> {
    let Some(message) = find_hello(buf)? else {
        return Ok(Peek::Incomplete);
    };
    let name = match message {
        Message::Contiguous(body) => parse_client_hello(body)?,
        Message::Fragmented(len) => parse_client_hello(&reassemble(buf, len)?)?,
    };
    Ok(name.map_or(Peek::NoSni, Peek::Sni))
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

/// The ClientHello message once all its bytes are in `buf`; errors as soon as the bytes
/// read show one.
fn find_hello(buf: &[u8]) -> Result<Option<Message<'_>>, SniError> {
    let mut header = [0u8; HANDSHAKE_HEADER];
    // Handshake bytes in the records before the current one.
    let mut before = 0;
    let mut pos = 0;
    while let Some(rec) = record(buf, pos)? {
        let available = buf
            .get(rec.start..rec.end.min(buf.len()))
            .unwrap_or_default();
        for (i, &b) in available
            .iter()
            .enumerate()
            .take(HANDSHAKE_HEADER.saturating_sub(before))
        {
            header[before + i] = b;
        }
        let seen = before + available.len();
        if seen >= 1 && header[0] != HANDSHAKE_CLIENT_HELLO {
            return Err(SniError::NotClientHello);
        }
        if seen >= HANDSHAKE_HEADER {
            let [_, a, b, c] = header;
            let needed = HANDSHAKE_HEADER + u32::from_be_bytes([0, a, b, c]) as usize;
            // Handshake bytes from this record on. `before < needed`: the loop stops at the
            // record where the message ends.
            let rest = needed.saturating_sub(before);
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
                return Ok(Some(if pos == 0 {
                    Message::Contiguous(&buf[rec.start + HANDSHAKE_HEADER..message_end])
                } else {
                    Message::Fragmented(needed)
                }));
            }
        }
        if rec.end > buf.len() {
            break;
        }
        before += rec.end - rec.start;
        pos = rec.end;
    }
    Ok(None)
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

/// The `host_name` in a ClientHello body (RFC 8446 §4.1.2, RFC 6066 §3).
fn parse_client_hello(body: &[u8]) -> Result<Option<HostName>, SniError> {
    let mut hello = Cursor(body);
    hello.take(2 + 32, "version and random")?;
    let session_id = hello.vec8("session id")?;
    if session_id.len() > 32 {
        return Err(SniError::Malformed("session id"));
    }
    let suites = hello.vec16("cipher suites")?;
    if suites.is_empty() || suites.len() % 2 != 0 {
        return Err(SniError::Malformed("cipher suites"));
    }
    if hello.vec8("compression methods")?.is_empty() {
        return Err(SniError::Malformed("compression methods"));
    }
    if hello.is_empty() {
        // A hello without extensions (TLS 1.2 allows it).
        return Ok(None);
    }
    let extensions = hello.vec16("extensions")?;
    hello.end("bytes after the extensions")?;
    find_server_name(extensions)
}

/// The `host_name` in the extensions block, whose framing is checked to its end.
fn find_server_name(extensions: &[u8]) -> Result<Option<HostName>, SniError> {
    let mut extensions = Cursor(extensions);
    let mut found = None;
    let mut seen = false;
    while !extensions.is_empty() {
        let kind = extensions.u16("extension type")?;
        let data = extensions.vec16("extension length")?;
        if kind != EXTENSION_SERVER_NAME {
            continue;
        }
        if seen {
            return Err(SniError::Malformed("two server_name extensions"));
        }
        seen = true;
        found = parse_server_name(data)?;
    }
    Ok(found)
}

/// The `host_name` entry of a `server_name` extension's list, if any.
fn parse_server_name(data: &[u8]) -> Result<Option<HostName>, SniError> {
    let mut data = Cursor(data);
    let mut list = Cursor(data.vec16("server name list")?);
    data.end("bytes after the server name list")?;
    if list.is_empty() {
        return Err(SniError::Malformed("empty server name list"));
    }
    let mut found = None;
    while !list.is_empty() {
        let kind = list.u8("server name type")?;
        let name = list.vec16("server name length")?;
        if kind != NAME_TYPE_HOST {
            continue;
        }
        if found.is_some() {
            return Err(SniError::Malformed("two host names"));
        }
        found = Some(HostName::parse(name)?);
    }
    Ok(found)
}

/// Reads a complete message front to back; running out of bytes is a framing error.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SniError> {
        let (head, rest) = self
            .0
            .split_at_checked(n)
            .ok_or(SniError::Malformed(what))?;
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, SniError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, SniError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A vector with a one-byte length.
    fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], SniError> {
        let len = self.u8(what)?;
        self.take(usize::from(len), what)
    }

    /// A vector with a two-byte length.
    fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], SniError> {
        let len = self.u16(what)?;
        self.take(usize::from(len), what)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn end(&self, what: &'static str) -> Result<(), SniError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(SniError::Malformed(what))
        }
    }
}
