//! Reading a manager's tasks (control plane, engine I/O).
//!
//! bollard's `Task` model has no `NetworksAttachments`, the one field that says where a task
//! can be reached, so tasks are read with a plain `GET /v<api>/tasks` on a connection of our
//! own and decoded into the types below, which keep only what berth routes by.
//! Invariant: any engine answer that is not a task list is an error for the caller (who
//! keeps serving what it knew), never a panic.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::discovery::docker::DockerError;

/// The most a task listing may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One task, as the engine reports it (only the fields berth reads).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Task {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "ServiceID", default)]
    pub service_id: String,
    #[serde(rename = "NodeID", default)]
    pub node_id: String,
    /// The replica's slot (replicated services); global services have none.
    #[serde(default)]
    pub slot: Option<u64>,
    #[serde(default)]
    pub desired_state: String,
    #[serde(default)]
    pub status: TaskStatus,
    #[serde(default)]
    pub networks_attachments: Vec<NetworkAttachment>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct TaskStatus {
    /// When the task entered `state` (RFC 3339).
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub container_status: Option<ContainerStatus>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ContainerStatus {
    #[serde(rename = "ContainerID", default)]
    pub container_id: Option<String>,
}

/// The task's place on one network.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkAttachment {
    #[serde(default)]
    pub network: AttachedNetwork,
    /// CIDR addresses (`10.0.1.7/24`).
    #[serde(default)]
    pub addresses: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedNetwork {
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(default)]
    pub spec: NetworkSpec,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSpec {
    #[serde(default)]
    pub name: String,
    /// The routing mesh's network: never an address berth routes to.
    #[serde(default)]
    pub ingress: bool,
}

impl Task {
    /// When it entered its current state; `None` when the engine did not say.
    pub fn since(&self) -> Option<SystemTime> {
        let at = self.status.timestamp.as_deref()?;
        humantime::parse_rfc3339_weak(at.trim_end_matches('Z')).ok()
    }
}

/// Where the engine listens.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Address {
    Unix(PathBuf),
    Tcp(String),
}

/// Lists tasks from one engine at one API version.
#[derive(Clone, Debug)]
pub struct TaskReader {
    address: Address,
    /// `/v1.41`.
    version: String,
}

impl TaskReader {
    /// For the engine at `endpoint` (`unix://…`, `tcp://…`, `http://…`; the same rules as
    /// `docker::connect`, which has already accepted it), speaking API `major.minor`.
    pub fn new(endpoint: &str, major: usize, minor: usize) -> Result<Self, DockerError> {
        let address = if let Some(path) = endpoint.strip_prefix("unix://") {
            Address::Unix(PathBuf::from(path))
        } else if let Some(host) = endpoint
            .strip_prefix("tcp://")
            .or_else(|| endpoint.strip_prefix("http://"))
        {
            Address::Tcp(host.trim_end_matches('/').to_owned())
        } else {
            return Err(DockerError::Connect {
                endpoint: endpoint.to_owned(),
                reason: "the swarm provider reads tasks over unix:// or tcp:// only".into(),
            });
        };
        Ok(Self {
            address,
            version: format!("/v{major}.{minor}"),
        })
    }

