//! Field cases 05 (guard: NaN and infinite samples), 06 (a partial answer from a federated
//! query layer) and 10 (UTF-8 label names from the source), against a stand-in query API in
//! the test (see `stand_in`): a real Prometheus cannot be made to answer NaN and infinities of
//! that shape, lose a store, or (in version 2) hold dotted label names on demand.

use super::exposition::{UTF8_ACCEPT, classic_pages};
use super::planned;
use super::stand_in::{StandIn, api_value, grid, matrix};
use super::{DAY, NOW, api_setup, entity, json_of, stderr_of};
use crate::harness::{http_get_with, once_json, read_log};

/// Case 05's pools: a busy/size ratio between 0.2 and 0.6 with NaN, +Inf and -Inf where a
/// ratio rule divides by zero.
fn pool_value(pool: &str, t: f64) -> f64 {
    let day = DAY as f64;
    let second_of_day = t.rem_euclid(day);
    let base = 0.4 + 0.2 * (2.0 * std::f64::consts::PI * second_of_day / day).sin();
    match pool {
        "nightly-zero" if (3600.0..3.0 * 3600.0).contains(&second_of_day) => f64::NAN,
        "nightly-zero" if second_of_day == 3.0 * 3600.0 => f64::INFINITY,
        "last-inf" if t >= NOW as f64 => f64::INFINITY,
        "neg-inf" if ((t / 300.0).floor() as u64).is_multiple_of(997) => f64::NEG_INFINITY,
        _ => base,
    }
}

const POOLS: [&str; 4] = ["nightly-zero", "last-inf", "neg-inf", "clean"];

/// Guard: NaN and infinite samples are missing samples. Every pool is planned, its current
/// value is its newest finite sample, and none gets a date.
#[test]
fn case_05_nan_inf_guard() {
    let stand_in = StandIn::start(|params, _| {
        let times = grid(params);
        let series: Vec<_> = POOLS
            .iter()
            .map(|pool| {
                let values = times.iter().map(|t| (*t, api_value(pool_value(pool, *t)))).collect();
                (serde_json::json!({ "pool": pool }), values)
            })
            .collect();
        (200, matrix(&series, serde_json::json!({})))
    });
    let model = "name = \"pool-util\"\nusage = 'pool:busy:ratio'\ncapacity = 1\nthreshold = \"80%\"\nunit = \"ratio\"\nhistory = \"28d\"\nstep = \"5m\"\nhorizon = \"60d\"\n";
    let setup = api_setup(&stand_in.url(), "", &[("pool-util.toml", model)]);
    let json = planned(&setup, NOW);
    let asked: Vec<f64> = stand_in.range_requests().iter().flat_map(grid).collect();
    for pool in POOLS {
        let found = entity(&json, "pool-util", &[("pool", pool)]);
        assert_eq!(found["status"], "ok", "{found:#}");
        let newest_finite = asked
            .iter()
            .copied()
            .filter(|t| pool_value(pool, *t).is_finite())
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(found["last_sample"], newest_finite, "{pool}: {found:#}");
        let current = found["current"].as_f64().expect("current");
        assert!(
            (current - pool_value(pool, newest_finite)).abs() < 1e-9 && (0.2..=0.6).contains(&current),
            "{pool}: current {current}"
        );
        assert!(
            found["exhaustion"]["likely"].is_null() && found["exhaustion"]["earliest"].is_null(),
            "{pool}: {found:#}"
        );
    }
}

/// What Thanos Query says when its store `dc2` is unreachable.
pub const THANOS_WARNING: &str = "receive series from Addr: 10.20.0.7:10901 LabelSets: {store=\"dc2\"} Mint: 1772150400000 Maxt: 9223372036854775807: rpc error: code = Unavailable desc = connection refused";

/// Case 06: Headroom asks a federated query layer for a complete answer; the layer (a store
/// down) answers with an error naming the store, and the model fails saying so. The disk at
/// risk lives on the lost store: planning the rest as complete would hide it.
#[test]
fn case_06_partial_response() {
    let stand_in = StandIn::start(|params, _| {
        if params.get("partial_response").is_some_and(|v| v == "false" || v == "0") {
            let error = serde_json::json!({
                "status": "error",
                "errorType": "execution",
                "error": format!("fetch series for {{store=\"dc2\"}}: {THANOS_WARNING}"),
            });
            return (422, error.to_string());
        }
        // The partial answer: the healthy store's disk only, with a warning.
        let values = grid(params)
            .into_iter()
            .map(|t| {
                let used = 0.30 + 0.01 * (2.0 * std::f64::consts::PI * t / DAY as f64).sin();
                (t, api_value(used))
            })
            .collect();
        let series = [(serde_json::json!({"instance": "b:9100", "mountpoint": "/"}), values)];
        (
            200,
            matrix(&series, serde_json::json!({ "warnings": [THANOS_WARNING] })),
        )
    });
    let model = "name = \"disk\"\nusage = 'disk_used_ratio'\ncapacity = 1\nthreshold = \"90%\"\nunit = \"ratio\"\nhistory = \"3d\"\nstep = \"5m\"\nhorizon = \"60d\"\n\n[scaling]\nunit_size = 0.1\nunit_name = \"10 % step\"\nunit_cost = 10.0\ncurrency = \"USD\"\nlead_time = \"14d\"\ntarget_utilization = \"80%\"\n";
    let setup = api_setup(&stand_in.url(), "", &[("disk.toml", model)]);
    let output = once_json(&setup, NOW);
    let stderr = stderr_of(&output);
    let requests = stand_in.range_requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.get("partial_response").map(String::as_str) == Some("false")),
        "every query_range asks for a complete answer: {requests:?}"
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("dc2") && stderr.contains("10.20.0.7:10901"), "{stderr}");
    let json = json_of(&output);
    let error = super::model(&json, "disk")["error"].as_str().unwrap_or_default();
    assert!(error.contains("dc2"), "the model's error names the store: {error}");
}

