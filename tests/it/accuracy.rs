//! Forecast accuracy over time, with a known future: a forecast "made" eight days before the
//! end of the backfilled history is scored by a running Headroom against what Prometheus
//! holds, and the scores match the hand calculation from the history's own generator. A model
//! larger than one forecasting batch is scored in every batch.

use std::time::Duration;

use headroom::forecast::PathPoint;
use headroom::forecast::accuracy::Snapshot;
use headroom::series::Labels;
use headroom::store::Store;

use crate::harness::{
    Prometheus, Setup, config_for, free_port, http_get, metric_value, read_log, start_daemon_with, wait_until,
};
use crate::history::{self, DISK_MODEL, STEP, fill_observed, fill_used};

const GB: f64 = 1e9;

#[test]
fn past_forecasts_are_scored_against_what_happened() {
    let end = history::recent_end();
    let start = history::start_of(end);
    let prometheus = Prometheus::start_with_history(&history::openmetrics(end));
    let setup = Setup::new(
        &config_for(&prometheus.url(), "[store]\npath = \"state/headroom.db\"\n"),
        &[("disk.toml", DISK_MODEL)],
    );

    // The forecast: every 6 hours for 7 days, 2 GB above the noise-free truth, with an 80 %
    // band of ±1 GB (the noise is ±0.3 GB, so every actual value falls outside it) and a 95 %
    // band of ±3 GB (every actual value inside). Scale 0.5 GB.
    let made_at = (end - 8 * 86_400) as f64;
    let path: Vec<PathPoint> = (1..=28)
        .map(|i| {
            let t = made_at + f64::from(i) * 21_600.0;
            let mean = fill_used(t - start as f64) + 2.0 * GB;
            PathPoint {
                timestamp: t,
                mean,
                lower_80: mean - GB,
                upper_80: mean + GB,
                lower_95: mean - 3.0 * GB,
                upper_95: mean + 3.0 * GB,
            }
        })
        .collect();
    let labels = Labels::new([
        ("instance", "fill:9100"),
        ("job", "node"),
        ("mountpoint", "/data"),
        ("fstype", "ext4"),
    ]);
    let scale = 0.5 * GB;
    {
        let store = Store::open(&setup.dir.path().join("state/headroom.db")).expect("state file");
        let snapshot = Snapshot {
            entity: labels.to_string(),
            made_at,
            scale,
            path: path.clone(),
        };
        store.save_snapshots("disk", &[snapshot]).expect("seed a past forecast");
    }
    // The hand calculation, from the generator of the backfilled history.
    let expected = |span: f64| {
        let scored: Vec<&PathPoint> = path.iter().filter(|p| p.timestamp <= made_at + span).collect();
        let errors: Vec<f64> = scored
            .iter()
            .map(|p| {
                let k = (p.timestamp as u64 - start) / STEP;
                (fill_observed(k) - p.mean).abs()
            })
            .collect();
        errors.iter().sum::<f64>() / errors.len() as f64 / scale
    };

    let (_daemon, port, log) = start_daemon_with(&setup, free_port(), &[]);
    let metrics = || http_get(port, "/metrics").map(|(_, body)| body).unwrap_or_default();
    wait_until("the past forecast to be scored", Duration::from_secs(60), || {
        metrics().contains("headroom_forecast_accuracy_mase")
    });
    let text = metrics();
    for (checkpoint, span) in [("1d", 86_400.0), ("7d", 7.0 * 86_400.0)] {
        let labels = [("instance", "fill:9100"), ("checkpoint", checkpoint)];
        let mase = metric_value(&text, "headroom_forecast_accuracy_mase", &labels)
            .unwrap_or_else(|| panic!("no {checkpoint} score; log:\n{}", read_log(&log)));
        let hand = expected(span);
        assert!(
            (mase - hand).abs() <= 1e-6 * hand,
            "{checkpoint}: MASE {mase}, by hand {hand}"
        );
        let coverage = |level: &str| {
            let mut with_level = labels.to_vec();
            with_level.push(("level", level));
            metric_value(&text, "headroom_forecast_interval_coverage", &with_level)
        };
        assert_eq!(coverage("0.8"), Some(0.0), "{checkpoint}");
        assert_eq!(coverage("0.95"), Some(1.0), "{checkpoint}");
    }
    // MASE near 4 is poor: the recommendation says so.
    let (_, body) = http_get(port, "/api/v1/recommendations?model=disk").expect("recommendations");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let fill = json["recommendations"]
        .as_array()
        .and_then(|r| r.iter().find(|e| e["labels"]["instance"] == "fill:9100"))
        .expect("fill disk");
    let caveats = fill["recommendation"]["caveats"].to_string();
    assert!(
        caveats.contains("Recent forecasts of this entity were poor"),
        "{caveats}"
    );
    let justification = fill["recommendation"]["justification"].to_string();
    assert!(justification.contains("Past accuracy"), "{justification}");
}

