//! Field cases 01 (guard: a log-rotation sawtooth), 13 (series that ended days ago) and 14 (a
//! new volume already past its threshold), each generated as its `gen.py` does.

use super::planned;
use super::{
    DAY, Dump, GB, NOW, assert_near_days, assert_not_planned, days_from, entity, file_setup, first_crossing, gauss,
    json_of, stderr_of, time_text,
};
use crate::harness::once_json;

const STEP: u64 = 300;

/// Used bytes of the two 100 GB filesystems of case 01: they fill 2 GB a day and the 03:00
/// rotation empties `flat` wholly and `leaky` but for 0.6 GB.
fn sawtooth_used(leaky: bool, t: f64) -> f64 {
    let start = (NOW - 28 * DAY) as f64;
    let rotation = 3.0 * 3600.0;
    let first = ((start - rotation) / DAY as f64).floor() * DAY as f64 + rotation;
    let days = (t - first) / DAY as f64;
    let (whole, part) = (days.floor(), days - days.floor());
    if leaky {
        50.0 * GB + 0.6 * GB * whole + 2.0 * GB * part
    } else {
        60.0 * GB + 2.0 * GB * part
    }
}

/// Guard: a sawtooth that does not grow gives no date; one that leaks 0.6 GB a day gives the
/// date the pattern reaches 90 GB (likely within 10 %, earliest between half and 110 % of it).
#[test]
fn case_01_sawtooth_guard() {
    let start = NOW - 28 * DAY;
    let mut dump = Dump::default();
    for i in 0..=28 * DAY / STEP {
        let t = start + i * STEP;
        for (fs, leaky) in [("flat", false), ("leaky", true)] {
            let instance = format!("{fs}:9100");
            let labels = [("instance", instance.as_str()), ("mountpoint", "/var")];
            let noise = 0.02 * GB * gauss(i, if leaky { 11 } else { 12 });
            dump.sample("fs_used_bytes", &labels, sawtooth_used(leaky, t as f64) + noise, t);
            dump.sample("node_filesystem_size_bytes", &labels, 100.0 * GB, t);
        }
    }
    let model = "name = \"fs-used\"\nusage = 'fs_used_bytes'\ncapacity = 'node_filesystem_size_bytes'\nthreshold = \"90%\"\nunit = \"bytes\"\nhistory = \"28d\"\nstep = \"5m\"\nhorizon = \"60d\"\n";
    let setup = file_setup(&dump, &[("fs-used.toml", model)]);
    let json = planned(&setup, NOW);

    let flat = entity(&json, "fs-used", &[("instance", "flat:9100")]);
    assert_eq!(flat["status"], "ok", "{flat:#}");
    assert!(
        flat["exhaustion"]["likely"].is_null() && flat["exhaustion"]["earliest"].is_null(),
        "a sawtooth that does not grow has no date: {flat:#}"
    );

    let truth = first_crossing(NOW, 60, 200 * DAY, |t| sawtooth_used(true, t) >= 90.0 * GB).expect("leaky crosses");
    let truth_days = (truth - NOW as f64) / DAY as f64;
    let leaky = entity(&json, "fs-used", &[("instance", "leaky:9100")]);
    let likely = days_from(NOW, &leaky["exhaustion"]["likely"], "leaky likely");
    assert_near_days("leaky likely", likely, truth_days, 0.10);
    let earliest = days_from(NOW, &leaky["exhaustion"]["earliest"], "leaky earliest");
    assert!(
        earliest >= 0.5 * truth_days && earliest <= 1.1 * truth_days,
        "leaky earliest {earliest:.2} d, truth {truth_days:.2} d"
    );
}

/// Used ratio of the `db` disk of case 13 (it moved from /data1 to /data2 five days ago), and
/// of the decommissioned node's /scratch.
fn vanished_used(t: f64) -> f64 {
    0.60 + 0.011 * (t - (NOW - 28 * DAY) as f64) / DAY as f64
}

