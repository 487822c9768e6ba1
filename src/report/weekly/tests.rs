use super::*;
use crate::test_util::cycle;

fn period(name: &str) -> Period {
    Period {
        name: name.into(),
        due_at: 1_800_000_000.0,
    }
}

#[test]
fn risks_are_ranked_most_urgent_first_and_teams_summarised() {
    let report = WeeklyReport::build(&cycle(), period("2027-W02"), None);
    let hosts: Vec<&str> = report.risks.iter().map(|r| r.entity.as_str()).collect();
    assert_eq!(hosts, ["{host=\"b\"}", "{host=\"a\"}"]);
    assert_eq!(report.risks[0].action, "add 2 × disk");
    assert_eq!((report.planned, report.fine), (3, 1));
    assert_eq!(report.teams[0].team, "storage");
    assert_eq!((report.teams[0].critical, report.teams[0].warning), (1, 1));
    assert_eq!(report.teams[0].shortest_runway_days, Some(2.0));
    assert_eq!(report.savings.len(), 1);
    assert_eq!(report.savings[0].monthly_saving, 20.0);
    assert_eq!(
        report.subject("Capacity report"),
        "Capacity report, 2027-W02: 1 critical, 1 warning"
    );
}

#[test]
fn a_report_missing_models_says_so_and_is_never_an_all_clear() {
    let mut failed = cycle();
    failed.models[0].error = Some("cannot reach the source".into());
    failed.models[0].entities.clear();
    let report = WeeklyReport::build(&failed, period("2027-W02"), None);
    let subject = report.subject("Capacity report");
    assert_eq!(
        subject,
        "Capacity report, 2027-W02: INCOMPLETE, 1 of 1 models not planned; 0 critical, 0 warning among the rest"
    );
    let text = text::render(&report, &subject);
    assert!(text.contains("not an all-clear"), "{text}");
    assert!(!text.contains("Nothing is expected"), "{text}");
    let html = html::render(&report, &subject, &|i| format!("chart-{i}.png"));
    assert!(
        html.contains("<b>Incomplete:</b>") && html.contains("not an all-clear"),
        "{html}"
    );
    let mut corrected = WeeklyReport::build(&cycle(), period("2027-W02"), None);
    corrected.correction = true;
    assert!(
        corrected
            .subject("Capacity report")
            .starts_with("Corrected: Capacity report, 2027-W02: 1 critical")
    );
    assert!(text::render(&corrected, "s").contains("This corrects the incomplete report"));
}

#[test]
fn changes_since_last_week_name_new_moved_and_cleared_risks() {
    let last_week = vec![
        SnapshotEntry {
            key: "disk{host=\"a\"}".into(),
            title: "disk {host=\"a\"}".into(),
            urgency: "warning".into(),
            likely: Some(1_800_000_000.0 + 30.0 * 86_400.0),
        },
        SnapshotEntry {
            key: "disk{host=\"z\"}".into(),
            title: "disk {host=\"z\"}".into(),
            urgency: "warning".into(),
            likely: Some(1_800_000_000.0),
        },
    ];
    let report = WeeklyReport::build(&cycle(), period("2027-W02"), Some(("2027-W01".into(), last_week)));
    let changes = &report.changes;
    assert_eq!(changes.since.as_deref(), Some("2027-W01"));
    assert_eq!(changes.new_risks, ["disk {host=\"b\"}"]);
    assert_eq!(changes.moved.len(), 1, "a moved 10 days sooner");
    assert_eq!(changes.cleared, ["disk {host=\"z\"}"]);
    let text = text::render(&report, "Capacity report");
    assert!(text.contains("New risk: disk {host=\"b\"}"), "{text}");
    assert!(text.contains("Cleared: disk {host=\"z\"}"), "{text}");
    let html = html::render(&report, "Capacity report", &|i| format!("chart-{i}.png"));
    assert!(html.contains("<b>Cleared:</b> disk {host=&quot;z&quot;}"), "{html}");
}

#[test]
fn a_chart_is_a_png_of_the_requested_size() {
    let start = 1_800_000_000.0;
    let history: Vec<(f64, f64)> = (0..100)
        .map(|i| (start + i as f64 * 3600.0, 50.0 + i as f64 * 0.2))
        .collect();
    let forecast: Vec<PathPoint> = (0..50)
        .map(|i| {
            let t = start + (100 + i) as f64 * 3600.0;
            let mean = 70.0 + i as f64 * 0.2;
            PathPoint {
                timestamp: t,
                mean,
                lower_80: mean - 2.0,
                upper_80: mean + 2.0,
                lower_95: mean - 4.0,
                upper_95: mean + 4.0,
            }
        })
        .collect();
    let png = chart::render_png(&ChartData {
        title: "disk {host=\"a\"}".into(),
        unit: "bytes".into(),
        history: Arc::new(history),
        forecast,
        threshold: Some(75.0),
        likely: Some(start + 125.0 * 3600.0),
        earliest: Some(start + 110.0 * 3600.0),
    })
    .expect("png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!((width, height), (chart::WIDTH, chart::HEIGHT));
}
