//! Reconciler behaviour: state survives rebuilds, removals start fresh, drains are immediate.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::model::{Availability, Defaults, Health, Layer};

fn config() -> Arc<Config> {
    let yaml = "listeners:\n  web: { address: \"127.0.0.1:0\" }\nadmin: { address: \"127.0.0.1:0\" }\ndocker: { enabled: false }\n";
    Arc::new(crate::config::parse(yaml, "t.yaml").expect("valid test config"))
}

fn spec(service: &str, id: &str, port: u16, path: &str) -> EndpointSpec {
    EndpointSpec {
        key: EndpointKey {
            source: id.into(),
            addr: format!("10.0.0.1:{port}").parse().expect("addr"),
        },
        weight: 1,
        service: Arc::new(ServiceSpec {
            path: path.into(),
            ..Defaults::default().service(service.into(), Layer::Http)
        }),
        availability: Availability::default(),
        origin: "test".into(),
    }
}

fn upsert(r: &mut Reconciler, s: EndpointSpec) {
    r.apply(Input::Update(Update::Upsert {
        provider: ProviderId::Docker,
        endpoint: s,
    }));
}

fn endpoints(r: &Reconciler, service: &str) -> Vec<Arc<Endpoint>> {
    let snap = r.published().load_full();
    snap.services
        .iter()
        .find(|s| &*s.spec.name == service)
        .map(|s| s.endpoints.clone())
        .unwrap_or_default()
}

#[test]
fn endpoint_state_survives_rebuilds() {
    let mut r = Reconciler::new(config());
    upsert(&mut r, spec("api", "a", 1, "/"));
    r.publish();
    let before = endpoints(&r, "api")[0].clone();
    let _in_flight = before.begin_request();
    upsert(&mut r, spec("web", "b", 2, "/web"));
    r.publish();
    let after = endpoints(&r, "api")[0].clone();
    assert!(Arc::ptr_eq(&before, &after));
    assert_eq!(after.in_flight(), 1);
}

#[test]
fn drain_is_immediate_and_remove_then_upsert_starts_fresh() {
    let mut r = Reconciler::new(config());
    let s = spec("api", "a", 1, "/");
    upsert(&mut r, s.clone());
    r.publish();
    let first = endpoints(&r, "api")[0].clone();
    r.apply(Input::Update(Update::Drain(s.key.clone())));
    assert!(first.is_draining(), "before any rebuild");
    r.apply(Input::Update(Update::Remove(s.key.clone())));
    upsert(&mut r, s);
    r.publish();
    let second = endpoints(&r, "api")[0].clone();
    assert!(!Arc::ptr_eq(&first, &second));
    assert!(second.is_routable() && first.is_removed());
}

#[test]
fn reset_removes_what_the_provider_no_longer_lists() {
    let mut r = Reconciler::new(config());
    upsert(&mut r, spec("api", "a", 1, "/"));
    upsert(&mut r, spec("api", "b", 2, "/"));
    r.publish();
    let gone = endpoints(&r, "api")
        .into_iter()
        .find(|e| e.addr().port() == 2);
    r.apply(Input::Update(Update::Reset {
        provider: ProviderId::Docker,
        endpoints: vec![spec("api", "a", 1, "/")],
    }));
    r.publish();
    assert_eq!(endpoints(&r, "api").len(), 1);
    assert!(gone.expect("b existed").is_removed());
}

#[test]
fn availability_follows_the_provider() {
    let mut r = Reconciler::new(config());
    let mut s = spec("api", "a", 1, "/");
    s.availability.health = Health::Starting;
    upsert(&mut r, s.clone());
    r.publish();
    assert!(!endpoints(&r, "api")[0].is_routable());
    s.availability.health = Health::Healthy;
    upsert(&mut r, s);
    r.publish();
    assert!(endpoints(&r, "api")[0].is_routable());
}

