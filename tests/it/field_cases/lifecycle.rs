//! Entity lifecycle on inputs of their own, from the real backends: memory series of a retired
//! node in an hourly model and a model whose every series ended (Prometheus), and a new volume
//! that ran out of inodes before it had a day of history (VictoriaMetrics).

use super::{DAY, OpenMetrics, api_setup, assert_not_planned, entity, gauss, json_of, model, stderr_of, time_text};
use super::{counted, planned};
use crate::harness::{Prometheus, VictoriaMetrics, http_get, metric_value, once_json};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const HOUR: u64 = 3600;

/// Active memory of a node: 6 GiB growing 0.4 GiB a day (90 % of 16 GiB in 21 days).
fn active_memory(days: f64) -> f64 {
    (6.0 + 0.4 * days) * GIB
}

/// A model on `node_memory_Active_bytes` at a 1-hour step, with `extra` lines.
fn memory_model(name: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nusage = 'node_memory_Active_bytes'\ncapacity = 'node_memory_MemTotal_bytes'\nthreshold = \"90%\"\nunit = \"bytes\"\nhistory = \"14d\"\nstep = \"1h\"\nhorizon = \"30d\"\n{extra}\n[scaling]\nunit_size = 4294967296\nunit_name = \"4 GiB DIMM\"\nunit_cost = 15.0\ncurrency = \"EUR\"\nlead_time = \"2d\"\n"
    )
}

const LEGACY_MODEL: &str = "name = \"legacy\"\nusage = 'legacy_memory_used_bytes'\ncapacity = 17179869184\nthreshold = \"90%\"\nunit = \"bytes\"\nhistory = \"14d\"\nstep = \"1h\"\nhorizon = \"30d\"\n";

/// The time in an "all series are stale" error: `... the newest sample is from 2026-03-02 00:00
/// UTC (...`.
fn newest_in(error: &str) -> f64 {
    let (_, rest) = error
        .split_once("the newest sample is from ")
        .unwrap_or_else(|| panic!("no newest sample in {error}"));
    let text = rest.get(..20).unwrap_or(rest);
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M UTC")
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .and_utc()
        .timestamp() as f64
}

