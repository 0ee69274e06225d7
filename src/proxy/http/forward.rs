//! Forwarding one matched request upstream, with retries (data plane).
//!
//! Retries go to a *different* endpoint, up to the service's `retries` and within its retry
//! budget (`state::retry_budget`): after a connect failure, and after a connection that
//! failed before any response when the request is idempotent and has no body (its head is
//! kept for that, `proxy::replay`). A pooled connection that turned out closed before the
//! request was written is replaced without counting as a retry. A request with a body, or not
//! idempotent, is never sent twice once written; a timeout is never retried.
//!
//! A failure the client caused is the client's: when its request body broke (malformed
//! framing, an aborted upload), passed the service's `max_request_body`, arrived slower than
//! `defaults.timeouts.body_min_rate` or was still arriving at the timeout, the answer is 400,
//! 413 or 408 and nothing is counted against the endpoint (no outlier observation, no
//! `berth_upstream_requests_total`, no retry), so no client can eject a healthy endpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{Entry, HeaderValue, HOST, STRICT_TRANSPORT_SECURITY};
use http::uri::Scheme;
use http::{Request, Response, StatusCode, Version};
use http_body_util::Either;
use hyper::body::Incoming;
use tracing::{debug, warn};

use crate::balance::PickContext;
use crate::endpoint::{self, InFlight};
use crate::metrics as m;
use crate::model::{MinRate, UpstreamProtocol};
use crate::proxy::access_log::Trail;
use crate::proxy::admit::{self, Admitted};
use crate::proxy::body::{self, BodyState, BodyWatch, Exchange, UpstreamBody};
use crate::proxy::connect::{self, ConnectError, Dial};
use crate::proxy::error::{ProxyBody, ProxyError};
use crate::proxy::h2;
use crate::proxy::headers::{self, Forwarded};
use crate::proxy::pool::{self, RequestBody, Sender};
use crate::proxy::replay::Replay;
use crate::proxy::shape;
use crate::proxy::sticky;
use crate::proxy::uri;
use crate::state::snapshot::Service;

use super::ConnContext;
use crate::proxy::target;

/// Most endpoints one request may try (first attempt + the 5 retries labels allow).
const MAX_TRIES: usize = 6;
/// Closed pooled connections replaced per request before giving up on the pool.
const MAX_STALE: usize = 3;

/// How to forward one matched request.
pub(super) struct Plan<'a> {
    /// When the request arrived; also the start of each upstream latency sample.
    pub(super) start: Instant,
    pub(super) service: &'a Arc<Service>,
    pub(super) prefix_len: usize,
    pub(super) trusted: bool,
    /// `Strict-Transport-Security` to add to responses that lack one (https only).
    pub(super) hsts: Option<&'a HeaderValue>,
    pub(super) connect_timeout: Duration,
    pub(super) idle_timeout: Duration,
    /// `defaults.timeouts.body_min_rate`, when on.
    pub(super) body_rate: Option<MinRate>,
    /// With the access log on: where to note the endpoint, timing, retries and body.
    pub(super) trail: Option<&'a Trail>,
}

/// The endpoints a request has tried, on the stack.
#[derive(Default)]
struct Tried {
    list: [usize; MAX_TRIES],
    len: usize,
}

impl Tried {
    fn as_slice(&self) -> &[usize] {
        &self.list[..self.len]
    }

    fn push(&mut self, index: usize) {
        if self.len < MAX_TRIES {
            self.list[self.len] = index;
            self.len += 1;
        }
    }
}

/// Where and how one attempt is sent.
#[derive(Clone, Copy)]
struct Target<'a> {
    cx: &'a ConnContext,
    /// The endpoint's index in the service.
    index: usize,
    upgrade: bool,
    replay: Option<&'a Replay>,
    /// How far the client got with its body; `None`: the request has none.
    body: Option<&'a Arc<BodyWatch>>,
}

/// What became of one attempt on one endpoint.
// Returned by value once per attempt; boxing the response would allocate per request.
#[allow(clippy::large_enum_variant)]
enum Attempt {
    /// The answer to give the client (a response, or an error that is not retried).
    Done(Result<Response<ProxyBody>, ProxyError>),
    /// Send the request (put back in its slot) again, where the `Next` says.
    Again(Next),
}

