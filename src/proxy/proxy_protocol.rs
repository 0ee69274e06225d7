//! PROXY protocol v1 and v2 headers (data plane): [`encode`] writes the one berth sends to
//! backends that ask for it, [`read_header`] reads the one a trusted load balancer in front
//! of berth sends on listeners configured for it.
//! Spec: <https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt>. Ours rather than the
//! `ppp` crate's (README, *Parsers*): `ppp` parses a buffer and cannot stop a stream at the
//! header's last byte, and departs from the spec where this module follows it.
//!
//! Invariants:
//! - [`read_header`] reads exactly the header and not one byte more, so the stream goes on
//!   untouched to TLS or HTTP. A v2 header says its length; a v1 line is read in chunks
//!   never longer than the shortest rest a valid line can have.
//! - No input panics (a property test feeds random and mutated headers); v1 lines are
//!   capped at 107 bytes, v2 headers at 16 + [`MAX_V2_PAYLOAD`] bytes.
//! - Parsing is strict where the spec is: exact spacing, no leading zeros, CRLF only.
//!   v2 TLVs are skipped unread (no CRC32C check).
//! - Only listeners configured for it read a header, never by guessing (the spec forbids it:
//!   any client could then claim any address).
//! - Mixed address families are sent as HAProxy does: v4-mapped IPv6 addresses are first
//!   turned back into IPv4; if one side is still IPv4 and the other IPv6, the IPv4 one is
//!   sent v4-mapped, as `TCP6` (v1) or `AF_INET6` (v2). Decoding keeps addresses as sent.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::model::ProxyVersion;

#[cfg(test)]
mod tests;

/// The v2 signature; a v1 header starts with [`V1_PREFIX`].
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 line, CRLF included.
pub const MAX_V1: usize = 107;
/// The shortest header of either version (`PROXY UNKNOWN\r\n`; v2 takes 16).
const MIN_HEADER: usize = 15;
/// v2's fixed part: signature, version and command, family, length.
const V2_FIXED: usize = 16;
/// The longest v2 address block and TLVs accepted (the spec allows 65,535).
pub const MAX_V2_PAYLOAD: usize = 4096;

/// A received header: the client's connection as the sender saw it. `None` addresses (v1
/// `UNKNOWN`, v2 `LOCAL`, `AF_UNSPEC` or `AF_UNIX`) mean: use the real connection's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: ProxyVersion,
    pub source: Option<SocketAddr>,
    pub destination: Option<SocketAddr>,
}

/// Why no header could be read. Each means: close the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyProtocolError {
    #[error("no PROXY protocol header")]
    NotProxy,
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
    #[error("unsupported PROXY protocol header: {0}")]
    Unsupported(&'static str),
    #[error("connection closed inside the PROXY protocol header")]
    Closed,
    #[error("PROXY protocol header too large")]
    TooLarge,
    #[error("reading the PROXY protocol header: {0}")]
    Io(io::ErrorKind),
}

impl ProxyProtocolError {
    /// A short stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotProxy => "not_proxy",
            Self::Malformed(_) => "malformed",
            Self::Unsupported(_) => "unsupported",
            Self::Closed => "closed",
            Self::TooLarge => "too_large",
            Self::Io(_) => "io",
        }
    }
}

impl From<io::Error> for ProxyProtocolError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => Self::Closed,
            kind => Self::Io(kind),
        }
    }
}

/// Appends the header for a TCP connection from `source` to `destination` to `out`: v1
/// `TCP4`/`TCP6`, or v2 `PROXY` over `AF_INET`/`AF_INET6` `STREAM` without TLVs. See the
/// module doc for mixed families (a v4-mapped address in v1 reads `::ffff:192.0.2.1`).
pub fn encode(
    version: ProxyVersion,
    source: SocketAddr,
    destination: SocketAddr,
    out: &mut Vec<u8>,
) {
    let (source, destination) = same_family(source, destination);
    match version {
        ProxyVersion::V1 => encode_v1(source, destination, out),
        ProxyVersion::V2 => encode_v2(source, destination, out),
    }
}

/// Both addresses in one family: IPv4 when both are IPv4 or v4-mapped, IPv6 otherwise.
fn same_family(source: SocketAddr, destination: SocketAddr) -> (SocketAddr, SocketAddr) {
    let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    let (source, destination) = (canonical(source), canonical(destination));
    if source.is_ipv4() == destination.is_ipv4() {
        return (source, destination);
    }
    let v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    (v6(source), v6(destination))
}

fn encode_v1(source: SocketAddr, destination: SocketAddr, out: &mut Vec<u8>) {
    let family = if source.is_ipv4() { "TCP4" } else { "TCP6" };
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "PROXY {family} {} {} {} {}\r\n",
        source.ip(),
        destination.ip(),
        source.port(),
        destination.port()
    );
}

