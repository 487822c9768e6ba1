use super::*;

const GOOD: &str = r#"
name = "node-filesystem"
usage = 'node_filesystem_size_bytes - node_filesystem_avail_bytes'
capacity = 'node_filesystem_size_bytes'
threshold = "90%"
unit = "bytes"
history = "28d"
step = "5m"
horizon = "30d"
"#;

#[test]
fn a_good_model_parses() {
    let model = parse(Path::new("fs.toml"), GOOD).expect("valid");
    assert_eq!(model.threshold, Threshold::Fraction(0.9));
    assert_eq!(model.threshold.resolve(Some(200.0)), Some(180.0));
    assert_eq!(model.direction, Direction::Above);
    assert!(matches!(model.capacity, Some(Capacity::Query(_))));
}

#[test]
fn every_mistake_is_reported() {
    let text = "name = \"Bad Name\"\nusage = \"x\"\nthreshold = \"90%\"\nstep = \"5 minutes\"\nhorizon = \"30d\"\nwindow = \"7d\"\n";
    let problems = parse(Path::new("bad.toml"), text).expect_err("invalid");
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(lines[0].starts_with("bad.toml:1: name:"));
    assert!(lines[1].starts_with("bad.toml:3: threshold: a percentage threshold needs a capacity"));
    assert!(lines[2].starts_with("bad.toml:4: step: invalid duration"));
    assert!(lines[3].starts_with("bad.toml:6: window: unknown key"));
}

#[test]
fn a_timezone_is_an_iana_name_and_a_wrong_one_is_named_at_its_line() {
    assert_eq!(parse(Path::new("fs.toml"), GOOD).expect("valid").timezone, None);
    let text = format!("{GOOD}timezone = \"America/New_York\"\n");
    let model = parse(Path::new("fs.toml"), &text).expect("valid");
    assert_eq!(model.timezone, Some(chrono_tz::America::New_York));
    let text = "name = \"web\"\nusage = \"x\"\nthreshold = 1\ntimezone = \"Paris\"\n";
    let problems = parse(Path::new("web.toml"), text).expect_err("invalid");
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with("web.toml:4: timezone: \"Paris\" is not an IANA time zone name"),
        "{lines:#?}"
    );
}

#[test]
fn thresholds_parse() {
    assert_eq!("85 %".parse::<Threshold>(), Ok(Threshold::Fraction(0.85)));
    assert_eq!("1e12".parse::<Threshold>(), Ok(Threshold::Absolute(1e12)));
    assert!("lots".parse::<Threshold>().is_err());
    assert!("0%".parse::<Threshold>().is_err());
    // Out of range either way, the same words: above 0% and at most 100%.
    for text in ["0%", "1001%"] {
        let error = text.parse::<Threshold>().expect_err("out of range");
        assert!(error.contains("above 0% and at most 100%"), "{error}");
    }
    // Read back as written, not as its binary approximation.
    let odd = "100.5%".parse::<Threshold>().expect("parses");
    assert_eq!(odd.to_string(), "100.5%");
}

const POOL: &str = r#"
name = "pool-cpu"
usage = 'sum by (pool) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))'
capacity = 'count by (pool) (node_cpu_seconds_total{mode="idle"})'
threshold = "85%"
unit = "cores"
team = "platform"

[scaling]
unit_size = 16
unit_name = "node"
unit_cost = 412.5
currency = "EUR"
lead_time = "21d"
target_utilization = "70%"
min_units = 3
max_units = 40
"#;

#[test]
fn downsampling_wraps_the_usage_in_a_subquery() {
    let text = "name = \"d\"\nusage = \"a - b\"\nthreshold = 1\nstep = \"1h\"\n[downsample]\nfunction = \"max\"\nresolution = \"5m\"\n";
    let model = load_texts(&[("d.toml", text)]).expect("model").remove(0);
    assert_eq!(model.usage_query(), "max_over_time((a - b)[1h:5m])");
    let bad = "name = \"d\"\nusage = \"a\"\nthreshold = 1\nstep = \"5m\"\n[downsample]\nfunction = \"p99\"\nresolution = \"5m\"\n";
    let problems = load_texts(&[("d.toml", bad)]).expect_err("refused").to_string();
    assert!(
        problems.contains("downsample.function") && problems.contains("downsample.resolution"),
        "{problems}"
    );
}

#[test]
fn scaling_parses() {
    let model = parse(Path::new("pool.toml"), POOL).expect("valid");
    assert_eq!(model.team.as_deref(), Some("platform"));
    let scaling = model.scaling.expect("scaling");
    assert_eq!(scaling.unit_size, 16.0);
    assert_eq!(scaling.lead_time.as_secs_f64(), 21.0 * 86_400.0);
    assert!((scaling.target_utilization - 0.7).abs() < 1e-12);
    assert_eq!((scaling.min_units, scaling.max_units), (3, Some(40)));
}

#[test]
fn scaling_problems_are_all_reported() {
    let text = POOL
        .replace("unit_size = 16", "unit_size = -1")
        .replace("\"70%\"", "\"170%\"")
        .replace("max_units = 40", "max_units = 2\ncolour = 1");
    let problems: Vec<String> = parse(Path::new("pool.toml"), &text)
        .expect_err("invalid")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0].contains("scaling.unit_size: must be a positive number"));
    assert!(problems[1].contains("scaling.target_utilization"));
    assert!(problems[2].contains("scaling.max_units: must be at least min_units (3)"));
    assert!(problems[3].contains("scaling.colour: unknown key"));
}
