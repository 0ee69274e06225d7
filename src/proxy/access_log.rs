//! The optional access log and W3C trace context (data plane hands off, a writer thread
//! writes).
//!
//! A server with `log.access_log` or `log.trace_context: start` makes one [`AccessLog`],
//! which every HTTP connection of its listeners carries; without either, connections carry
//! none and a request pays one branch. A logged request copies what the log shows of it
//! when it arrives ([`AccessLog::begin`]), and its response body is wrapped
//! ([`LoggedBody`]): when the body ends or is dropped, the completed record goes over a
//! bounded channel to the server's writer thread (`writer`), which writes it in the
//! configured format (`format`) to stdout or a file. The request path never waits: a full
//! channel drops the record and counts it in `berth_access_log_dropped_total`.
//!
//! Trace context (`trace`): `traceparent` and `tracestate` always pass through untouched; a
//! valid `traceparent`'s trace id is logged; with `trace_context: start` a request without
//! a valid one gets a new trace, sent upstream and logged.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use http::{Request, Response};

use crate::config::{AccessFormat, Log, TraceContext};
use crate::proxy::body::BodyWatch;
use crate::proxy::error::ProxyBody;
use crate::state::snapshot::Service;

pub use body::{LoggedBody, ServedBody};
pub use record::Record;

/// Records buffered between workers and the writer.
const QUEUE: usize = 8192;

/// Why the access log could not start.
#[derive(Debug, thiserror::Error)]
pub enum AccessLogError {
    #[error("access log {}: cannot open to append: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("access log writer thread: {0}")]
    Thread(std::io::Error),
}

/// A server's access log and trace-context setting.
#[derive(Debug)]
pub struct AccessLog {
    /// The writer's channel and format; `None` when only trace context is on.
    sink: Option<(SyncSender<Box<Record>>, AccessFormat)>,
    start_traces: bool,
}

impl AccessLog {
    /// Starts what `log` asks for: `None` when the access log and trace starting are both
    /// off. With a file target, the file is opened now (an error stops the start) and the
    /// `SIGUSR1` handler installed.
    pub fn start(log: &Log) -> Result<Option<Arc<Self>>, AccessLogError> {
        let start_traces = log.trace_context == TraceContext::Start;
        let Some(settings) = &log.access_log else {
            return Ok(start_traces.then(|| {
                Arc::new(Self {
                    sink: None,
                    start_traces,
                })
            }));
        };
        let output = match &settings.path {
            None => writer::Output::Stdout,
            Some(path) => {
                signal::install();
                writer::Output::file(path).map_err(|source| AccessLogError::Open {
                    path: path.clone(),
                    source,
                })?
            }
        };
        let (tx, rx) = sync_channel(QUEUE);
        let format = settings.format;
        std::thread::Builder::new()
            .name("berth-access-log".into())
            .spawn(move || writer::run(rx, format, output))
            .map_err(AccessLogError::Thread)?;
        Ok(Some(Arc::new(Self {
            sink: Some((tx, format)),
            start_traces,
        })))
    }

    /// Applies trace context to a request as it arrives on `listener`, and copies what the
    /// log shows of it when the log is on.
    pub fn begin<B>(
        self: &Arc<Self>,
        req: &mut Request<B>,
        listener: &Arc<str>,
        client: IpAddr,
    ) -> Option<Entry> {
        let trace_id = match self.start_traces {
            true => Some(trace::start(req.headers_mut())),
            false => self.sink.as_ref().and(trace::trace_id(req.headers())),
        };
        let (_, format) = self.sink.as_ref()?;
        let record = Record {
            time: SystemTime::now(),
            listener: Arc::clone(listener),
            service: None,
            endpoint: None,
            client,
            method: req.method().clone(),
            version: req.version(),
            texts: record::Texts::of(req, *format != AccessFormat::Common),
            status: 0,
            bytes_in: 0,
            bytes_out: 0,
            duration: Duration::ZERO,
            upstream: None,
            retries: 0,
            error: None,
            trace_id,
        };
        Some(Entry {
            record: Box::new(record),
            log: Arc::clone(self),
        })
    }