fn encode_v2(source: SocketAddr, destination: SocketAddr, out: &mut Vec<u8>) {
    out.extend_from_slice(&V2_SIGNATURE);
    // Version 2, command PROXY.
    out.push(0x21);
    match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(&[0x11, 0, 12]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        // `same_family` made both IPv6.
        (s, d) => {
            out.extend_from_slice(&[0x21, 0, 36]);
            out.extend_from_slice(&ipv6(s).octets());
            out.extend_from_slice(&ipv6(d).octets());
        }
    }
    out.extend_from_slice(&source.port().to_be_bytes());
    out.extend_from_slice(&destination.port().to_be_bytes());
}

fn ipv6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(ip) => ip.to_ipv6_mapped(),
        IpAddr::V6(ip) => ip,
    }
}

/// Reads exactly one header (either version) from `r`, leaving what follows unread. The
/// caller bounds the time this takes (header-read timeout).
pub async fn read_header<R: AsyncRead + Unpin>(r: &mut R) -> Result<Header, ProxyProtocolError> {
    let mut head = [0u8; V2_FIXED];
    read_start(r, &mut head[..MIN_HEADER]).await?;
    if head.starts_with(&V2_SIGNATURE) {
        r.read_exact(&mut head[MIN_HEADER..]).await?;
        read_v2(r, &head).await
    } else {
        read_v1(r, &head[..MIN_HEADER]).await
    }
}

/// Fills `buf`, failing as soon as its bytes can start neither version's header.
async fn read_start<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
) -> Result<(), ProxyProtocolError> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = r.read(&mut buf[filled..]).await?;
        filled += n;
        if !could_be_header(&buf[..filled]) {
            return Err(ProxyProtocolError::NotProxy);
        }
        if n == 0 {
            return Err(ProxyProtocolError::Closed);
        }
    }
    Ok(())
}

/// Whether `start` agrees with the beginning of a v1 or a v2 header.
fn could_be_header(start: &[u8]) -> bool {
    let agrees = |prefix: &[u8]| {
        let n = start.len().min(prefix.len());
        start[..n] == prefix[..n]
    };
    agrees(V1_PREFIX) || agrees(&V2_SIGNATURE)
}

/// Reads the rest of a v1 line whose first bytes are `start`, and parses it.
async fn read_v1<R: AsyncRead + Unpin>(
    r: &mut R,
    start: &[u8],
) -> Result<Header, ProxyProtocolError> {
    let mut line = [0u8; MAX_V1];
    line[..start.len()].copy_from_slice(start);
    let mut filled = start.len();
    loop {
        match line_end(&line[..filled])? {
            Some(end) if end == filled => return parse_v1(&line[..end - 2]),
            Some(_) => return Err(ProxyProtocolError::Malformed("bytes after CRLF")),
            None if filled == MAX_V1 => return Err(ProxyProtocolError::TooLarge),
            None => {}
        }
        let want = next_read(&line[..filled]).min(MAX_V1 - filled);
        r.read_exact(&mut line[filled..filled + want]).await?;
        filled += want;
    }
}

/// The end of the line (past its CRLF) if `line` holds it; a CR or LF alone is an error.
fn line_end(line: &[u8]) -> Result<Option<usize>, ProxyProtocolError> {
    let Some(at) = line.iter().position(|&b| b == b'\r' || b == b'\n') else {
        return Ok(None);
    };
    match (line[at], line.get(at + 1)) {
        (b'\r', None) => Ok(None),
        (b'\r', Some(b'\n')) => Ok(Some(at + 2)),
        _ => Err(ProxyProtocolError::Malformed("CR or LF without the other")),
    }
}

/// How many more bytes a valid line beginning with `line` has at least, so that reading
/// them never passes its CRLF. After `TCP4` or `TCP6` come four fields of at least one
/// character, single spaces between them.
fn next_read(line: &[u8]) -> usize {
    if line.ends_with(b"\r") {
        return 1;
    }
    let (shortest, fields) = match line.split_at_checked(11) {
        Some((b"PROXY TCP4 ", fields)) => ("PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n".len(), fields),
        Some((b"PROXY TCP6 ", fields)) => ("PROXY TCP6 :: :: 0 0\r\n".len(), fields),
        _ => return 2,
    };
    let spaces = fields.iter().filter(|&&b| b == b' ').count();
    let unstarted = 3usize.saturating_sub(spaces);
    let current_empty = fields.is_empty() || fields.ends_with(b" ");
    let least = 2 * unstarted + usize::from(current_empty) + 2;
    shortest.saturating_sub(line.len()).max(least)
}

