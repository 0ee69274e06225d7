//! The simulated engine's containers and the JSON it serves for them (benchmark fixture).
//!
//! Every document is a copy of a real engine's answer (`summary.json`: one element of
//! `GET /containers/json`; `inspect.json`: `GET /containers/{id}/json`; `version.json`: `GET
//! /version`, all from Docker 20.10, API 1.41, for a running `FROM scratch` container of one
//! static binary, `EXPOSE 8080`, without `HEALTHCHECK`, on a user-defined bridge network, as
//! the engine tests run their replicas), with only the fields that differ between containers
//! rewritten: id, name, labels, network address, creation and start times.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// The network every simulated container is attached to.
pub const NETWORK: &str = "scale";

const SUMMARY: &str = include_str!("summary.json");
const INSPECT: &str = include_str!("inspect.json");
pub const VERSION: &str = include_str!("version.json");

/// One simulated running container.
#[derive(Clone, Debug)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub service: String,
    /// Index: sets the address (10.x.y.z) and the creation order.
    pub index: u32,
    pub created: SystemTime,
}

impl Container {
    pub fn new(index: u32, service: String, name: String, created: SystemTime) -> Self {
        Self {
            id: format!("{:064x}", u64::from(index) + 0x00fa_ce00_0000),
            name,
            service,
            index,
            created,
        }
    }

    /// Its address on [`NETWORK`]: 10.0.0.0/8 counted from 10.0.1.1.
    pub fn ip(&self) -> String {
        let n = self.index + 257;
        format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
    }

    /// The labels a berth replica carries: one service per `service`, routed on its path.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        labels.insert("berth.enable".to_owned(), "true".to_owned());
        labels.insert("berth.service".to_owned(), self.service.clone());
        labels.insert("berth.http.path".to_owned(), format!("/{}", self.service));
        labels.insert("fake_docker".to_owned(), "benchmark fixture".to_owned());
        labels
    }

    fn network(&self, template: &Value) -> Value {
        let mut endpoint = first_network(template);
        endpoint["IPAddress"] = json!(self.ip());
        if endpoint["Aliases"].is_array() {
            endpoint["Aliases"] = json!([&self.id[..12]]);
        }
        endpoint["EndpointID"] = json!(format!("{:064x}", u64::from(self.index) + 0xe0));
        endpoint["MacAddress"] = json!(format!(
            "02:42:0a:{:02x}:{:02x}:{:02x}",
            (self.index >> 16) & 255,
            (self.index >> 8) & 255,
            self.index & 255
        ));
        json!({ NETWORK: endpoint })
    }

    /// Its element of `GET /containers/json`.
    pub fn summary(&self) -> Value {
        let mut doc: Value = serde_json::from_str(SUMMARY).expect("summary.json is valid JSON");
        let networks = self.network(&doc["NetworkSettings"]["Networks"]);
        doc["Id"] = json!(self.id);
        doc["Names"] = json!([format!("/{}", self.name)]);
        doc["Labels"] = json!(self.labels());
        doc["Created"] = json!(unix_seconds(self.created));
        doc["NetworkSettings"]["Networks"] = networks;
        doc
    }

    /// Its `GET /containers/{id}/json` document.
    pub fn inspect(&self) -> Value {
        let mut doc: Value = serde_json::from_str(INSPECT).expect("inspect.json is valid JSON");
        let networks = self.network(&doc["NetworkSettings"]["Networks"]);
        let created = humantime::format_rfc3339_nanos(self.created).to_string();
        let started = humantime::format_rfc3339_nanos(self.created + Duration::from_millis(300));
        doc["Id"] = json!(self.id);
        doc["Name"] = json!(format!("/{}", self.name));
        doc["Created"] = json!(created);
        doc["State"]["StartedAt"] = json!(started.to_string());
        doc["Config"]["Hostname"] = json!(self.id[..12]);
        doc["Config"]["Labels"] = json!(self.labels());
        doc["NetworkSettings"]["Networks"] = networks;
        doc
    }

    /// A container event (`start`, `die`, …) as the engine streams it on `/events`.
    pub fn event(&self, action: &str, at: SystemTime) -> Value {
        let mut attributes = self.labels();
        attributes.insert("image".to_owned(), "berth-replica".to_owned());
        attributes.insert("name".to_owned(), self.name.clone());
        if action == "die" {
            attributes.insert("exitCode".to_owned(), "0".to_owned());
        }
        let nanos = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        json!({
            "status": action, "id": self.id, "from": "berth-replica",
            "Type": "container", "Action": action,
            "Actor": { "ID": self.id, "Attributes": attributes },
            "scope": "local", "time": nanos / 1_000_000_000, "timeNano": nanos,
        })
    }
}

/// The template's only network's endpoint settings.
fn first_network(networks: &Value) -> Value {
    networks
        .as_object()
        .and_then(|n| n.values().next())
        .cloned()
        .unwrap_or_else(|| json!({}))
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// `services × replicas` containers named `svc<s>-<r>`, created one millisecond apart an hour
/// ago, service by service.
pub fn fleet(services: u32, replicas: u32) -> Vec<Container> {
    let start = SystemTime::now() - Duration::from_secs(3600);
    let mut all = Vec::with_capacity((services * replicas) as usize);
    for s in 0..services {
        for r in 0..replicas {
            let index = s * replicas + r;
            let created = start + Duration::from_millis(u64::from(index));
            all.push(Container::new(
                index,
                format!("svc{s}"),
                format!("svc{s}-{r}"),
                created,
            ));
        }
    }
    all
}