/// Case 10's volumes: 60 % (checkout) and 55 % (cart) when the stand-in starts, +3 % a day.
fn pvc_ratio(offset: f64, t: f64, anchor: f64) -> f64 {
    0.60 + offset + 0.03 * (t - anchor) / DAY as f64
}

/// Case 10: OpenTelemetry label names (`service.name`, `k8s.namespace.name`) from a Prometheus 3
/// never make `/metrics` unparsable: promtool accepts the classic page, a Prometheus 2 scrape
/// reads classic names on every line, a scraper that negotiates UTF-8 names gets them quoted,
/// and both entities keep their series and dates.
#[test]
fn case_10_utf8_label_names() {
    let anchor = super::wall_now();
    let services = [("checkout", 0.0), ("cart", -0.05)];
    let stand_in = StandIn::start(move |params, _| {
        let times = grid(params);
        let series: Vec<_> = services
            .iter()
            .map(|(service, offset)| {
                let values = times
                    .iter()
                    .map(|t| (*t, api_value(pvc_ratio(*offset, *t, anchor))))
                    .collect();
                (
                    serde_json::json!({"service.name": service, "k8s.namespace.name": "shop"}),
                    values,
                )
            })
            .collect();
        (200, matrix(&series, serde_json::json!({})))
    });
    let model = "name = \"pvc\"\nusage = 'sum by (\"service.name\", \"k8s.namespace.name\") ({\"k8s.pvc.used.ratio\"})'\ncapacity = 1\nthreshold = \"90%\"\nunit = \"ratio\"\nhistory = \"7d\"\nstep = \"5m\"\nhorizon = \"60d\"\n";
    let setup = api_setup(
        &stand_in.url(),
        "[schedule]\ninterval = \"1h\"\n",
        &[("pvc.toml", model)],
    );
    let (mut daemon, port, log) = super::ready_daemon(&setup);
    let (classic, _) = classic_pages(port);
    let usage_lines = |page: &str, service: &str| -> usize {
        page.lines()
            .filter(|l| l.starts_with("headroom_usage_last{") && l.contains("model=\"pvc\"") && l.contains(service))
            .count()
    };
    for (service, offset) in services {
        // Escaped names for classic scrapers, values kept.
        let escaped = format!("service_name=\"{service}\"");
        assert_eq!(usage_lines(&classic, &escaped), 1, "{classic}");
        assert!(
            classic.lines().any(|l| l.starts_with("headroom_usage_last{")
                && l.contains(&escaped)
                && l.contains("k8s_namespace_name=\"shop\"")),
            "{classic}"
        );
        // The likely date: 90 % is reached (0.9 - 0.6 - offset) / 0.03 days after the anchor.
        let truth_days = (0.9 - 0.60 - offset) / 0.03;
        let line = classic
            .lines()
            .find(|l| {
                l.starts_with("headroom_exhaustion_timestamp_seconds{")
                    && l.contains(&escaped)
                    && l.contains("estimate=\"likely\"")
            })
            .unwrap_or_else(|| panic!("no likely exhaustion for {service}:\n{classic}"));
        let at: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("a value");
        let days = (at - anchor) / DAY as f64;
        super::assert_near_days(&format!("{service} likely"), days, truth_days, 0.10);
    }

    // A Prometheus 3 that negotiates UTF-8 names reads them quoted, as they came.
    let (_, utf8) = http_get_with(port, "/metrics", &[("Accept", UTF8_ACCEPT)]).expect("scrape");
    for (service, _) in services {
        assert!(
            utf8.lines().any(|l| l.starts_with("headroom_usage_last{")
                && l.contains(&format!("\"service.name\"=\"{service}\""))
                && l.contains("\"k8s.namespace.name\"=\"shop\"")),
            "{utf8}"
        );
    }
    assert!(daemon.running(), "headroom exited: {}", read_log(&log));
}
