//! Choosing the endpoint of one attempt, under the service's limits (data plane).
//!
//! Without `limits.max_in_flight` this is the selector's pick (or the endpoint a sticky
//! cookie names, `prefer`, while it is routable) and an in-flight count. With
//! it, a slot is taken on the picked endpoint, else on any other routable one with room;
//! when all are full the request waits in the service's queue (`endpoint::queue`) for at most
//! the connect timeout, or is refused at once when `max_pending` requests already wait.

use std::time::Duration;

use tokio::time::Instant;

use crate::balance::PickContext;
use crate::endpoint::InFlight;
use crate::proxy::error::ProxyError;
use crate::state::snapshot::Service;

/// The endpoint an attempt goes to, with its slot taken.
pub struct Admitted {
    /// The endpoint's index in the service.
    pub index: usize,
    pub in_flight: InFlight,
}

/// The endpoint of a service without `limits.max_in_flight`: `prefer` (see [`choose`]), else
/// one not in `tried` (else `fallback`, while it is routable), its in-flight count started. `None` when no routable
/// endpoint is left.
#[inline]
pub fn unlimited(
    service: &Service,
    ctx: &PickContext<'_>,
    tried: &[usize],
    (prefer, fallback): (Option<usize>, Option<usize>),
) -> Option<Admitted> {
    let index = choose(service, ctx, tried, (prefer, fallback))?;
    let in_flight = service.endpoints[index].begin_request();
    Some(Admitted { index, in_flight })
}

/// Like [`unlimited`] under `limits.max_in_flight`: takes a slot on the endpoint, waiting up
/// to `queue_timeout` when every endpoint is at its limit. `Ok(None)` when no routable
/// endpoint is left.
pub async fn limited(
    service: &Service,
    ctx: &PickContext<'_>,
    tried: &[usize],
    hints: (Option<usize>, Option<usize>),
    queue_timeout: Duration,
) -> Result<Option<Admitted>, ProxyError> {
    let Some(index) = choose(service, ctx, tried, hints) else {
        return Ok(None);
    };
    let limits = service.spec.resilience.limits;
    if let Some(admitted) = take(service, index, limits.max_in_flight, tried) {
        return Ok(Some(admitted));
    }
    let deadline = Instant::now() + queue_timeout;
    let queue = &service.shared.queue;
    let waited = queue.wait_for(limits.max_pending, deadline, || {
        match choose(service, ctx, tried, hints) {
            None => Some(None),
            Some(i) => take(service, i, limits.max_in_flight, tried).map(Some),
        }
    });
    waited.await.map_err(|why| {
        service.circuit_open[why.index()].increment(1);
        ProxyError::OverLimit(std::sync::Arc::clone(&service.spec.name), why)
    })
}

/// `prefer` while it is routable and not in `tried`, else the selector's pick not in
/// `tried`, else `fallback` while it is routable.
#[inline]
fn choose(
    service: &Service,
    ctx: &PickContext<'_>,
    tried: &[usize],
    (prefer, fallback): (Option<usize>, Option<usize>),
) -> Option<usize> {
    let routable = |i: &usize| service.endpoints.get(*i).is_some_and(|e| e.is_routable());
    if let Some(i) = prefer.filter(|i| !tried.contains(i) && routable(i)) {
        return Some(i);
    }
    service.pick(ctx, tried).or(fallback.filter(routable))
}

/// A slot on endpoint `index`, else on the first other routable endpoint not in `tried`
/// that has room.
fn take(service: &Service, index: usize, limit: u32, tried: &[usize]) -> Option<Admitted> {
    let queue = &service.shared.queue;
    if let Some(in_flight) = service.endpoints[index].try_begin_request(limit, queue) {
        return Some(Admitted { index, in_flight });
    }
    service
        .endpoints
        .iter()
        .enumerate()
        .filter(|(i, e)| !tried.contains(i) && e.is_routable())
        .find_map(|(i, e)| {
            let in_flight = e.try_begin_request(limit, queue)?;
            Some(Admitted {
                index: i,
                in_flight,
            })
        })
}
