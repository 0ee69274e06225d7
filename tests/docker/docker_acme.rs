//! Automatic HTTPS from labels against a real engine: a container labelled with a host and
//! `tls.acme=true` is served over HTTPS with a certificate Pebble (Let's Encrypt's test CA)
//! issued for that host, and the redirect of the http listener leaves the CA's HTTP-01
//! requests alone.

use std::process::Command;
use std::time::Duration;

use crate::docker_common::*;
use crate::pebble::{self, free_port, Options, Pebble};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labelled_container_is_served_with_an_acme_certificate() {
    if !require_engine() {
        return;
    }
    assert!(
        pebble::installed(),
        "Pebble is not installed: `apt-get install pebble` (scripts/test.sh does it)"
    );
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let (http_port, https_port) = (free_port(), free_port());
    let pebble = Pebble::start(Options {
        http_port,
        tls_port: https_port,
        validity: None,
    });
    let storage = std::env::temp_dir().join(run.name("acme"));
    let listeners =
        format!("  websecure: {{ address: \"127.0.0.1:{https_port}\", protocol: https }}\n");
    let acme = format!(
        "acme:\n  agree_tos: true\n  directory: {}\n  ca: {}\n  storage: {}\n  \
         challenge: http-01\n",
        pebble.directory(),
        pebble.api_ca().display(),
        storage.display()
    );
    let text = Berth::config_text(&run, &acme)
        .replacen(
            "web: { address: \"127.0.0.1:0\" }",
            &format!(
                "web: {{ address: \"127.0.0.1:{http_port}\", redirect: {{ to: websecure }} }}"
            ),
            1,
        )
        .replacen("listeners:\n", &format!("listeners:\n{listeners}"), 1);
    let b = Berth::start_text(&run, text);
    let site = ContainerBuilder::new(&run, &image)
        .name("site")
        .env("NAME", "site")
        .label(&b.label("enable"), "true")
        .label(&b.label("http.hosts"), "site.test")
        .label(&b.label("tls.acme"), "true")
        .label(&b.label("slow_start"), "0s")
        .network(&net)
        .start();
    let http = client();
    wait_for(
        Duration::from_secs(60),
        "site.test's certificate",
        || async {
            let doc: serde_json::Value = http
                .get(b.admin_url("/api/certificates"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            let names = doc["acme"]["names"].as_array().cloned().unwrap_or_default();
            match names.iter().find(|n| n["name"] == "site.test") {
                Some(n) if n["state"] == "valid" => Ok(()),
                other => Err(format!("{other:?}\n{}", pebble.logs())),
            }
        },
    )
    .await;
    assert_eq!(pebble.orders(), 1);

    let root = std::env::temp_dir().join(run.name("root.pem"));
    std::fs::write(&root, pebble.root()).expect("write the root");
    let curl = |url: String, resolve: String| {
        Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "5",
                "-o",
                "-",
                "-w",
                " %{http_code}",
                "--cacert",
            ])
            .arg(&root)
            .args(["--resolve", &resolve, &url])
            .output()
            .expect("run curl")
    };
    let out = wait_for(Duration::from_secs(30), "an https answer from site", || {
        let out = curl(
            format!("https://site.test:{https_port}/"),
            format!("site.test:{https_port}:127.0.0.1"),
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        async move {
            match text.as_str() {
                "site 200" => Ok(text),
                _ => Err(format!("{text} {err}")),
            }
        }
    })
    .await;
    assert_eq!(out, "site 200", "served by the container over verified TLS");
    let plain = curl(
        format!("http://site.test:{http_port}/"),
        format!("site.test:{http_port}:127.0.0.1"),
    );
    let plain = String::from_utf8_lossy(&plain.stdout).into_owned();
    assert!(
        plain.ends_with(" 308") || plain.ends_with(" 301"),
        "{plain}"
    );
    drop(site);
    let _ = std::fs::remove_dir_all(&storage);
    let _ = std::fs::remove_file(&root);
}
