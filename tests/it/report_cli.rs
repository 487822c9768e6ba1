//! `headroom report` and `headroom budget` on a real Prometheus.

use crate::harness::{Prometheus, Setup, config_for, run_headroom};
use crate::history::{self, CPU_MODEL, disk_with_lead_time};

fn fleet() -> (Prometheus, Setup, String) {
    let end = history::recent_end();
    let prometheus = Prometheus::start_with_history(&history::openmetrics(end));
    let scenario = "[[scenarios]]\nname = \"double\"\n[[scenarios.changes]]\nkind = \"step\"\nfrom = \"2020-01-01\"\nmultiply = 1.5\n";
    let setup = Setup::new(
        &config_for(&prometheus.url(), scenario),
        &[("disk.toml", disk_with_lead_time().as_str()), ("cpu.toml", CPU_MODEL)],
    );
    (prometheus, setup, end.to_string())
}

#[test]
fn report_writes_html_text_and_the_charts_it_references() {
    let (_prometheus, setup, at) = fleet();
    let out = setup.dir.path().join("out");
    let output = run_headroom(&[
        "report",
        "--config",
        setup.config().to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--at",
        &at,
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    let text = std::fs::read_to_string(out.join("report.txt")).expect("report.txt");
    let charts = regex::Regex::new(r#"src="(chart-\d+\.png)""#).expect("regex");
    let referenced: Vec<String> = charts.captures_iter(&html).map(|c| c[1].to_string()).collect();
    assert!(!referenced.is_empty(), "no chart in the report");
    for file in &referenced {
        let png = std::fs::read(out.join(file)).unwrap_or_else(|_| panic!("{file} missing"));
        assert_eq!(&png[..4], b"\x89PNG");
    }
    for needle in ["fill:9100", "critical", "storage"] {
        assert!(html.contains(needle) && text.contains(needle), "{needle} missing");
    }
}

#[test]
fn budget_prints_twelve_months_per_scenario_model_and_team() {
    let (_prometheus, setup, at) = fleet();
    let config = setup.config();
    let csv = run_headroom(&["budget", "--config", config.to_str().expect("utf-8"), "--at", &at]);
    assert!(csv.status.success(), "{}", String::from_utf8_lossy(&csv.stderr));
    let csv = String::from_utf8(csv.stdout).expect("utf-8");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("scenario,model,team,currency,month,cost"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    for scenario in ["baseline", "double"] {
        let months: Vec<&Vec<&str>> = rows.iter().filter(|r| r[0] == scenario && r[1] == "disk").collect();
        assert_eq!(months.len(), 12, "{scenario}: {csv}");
        assert!(months.iter().all(|r| r[2] == "storage" && r[3] == "EUR"));
    }
    let json = run_headroom(&[
        "budget",
        "--config",
        config.to_str().expect("utf-8"),
        "--at",
        &at,
        "--format",
        "json",
    ]);
    crate::harness::assert_matches_schema(
        "docs/schemas/budget.schema.json",
        &String::from_utf8_lossy(&json.stdout),
    );
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let baseline = json["budget"]
        .as_array()
        .expect("budget")
        .iter()
        .find(|l| l["scenario"] == "baseline" && l["model"] == "disk")
        .expect("baseline disk line");
    let csv_total: f64 = rows
        .iter()
        .filter(|r| r[0] == "baseline" && r[1] == "disk")
        .map(|r| r[5].parse::<f64>().expect("cost"))
        .sum();
    let total = baseline["total"].as_f64().expect("total");
    assert!(
        (csv_total - total).abs() < 0.01 * 12.0,
        "CSV {csv_total} vs JSON {total}"
    );
    let double_total: f64 = rows
        .iter()
        .filter(|r| r[0] == "double" && r[1] == "disk")
        .map(|r| r[5].parse::<f64>().expect("cost"))
        .sum();
    assert!(double_total > csv_total, "the 1.5x scenario must cost more");
}
