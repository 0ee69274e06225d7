//! Every metric on `/metrics` carries a `# HELP` line with its `# TYPE` (what `promtool check
//! metrics` asks of an exporter).

use crate::common;

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_has_help() {
    let backend = common::backend("help").await;
    let server = common::start(&common::yaml(&format!(
        "  help:\n    hosts: [help.test]\n    backends: [\"{}\"]\n",
        backend.addr
    )));
    let http = common::client();
    let url = format!("{}/", common::base(&server));
    let r = http
        .get(&url)
        .header("host", "help.test")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let text = http
        .get(format!("http://{}/metrics", server.admin))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let typed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(typed.contains(&"berth_requests_total"), "{text}");
    for name in &typed {
        let help = format!("# HELP {name} ");
        assert!(text.contains(&help), "no HELP for {name}");
    }
}