#[test]
fn first_service_keeps_a_contested_route_and_the_other_is_warned() {
    let mut r = Reconciler::new(config());
    upsert(&mut r, spec("first", "a", 1, "/same"));
    upsert(&mut r, spec("second", "b", 2, "/same"));
    r.publish();
    let snap = r.published().load_full();
    let found = snap.listeners[0]
        .routes
        .find(None, "/same/x")
        .expect("route");
    assert_eq!(&*found.target.service.spec.name, "first");
    assert_eq!(snap.warnings[&Arc::from("second")].len(), 1);
}

#[test]
fn newest_endpoint_settings_win_for_the_service() {
    let mut r = Reconciler::new(config());
    upsert(&mut r, spec("api", "a", 1, "/old"));
    upsert(&mut r, spec("api", "b", 2, "/new"));
    r.publish();
    let snap = r.published().load_full();
    assert_eq!(snap.services[0].spec.path, "/new");
    assert_eq!(snap.services[0].endpoints.len(), 2);
}

fn with_check(mut s: EndpointSpec, interval_s: u64) -> EndpointSpec {
    let mut service = (*s.service).clone();
    service.health = Some(crate::model::HealthCheck::new(
        None,
        Duration::from_secs(interval_s),
    ));
    s.service = Arc::new(service);
    s
}

#[tokio::test]
async fn checkers_survive_rebuilds_restart_on_change_and_stop_on_removal() {
    let mut r = Reconciler::new(config());
    upsert(&mut r, with_check(spec("api", "c1", 1, "/"), 60));
    r.publish();
    let key = endpoints(&r, "api")[0].key().clone();
    let first = format!("{:?}", r.checkers[&key]);
    // An unrelated rebuild keeps the same checker, and a failing state.
    endpoints(&r, "api")[0].set_active_failing(true);
    upsert(&mut r, spec("web", "c2", 2, "/web"));
    r.publish();
    assert_eq!(format!("{:?}", r.checkers[&key]), first);
    assert!(endpoints(&r, "api")[0].is_active_failing());
    // A changed check restarts the checker but keeps the state.
    upsert(&mut r, with_check(spec("api", "c1", 1, "/"), 30));
    r.publish();
    assert_ne!(format!("{:?}", r.checkers[&key]), first);
    assert!(endpoints(&r, "api")[0].is_active_failing());
    // Panic mode: the only endpoint fails its active check only.
    assert!(r
        .published()
        .load()
        .services
        .iter()
        .any(|s| s.spec.name.as_ref() == "api" && s.panic.load(Relaxed)));
    // Removal stops it.
    r.apply(Input::Update(Update::Remove(key.clone())));
    assert!(!r.checkers.contains_key(&key));
}

#[test]
fn a_reset_keeps_the_route_with_the_service_listed_first() {
    let mut r = Reconciler::new(config());
    let reset = |r: &mut Reconciler| {
        r.apply(Input::Update(Update::Reset {
            provider: ProviderId::File,
            endpoints: vec![spec("static", "static:s", 1, "/")],
        }));
        r.publish();
    };
    let owner = |r: &Reconciler| {
        let snap = r.published().load_full();
        let found = snap.listeners[0].routes.find(None, "/");
        found.map(|m| m.target.service.spec.name.to_string())
    };
    reset(&mut r);
    upsert(&mut r, spec("container", "c1", 2, "/"));
    r.publish();
    assert_eq!(owner(&r).as_deref(), Some("static"));
    // A reload resets the file provider's view with the same endpoint: the route stays.
    reset(&mut r);
    assert_eq!(owner(&r).as_deref(), Some("static"));
    // So does a container's re-upsert (a resync).
    upsert(&mut r, spec("container", "c1", 2, "/"));
    r.publish();
    assert_eq!(owner(&r).as_deref(), Some("static"));
}