    /// Every task whose desired state is `running` (a full read).
    pub async fn running(&self) -> Result<Vec<Task>, DockerError> {
        self.list(r#"{"desired-state":["running"]}"#).await
    }

    /// Every task of one service, whatever its state (a targeted read).
    pub async fn of_service(&self, service_id: &str) -> Result<Vec<Task>, DockerError> {
        let filter = serde_json::json!({ "service": [service_id] }).to_string();
        self.list(&filter).await
    }

    async fn list(&self, filters: &str) -> Result<Vec<Task>, DockerError> {
        let path = format!("{}/tasks?filters={}", self.version, encode(filters));
        let body = tokio::time::timeout(TIMEOUT, self.get(&path))
            .await
            .map_err(|_| self.error(format!("GET {path}: no answer within {TIMEOUT:?}")))??;
        serde_json::from_slice(&body).map_err(|e| self.error(format!("GET {path}: {e}")))
    }

    async fn get(&self, path: &str) -> Result<Bytes, DockerError> {
        match &self.address {
            Address::Unix(socket) => {
                let stream = tokio::net::UnixStream::connect(socket).await;
                self.exchange(stream.map_err(|e| self.error(e.to_string()))?, path)
                    .await
            }
            Address::Tcp(host) => {
                let stream = tokio::net::TcpStream::connect(host).await;
                self.exchange(stream.map_err(|e| self.error(e.to_string()))?, path)
                    .await
            }
        }
    }

    /// One request on a fresh HTTP/1.1 connection; the body of a 2xx answer.
    async fn exchange<S>(&self, stream: S, path: &str) -> Result<Bytes, DockerError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let fail = |e: hyper::Error| self.error(format!("GET {path}: {e}"));
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(fail)?;
        tokio::spawn(conn);
        let request = Request::get(path)
            .header(hyper::header::HOST, "docker")
            .body(Empty::<Bytes>::new())
            .map_err(|e| self.error(format!("GET {path}: {e}")))?;
        let response = sender.send_request(request).await.map_err(fail)?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(fail)?;
        let body = body.to_bytes();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(self.error(format!("GET {path}: {status}: {}", text.trim())));
        }
        Ok(body)
    }

    fn error(&self, reason: String) -> DockerError {
        let endpoint = match &self.address {
            Address::Unix(path) => format!("unix://{}", path.display()),
            Address::Tcp(host) => format!("tcp://{host}"),
        };
        DockerError::Connect { endpoint, reason }
    }
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task as engine 20.10 prints it (`GET /tasks`), trimmed of fields berth ignores.
    const TASK: &str = r#"{
        "ID": "t1", "Version": {"Index": 20}, "ServiceID": "s1", "Slot": 2, "NodeID": "n1",
        "Spec": {"ContainerSpec": {"Image": "x"}},
        "Status": {"Timestamp": "2026-12-04T18:00:01.123456789Z", "State": "running",
                   "ContainerStatus": {"ContainerID": "c1", "PID": 7}},
        "DesiredState": "running",
        "NetworksAttachments": [
            {"Network": {"ID": "ing", "Spec": {"Name": "ingress", "Ingress": true}},
             "Addresses": ["10.0.0.5/24"]},
            {"Network": {"ID": "o1", "Spec": {"Name": "front", "Driver": "overlay"}},
             "Addresses": ["10.0.1.7/24"]}
        ]
    }"#;

    #[test]
    fn a_task_keeps_its_networks_and_state() {
        let task: Task = serde_json::from_str(TASK).expect("a task");
        assert_eq!((task.id.as_str(), task.service_id.as_str()), ("t1", "s1"));
        assert_eq!((task.slot, task.node_id.as_str()), (Some(2), "n1"));
        assert_eq!(
            (task.desired_state.as_str(), task.status.state.as_str()),
            ("running", "running")
        );
        let nets = &task.networks_attachments;
        assert_eq!(nets.len(), 2);
        assert!(nets[0].network.spec.ingress);
        assert_eq!(nets[1].network.spec.name, "front");
        assert_eq!(nets[1].addresses, vec!["10.0.1.7/24"]);
        let since = task.since().expect("a timestamp");
        let secs = since
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        assert_eq!(secs, 1_796_407_201);
    }

    #[test]
    fn a_bare_task_decodes_with_defaults() {
        let task: Task = serde_json::from_str(r#"{"ID": "t2"}"#).expect("a task");
        assert_eq!(task.status.state, "");
        assert!(task.networks_attachments.is_empty() && task.since().is_none());
    }

    #[test]
    fn filters_are_percent_encoded() {
        assert_eq!(
            encode(r#"{"service":["a1"]}"#),
            "%7B%22service%22%3A%5B%22a1%22%5D%7D"
        );
    }

    #[test]
    fn only_unix_and_tcp_endpoints_are_read() {
        assert!(TaskReader::new("unix:///var/run/docker.sock", 1, 41).is_ok());
        let tcp = TaskReader::new("tcp://10.0.0.1:2375", 1, 41).expect("tcp");
        assert_eq!(tcp.address, Address::Tcp("10.0.0.1:2375".into()));
        assert!(TaskReader::new("npipe:////./pipe/docker", 1, 41).is_err());
    }
}
