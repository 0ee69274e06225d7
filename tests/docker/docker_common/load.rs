//! A load generator for the Docker tests: `concurrency` loops, each with its own keep-alive
//! HTTP/1.1 client, sending GETs back to back until stopped and recording every answer.
//!
//! Every request leaves a [`Record`]: when it was sent and answered, the status (0 for a
//! transport error), which replica answered (`x-replica`) and, for a failure, why. Nothing is
//! shared between the loops while they run but two relaxed counters, so the generator costs
//! little more than the requests themselves.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::wait_until;

/// One request of the load.
#[derive(Clone, Debug)]
pub struct Record {
    pub sent: Instant,
    pub done: Instant,
    /// The response's status; 0 when the request failed without one.
    pub status: u16,
    /// `x-replica` of the answer (empty if none).
    pub replica: Arc<str>,
    /// For a failure: the error or the body.
    pub error: Option<String>,
}

impl Record {
    /// A 2xx answer, read to the end.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status) && self.error.is_none()
    }
}

/// Running load; [`Load::stop`] ends it and returns what happened.
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<Vec<Record>>>,
    started: Instant,
    answered: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl Load {
    /// Starts `concurrency` loops sending `GET url` (on the current tokio runtime).
    pub fn start(url: &str, concurrency: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let tasks = (0..concurrency)
            .map(|_| {
                let (stop, answered, failed) = (
                    Arc::clone(&stop),
                    Arc::clone(&answered),
                    Arc::clone(&failed),
                );
                let url = url.to_owned();
                tokio::spawn(async move { run(&url, &stop, &answered, &failed).await })
            })
            .collect();
        Load {
            stop,
            tasks,
            started: Instant::now(),
            answered,
            failed,
        }
    }

    /// Requests answered so far (any outcome).
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Requests failed so far (non-2xx or transport error).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Waits until `n` more requests have been answered (at most 10 s).
    pub async fn wait_answers(&self, n: u64) {
        let target = self.answered() + n;
        let what = format!("{n} answers to the load");
        wait_until(Duration::from_secs(10), &what, || async {
            self.answered() >= target
        })
        .await;
    }

    /// Stops the loops (each finishes its current request) and returns every record.
    pub async fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        let mut records = Vec::new();
        for task in self.tasks {
            records.extend(task.await.expect("load loop"));
        }
        records.sort_by_key(|r| r.sent);
        LoadReport {
            started: self.started,
            elapsed: self.started.elapsed(),
            records,
        }
    }
}

async fn run(
    url: &str,
    stop: &AtomicBool,
    answered: &AtomicU64,
    failed: &AtomicU64,
) -> Vec<Record> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("reqwest client");
    // Replica names seen by this loop, so a record shares its name instead of allocating.
    let mut names: Vec<Arc<str>> = vec![Arc::from("")];
    let mut records = Vec::with_capacity(16 * 1024);
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let (status, replica, error) = match http.get(url).send().await {
            Ok(answer) => {
                let status = answer.status().as_u16();
                let replica = answer
                    .headers()
                    .get("x-replica")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let replica = match names.iter().find(|n| &***n == replica) {
                    Some(n) => Arc::clone(n),
                    None => {
                        names.push(Arc::from(replica));
                        Arc::clone(names.last().expect("pushed"))
                    }
                };
                match answer.bytes().await {
                    Ok(_) if (200..300).contains(&status) => (status, replica, None),
                    Ok(body) => {
                        let body = String::from_utf8_lossy(&body).trim().to_owned();
                        (status, replica, Some(body))
                    }
                    Err(e) => (status, replica, Some(format!("body: {e}"))),
                }
            }
            Err(e) => (0, Arc::clone(&names[0]), Some(error_chain(&e))),
        };
        let record = Record {
            sent,
            done: Instant::now(),
            status,
            replica,
            error,
        };
        answered.fetch_add(1, Ordering::Relaxed);
        if !record.ok() {
            failed.fetch_add(1, Ordering::Relaxed);
        }
        records.push(record);
    }
    records
}

/// An error and its sources, `: `-joined.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// What a load run saw, records in the order they were sent.
pub struct LoadReport {
    pub started: Instant,
    pub elapsed: Duration,
    pub records: Vec<Record>,
}

impl LoadReport {
    /// Answered requests per second over the whole run.
    pub fn rate(&self) -> f64 {
        self.records.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// Requests that did not get a 2xx answer read to the end.
    pub fn failures(&self) -> Vec<&Record> {
        self.records.iter().filter(|r| !r.ok()).collect()
    }

    /// Requests answered by `replica`.
    pub fn answered_by<'a>(&'a self, replica: &'a str) -> impl Iterator<Item = &'a Record> {
        self.records.iter().filter(move |r| &*r.replica == replica)
    }

    /// Requests sent at or after `at`.
    pub fn sent_after(&self, at: Instant) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(move |r| r.sent >= at)
    }

    /// A one-line summary of `records` for messages: count, then up to 10 of them as
    /// `+ms status replica error`.
    pub fn describe<'a>(&self, records: impl IntoIterator<Item = &'a Record>) -> String {
        let records: Vec<&Record> = records.into_iter().collect();
        let shown: Vec<String> = records
            .iter()
            .take(10)
            .map(|r| {
                format!(
                    "+{:.1}ms {} {} {}",
                    (r.sent - self.started).as_secs_f64() * 1e3,
                    r.status,
                    r.replica,
                    r.error.as_deref().unwrap_or("")
                )
            })
            .collect();
        format!("{} request(s): {shown:?}", records.len())
    }
}