#[test]
fn endpoints_of_the_other_layer_are_left_out_with_a_warning() {
    let mut r = Reconciler::new(config());
    upsert(&mut r, spec("x", "http-1", 1, "/"));
    let mut l4 = spec("x", "tcp-1", 2, "/");
    let mut service = (*l4.service).clone();
    service.layer = crate::model::Layer::Tcp;
    l4.service = Arc::new(service);
    upsert(&mut r, l4);
    r.publish();
    let eps = endpoints(&r, "x");
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0].addr().port(), 2, "the newest endpoint's layer wins");
    let snap = r.published().load_full();
    let warnings = snap.warnings.get("x").expect("a warning");
    assert!(
        warnings[0].starts_with("endpoint 10.0.0.1:1 left out: it is an HTTP endpoint"),
        "{warnings:?}"
    );
}

fn service_names(r: &Reconciler) -> Vec<(String, bool)> {
    let snap = r.published().load_full();
    snap.services
        .iter()
        .map(|s| (s.spec.name.to_string(), s.vacant_since.is_some()))
        .collect()
}

fn with_keep_route(mut s: EndpointSpec, keep: Duration) -> EndpointSpec {
    let mut service = (*s.service).clone();
    service.keep_route = keep;
    s.service = Arc::new(service);
    s
}

#[test]
fn a_discovered_service_without_endpoints_keeps_its_route_for_keep_route() {
    let mut r = Reconciler::new(config());
    upsert(
        &mut r,
        with_keep_route(spec("api", "a", 1, "/api"), Duration::from_millis(80)),
    );
    upsert(
        &mut r,
        with_keep_route(spec("now", "b", 2, "/now"), Duration::ZERO),
    );
    r.publish();
    for key in ["a", "b"] {
        let port = if key == "a" { 1 } else { 2 };
        r.apply(Input::Update(Update::Remove(EndpointKey {
            source: key.into(),
            addr: format!("10.0.0.1:{port}").parse().expect("addr"),
        })));
    }
    r.publish();
    assert_eq!(
        service_names(&r),
        [("api".to_owned(), true)],
        "kept, and only it"
    );
    let snap = r.published().load_full();
    let route = snap.listeners[0].routes.find(Some("h"), "/api/x");
    assert!(
        route.is_some(),
        "its route still answers (503: no endpoint)"
    );
    assert!(!r.vacancies.expired(Instant::now()));
    std::thread::sleep(Duration::from_millis(100));
    assert!(r.vacancies.expired(Instant::now()));
    r.publish();
    assert!(service_names(&r).is_empty(), "dropped once its time is up");
}

#[test]
fn a_vacant_service_is_live_again_with_its_next_endpoint() {
    let mut r = Reconciler::new(config());
    upsert(&mut r, spec("api", "a", 1, "/"));
    r.publish();
    r.apply(Input::Update(Update::Remove(spec("api", "a", 1, "/").key)));
    r.publish();
    assert_eq!(service_names(&r), [("api".to_owned(), true)]);
    upsert(&mut r, spec("api", "c", 3, "/"));
    r.publish();
    assert_eq!(service_names(&r), [("api".to_owned(), false)]);
    assert_eq!(endpoints(&r, "api").len(), 1);
}

#[test]
fn a_service_a_reset_drops_goes_at_once() {
    let mut r = Reconciler::new(config());
    upsert(&mut r, spec("api", "a", 1, "/"));
    r.publish();
    r.apply(Input::Update(Update::Reset {
        provider: ProviderId::Docker,
        endpoints: Vec::new(),
    }));
    r.publish();
    assert!(
        service_names(&r).is_empty(),
        "a withdrawal is an edit, not a redeploy"
    );
}

#[test]
fn a_static_service_removed_from_the_file_goes_at_once() {
    let mut r = Reconciler::new(config());
    let reset = |endpoints| {
        Input::Update(Update::Reset {
            provider: ProviderId::File,
            endpoints,
        })
    };
    r.apply(reset(vec![spec("legacy", "static:legacy", 1, "/")]));
    r.publish();
    r.apply(reset(Vec::new()));
    r.publish();
    assert!(service_names(&r).is_empty());
}