#[test]
fn past_forecasts_are_scored_in_every_batch_of_a_large_model() {
    // More entities than one forecasting batch (2,048): the past forecasts of the last disks
    // are read, scored and replaced in a later batch than those of the first ones. In-process,
    // on a dump-file source: what is under test is the cycle's batching, not a backend.
    const DISKS: usize = 2_100;
    const HOUR: f64 = 3_600.0;
    let end = (1_800_000_000.0 / HOUR).floor() * HOUR;
    let value = |disk: usize, t: f64| 100.0 + (disk % 7) as f64 + (t - end) / HOUR * 0.5;
    let mut dump = String::new();
    for disk in 0..DISKS {
        for k in 0..=72 {
            let t = end - f64::from(72 - k) * HOUR;
            dump.push_str(&format!(
                "disk_used_bytes{{host=\"h-{disk:04}\"}} {} {}\n",
                value(disk, t),
                t as u64 * 1000
            ));
        }
    }
    let source =
        headroom::source::Source::File(headroom::source::file::FileSource::from_text("fleet", &dump).expect("dump"));
    let models = headroom::config::models::load_texts(&[(
        "fleet.toml",
        "name = \"fleet\"\nusage = 'disk_used_bytes'\ncapacity = 1000\nthreshold = \"90%\"\nunit = \"bytes\"\nhistory = \"3d\"\nstep = \"1h\"\nhorizon = \"7d\"\n",
    )])
    .expect("model");
    // Forecasts made two days ago for the first and the last disk, 1 above what happened
    // every hour of the next day; with a scale of 2 their 1-day MASE is exactly 0.5.
    let made_at = end - 2.0 * 86_400.0;
    let store = Store::in_memory().expect("store");
    let entity = |disk: usize| Labels::new([("host", format!("h-{disk:04}"))]).to_string();
    let snapshots: Vec<Snapshot> = [0, DISKS - 1]
        .into_iter()
        .map(|disk| Snapshot {
            entity: entity(disk),
            made_at,
            scale: 2.0,
            path: (1..=24)
                .map(|i| {
                    let t = made_at + f64::from(i) * HOUR;
                    let mean = value(disk, t) + 1.0;
                    PathPoint {
                        timestamp: t,
                        mean,
                        lower_80: mean - 0.5,
                        upper_80: mean + 0.5,
                        lower_95: mean - 2.0,
                        upper_95: mean + 2.0,
                    }
                })
                .collect(),
        })
        .collect();
    store.save_snapshots("fleet", &snapshots).expect("seed past forecasts");

    let fetcher = headroom::source::cache::Fetcher::new(&source, Some(&store));
    let pool = headroom::app::cycle::build_pool(0).expect("pool");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let cycle = headroom::app::cycle::Cycle {
        fetcher: &fetcher,
        store: Some(&store),
        settings: &headroom::forecast::Settings::default(),
        scenarios: &[],
        pool: &pool,
    };
    let report = runtime.block_on(cycle.run(&models, end + 60.0, None));
    let entities = &report.models[0].entities;
    assert_eq!(entities.len(), DISKS, "{:?}", report.models[0].error);
    for disk in [0, DISKS - 1] {
        let result = entities
            .iter()
            .find(|e| e.labels.to_string() == entity(disk))
            .expect("the disk");
        let one_day = result
            .accuracy
            .iter()
            .find(|s| s.checkpoint == "1d")
            .unwrap_or_else(|| panic!("disk {disk} was not scored: {:?}", result.accuracy));
        assert!((one_day.mase - 0.5).abs() < 1e-9, "disk {disk}: MASE {}", one_day.mase);
        assert_eq!((one_day.coverage_80, one_day.coverage_95), (0.0, 1.0), "disk {disk}");
    }
    // Every batch saved its scores and its new snapshots.
    let latest = store.latest_scores("fleet").expect("scores");
    assert!(latest.contains_key(&entity(0)) && latest.contains_key(&entity(DISKS - 1)));
    let snapshots = store.last_snapshots("fleet").expect("snapshots");
    assert_eq!(snapshots.len(), DISKS);
    assert!(
        snapshots.values().all(|made| *made == end),
        "{:?}",
        snapshots.values().next()
    );
}
