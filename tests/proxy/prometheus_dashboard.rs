//! `config/grafana-dashboard.json`, read as Grafana imports it: the file parses, declares its
//! Prometheus datasource input and the `service` and `endpoint` variables, every panel queries
//! that datasource, and every query names only metrics berth documents in `src/metrics.rs`.
//! That the queries also parse and return data is checked against a real Prometheus server
//! scraping berth (`prometheus::real_prometheus_scrapes_berth`, which uses [`queries`]).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

/// The dashboard operators import.
const DASHBOARD: &str = "config/grafana-dashboard.json";

/// Metrics the dashboard must show (each is in at least one panel's query).
const SHOWN: [&str; 18] = [
    "berth_requests_total",
    "berth_request_duration_seconds",
    "berth_endpoint_request_duration_seconds",
    "berth_upstream_requests_total",
    "berth_endpoints",
    "berth_endpoint_in_flight",
    "berth_ejections_total",
    "berth_retries_total",
    "berth_circuit_open_total",
    "berth_connections_active",
    "berth_tls_handshakes_total",
    "berth_tls_handshake_errors_total",
    "berth_certificate_expiry_seconds",
    "berth_config_reloads_total",
    "berth_docker_rejected_containers",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
];

/// The dashboard, parsed.
pub fn load() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DASHBOARD);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"))
}

/// Every panel, rows' collapsed panels included.
fn panels(doc: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in doc["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

/// Every query: (panel title, PromQL as written, with Grafana's variables).
pub fn queries(doc: &Value) -> Vec<(String, String)> {
    panels(doc)
        .into_iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("?").to_owned();
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            targets
                .into_iter()
                .filter_map(move |t| t["expr"].as_str().map(|e| (title.clone(), e.to_owned())))
        })
        .collect()
}

/// `expr` as Grafana sends it with `service` and `endpoint` chosen (regexes, as the
/// variables' "All" is `.*`) and a rate interval of `rate`.
pub fn concrete(expr: &str, service: &str, endpoint: &str, rate: &str) -> String {
    expr.replace("$__rate_interval", rate)
        .replace("${service}", service)
        .replace("$service", service)
        .replace("${endpoint}", endpoint)
        .replace("$endpoint", endpoint)
}

/// The `berth_*` and `process_*` metric names `expr` uses, without the `_bucket`, `_sum` and
/// `_count` series suffixes.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let bytes = expr.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut names = BTreeSet::new();
    for prefix in ["berth_", "process_"] {
        for (at, _) in expr.match_indices(prefix) {
            if at > 0 && (word(bytes[at - 1]) || bytes[at - 1] == b'$') {
                continue;
            }
            let end = expr[at..]
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .map_or(expr.len(), |n| at + n);
            let name = &expr[at..end];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            names.insert(base.to_owned());
        }
    }
    names
}

/// The names `src/metrics.rs` documents: its `pub const` string values, and any
/// `process_*` name it lists.
fn documented() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/metrics.rs");
    let text = std::fs::read_to_string(&path).expect("read src/metrics.rs");
    let literals = |text: &str| -> Vec<String> {
        text.split('"')
            .skip(1)
            .step_by(2)
            .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .map(str::to_owned)
            .collect()
    };
    let mut names = BTreeSet::new();
    // `pub const NAME: &str = "berth_...";`, however rustfmt wraps it.
    for item in text.split("pub const ").skip(1) {
        let item = item.split(';').next().unwrap_or("");
        names.extend(
            literals(item)
                .into_iter()
                .filter(|l| l.starts_with("berth_")),
        );
    }
    // `"process_..."` anywhere (a list of the process metrics berth exports).
    for (at, _) in text.match_indices("\"process_") {
        let name = text[at + 1..].split('"').next().unwrap_or("");
        if name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            names.insert(name.to_owned());
        }
    }
    names
}

#[test]
fn dashboard_is_an_importable_grafana_dashboard() {
    let doc = load();
    let input = doc["__inputs"]
        .as_array()
        .expect("__inputs")
        .iter()
        .find(|i| i["name"] == "DS_PROMETHEUS")
        .expect("a DS_PROMETHEUS input");
    assert_eq!(input["type"], "datasource", "{input}");
    assert_eq!(input["pluginId"], "prometheus", "{input}");
    let schema = doc["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert!(doc["title"].is_string() && doc["uid"].is_string());

    let vars = doc["templating"]["list"].as_array().expect("templating");
    let var = |name: &str| -> &Value {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no `{name}` variable"))
    };
    let service = var("service");
    assert_eq!(
        service["definition"],
        "label_values(berth_requests_total, service)"
    );
    assert!(var("endpoint")["definition"]
        .as_str()
        .is_some_and(|d| d.starts_with("label_values(") && d.ends_with(", endpoint)")));
    for name in ["service", "endpoint"] {
        let v = var(name);
        assert_eq!(v["type"], "query", "{name}");
        assert_eq!(v["datasource"]["uid"], "${DS_PROMETHEUS}", "{name}");
        assert_eq!(v["includeAll"], true, "{name}");
        assert_eq!(v["allValue"], ".*", "{name}");
    }

    let mut ids = BTreeSet::new();
    for p in panels(&doc) {
        let title = p["title"].as_str().expect("every panel has a title");
        let id = p["id"].as_u64().expect("every panel has an id");
        assert!(ids.insert(id), "panel id {id} ({title}) is used twice");
        for key in ["h", "w", "x", "y"] {
            assert!(p["gridPos"][key].is_u64(), "{title}: gridPos.{key}");
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            assert!(t["expr"].is_string(), "{title}: a target without expr");
            assert!(t["refId"].is_string(), "{title}: a target without refId");
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        }
    }
}

#[test]
fn dashboard_queries_only_metrics_berth_documents() {
    let doc = load();
    let documented = documented();
    assert!(
        documented.contains("berth_requests_total"),
        "no metric names read from src/metrics.rs"
    );
    let mut exprs: Vec<(String, String)> = queries(&doc);
    for v in doc["templating"]["list"].as_array().expect("templating") {
        if let Some(q) = v["definition"].as_str() {
            exprs.push((format!("variable {}", v["name"]), q.to_owned()));
        }
    }
    let mut used = BTreeSet::new();
    let mut unknown = Vec::new();
    for (title, expr) in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{title}: `{expr}` names no berth metric");
        for name in names {
            if !documented.contains(&name) {
                unknown.push(format!("{title}: {name} in `{expr}`"));
            }
            used.insert(name);
        }
    }
    assert!(
        unknown.is_empty(),
        "metrics not in src/metrics.rs:\n{}",
        unknown.join("\n")
    );
    let missing: Vec<_> = SHOWN.iter().filter(|n| !used.contains(**n)).collect();
    assert!(missing.is_empty(), "no panel shows {missing:?}");
}

#[test]
fn metric_names_are_read_from_expressions() {
    let names = metric_names(
        "histogram_quantile(0.99, sum by (le) (rate(berth_request_duration_seconds_bucket\
         {service=~\"$service\"}[$__rate_interval]))) / process_open_fds and on (instance) \
         berth_snapshot_builds_total",
    );
    let want = [
        "berth_request_duration_seconds",
        "berth_snapshot_builds_total",
        "process_open_fds",
    ];
    assert_eq!(names.iter().map(String::as_str).collect::<Vec<_>>(), want);
    assert_eq!(
        concrete(
            "rate(x{service=~\"$service\",endpoint=~\"${endpoint}\"}[$__rate_interval])",
            "a",
            ".*",
            "30s"
        ),
        "rate(x{service=~\"a\",endpoint=~\".*\"}[30s])"
    );
}
