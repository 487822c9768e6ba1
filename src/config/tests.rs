use std::collections::BTreeMap;
use std::path::Path;

use super::*;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, Problems> {
    let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_text("headroom.toml", text, Path::new("/etc/headroom"), &env)
}

#[test]
fn defaults_work_with_just_a_url() {
    let config = load("[source]\nurl = \"http://127.0.0.1:9090\"\n", &[]).expect("valid");
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:9860");
    assert_eq!(config.schedule.interval.as_secs_f64(), 900.0);
    assert_eq!(config.models_dir, Path::new("/etc/headroom/models"));
    let SourceConfig::Prometheus(prometheus) = config.source else {
        panic!("prometheus source expected")
    };
    assert_eq!(prometheus.max_points_per_request, 11_000);
    assert!(matches!(prometheus.auth, Auth::None));
}

#[test]
fn environment_overrides_the_file() {
    let config = load(
        "[source]\nurl = \"http://127.0.0.1:9090\"\n",
        &[
            ("HEADROOM_SOURCE__URL", "http://prom:9090/prometheus"),
            ("HEADROOM_SCHEDULE__INTERVAL", "1m"),
            ("HEADROOM_CONFIG", "ignored"),
        ],
    )
    .expect("valid");
    let SourceConfig::Prometheus(prometheus) = config.source else {
        panic!("prometheus source expected")
    };
    assert_eq!(prometheus.url.as_str(), "http://prom:9090/prometheus");
    assert_eq!(config.schedule.interval.as_secs_f64(), 60.0);
}

#[test]
fn three_mistakes_give_three_problems() {
    let text = "[source]\nurl = \"http://127.0.0.1:9090\"\ntimeout = \"soon\"\n\n[server]\nlisten = \"everywhere\"\n\n[schedule]\nintervall = \"5m\"\n";
    let problems = load(text, &[]).expect_err("invalid").0;
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].starts_with("headroom.toml:3: source.timeout:"), "{}", lines[0]);
    assert!(lines[1].starts_with("headroom.toml:6: server.listen:"), "{}", lines[1]);
    assert!(
        lines[2].starts_with("headroom.toml:9: schedule.intervall: unknown key"),
        "{}",
        lines[2]
    );
}

#[test]
fn secrets_must_not_be_written_in_the_file() {
    let problems = load("[source]\nurl = \"http://x:9090\"\nbearer_token = \"hunter2\"\n", &[])
        .expect_err("refused")
        .0;
    assert!(
        problems[0]
            .to_string()
            .contains("secrets do not belong in the config file")
    );
    assert!(!problems[0].to_string().contains("hunter2"));
    let config = load(
        "[source]\nurl = \"http://x:9090\"\n",
        &[("HEADROOM_SOURCE__BEARER_TOKEN", "hunter2")],
    )
    .expect("from env");
    let SourceConfig::Prometheus(prometheus) = config.source else {
        panic!("prometheus source expected")
    };
    assert!(matches!(&prometheus.auth, Auth::Bearer(token) if token.expose() == "hunter2"));
    assert!(!format!("{prometheus:?}").contains("hunter2"));
}

#[test]
fn syntax_errors_name_the_line() {
    let problems = load("[source]\nurl = \"http://x:9090\n", &[]).expect_err("invalid").0;
    assert!(problems[0].to_string().starts_with("headroom.toml:"), "{}", problems[0]);
    assert!(problems[0].message.contains("not valid TOML"));
}

#[test]
fn scenarios_parse() {
    let text = r#"
[source]
url = "http://127.0.0.1:9090"

[[scenarios]]
name = "launch"
description = "Launch on 1 March brings 30 % more traffic"
[[scenarios.changes]]
kind = "step"
from = "2027-03-01"
multiply = 1.3
models = ["api-requests"]

[[scenarios]]
name = "growth"
[[scenarios.changes]]
kind = "growth"
rate = "5%"
per = "4w"
[[scenarios.changes]]
kind = "peak"
from = "2026-12-24T00:00:00Z"
duration = "1d"
add = 2000
labels = { job = "api" }
"#;
    let config = load(text, &[]).expect("valid");
    use crate::scenario::{ChangeKind, Effect, Start};
    assert_eq!(config.scenarios.len(), 2);
    assert_eq!(
        config.scenarios[0].changes[0].kind,
        ChangeKind::Step {
            from: Start::At(1_803_859_200.0),
            effect: Effect::Multiply(1.3)
        }
    );
    assert_eq!(config.scenarios[0].changes[0].models, vec!["api-requests".to_string()]);
    assert_eq!(
        config.scenarios[1].changes[0].kind,
        ChangeKind::Growth {
            rate: 0.05,
            per_secs: 28.0 * 86_400.0,
            from: None
        }
    );
    assert!(
        matches!(config.scenarios[1].changes[1].kind, ChangeKind::Peak { from: Start::At(from), duration_secs, .. } if from == 1_798_070_400.0 && duration_secs == 86_400.0)
    );
}

