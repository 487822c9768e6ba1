//! The files in `deploy/` are checked by the tools that will read them.

use std::path::Path;
use std::process::Command;

use crate::harness::require;

fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    require("promtool");
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn prometheus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus")
}

#[test]
fn the_example_prometheus_config_and_its_rules_are_valid() {
    let (ok, output) = promtool(&["check", "config", "prometheus.yml"], &prometheus_dir());
    assert!(ok, "{output}");
    assert!(
        output.contains("headroom-rules.yml"),
        "the example config loads the rules: {output}"
    );
}

#[test]
fn the_alert_rules_pass_their_unit_tests() {
    let (ok, output) = promtool(&["check", "rules", "headroom-rules.yml"], &prometheus_dir());
    assert!(ok, "{output}");
    let (ok, output) = promtool(&["test", "rules", "headroom-rules.test.yml"], &prometheus_dir());
    assert!(ok, "{output}");
}

#[test]
fn every_alert_has_a_summary_description_and_runbook_and_names_real_metrics() {
    let rules = std::fs::read_to_string(prometheus_dir().join("headroom-rules.yml")).expect("rules");
    let documented = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md"))
        .expect("docs/metrics.md");
    let alerts = rules.matches("- alert:").count();
    assert!(alerts >= 6, "{alerts} alerts");
    for key in ["summary:", "description:", "runbook:"] {
        assert_eq!(rules.matches(key).count(), alerts, "every alert needs {key}");
    }
    let metric = regex::Regex::new(r"headroom_[a-z_]+").expect("regex");
    for name in metric.find_iter(&rules).map(|m| m.as_str()) {
        assert!(
            documented.contains(&format!("`{name}`")),
            "{name} is not a documented metric"
        );
    }
}
