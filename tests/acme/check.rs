//! `berth check` says which names a file will order, and refuses a bad `acme:` section with
//! the field and the fix (no CA needed).

use std::process::Command;

use crate::harness::TestDir;

fn check(dir: &TestDir, text: &str) -> (bool, String) {
    let path = dir.path("berth.yaml");
    std::fs::write(&path, text).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("run berth check");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

const LISTENERS: &str = "listeners:\n  web: { address: \"127.0.0.1:8080\" }\n  \
                         websecure: { address: \"127.0.0.1:8443\", protocol: https }\n";

#[test]
fn check_lists_the_names_a_file_orders_and_those_it_cannot() {
    let dir = TestDir::new("check");
    let text = format!(
        "{LISTENERS}acme:\n  agree_tos: true\n  storage: acme\n  names: [www.example.com]\n\
         services:\n  shop:\n    hosts: [shop.example.com, \"*.shop.example.com\"]\n    \
         tls: {{ acme: true }}\n    backends: [\"127.0.0.1:9001\"]\n"
    );
    let (ok, out) = check(&dir, &text);
    assert!(ok, "{out}");
    let storage = dir.path("acme");
    for line in [
        format!(
            "acme: https://acme-v02.api.letsencrypt.org/directory (challenge http-01), storage {}",
            storage.display()
        ),
        "  orders shop.example.com (from service shop)".to_owned(),
        "  orders www.example.com (from acme.names)".to_owned(),
        "  not ordered *.shop.example.com: `*.shop.example.com` is a wildcard".to_owned(),
    ] {
        assert!(out.contains(&line), "{line:?} missing in:\n{out}");
    }
    assert!(!storage.exists(), "check creates nothing");
}

#[test]
fn check_refuses_a_bad_acme_section_with_the_fix() {
    let dir = TestDir::new("check-bad");
    let text = format!("{LISTENERS}acme:\n  names: [\"*.example.com\"]\n");
    let (ok, out) = check(&dir, &text);
    assert!(!ok, "{out}");
    assert!(
        out.contains("acme.agree_tos") && out.contains("agree_tos: true"),
        "{out}"
    );
    assert!(
        out.contains("acme.names[0]") && out.contains("DNS-01"),
        "{out}"
    );
}
