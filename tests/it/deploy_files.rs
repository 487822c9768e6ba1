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

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn yaml_documents(path: &Path) -> Vec<serde_json::Value> {
    let output = Command::new("/usr/bin/python3")
        .arg(root().join("tests/support/yaml_to_json.py"))
        .arg(path)
        .output()
        .expect("run yaml_to_json.py");
    assert!(
        output.status.success(),
        "{} is not valid YAML: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    require("systemd-analyze");
    let unit = std::fs::read_to_string(root().join("deploy/systemd/headroom.service")).expect("unit");
    for setting in [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "CapabilityBoundingSet=\n",
        "StateDirectory=headroom",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(setting), "the unit lacks {setting:?}");
    }
    // Room for the HTTP server's connection limit and everything else the daemon opens.
    let open_files: usize = unit
        .lines()
        .find_map(|line| line.strip_prefix("LimitNOFILE="))
        .and_then(|value| value.trim().parse().ok())
        .expect("the unit sets LimitNOFILE");
    assert!(open_files >= 4 * headroom::config::server::HttpLimits::default().max_connections);
    // Verified with this build's binary in place of the installed path.
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("headroom.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/headroom", env!("CARGO_BIN_EXE_headroom")),
    )
    .expect("write");
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

#[test]
fn the_container_build_is_multi_stage_small_and_non_root() {
    let dockerfile = std::fs::read_to_string(root().join("deploy/container/Dockerfile")).expect("Dockerfile");
    let stages: Vec<&str> = dockerfile.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(stages.len() >= 2, "multi-stage: {stages:?}");
    assert!(
        stages.last().is_some_and(|s| s.contains("slim")),
        "a small runtime base: {stages:?}"
    );
    let runtime = dockerfile.rsplit("\nFROM ").next().expect("last stage");
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime stage sets USER");
    assert!(!user.starts_with('0') && !user.starts_with("root"), "runs as {user}");
    assert!(
        runtime.contains("COPY --from=build"),
        "the runtime stage copies only the built binary"
    );
    assert!(!dockerfile.contains("ADD http"), "no remote ADD");
    // Every file the build copies from the repository exists.
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for source in &parts[1..parts.len() - 1] {
            assert!(root().join(source).exists(), "COPY {source}: no such file");
        }
    }
    // Its default config is a valid Headroom config.
    let problems = headroom::config::Config::load(
        &root().join("deploy/container/headroom.toml"),
        &std::collections::BTreeMap::new(),
    );
    assert!(problems.is_ok(), "{:?}", problems.err());
}

#[test]
fn the_kubernetes_manifests_have_what_a_sharded_deployment_needs() {
    let docs = yaml_documents(&root().join("deploy/kubernetes/headroom.yaml"));
    let find = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in headroom.yaml"))
    };
    for doc in &docs {
        assert!(
            doc["apiVersion"].is_string() && doc["metadata"]["name"].is_string(),
            "{doc:#}"
        );
    }
    let set = find("StatefulSet");
    let spec = &set["spec"];
    let selector = &spec["selector"]["matchLabels"];
    assert_eq!(
        &spec["template"]["metadata"]["labels"], selector,
        "the selector matches the pods"
    );
    let container = &spec["template"]["spec"]["containers"][0];
    let env: Vec<&serde_json::Value> = container["env"].as_array().expect("env").iter().collect();
    let shard_count = env
        .iter()
        .find(|e| e["name"] == "HEADROOM_SHARD_COUNT")
        .and_then(|e| e["value"].as_str())
        .expect("HEADROOM_SHARD_COUNT");
    assert_eq!(shard_count, spec["replicas"].to_string(), "one shard per replica");
    assert!(
        env.iter()
            .any(|e| e["name"] == "HEADROOM_SHARD_INDEX" && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"),
        "the pod name gives the shard index"
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(spec["template"]["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert!(container["resources"]["limits"]["memory"].is_string());
    assert_eq!(
        spec["volumeClaimTemplates"][0]["metadata"]["name"], "state",
        "state on a volume"
    );
    // The config in the ConfigMap is a valid Headroom config (with the Secret's file present).
    let config_text = find("ConfigMap")["data"]["headroom.toml"]
        .as_str()
        .expect("headroom.toml");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_text.replace("/etc/headroom/secrets/", &format!("{}/", dir.path().display()));
    std::fs::write(dir.path().join("api-token"), "a-token-of-enough-length").expect("token");
    let parsed = headroom::config::Config::from_text("configmap", &config, dir.path(), &Default::default());
    assert!(parsed.is_ok(), "{:?}", parsed.err());
    // The Secret holds what the config names; the Service and ServiceMonitor find the pods.
    let secret = find("Secret");
    assert!(secret["stringData"]["api-token"].is_string());
    let service = find("Service");
    assert_eq!(&service["spec"]["selector"], selector);
    let monitor = find("ServiceMonitor");
    assert_eq!(
        &monitor["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"]
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["honorLabels"], true);
}

#[test]
fn the_prometheus_rule_is_the_tested_rules_file() {
    let rule = yaml_documents(&root().join("deploy/kubernetes/prometheus-rule.yaml"));
    let rules = yaml_documents(&root().join("deploy/prometheus/headroom-rules.yml"));
    assert_eq!(rule[0]["kind"], "PrometheusRule");
    assert_eq!(
        rule[0]["spec"], rules[0],
        "deploy/kubernetes/prometheus-rule.yaml is out of date with deploy/prometheus/headroom-rules.yml"
    );
}

#[test]
fn the_dashboard_only_queries_metrics_headroom_exposes() {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/headroom-dashboard.json")).expect("dashboard"),
    )
    .expect("dashboard JSON");
    // What src/telemetry.rs and src/api/metrics.rs register, with the suffixes the
    // exposition adds.
    let expose = ["src/telemetry.rs", "src/api/metrics.rs"]
        .map(|file| std::fs::read_to_string(root().join(file)).expect(file))
        .join("\n");
    let registered = regex::Regex::new(r#""(headroom_[a-z0-9_]+)""#).expect("regex");
    let mut exposed: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for name in registered.captures_iter(&expose).map(|c| c[1].to_string()) {
        for suffix in ["", "_total", "_bucket", "_sum", "_count"] {
            exposed.insert(format!("{name}{suffix}"));
        }
    }
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queries.push(target["expr"].as_str().expect("expr").to_string());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().expect("variables") {
        if let Some(query) = variable["query"].as_str() {
            queries.push(query.to_string());
        }
    }
    assert!(queries.len() >= 15, "{} queries", queries.len());
    let used = regex::Regex::new(r"headroom_[a-z0-9_]+").expect("regex");
    let mut names = 0;
    for query in &queries {
        for name in used.find_iter(query) {
            names += 1;
            assert!(
                exposed.contains(name.as_str()),
                "the dashboard queries {}, which Headroom does not expose",
                name.as_str()
            );
        }
    }
    assert!(names >= 15);
    for required in [
        "headroom_runway_seconds",
        "headroom_forecast_accuracy_mase",
        "headroom_cycles_total",
    ] {
        assert!(queries.iter().any(|q| q.contains(required)), "no panel uses {required}");
    }
}
