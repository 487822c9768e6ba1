//! `headroom forecast`: the CSV round trip, exact in shape and order.

use crate::harness::{headroom, run_with_stdin};

fn run(input: &str, args: &[&str]) -> std::process::Output {
    run_with_stdin(headroom().args(["forecast", "--input", "-"]).args(args), input)
}

#[test]
fn csv_round_trip_is_exact_in_shape_and_order() {
    // Three series: 5-minute Unix seconds, hourly RFC 3339, daily; rows shuffled.
    let mut rows = Vec::new();
    for k in 0..600u64 {
        let t = 1_700_000_000 + k * 300;
        rows.push(format!(
            "web,{t},{}",
            50.0 + (k as f64 * 0.1).sin() * 5.0 + k as f64 * 0.01
        ));
    }
    for k in 0..200i64 {
        let t = chrono::DateTime::from_timestamp(1_790_000_000 - 1_790_000_000 % 3600 + k * 3600, 0).expect("time");
        rows.push(format!(
            "\"db, primary\",{},{}",
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            10.0 + k as f64
        ));
    }
    for k in 0..60u64 {
        rows.push(format!(
            "daily,{},{}",
            1_600_000_000 + k * 86_400,
            100.0 + (k % 7) as f64
        ));
    }
    // Deterministic shuffle; "daily" keeps its first row first so first appearance is web, db, daily.
    let (first, rest) = rows.split_at(1);
    let mut shuffled: Vec<String> = first.to_vec();
    let mut rest = rest.to_vec();
    rest.sort_by_key(|r| {
        r.bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
    });
    shuffled.extend(rest);
    let first_seen: Vec<String> = {
        let mut seen: Vec<String> = Vec::new();
        for row in &shuffled {
            let id = if row.starts_with('"') {
                "db, primary".to_string()
            } else {
                row.split(',').next().expect("id").to_string()
            };
            if !seen.contains(&id) {
                seen.push(id);
            }
        }
        seen
    };
    let input = format!("series_id,timestamp,value\n{}\n", shuffled.join("\n"));
    let horizon = 12;
    let output = run(&input, &["--horizon", &horizon.to_string()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("series_id,timestamp,yhat,lo80,hi80,lo95,hi95"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3 * horizon);

    let expected_last: [(&str, i64, i64); 3] = [
        ("web", 1_700_000_000 + 599 * 300, 300),
        ("db, primary", 1_790_000_000 - 1_790_000_000 % 3600 + 199 * 3600, 3600),
        ("daily", 1_600_000_000 + 59 * 86_400, 86_400),
    ];
    for (block, id) in first_seen.iter().enumerate() {
        let (_, last, step) = expected_last.iter().find(|(name, _, _)| name == id).expect("known id");
        for h in 0..horizon {
            let row = rows[block * horizon + h];
            let (row_id, rest) = if let Some(stripped) = row.strip_prefix('"') {
                let (quoted, rest) = stripped.split_once("\",").expect("quoted id");
                (quoted.to_string(), rest)
            } else {
                let (id, rest) = row.split_once(',').expect("id");
                (id.to_string(), rest)
            };
            assert_eq!(&row_id, id, "row {row}");
            let fields: Vec<&str> = rest.split(',').collect();
            assert_eq!(fields.len(), 6, "row {row}");
            let expected_t = last + (h as i64 + 1) * step;
            let t = if id == "db, primary" {
                chrono::DateTime::parse_from_rfc3339(fields[0])
                    .expect("RFC 3339 out for RFC 3339 in")
                    .timestamp()
            } else {
                fields[0].parse::<i64>().expect("Unix seconds out for Unix seconds in")
            };
            assert_eq!(t, expected_t, "row {row}");
            let v: Vec<f64> = fields[1..].iter().map(|f| f.parse().expect("number")).collect();
            let (yhat, lo80, hi80, lo95, hi95) = (v[0], v[1], v[2], v[3], v[4]);
            assert!(
                lo95 <= lo80 && lo80 <= yhat && yhat <= hi80 && hi80 <= hi95,
                "bands out of order: {row}"
            );
        }
    }
}

#[test]
fn a_bad_row_is_named_by_its_line() {
    let output = run(
        "series_id,timestamp,value\na,1700000000,1\na,1700000300,lots\n",
        &["--horizon", "3"],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 3: value \"lots\" is not a number"), "{stderr}");
}

#[test]
fn a_series_too_short_is_reported_and_the_others_written() {
    let mut input = String::from("series_id,timestamp,value\nshort,0,1\nshort,60,2\n");
    for k in 0..100 {
        input.push_str(&format!("long,{},{}\n", k * 60, k));
    }
    let output = run(&input, &["--horizon", "5"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 1 + 5);
    assert!(String::from_utf8_lossy(&output.stderr).contains("series \"short\": insufficient history"));
}
