//! Admitting client connections (data plane): the limits that keep berth answering when
//! clients open more connections than it has file descriptors for.
//!
//! Three limits, each a shared count taken at accept and given back when the connection
//! ends ([`Admitted`]'s `Drop`): every listener together (`connections.max`, by default
//! derived from the open-file limit, leaving room for the upstream side of each connection
//! and for the admin listener), one listener (`max_connections`), and one client IP
//! (`connections.per_client`, off by default). A connection over a limit is closed at once
//! and counted; accepting it costs less than leaving it in the kernel's queue, where it
//! would wait for a timeout. [`AcceptBackoff`] keeps an accept loop from spinning when the
//! process runs out of descriptors anyway (`EMFILE`).
//! Invariant: a taken slot is always given back (a guard), and refusing never blocks.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Descriptors kept free of client connections at most, for the admin listener, health
/// checks, the config file and the engine's socket.
const RESERVE: u64 = 256;

/// A count of open connections, and its limit.
#[derive(Debug)]
pub struct Slots {
    open: AtomicUsize,
    max: usize,
}

impl Slots {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            open: AtomicUsize::new(0),
            max,
        })
    }

    /// One slot, or `None` at the limit.
    pub fn take(self: &Arc<Self>) -> Option<Slot> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(Arc::clone(self)))
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    pub fn max(&self) -> usize {
        self.max
    }
}

/// A taken slot, given back on drop.
#[derive(Debug)]
pub struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Connections per client IP.
#[derive(Debug)]
pub struct PerClient {
    open: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
}

impl PerClient {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(HashMap::new()),
            max,
        })
    }

    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let ip = ip.to_canonical();
        let mut open = self.lock();
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ClientSlot(Arc::clone(self), ip))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // A poisoned lock only means a panic elsewhere mid-update; the counts are whole.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A client's taken slot, given back on drop (the entry goes with its last connection).
#[derive(Debug)]
struct ClientSlot(Arc<PerClient>, IpAddr);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.0.lock();
        if let Some(count) = open.get_mut(&self.1) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// Which limit refused a connection: the `reason` of `berth_connections_refused_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    Total,
    Listener,
    PerClient,
}

impl Refused {
    pub const ALL: [Refused; 3] = [Refused::Total, Refused::Listener, Refused::PerClient];

    pub fn reason(self) -> &'static str {
        match self {
            Refused::Total => "max_connections",
            Refused::Listener => "listener_max_connections",
            Refused::PerClient => "per_client",
        }
    }
}

/// The limits one listener's connections pass.
#[derive(Clone, Debug)]
pub struct Gate {
    pub total: Arc<Slots>,
    pub listener: Option<Arc<Slots>>,
    pub per_client: Option<Arc<PerClient>>,
}

/// An admitted connection's slots.
#[derive(Debug)]
pub struct Admitted {
    _total: Slot,
    _listener: Option<Slot>,
    _client: Option<ClientSlot>,
}

impl Gate {
    /// Slots for a connection from `peer`, or the limit that refuses it.
    pub fn admit(&self, peer: IpAddr) -> Result<Admitted, Refused> {
        let total = self.total.take().ok_or(Refused::Total)?;
        let listener = match &self.listener {
            Some(slots) => Some(slots.take().ok_or(Refused::Listener)?),
            None => None,
        };
        let client = match &self.per_client {
            Some(per) => Some(per.take(peer).ok_or(Refused::PerClient)?),
            None => None,
        };
        Ok(Admitted {
            _total: total,
            _listener: listener,
            _client: client,
        })
    }
}

/// Raises the soft open-file limit to the hard one (as HAProxy and nginx do) and returns
/// the default `connections.max`: half of what is left after [`RESERVE`] (a proxied
/// connection holds a client and an upstream descriptor), at least 16.
pub fn default_max_connections() -> usize {
    // `increase_nofile_limit` raises the soft limit as far as the hard one allows and says
    // where it ended; without it, whatever the soft limit is.
    let files = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .unwrap_or(1024);
    max_for(files)
}

/// The default limit for `files` open files.
fn max_for(files: u64) -> usize {
    let reserve = RESERVE.min(files / 4);
    let max = files.saturating_sub(reserve) / 2;
    usize::try_from(max).unwrap_or(usize::MAX).max(16)
}

/// Capped exponential backoff for a failing `accept` (out of descriptors: retrying at once
/// would spin a core while nothing can change).
#[derive(Debug)]
pub struct AcceptBackoff {
    next: Duration,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);

    /// The pause after a failure (doubling up to a second).
    pub fn failed(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        pause
    }

    /// An accept succeeded: the next failure pauses briefly again.
    pub fn succeeded(&mut self) {
        self.next = Self::FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_refuse_at_the_limit_and_come_back_on_drop() {
        let slots = Slots::new(2);
        let (a, b) = (slots.take(), slots.take());
        assert!(a.is_some() && b.is_some());
        assert!(slots.take().is_none());
        assert_eq!(slots.open(), 2, "a refusal leaves the count as it was");
        drop(a);
        assert!(slots.take().is_some());
    }

    #[test]
    fn each_limit_refuses_with_its_reason_and_gives_back_what_it_took() {
        let gate = Gate {
            total: Slots::new(3),
            listener: Some(Slots::new(2)),
            per_client: Some(PerClient::new(1)),
        };
        let (one, two) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = gate.admit(one).expect("first");
        assert_eq!(gate.admit(one).err(), Some(Refused::PerClient));
        let _second = gate.admit(two).expect("another client");
        assert_eq!(
            gate.admit("10.0.0.3".parse().unwrap()).err(),
            Some(Refused::Listener)
        );
        assert_eq!(gate.total.open(), 2, "refused connections hold nothing");
        drop(first);
        assert!(gate.admit(one).is_ok(), "its slot came back");
        let total_only = Gate {
            total: Slots::new(1),
            listener: None,
            per_client: None,
        };
        let _held = total_only.admit(one).expect("one");
        assert_eq!(total_only.admit(two).err(), Some(Refused::Total));
    }

    #[test]
    fn ipv4_mapped_peers_count_as_their_ipv4_address() {
        let per = PerClient::new(1);
        let _v4 = per.take("10.0.0.1".parse().unwrap()).expect("first");
        assert!(per.take("::ffff:10.0.0.1".parse().unwrap()).is_none());
    }

    #[test]
    fn the_default_leaves_room_for_upstreams_and_admin() {
        assert_eq!(max_for(1024), (1024 - 256) / 2);
        assert_eq!(max_for(1_048_576), (1_048_576 - 256) / 2);
        assert_eq!(max_for(64), 24);
        assert_eq!(max_for(0), 16);
    }

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut b = AcceptBackoff::default();
        let pauses: Vec<u128> = (0..10).map(|_| b.failed().as_millis()).collect();
        assert_eq!(pauses, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed().as_millis(), 5);
    }
}