/// Where the next attempt of a request goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Next {
    /// The same endpoint (its pooled connection had closed before the request was written).
    Same,
    /// Another endpoint (a retry).
    Other,
    /// Another endpoint if there is one, else the same one on a new connection (a replay
    /// after a reused keep-alive connection failed: the upstream closed it as the request
    /// went out, which says nothing about the endpoint).
    OtherElseSame,
}

impl Target<'_> {
    fn body_state(&self) -> Option<BodyState> {
        self.body.map(|b| b.state())
    }
}

impl Plan<'_> {
    pub(super) async fn forward(
        &self,
        cx: &ConnContext,
        mut req: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let upgrade = headers::is_upgrade(req.headers());
        let mut client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let stuck = sticky::lookup(self.service, req.headers());
        if stuck.is_some() {
            sticky::strip(self.service, req.headers_mut());
        }
        // Copied before the rewrite, which has fewer headers to copy; a replay is rewritten.
        let replay = Replay::of(&req, upgrade, self.service.spec.retries);
        self.rewrite(cx, &mut req, upgrade);
        let now_ns = endpoint::ns_at(self.start);
        self.service.count_request(now_ns);
        // The request lives in this slot; an attempt takes it and puts back what may be resent.
        let mut watch = None;
        let limit = self
            .service
            .spec
            .shape
            .rules()
            .and_then(|r| r.max_request_body);
        let rate = self.body_rate;
        let mut slot = Some(req.map(|b| body::request_body(b, &mut watch, limit, rate)));
        if let (Some(trail), Some(watch)) = (self.trail, &watch) {
            trail.request_body(watch);
        }
        let mut tried = Tried::default();
        let mut stale = 0;
        let mut fallback: Option<usize> = None;
        let attempts = usize::from(self.service.spec.retries).min(MAX_TRIES - 1) + 1;
        while tried.len < attempts {
            let Some(req) = slot.as_ref() else {
                break;
            };
            let ctx = PickContext {
                client_ip: cx.client.peer.ip(),
                headers: req.headers(),
            };
            let (tried_now, hints) = (tried.as_slice(), (sticky::prefer(stuck), fallback.take()));
            let admitted = match self.service.spec.resilience.limits.max_in_flight {
                0 => admit::unlimited(self.service, &ctx, tried_now, hints),
                _ => {
                    let queue_timeout = self.connect_timeout;
                    admit::limited(self.service, &ctx, tried_now, hints, queue_timeout).await?
                }
            };
            let Some(Admitted { index, in_flight }) = admitted else {
                break;
            };
            if tried.len > 0 {
                if !self.service.try_retry(now_ns) {
                    debug!(service = %self.service.spec.name, "retry budget exhausted");
                    return Err(ProxyError::Upstream);
                }
                self.service.retries.increment(1);
                if let Some(trail) = self.trail {
                    trail.retried();
                }
            }
            let on = Target {
                cx,
                index,
                upgrade,
                replay: replay.as_ref(),
                body: watch.as_ref(),
            };
            let sent = self.attempt(on, in_flight, &mut slot, &mut client_upgrade, &mut stale);
            match sent.await {
                Attempt::Done(answer) => return sticky::answer(self.service, stuck, index, answer),
                Attempt::Again(next) => {
                    if next != Next::Same {
                        tried.push(index);
                    }
                    fallback = (next == Next::OtherElseSame).then_some(index);
                }
            }
        }
        Err(if tried.len == 0 {
            ProxyError::NoHealthyEndpoint(Arc::clone(&self.service.spec.name))
        } else {
            ProxyError::Upstream
        })
    }

    /// Sends the request in `slot` to one endpoint and says what became of it; on
    /// [`Attempt::Again`] the request to resend is back in `slot`.
    async fn attempt(
        &self,
        on: Target<'_>,
        in_flight: InFlight,
        slot: &mut Option<Request<RequestBody>>,
        client_upgrade: &mut Option<hyper::upgrade::OnUpgrade>,
        stale: &mut usize,
    ) -> Attempt {
        let index = on.index;
        if let Some(trail) = self.trail {
            trail.tried(index);
        }
        let Some((mut sender, reused)) = self.sender(on, slot.as_ref()).await else {
            self.service.connect_errors.increment(1);
            self.service.observe(index, 502);
            return Attempt::Again(Next::Other);
        };
        let endpoint = &self.service.endpoints[index];
        let timeout = self.service.spec.request_timeout;
        let Some(req) = slot.take() else {
            return Attempt::Done(Err(ProxyError::Upstream));
        };
        let sent = match tokio::time::timeout(timeout, sender.send(req)).await {
            Ok(sent) => sent,
            Err(_) if on.body_state() == Some(BodyState::Streaming) => {
                return Attempt::Done(Err(self.client_fault(BodyState::Streaming)));
            }
            Err(_) => {
                let series = &self.service.series[index];
                series.upstream.increment(504);
                series.duration.record(self.start.elapsed().as_secs_f64());
                self.service.observe(index, 504);
                return Attempt::Done(Err(ProxyError::Timeout));
            }
        };
        match sent {
            Ok(response) => {
                if let Some(trail) = self.trail {
                    trail.answered(self.start);
                }
                let exchange = (!on.upgrade).then_some(Exchange {
                    sender,
                    in_flight,
                    since: self.start,
                    service: Arc::clone(self.service),
                    request_body: on.body.cloned(),
                    status: 0,
                });
                Attempt::Done(Ok(self.respond(index, response, exchange, client_upgrade)))
            }
            Err(e) => match e.unsent {
                Some(unsent) if reused && *stale < MAX_STALE => {
                    *stale += 1;
                    *slot = Some(unsent);
                    Attempt::Again(Next::Same)
                }
                Some(unsent) => {
                    *slot = Some(unsent);
                    Attempt::Again(Next::Other)
                }
                None if matches!(
                    on.body_state(),
                    Some(BodyState::Failed | BodyState::TooLarge | BodyState::TooSlow)
                ) =>
                {
                    let state = on.body_state().unwrap_or(BodyState::Failed);
                    Attempt::Done(Err(self.client_fault(state)))
                }
                None => {
                    debug!(endpoint = %endpoint.label(), error = %e.error, "upstream failed");
                    self.service.series[index].upstream.increment(502);
                    self.service.observe(index, 502);
                    let next = match reused {
                        true => Next::OtherElseSame,
                        false => Next::Other,
                    };
                    match on.replay {
                        Some(replay) => {
                            *slot = Some(self.replayed(on.cx, replay));
                            Attempt::Again(next)
                        }
                        None => Attempt::Done(Err(ProxyError::Upstream)),
                    }
                }
            },
        }
    }

    /// The answer to a request whose body the client broke (`Failed`), sent too much of
    /// (`TooLarge`), sent too slowly (`TooSlow`) or had not finished at the timeout
    /// (`Streaming`), counted as the client's.
    fn client_fault(&self, state: BodyState) -> ProxyError {
        let (reason, error) = match state {
            BodyState::Failed => ("invalid", ProxyError::ClientBody),
            BodyState::TooLarge => ("too_large", ProxyError::PayloadTooLarge),
            BodyState::TooSlow => ("too_slow", ProxyError::ClientBodyTimeout),
            _ => ("timeout", ProxyError::ClientBodyTimeout),
        };
        debug!(service = %self.service.spec.name, reason, "client request body failed");
        metrics::counter!(m::CLIENT_BODY_ERRORS_TOTAL, "service" => self.service.spec.name.to_string(), "reason" => reason)
            .increment(1);
        error
    }

    /// A pooled connection to the target (`true`: reused), else a new one; `None` when it
    /// cannot be made (logged).
    async fn sender<B>(&self, on: Target<'_>, req: Option<&Request<B>>) -> Option<(Sender, bool)> {
        let endpoint = &self.service.endpoints[on.index];
        let upstream = &self.service.spec.upstream;
        // An `Upgrade` needs HTTP/1.1, whatever the service speaks otherwise.
        let protocol = match on.upgrade {
            true => UpstreamProtocol::Http1,
            false => upstream.protocol,
        };
        // TLS without a `server_name` verifies the request's host: connections are per host.
        let tls = upstream.tls.as_ref();
        let host = tls
            .filter(|t| t.server_name.is_none())
            // Checked before routing: `Ok` here.
            .and_then(|_| req.and_then(|r| target::host(r).ok().flatten()))
            .map(connect::host_only);
        if !on.upgrade {
            if let Some(s) = pool::checkout(endpoint, self.idle_timeout, protocol, host).await {
                return Some((s, true));
            }
        }
        let dial = Dial {
            addr: endpoint.addr(),
            timeout: self.connect_timeout,
            upgrades: on.upgrade,
            protocol,
            tls,
            host,
        };
        // Boxed: a new connection is rare next to a pooled one, and its future (TLS, HTTP/2
        // handshakes) would otherwise grow every request's future, which is moved per request.
        match Box::pin(connect::connect(dial)).await {
            Ok(s) => {
                pool::share(endpoint, &s);
                Some((s, false))
            }
            Err(e @ ConnectError::Tls(..)) => {
                warn!(service = %self.service.spec.name, endpoint = %endpoint.label(), error = %e, "upstream TLS failed");
                None
            }
            Err(e) => {
                debug!(endpoint = %endpoint.label(), error = %e, "connect failed");
                None
            }
        }
    }

    /// Records an upstream's response and turns it into the client's.
    fn respond(
        &self,
        index: usize,
        mut response: Response<Incoming>,
        mut exchange: Option<Exchange>,
        client_upgrade: &mut Option<hyper::upgrade::OnUpgrade>,
    ) -> Response<ProxyBody> {
        let now = Instant::now();
        let endpoint = &self.service.endpoints[index];
        let took = now.saturating_duration_since(self.start);
        endpoint.observe_latency_at(took, now);
        let status = response.status().as_u16();
        let series = &self.service.series[index];
        series.upstream.increment(status);
        series.duration.record(took.as_secs_f64());
        match &mut exchange {
            // Outlier detection hears of it at the body's end (`UpstreamBody`).
            Some(exchange) => exchange.status = status,
            None => self.service.observe(index, status),
        }
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client) = client_upgrade.take() {
                spawn_tunnel(client, hyper::upgrade::on(&mut response));
            }
            return response.map(|b| Either::Left(UpstreamBody::new(b, None)));
        }
        headers::strip_hop_by_hop(response.headers_mut(), false);
        if let Some(hsts) = self.hsts {
            // The upstream's own header wins.
            if let Entry::Vacant(e) = response.headers_mut().entry(STRICT_TRANSPORT_SECURITY) {
                e.insert(hsts.clone());
            }
        }
        response.map(|b| Either::Left(UpstreamBody::new(b, exchange)))
    }

    /// The kept head of a failed request, rewritten for the upstream like the original.
    fn replayed(&self, cx: &ConnContext, replay: &Replay) -> Request<RequestBody> {
        let mut req = replay.request();
        self.rewrite(cx, &mut req, false);
        req
    }

    /// Edits the request in place for the upstream: origin-form URI (prefix stripped),
    /// HTTP/1.1, `Host` kept, hop-by-hop removed, forwarding headers set.
    fn rewrite<B>(&self, cx: &ConnContext, req: &mut Request<B>, upgrade: bool) {
        let h2 = !upgrade && self.service.spec.upstream.protocol == UpstreamProtocol::H2;
        let trailers = h2 && h2::wants_trailers(req.headers());
        let sent_host = req.headers().get(HOST).cloned();
        // HTTP/2 carries the host in `:authority`; HTTP/1.1 upstreams need a `Host` header.
        let authority = sent_host.is_none().then(|| {
            let authority = req.uri().authority()?;
            HeaderValue::from_str(authority.as_str()).ok()
        });
        let added_host = authority.flatten();
        if let Some(uri) =
            uri::origin_form(req.uri(), self.prefix_len, self.service.spec.strip_prefix)
        {
            *req.uri_mut() = uri;
        }
        *req.version_mut() = Version::HTTP_11;
        let headers = req.headers_mut();
        headers::strip_hop_by_hop(headers, upgrade);
        if let Some(h) = &added_host {
            headers.insert(HOST, h.clone());
        }
        let host = sent_host.or(added_host);
        let fwd = Forwarded {
            client: &cx.peer_value,
            proto: cx.proto,
            trusted: self.trusted,
        };
        headers::set_forwarded(headers, &fwd, host);
        if let Some(rules) = self.service.spec.shape.rules() {
            shape::edit(&rules.request_headers, headers);
        }
        if h2 {
            let scheme = match self.service.spec.upstream.tls {
                Some(_) => Scheme::HTTPS,
                None => Scheme::HTTP,
            };
            h2::prepare(req, scheme, trailers);
        }
    }
}

/// Copies bytes both ways between the client's and the upstream's upgraded connections.
fn spawn_tunnel(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    tokio::spawn(async move {
        let (Ok(client), Ok(upstream)) = tokio::join!(client, upstream) else {
            return;
        };
        let mut client = hyper_util::rt::TokioIo::new(client);
        let mut upstream = hyper_util::rt::TokioIo::new(upstream);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    });
}
