//! Partial answers on inputs of their own, from a stand-in query API (see `stand_in`): a real
//! query layer cannot be made to lose a storage node on demand, or to drop one series from one
//! answer to the next.

use std::time::Duration;

use super::counted;
use super::stand_in::{Params, StandIn, api_value, grid, matrix};
use super::{DAY, NOW, api_setup, assert_not_planned, entity, json_of, stderr_of};
use crate::harness::{http_get, metric_value, once_json, read_log, start_daemon};

/// Database connection pools: used connections over the pool size.
fn pool_used(pool: &str, t: f64, anchor: f64) -> f64 {
    let days = (t - anchor) / DAY as f64;
    match pool {
        "orders" => 0.50,
        "search" => 0.40 + 0.10 * (2.0 * std::f64::consts::PI * days).sin(),
        // At 85 % and growing a point a day: 90 % in five days.
        "billing" => 0.85 + 0.01 * days,
        _ => 0.30,
    }
}

/// The pools' answer to one request, `pools` as listed, with `extra` top-level fields.
fn pools_answer(params: &Params, pools: &[&str], anchor: f64, extra: serde_json::Value) -> String {
    let times = grid(params);
    let series: Vec<_> = pools
        .iter()
        .map(|pool| {
            let values = times
                .iter()
                .map(|t| (*t, api_value(pool_used(pool, *t, anchor))))
                .collect();
            (serde_json::json!({"pool": pool, "cluster": "pg-main"}), values)
        })
        .collect();
    matrix(&series, extra)
}

const POOL_MODEL: &str = "name = \"db-pool\"\nusage = 'pgbouncer_pool_used_ratio'\ncapacity = 1\nthreshold = \"90%\"\nunit = \"ratio\"\nhistory = \"3d\"\nstep = \"5m\"\nhorizon = \"30d\"\n";

/// An answer that says it is partial fails the model, whatever the layer calls it:
/// VictoriaMetrics cluster's `"isPartial": true` (asked with `deny_partial_response=1`, and
/// ignored), an older Thanos that ignores `partial_response=false` and warns that a store is
/// lost. PromQL's own annotations (`warnings` about the query, `infos`) are not partial
/// answers: the model is planned.
#[test]
fn answers_marked_partial_fail_the_model_and_promql_annotations_do_not() {
    let anchor = NOW as f64;
    let lost_store = "receive series from Addr: 10.30.1.9:10901 LabelSets: {zone=\"eu-west-2b\"}: rpc error: code = DeadlineExceeded desc = context deadline exceeded";
    let layers: [(&str, serde_json::Value); 3] = [
        ("victoriametrics cluster", serde_json::json!({"isPartial": true})),
        (
            "thanos ignoring partial_response",
            serde_json::json!({"warnings": [lost_store]}),
        ),
        (
            "prometheus 3 annotations",
            serde_json::json!({
                "warnings": ["PromQL warning: encountered a mix of histograms and floats for metric name \"x\""],
                "infos": ["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"pgbouncer_pool_used_ratio\""],
            }),
        ),
    ];
    for (layer, extra) in layers {
        let stand_in =
            StandIn::start(move |params, _| (200, pools_answer(params, &["orders", "search"], anchor, extra.clone())));
        let setup = api_setup(&stand_in.url(), "", &[("db-pool.toml", POOL_MODEL)]);
        let output = once_json(&setup, NOW);
        let stderr = stderr_of(&output);
        let requests = stand_in.range_requests();
        assert!(
            !requests.is_empty()
                && requests.iter().all(|r| {
                    r.get("deny_partial_response").map(String::as_str) == Some("1")
                        && r.get("partial_response").map(String::as_str) == Some("false")
                }),
            "{layer}: complete answers are asked for: {requests:?}"
        );
        let json = json_of(&output);
        let error = super::model(&json, "db-pool")["error"].as_str().map(str::to_string);
        match layer {
            "prometheus 3 annotations" => {
                assert!(output.status.success(), "{layer}: {stderr}");
                assert_eq!(error, None);
                for pool in ["orders", "search"] {
                    assert_eq!(entity(&json, "db-pool", &[("pool", pool)])["status"], "ok", "{layer}");
                }
            }
            _ => {
                assert_eq!(output.status.code(), Some(1), "{layer}: {stderr}");
                let error = error.unwrap_or_else(|| panic!("{layer}: the model fails: {json:#}"));
                let named = if layer.starts_with("thanos") {
                    "eu-west-2b"
                } else {
                    "isPartial"
                };
                assert!(
                    error.contains(named) && stderr.contains(named),
                    "{layer}: {error}\n{stderr}"
                );
            }
        }
    }
}

/// Answers that lack `billing`: the second to the seventh.
const BILLING_LOST: std::ops::RangeInclusive<usize> = 1..=6;