/// Starts relative to the evaluation time: `now`, `+14d`, `now+2h`; a bad duration is named.
#[test]
fn scenario_starts_relative_to_now() {
    use crate::scenario::{ChangeKind, Start};
    let scenario = |from: &str| {
        format!(
            "[source]\nurl = \"http://127.0.0.1:9090\"\n[[scenarios]]\nname = \"s\"\n[[scenarios.changes]]\nkind = \"step\"\nfrom = \"{from}\"\nadd = 1\n"
        )
    };
    let start = |from: &str| match load(&scenario(from), &[]).expect("valid").scenarios[0].changes[0].kind {
        ChangeKind::Step { from, .. } => from,
        ref other => panic!("{other:?}"),
    };
    assert_eq!(start("now"), Start::AfterNow(0.0));
    assert_eq!(start("+14d"), Start::AfterNow(14.0 * 86_400.0));
    assert_eq!(start("now+2h"), Start::AfterNow(7200.0));
    let problems = load(&scenario("+14 days"), &[]).expect_err("invalid").to_string();
    assert!(
        problems.contains("scenarios.0.changes.0.from") && problems.contains("\"+14d\""),
        "{problems}"
    );
}

#[test]
fn scenario_mistakes_are_all_reported() {
    let text = r#"
[source]
url = "http://127.0.0.1:9090"

[[scenarios]]
name = "baseline"
[[scenarios.changes]]
kind = "step"
from = "1 March"
multiply = 1.3
add = 5
[[scenarios.changes]]
kind = "surge"
"#;
    let problems: Vec<String> = load(text, &[])
        .expect_err("invalid")
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("scenarios.0.name") && p.contains("reserved")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("scenarios.0.changes.0.from") && p.contains("not a date")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("scenarios.0.changes.0.add") && p.contains("not both")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("scenarios.0.changes.1.kind") && p.contains("unknown kind")),
        "{problems:#?}"
    );
}

#[test]
fn credentials_in_a_url_are_refused_with_a_pointer_and_never_echoed() {
    let text = "[source]\nurl = \"http://admin:planted-pw-1@prom:9090\"\n";
    let problems = load(text, &[]).expect_err("refused").to_string();
    assert!(
        problems.starts_with("headroom.toml:2: source.url: the URL carries credentials"),
        "{problems}"
    );
    assert!(
        problems.contains("password_file") && problems.contains("bearer_token_file"),
        "{problems}"
    );
    assert!(
        !problems.contains("planted-pw-1") && !problems.contains("admin"),
        "{problems}"
    );
    let from_env = load(
        "[source]\nurl = \"http://prom:9090\"\n",
        &[("HEADROOM_SOURCE__URL", "https://admin:planted-pw-2@prom:9090/")],
    )
    .expect_err("refused")
    .to_string();
    assert!(
        from_env.starts_with("environment variable HEADROOM_SOURCE__URL: source.url: the URL carries credentials"),
        "{from_env}"
    );
    assert!(!from_env.contains("planted-pw-2"), "{from_env}");
    let scrape =
        "[source]\nkind = \"scrape\"\n[[source.targets]]\nurl = \"http://u:planted-pw-3@10.0.0.5:9100/metrics\"\n";
    let problems = load(scrape, &[]).expect_err("refused").to_string();
    assert!(
        problems.contains("source.targets.0.url: the URL carries credentials"),
        "{problems}"
    );
    assert!(!problems.contains("planted-pw-3"), "{problems}");
}

/// `HEADROOM_SOURCE_URL` (one underscore) would be ignored while the file's URL is used: it is
/// named, with the variable it was meant to be. Variables of the command line stay alone.
#[test]
fn a_variable_with_one_underscore_is_named_not_ignored() {
    let text = "[source]\nurl = \"http://127.0.0.1:9090\"\n";
    let problems = load(text, &[("HEADROOM_SOURCE_URL", "http://prometheus:9090")])
        .expect_err("refused")
        .to_string();
    assert!(
        problems.contains("HEADROOM_SOURCE_URL") && problems.contains("HEADROOM_SOURCE__URL"),
        "{problems}"
    );
    load(text, &[("HEADROOM_CONFIG", "x.toml"), ("HEADROOM_LOG", "debug")]).expect("not config keys");
}
