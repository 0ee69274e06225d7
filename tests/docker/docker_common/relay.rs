//! `SocketRelay`: a unix-socket relay in front of the engine's socket, so a test can cut the
//! engine connection (event stream included) and restore it without touching the engine.
//!
//! Invariant: after `cut()` returns, no new connection is relayed, the socket file is gone and
//! every relayed connection has been aborted (its sockets close as the runtime drops the task).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::net::{UnixListener, UnixStream};
use tokio::task::{AbortHandle, JoinHandle};

use super::RunId;

/// Relays each connection on `<tmp>/<run id>-relay/docker.sock` to the engine's socket
/// (`DOCKER_HOST` if it is `unix://...`, else `/var/run/docker.sock`). Create and use it
/// inside a tokio runtime.
pub struct SocketRelay {
    dir: PathBuf,
    path: PathBuf,
    upstream: PathBuf,
    live: Arc<Mutex<Live>>,
}

#[derive(Default)]
struct Live {
    /// Bumped by `cut()`: a connection accepted by an older generation is aborted at once.
    generation: u64,
    accept: Option<JoinHandle<()>>,
    connections: Vec<AbortHandle>,
}

impl SocketRelay {
    pub fn start(run: &RunId) -> SocketRelay {
        let dir = std::env::temp_dir().join(run.name("relay"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create relay dir");
        let upstream = match std::env::var("DOCKER_HOST") {
            Ok(host) if host.starts_with("unix://") => PathBuf::from(&host["unix://".len()..]),
            Ok(host) if !host.is_empty() => {
                panic!("SocketRelay relays unix sockets only; DOCKER_HOST is {host}")
            }
            _ => PathBuf::from("/var/run/docker.sock"),
        };
        let relay = SocketRelay {
            path: dir.join("docker.sock"),
            dir,
            upstream,
            live: Arc::default(),
        };
        relay.restore();
        relay
    }

    /// The relay's socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `unix://<path>`, for a Docker endpoint setting.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Connections currently relayed.
    pub fn connections(&self) -> usize {
        let mut live = self.live.lock().unwrap();
        live.connections.retain(|c| !c.is_finished());
        live.connections.len()
    }

    /// Stops listening, removes the socket file and aborts every relayed connection.
    pub fn cut(&self) {
        let mut live = self.live.lock().unwrap();
        live.generation += 1;
        if let Some(accept) = live.accept.take() {
            accept.abort();
        }
        for connection in live.connections.drain(..) {
            connection.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }

    /// Listens again at the same path (no-op while listening).
    pub fn restore(&self) {
        let mut live = self.live.lock().unwrap();
        if live.accept.is_some() {
            return;
        }
        let _ = std::fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path)
            .unwrap_or_else(|e| panic!("relay: bind {}: {e}", self.path.display()));
        let generation = live.generation;
        let shared = Arc::clone(&self.live);
        let upstream = self.upstream.clone();
        live.accept = Some(tokio::spawn(async move {
            loop {
                let client = match listener.accept().await {
                    Ok((client, _)) => client,
                    Err(_) => {
                        // A back-off after a failed accept, not a wait.
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let task = tokio::spawn(relay(client, upstream.clone()));
                let mut live = shared.lock().unwrap();
                if live.generation != generation {
                    task.abort();
                    return;
                }
                live.connections.retain(|c| !c.is_finished());
                live.connections.push(task.abort_handle());
            }
        }));
    }
}

async fn relay(mut client: UnixStream, upstream: PathBuf) {
    let Ok(mut engine) = UnixStream::connect(&upstream).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
}

impl Drop for SocketRelay {
    fn drop(&mut self) {
        self.cut();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