/// In the daemon, a pool that was in the first answer and is absent from the next ones is
/// reported `missing` on `/api/v1/cycle` (never planned, no date; the history cache still holds
/// its past) and counted in `headroom_entities{status="missing"}`, beside the live pools and
/// one whose series ended two days ago (`stale`); it stays missing until it comes back, and
/// comes back with its history. Informational annotations are counted and fail nothing.
#[test]
fn a_pool_that_vanishes_from_the_answer_is_reported_missing_by_the_daemon() {
    let anchor = super::wall_now();
    let stand_in = StandIn::start(move |params, before| {
        // `legacy` stopped two days ago.
        let pools: &[&str] = if BILLING_LOST.contains(&before) {
            &["orders", "search"]
        } else {
            &["orders", "search", "billing"]
        };
        let info = serde_json::json!({"infos": ["PromQL info: ratio of two gauges"]});
        let mut body: serde_json::Value =
            serde_json::from_str(&pools_answer(params, pools, anchor, info)).expect("JSON");
        let legacy: Vec<serde_json::Value> = grid(params)
            .into_iter()
            .filter(|t| *t <= anchor - 2.0 * DAY as f64)
            .map(|t| serde_json::json!([t, api_value(pool_used("legacy", t, anchor))]))
            .collect();
        if let (false, Some(result)) = (legacy.is_empty(), body["data"]["result"].as_array_mut()) {
            result.push(serde_json::json!({"metric": {"pool": "legacy", "cluster": "pg-main"}, "values": legacy}));
        }
        (200, body.to_string())
    });
    let setup = api_setup(
        &stand_in.url(),
        "[schedule]\ninterval = \"2s\"\n",
        &[("db-pool.toml", POOL_MODEL)],
    );
    let (mut daemon, port, log) = start_daemon(&setup);
    let cycle = || -> serde_json::Value {
        http_get(port, "/api/v1/cycle")
            .and_then(|(status, body)| (status == 200).then_some(body))
            .and_then(|body| serde_json::from_str(&body).ok())
            .unwrap_or(serde_json::Value::Null)
    };
    let billing_status = |json: &serde_json::Value| -> Option<String> {
        json["models"][0]["entities"]
            .as_array()?
            .iter()
            .find(|e| e["labels"]["pool"] == "billing")
            .and_then(|e| e["status"].as_str().map(str::to_string))
    };
    // Billing's statuses cycle after cycle, with the answers served when each was first seen.
    let mut seen: Vec<(Option<String>, usize)> = Vec::new();
    let mut watch_until = |wanted: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        while seen.last().and_then(|(s, _)| s.as_deref()) != Some(wanted) {
            assert!(
                std::time::Instant::now() < deadline,
                "billing never {wanted}; its statuses: {seen:?}\n{}",
                read_log(&log)
            );
            let answered = stand_in.range_requests().len();
            let status = billing_status(&cycle());
            if seen.last().map(|(s, _)| s) != Some(&status) {
                seen.push((status, answered));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    watch_until("missing");
    assert!(daemon.running(), "headroom exited: {}", read_log(&log));

    let json = cycle();
    let billing = entity(&json, "db-pool", &[("pool", "billing")]);
    assert_eq!(billing["status"], "missing", "{billing:#}");
    assert!(
        billing["reason"].as_str().is_some_and(|r| r.contains("absent")),
        "{billing:#}"
    );
    assert!(
        billing["last_sample"].as_f64().is_some_and(|t| t <= anchor + 60.0),
        "{billing:#}"
    );
    assert_not_planned(billing);
    for pool in ["orders", "search"] {
        assert_eq!(entity(&json, "db-pool", &[("pool", pool)])["status"], "ok", "{json:#}");
    }
    assert_eq!(
        entity(&json, "db-pool", &[("pool", "legacy")])["status"],
        "stale",
        "{json:#}"
    );
    assert!(super::model(&json, "db-pool")["error"].is_null(), "{json:#}");

    let (_, metrics) = http_get(port, "/metrics").expect("scrape");
    let count = |status: &str| counted(&metrics, "db-pool", status);
    assert_eq!(count("missing"), Some(1.0), "{metrics}");
    assert_eq!(count("ok"), Some(2.0), "{metrics}");
    assert_eq!(count("stale"), Some(1.0), "{metrics}");
    assert!(
        metric_value(
            &metrics,
            "headroom_exhaustion_timestamp_seconds",
            &[("pool", "billing")]
        )
        .is_none(),
        "a missing pool has no date:\n{metrics}"
    );
    assert!(
        metric_value(&metrics, "headroom_source_annotations_total", &[("kind", "info")]) >= Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metric_value(&metrics, "headroom_model_up", &[("model", "db-pool")]),
        Some(1.0),
        "{metrics}"
    );

    // Back in the answers: planned again, on the history the cache kept (a day of history is
    // needed; the answers re-read only the last minutes).
    watch_until("ok");
    let (status, answered) = seen.last().cloned().expect("a status");
    assert!(
        answered > *BILLING_LOST.end(),
        "billing is {status:?} after {answered} answers, while still absent from them: {seen:?}"
    );
    let back = seen.iter().skip_while(|(s, _)| s.as_deref() != Some("missing"));
    assert!(
        back.clone()
            .all(|(s, _)| matches!(s.as_deref(), Some("missing" | "ok")))
            && back.count() == 2,
        "missing until it came back, then ok: {seen:?}"
    );
    let json = cycle();
    let billing = entity(&json, "db-pool", &[("pool", "billing")]);
    assert!(billing["exhaustion"]["likely"].is_number(), "{billing:#}");
}
