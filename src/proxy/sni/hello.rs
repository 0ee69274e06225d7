//! The ClientHello message itself (RFC 8446 §4.1.2, RFC 6066 §3), once [`super::Scan`] has
//! found all its bytes: its framing is checked to the end of the extensions, and the
//! `server_name` extension's `host_name` is the answer.
//!
//! Strict on purpose: every vector's length must match, and a second `server_name` extension
//! or `host_name` entry is an error, so berth never routes on one name while the upstream
//! reads another.

use super::{HostName, SniError, EXTENSION_SERVER_NAME, NAME_TYPE_HOST};

/// The `host_name` in a ClientHello body (RFC 8446 §4.1.2, RFC 6066 §3).
pub(super) fn parse_client_hello(body: &[u8]) -> Result<Option<HostName>, SniError> {
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