/// A node retired two days ago, in an hourly model on a real Prometheus: `stale` with the time
/// of its last sample, no date, no urgency, no units, counted on `/metrics` and absent from the
/// exhaustion series; with `stale_after = "3d"` it is planned again. A model whose every series
/// ended three days ago fails: `once` exits 1 and the error names the newest sample's time;
/// the daemon counts the model as down.
#[test]
fn a_retired_node_is_stale_and_a_model_whose_series_all_ended_fails() {
    let now = super::wall_now() as u64;
    let end = now / HOUR * HOUR;
    let start = end - 14 * DAY;
    let retired_end = end - 2 * DAY;
    let legacy_end = end - 3 * DAY;
    let mut history = OpenMetrics::default();
    for i in 0..=14 * DAY / 300 {
        let t = start + i * 300;
        let days = (t - start) as f64 / DAY as f64;
        for (n, (instance, until)) in [("live:9100", end), ("retired:9100", retired_end)].iter().enumerate() {
            if t > *until {
                continue;
            }
            let labels = format!("instance=\"{instance}\",job=\"node\"");
            let active = active_memory(days) + 0.02 * GIB * gauss(i, 60 + n as u64);
            history.sample("node_memory_Active_bytes", &labels, active, t);
            history.sample("node_memory_MemTotal_bytes", &labels, 16.0 * GIB, t);
        }
        for (instance, until) in [("a", legacy_end), ("b", legacy_end - DAY)] {
            if t <= until {
                history.sample(
                    "legacy_memory_used_bytes",
                    &format!("instance=\"{instance}\""),
                    active_memory(days),
                    t,
                );
            }
        }
    }
    let prometheus = Prometheus::start_with_history(&history.finish());

    let setup = api_setup(
        &prometheus.url(),
        "[schedule]\ninterval = \"1h\"\n",
        &[
            ("node-memory.toml", &memory_model("node-memory", "")),
            ("legacy.toml", LEGACY_MODEL),
        ],
    );
    let output = once_json(&setup, end);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "a failed model fails `once`: {stderr}");
    let json = json_of(&output);

    let live = entity(&json, "node-memory", &[("instance", "live:9100")]);
    assert_eq!(live["status"], "ok", "{live:#}");
    let retired = entity(&json, "node-memory", &[("instance", "retired:9100")]);
    assert_eq!(retired["status"], "stale", "{retired:#}");
    let last = retired["last_sample"].as_f64().expect("last_sample");
    assert!(
        last <= retired_end as f64 && last > (retired_end - HOUR) as f64,
        "the last sample {last} is the last hour with one, {retired_end}"
    );
    let reason = retired["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(&time_text(last)), "{reason}");
    assert_not_planned(retired);

    // Every series of `legacy` ended; its newest sample is `a`'s last hour.
    let error = model(&json, "legacy")["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("stale"), "{error}");
    let newest = newest_in(&error);
    assert!(
        newest <= legacy_end as f64 && newest > (legacy_end - HOUR) as f64,
        "newest {newest} vs the last sample at {legacy_end}: {error}"
    );
    assert!(
        stderr.contains("model legacy") && stderr.contains(&time_text(newest)),
        "{stderr}"
    );

    // A longer stale_after is the model's own choice: two days without samples are then live.
    let lenient = api_setup(
        &prometheus.url(),
        "",
        &[("node-memory.toml", &memory_model("node-memory", "stale_after = \"3d\""))],
    );
    let json = planned(&lenient, end);
    let retired = entity(&json, "node-memory", &[("instance", "retired:9100")]);
    assert_eq!(retired["status"], "ok", "{retired:#}");

    // The daemon: counted per model and status, left out of the exhaustion series.
    let (_daemon, port, _log) = super::ready_daemon(&setup);
    let (_, metrics) = http_get(port, "/metrics").expect("scrape");
    let count = |status: &str| counted(&metrics, "node-memory", status);
    assert_eq!(count("stale"), Some(1.0), "{metrics}");
    assert_eq!(count("ok"), Some(1.0), "{metrics}");
    assert_eq!(
        metric_value(&metrics, "headroom_model_up", &[("model", "legacy")]),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        metric_value(&metrics, "headroom_model_up", &[("model", "node-memory")]),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        metric_value(&metrics, "headroom_source_errors_total", &[("kind", "stale")]) >= Some(1.0),
        "{metrics}"
    );
    for family in [
        "headroom_exhaustion_timestamp_seconds",
        "headroom_recommendation_urgency",
        "headroom_recommended_units_change",
    ] {
        assert!(
            metric_value(&metrics, family, &[("instance", "retired:9100")]).is_none(),
            "{family} has no series for the retired node:\n{metrics}"
        );
    }
    assert!(
        metric_value(
            &metrics,
            "headroom_exhaustion_timestamp_seconds",
            &[("instance", "live:9100"), ("estimate", "likely")]
        )
        .is_some(),
        "the live node keeps its date:\n{metrics}"
    );
}

/// Free inodes of a volume created 6 hours ago: 40 % of 2 million, falling to 3 %.
fn inodes_free(hours_since_birth: f64) -> f64 {
    2e6 * (0.40 - 0.37 * hours_since_birth / 6.0)
}

/// A volume created six hours ago whose free inodes are already under a 5 % floor (a "below"
/// model) is exceeded now and critical on VictoriaMetrics, with units sized on what it uses
/// now; a new volume well above its floor stays quiet; an old one is planned as usual.
#[test]
fn a_new_volume_out_of_inodes_is_critical_before_it_has_a_day_of_history() {
    // A step before the clock's: VictoriaMetrics hides the last second.
    let end = crate::history::recent_end() - 300;
    let born = end - 6 * HOUR;
    let mut history = OpenMetrics::default();
    for i in 0..=14 * DAY / 300 {
        let t = end - 14 * DAY + i * 300;
        let volumes = [
            ("new:9100", "/srv/data"),
            ("new:9100", "/srv/logs"),
            ("old:9100", "/srv/data"),
        ];
        for (v, (instance, mountpoint)) in volumes.iter().enumerate() {
            if instance.starts_with("new") && t < born {
                continue;
            }
            let free = match (*instance, *mountpoint) {
                ("new:9100", "/srv/data") => inodes_free((t - born) as f64 / HOUR as f64),
                ("new:9100", _) => 1e6,
                _ => (1.2e6 + 2e3 * gauss(i, 70 + v as u64)).round(),
            };
            let labels = format!("instance=\"{instance}\",mountpoint=\"{mountpoint}\"");
            history.sample("node_filesystem_files_free", &labels, free.round(), t);
            history.sample("node_filesystem_files", &labels, 2e6, t);
        }
    }
    let victoria = VictoriaMetrics::start_with_history(&history.finish());
    let model = "name = \"inodes\"\nusage = 'node_filesystem_files_free'\ncapacity = 'node_filesystem_files'\ndirection = \"below\"\nthreshold = \"5%\"\nunit = \"inodes\"\nhistory = \"14d\"\nstep = \"5m\"\nhorizon = \"30d\"\n\n[scaling]\nunit_size = 500000\nunit_name = \"500k inodes\"\nunit_cost = 5.0\ncurrency = \"EUR\"\nlead_time = \"2d\"\ntarget_utilization = \"80%\"\n";
    let setup = api_setup(&victoria.url(), "", &[("inodes.toml", model)]);
    let json = planned(&setup, end);

    let full = entity(
        &json,
        "inodes",
        &[("instance", "new:9100"), ("mountpoint", "/srv/data")],
    );
    assert!(
        full["status"] == "insufficient_history" || full["status"] == "ok",
        "{full:#}"
    );
    let current = full["current"].as_f64().expect("current");
    assert!((current - inodes_free(6.0).round()).abs() <= 1.0, "current {current}");
    assert_eq!(full["threshold"], 0.05 * 2e6, "{full:#}");
    assert_eq!(full["exhaustion"]["exceeded_now"], true, "{full:#}");
    let recommendation = &full["recommendation"];
    assert_eq!(recommendation["urgency"], "critical", "{full:#}");
    assert!(
        recommendation["order_by"].as_f64() <= Some(end as f64),
        "the order-by date has passed: {full:#}"
    );
    // Sized on what it uses now: 2 M - 60 k inodes at 80 %, in 500 k steps.
    let needed = ((2e6 - inodes_free(6.0)) / 0.8 / 5e5).ceil() as i64;
    assert_eq!(recommendation["units"]["needed"].as_i64(), Some(needed), "{full:#}");
    assert_eq!(recommendation["units"]["change"].as_i64(), Some(needed - 4), "{full:#}");

    let logs = entity(
        &json,
        "inodes",
        &[("instance", "new:9100"), ("mountpoint", "/srv/logs")],
    );
    assert_eq!(logs["status"], "insufficient_history", "{logs:#}");
    assert_not_planned(logs);
    let old = entity(&json, "inodes", &[("instance", "old:9100")]);
    assert_eq!(old["status"], "ok", "{old:#}");
    assert!(old["exhaustion"]["likely"].is_null(), "{old:#}");
    assert_eq!(old["recommendation"]["urgency"], "ok", "{old:#}");
}