    /// Hands a record to the writer without waiting; drops and counts it when the writer
    /// is behind.
    fn write(&self, record: Box<Record>) {
        if let Some((tx, _)) = &self.sink {
            if let Err(TrySendError::Full(_)) = tx.try_send(record) {
                metrics::counter!(crate::metrics::ACCESS_LOG_DROPPED_TOTAL).increment(1);
            }
        }
    }
}

/// A logged request, from its arrival to its response.
#[derive(Debug)]
pub struct Entry {
    record: Box<Record>,
    log: Arc<AccessLog>,
}

/// What became of a request, as the access log tells it.
#[derive(Debug, Default)]
pub struct Outcome<'a> {
    /// The service routed to.
    pub service: Option<&'a Service>,
    /// Why berth answered itself (a `ProxyError`'s reason, `policy`).
    pub error: Option<&'static str>,
    /// What forwarding noted.
    pub trail: Trail,
}

impl Entry {
    /// The response with its body wrapped to finish the record; `start`: the request's
    /// arrival.
    pub fn respond(
        self,
        response: Response<ProxyBody>,
        outcome: Outcome<'_>,
        start: Instant,
    ) -> Response<ServedBody> {
        let mut record = self.record;
        record.status = response.status().as_u16();
        record.error = outcome.error;
        let trail = outcome.trail;
        if let Some(service) = outcome.service {
            record.service = Some(Arc::clone(&service.spec.name));
            record.endpoint = trail
                .endpoint()
                .and_then(|i| service.endpoints.get(i).cloned());
        }
        record.upstream = trail.upstream();
        record.retries = trail.retries.load(Ordering::Relaxed);
        let open = body::Open {
            record,
            start,
            request_body: trail.body.into_inner(),
            log: self.log,
        };
        response.map(|b| http_body_util::Either::Right(LoggedBody::new(b, open)))
    }
}

/// What forwarding notes for the access log: the endpoint tried last, when it answered,
/// the retries, the request body. Written through `&self` (forwarding holds it shared).
#[derive(Debug, Default)]
pub struct Trail {
    /// The last endpoint tried, its index + 1; 0: none was.
    endpoint: AtomicUsize,
    /// Nanoseconds from the request's arrival to the upstream's response head + 1; 0: none.
    head_ns: AtomicU64,
    retries: AtomicU8,
    body: OnceLock<Arc<BodyWatch>>,
}

impl Trail {
    /// The request is sent to the endpoint at `index`.
    pub fn tried(&self, index: usize) {
        self.endpoint.store(index + 1, Ordering::Relaxed);
    }

    /// The endpoint tried last answered (its response head is in), for a request that
    /// arrived at `start`.
    pub fn answered(&self, start: Instant) {
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.head_ns.store(ns + 1, Ordering::Relaxed);
    }

    /// The request is tried again on another endpoint.
    pub fn retried(&self) {
        let n = self.retries.load(Ordering::Relaxed);
        self.retries.store(n.saturating_add(1), Ordering::Relaxed);
    }

    /// The request's body is watched by `watch` (it counts the bytes read).
    pub fn request_body(&self, watch: &Arc<BodyWatch>) {
        let _ = self.body.set(Arc::clone(watch));
    }

    fn endpoint(&self) -> Option<usize> {
        self.endpoint.load(Ordering::Relaxed).checked_sub(1)
    }

    fn upstream(&self) -> Option<Duration> {
        let ns = self.head_ns.load(Ordering::Relaxed).checked_sub(1)?;
        Some(Duration::from_nanos(ns))
    }
}

mod body;
mod format;
mod record;
mod signal;
pub mod trace;
mod writer;