/// Series that ended (a remount 5 days ago, a node removed 20 days ago) are `stale`, with the
/// time of their last sample, and never planned; the live disk keeps its date and urgency.
#[test]
fn case_13_vanished_series() {
    let start = NOW - 28 * DAY;
    let remount = NOW - 5 * DAY;
    let scratch_end = start + 8 * DAY;
    let mut dump = Dump::default();
    for i in 0..=28 * DAY / STEP {
        let t = start + i * STEP;
        let mountpoint = if t < remount { "/data1" } else { "/data2" };
        let used = vanished_used(t as f64) + 0.001 * gauss(i, 13);
        dump.sample(
            "disk_used_ratio",
            &[("instance", "db:9100"), ("mountpoint", mountpoint)],
            used,
            t,
        );
        if t <= scratch_end {
            let scratch = 0.80 + 0.011 * (t - start) as f64 / DAY as f64;
            dump.sample(
                "disk_used_ratio",
                &[("instance", "old-node:9100"), ("mountpoint", "/scratch")],
                scratch,
                t,
            );
        }
    }
    let model = "name = \"disk\"\nusage = 'disk_used_ratio'\ncapacity = 1\nthreshold = \"92%\"\nunit = \"ratio\"\nhistory = \"28d\"\nstep = \"5m\"\nhorizon = \"60d\"\n\n[scaling]\nunit_size = 0.1\nunit_name = \"10 % step\"\nunit_cost = 10.0\ncurrency = \"USD\"\nlead_time = \"3d\"\ntarget_utilization = \"80%\"\n";
    let setup = file_setup(&dump, &[("disk.toml", model)]);
    let output = once_json(&setup, NOW);
    assert!(matches!(output.status.code(), Some(0 | 1)), "{}", stderr_of(&output));
    let json = json_of(&output);

    // The live disk: 92 % is reached at (0.92 - 0.60) / 0.011 days after the start.
    let truth = (0.92 - 0.60) / 0.011 - 28.0;
    let live = entity(&json, "disk", &[("mountpoint", "/data2")]);
    assert_eq!(live["status"], "ok", "{live:#}");
    assert_near_days(
        "/data2 likely",
        days_from(NOW, &live["exhaustion"]["likely"], "/data2 likely"),
        truth,
        0.10,
    );
    assert_eq!(live["recommendation"]["urgency"], "critical", "{live:#}");

    for (mountpoint, last) in [("/data1", remount - STEP), ("/scratch", scratch_end)] {
        let ended = entity(&json, "disk", &[("mountpoint", mountpoint)]);
        assert_eq!(ended["status"], "stale", "{mountpoint}: {ended:#}");
        assert_eq!(ended["last_sample"], last as f64, "{mountpoint}: {ended:#}");
        let reason = ended["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(&time_text(last as f64)),
            "{mountpoint}: the reason names the last sample: {reason}"
        );
        assert_not_planned(ended);
    }
}

/// Used ratio of the volumes of case 14 at `t` (the fresh ones were created 10 hours ago).
fn volume_used(volume: &str, t: f64) -> f64 {
    let hours = (t - (NOW - 10 * 3600) as f64) / 3600.0;
    match volume {
        "fresh-full" => 0.30 + 0.063 * hours,
        "fresh-growing" => 0.20 + 0.065 * hours,
        "fresh-flat" => 0.10,
        _ => 0.50,
    }
}

/// A volume 10 hours old at 93 % of a 90 % threshold is exceeded now and critical, whatever
/// its history; the new flat volume stays quiet; the old one is planned as usual.
#[test]
fn case_14_new_volume_over_threshold() {
    let born = NOW - 10 * 3600;
    let mut dump = Dump::default();
    for i in 0..=28 * DAY / STEP {
        let t = NOW - 28 * DAY + i * STEP;
        for (v, volume) in ["fresh-full", "fresh-growing", "fresh-flat", "old-control"]
            .iter()
            .enumerate()
        {
            if *volume != "old-control" && t < born {
                continue;
            }
            let value = volume_used(volume, t as f64) + 0.001 * gauss(i, 140 + v as u64);
            dump.sample(
                "kubelet_volume_stats_used_ratio",
                &[("persistentvolumeclaim", volume)],
                value,
                t,
            );
        }
    }
    let model = "name = \"pvc\"\nusage = 'kubelet_volume_stats_used_ratio'\ncapacity = 1\nthreshold = \"90%\"\nunit = \"ratio\"\nhistory = \"28d\"\nstep = \"5m\"\nhorizon = \"30d\"\n";
    let setup = file_setup(&dump, &[("pvc.toml", model)]);
    let json = planned(&setup, NOW);

    let full = entity(&json, "pvc", &[("persistentvolumeclaim", "fresh-full")]);
    let current = full["current"].as_f64().expect("current");
    let expected = volume_used("fresh-full", NOW as f64);
    assert!(
        (current - expected).abs() <= 0.005,
        "current {current}, truth {expected}"
    );
    assert!(
        full["status"] == "insufficient_history" || full["status"] == "ok",
        "{full:#}"
    );
    assert_eq!(full["exhaustion"]["exceeded_now"], true, "{full:#}");
    assert_eq!(full["recommendation"]["urgency"], "critical", "{full:#}");

    let flat = entity(&json, "pvc", &[("persistentvolumeclaim", "fresh-flat")]);
    assert!(flat["exhaustion"]["likely"].is_null(), "{flat:#}");
    assert!(
        flat["recommendation"].is_null() || flat["recommendation"]["urgency"] == "ok",
        "{flat:#}"
    );

    let old = entity(&json, "pvc", &[("persistentvolumeclaim", "old-control")]);
    assert_eq!(old["status"], "ok", "{old:#}");
    assert!(old["exhaustion"]["likely"].is_null(), "{old:#}");
    assert_eq!(old["recommendation"]["urgency"], "ok", "{old:#}");
}