/// Parses a v1 line without its CRLF.
fn parse_v1(line: &[u8]) -> Result<Header, ProxyProtocolError> {
    let malformed = ProxyProtocolError::Malformed;
    let rest = line.strip_prefix(V1_PREFIX).ok_or(malformed("prefix"))?;
    if let Some(tail) = rest.strip_prefix(b"UNKNOWN") {
        // Anything may follow `UNKNOWN`, and is ignored.
        return match tail.first() {
            None | Some(b' ') => Ok(header(ProxyVersion::V1, None)),
            Some(_) => Err(malformed("protocol")),
        };
    }
    let mut fields = rest.split(|&b| b == b' ');
    let v4 = match fields.next() {
        Some(b"TCP4") => true,
        Some(b"TCP6") => false,
        _ => return Err(malformed("protocol")),
    };
    let mut address = |what| {
        let text = fields.next().unwrap_or_default();
        let ip = if v4 {
            parse_text::<Ipv4Addr>(text).map(IpAddr::V4)
        } else {
            parse_text::<Ipv6Addr>(text).map(IpAddr::V6)
        };
        ip.ok_or(malformed(what))
    };
    let (source_ip, destination_ip) = (address("source")?, address("destination")?);
    let mut port_field = |what| port(fields.next().unwrap_or_default()).ok_or(malformed(what));
    let source = SocketAddr::new(source_ip, port_field("source port")?);
    let destination = SocketAddr::new(destination_ip, port_field("destination port")?);
    if fields.next().is_some() {
        return Err(malformed("fields after the destination port"));
    }
    Ok(header(ProxyVersion::V1, Some((source, destination))))
}

fn header(version: ProxyVersion, addresses: Option<(SocketAddr, SocketAddr)>) -> Header {
    Header {
        version,
        source: addresses.map(|(s, _)| s),
        destination: addresses.map(|(_, d)| d),
    }
}

fn parse_text<T: FromStr>(text: &[u8]) -> Option<T> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// A decimal port without sign or leading zeros.
fn port(text: &[u8]) -> Option<u16> {
    let digits = !text.is_empty() && text.iter().all(u8::is_ascii_digit);
    let leading_zero = text.len() > 1 && text[0] == b'0';
    (digits && !leading_zero).then(|| parse_text(text))?
}

/// Reads the rest of a v2 header whose fixed part is `fixed`, and parses it.
async fn read_v2<R: AsyncRead + Unpin>(
    r: &mut R,
    fixed: &[u8; V2_FIXED],
) -> Result<Header, ProxyProtocolError> {
    let [.., version_command, family, hi, lo] = *fixed;
    if version_command >> 4 != 2 {
        return Err(ProxyProtocolError::Unsupported("version"));
    }
    let local = match version_command & 0x0f {
        0 => true,
        1 => false,
        _ => return Err(ProxyProtocolError::Unsupported("command")),
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len > MAX_V2_PAYLOAD {
        return Err(ProxyProtocolError::TooLarge);
    }
    // The LOCAL command ignores the family: health checks from the sender itself.
    let block = if local { 0 } else { address_block(family)? };
    if len < block {
        return Err(ProxyProtocolError::Malformed("address length"));
    }
    let mut addresses = [0u8; 36];
    // Only IPv4 and IPv6 blocks (12 and 36 bytes) are kept; others are skipped.
    let keep = if block <= addresses.len() { block } else { 0 };
    r.read_exact(&mut addresses[..keep]).await?;
    skip(r, len - keep).await?;
    Ok(header(
        ProxyVersion::V2,
        parse_v2_addresses(&addresses[..keep]),
    ))
}

/// The size of the address block for a PROXY command's family and transport byte.
fn address_block(family: u8) -> Result<usize, ProxyProtocolError> {
    match family {
        0x00 => Ok(0),
        0x11 | 0x12 => Ok(12),
        0x21 | 0x22 => Ok(36),
        0x31 | 0x32 => Ok(216),
        _ => Err(ProxyProtocolError::Unsupported("address family")),
    }
}

/// The addresses in a 12-byte (IPv4) or 36-byte (IPv6) block; none for any other size.
fn parse_v2_addresses(block: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let (source, destination, ports): (IpAddr, IpAddr, _) = match block.len() {
        12 => {
            let (ips, ports) = block.split_at(8);
            let (s, d) = ips.split_at(4);
            let s: [u8; 4] = s.try_into().ok()?;
            let d: [u8; 4] = d.try_into().ok()?;
            (s.into(), d.into(), ports)
        }
        36 => {
            let (ips, ports) = block.split_at(32);
            let (s, d) = ips.split_at(16);
            let s: [u8; 16] = s.try_into().ok()?;
            let d: [u8; 16] = d.try_into().ok()?;
            (s.into(), d.into(), ports)
        }
        _ => return None,
    };
    let &[sh, sl, dh, dl] = ports else {
        return None;
    };
    Some((
        SocketAddr::new(source, u16::from_be_bytes([sh, sl])),
        SocketAddr::new(destination, u16::from_be_bytes([dh, dl])),
    ))
}

/// Reads and drops `n` bytes.
async fn skip<R: AsyncRead + Unpin>(r: &mut R, mut n: usize) -> Result<(), ProxyProtocolError> {
    let mut scratch = [0u8; 256];
    while n > 0 {
        let chunk = n.min(scratch.len());
        r.read_exact(&mut scratch[..chunk]).await?;
        n -= chunk;
    }
    Ok(())
}
