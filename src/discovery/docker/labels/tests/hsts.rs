//! The `http.hsts.*` labels.

use super::*;

fn hsts(c: Container) -> Option<String> {
    service(c).hsts.map(|h| h.as_str().to_owned())
}

#[test]
fn no_hsts_without_max_age() {
    assert_eq!(hsts(container()), None);
}

#[test]
fn max_age_turns_hsts_on() {
    let c = container().label("berth.http.hsts.max_age", "1y");
    assert_eq!(hsts(c).as_deref(), Some("max-age=31557600"));
    let c = container()
        .label("berth.http.hsts.max_age", "365d")
        .label("berth.http.hsts.include_subdomains", "true")
        .label("berth.http.hsts.preload", "TRUE");
    assert_eq!(
        hsts(c).as_deref(),
        Some("max-age=31536000; includeSubDomains; preload")
    );
    let c = container()
        .label("berth.http.hsts.max_age", "0s")
        .label("berth.http.hsts.include_subdomains", "false");
    assert_eq!(hsts(c).as_deref(), Some("max-age=0"), "0 is legal: forget");
}

#[test]
fn bad_values_name_the_label_and_the_fix() {
    assert_eq!(
        rejected(container().label("berth.http.hsts.max_age", "forever")),
        "label berth.http.hsts.max_age=forever: expected a number and a unit like 500ms, 30s, 2m"
    );
    assert_eq!(
        rejected(container().label("berth.http.hsts.max_age", "1.5s")),
        "label berth.http.hsts.max_age=1.5s: max_age 1.5s is not a whole number of seconds \
         (HSTS counts seconds): use whole seconds, like 1y, 180d or 31536000s"
    );
    assert_eq!(
        rejected(
            container()
                .label("berth.http.hsts.max_age", "1y")
                .label("berth.http.hsts.include_subdomains", "yes")
        ),
        "label berth.http.hsts.include_subdomains=yes: expected true or false"
    );
}

#[test]
fn preload_follows_the_preload_lists_rules() {
    assert_eq!(
        rejected(
            container()
                .label("berth.http.hsts.max_age", "180d")
                .label("berth.http.hsts.include_subdomains", "true")
                .label("berth.http.hsts.preload", "true")
        ),
        "label berth.http.hsts.preload=true: preload needs a max_age of at least 1 year \
         (31536000s) to be accepted on the HSTS preload list, and this is 15552000s: \
         raise max_age to 1y or set preload to false"
    );
    assert_eq!(
        rejected(
            container()
                .label("berth.http.hsts.max_age", "2y")
                .label("berth.http.hsts.preload", "true")
        ),
        "label berth.http.hsts.preload=true: preload needs include_subdomains (the HSTS \
         preload list covers every subdomain): set include_subdomains to true or preload to false"
    );
}

#[test]
fn flags_without_max_age_are_a_problem() {
    assert_eq!(
        rejected(container().label("berth.http.hsts.preload", "false")),
        "label berth.http.hsts.preload has no effect without berth.http.hsts.max_age, \
         which turns HSTS on: set it (like 1y) or remove it"
    );
    assert_eq!(
        rejected(
            container()
                .label("berth.http.hsts.include_subdomains", "true")
                .label("berth.http.hsts.preload", "true")
        ),
        "labels berth.http.hsts.include_subdomains and berth.http.hsts.preload have no effect \
         without berth.http.hsts.max_age, which turns HSTS on: set it (like 1y) or remove them"
    );
    assert_eq!(
        rejected(container().label("berth.http.hsts.maxage", "1y")),
        "unknown label berth.http.hsts.maxage (did you mean berth.http.hsts.max_age?)"
    );
}
