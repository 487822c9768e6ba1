//! Property-based fuzzing of everything Headroom parses from outside: the config, capacity
//! models, Prometheus API responses, dump files and forecast CSV input. Each parser must
//! answer Ok or a clear error for any input, and never panic.
//!
//! Inputs are random bytes and, more usefully, the shipped files and a real response with
//! random lines mutated (values replaced, lines deleted or duplicated, bytes flipped), which
//! reach deep into the parsers. `cargo test` runs 256 cases per target; for a longer bounded
//! run:
//!
//!     PROPTEST_CASES=20000 cargo test --test it fuzz::

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;

fn shipped(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect("shipped file")
}

/// A real `query_range` answer with the shapes Prometheus uses (NaN, +Inf, fractional time).
const RESPONSE: &str = r#"{"status":"success","data":{"resultType":"matrix","result":[
{"metric":{"__name__":"up","instance":"a:9100"},"values":[[1700000000,"1"],[1700000300.5,"NaN"],[1700000600,"+Inf"]]},
{"metric":{"instance":"b:9100"},"values":[[1700000000,"2.5e3"]]}]}}"#;

/// Mutations applied to a text, line by line.
#[derive(Clone, Debug)]
enum Mutation {
    ReplaceValue(usize, String),
    DeleteLine(usize),
    DuplicateLine(usize),
    FlipByte(usize, u8),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let value = prop_oneof![
        Just(String::new()),
        Just("\"\"".to_string()),
        Just("-1".to_string()),
        Just("1e309".to_string()),
        Just("nan".to_string()),
        Just("[1, \"x\"]".to_string()),
        Just("{ a = 1 }".to_string()),
        Just("\"99999999999999999999d\"".to_string()),
        Just("\"0s\"".to_string()),
        Just("\"ünïcödé\u{0}\"".to_string()),
        "[a-z0-9%\\.\"\\[\\]{}=, -]{0,12}",
    ];
    prop_oneof![
        (any::<usize>(), value).prop_map(|(line, v)| Mutation::ReplaceValue(line, v)),
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::FlipByte(at, b)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        match m {
            Mutation::ReplaceValue(i, value) => {
                let count = lines.len();
                let line = &mut lines[i % count];
                if let Some((key, _)) = line.split_once('=') {
                    *line = format!("{key}= {value}");
                } else {
                    line.push_str(value);
                }
            }
            Mutation::DeleteLine(i) => {
                let i = i % lines.len();
                lines.remove(i);
            }
            Mutation::DuplicateLine(i) => {
                let i = i % lines.len();
                let copy = lines[i].clone();
                lines.insert(i, copy);
            }
            Mutation::FlipByte(at, byte) => {
                let mut bytes = lines.join("\n").into_bytes();
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] = *byte;
                }
                lines = String::from_utf8_lossy(&bytes).lines().map(str::to_string).collect();
            }
            Mutation::Truncate(at) => {
                let joined = lines.join("\n");
                let cut = joined
                    .char_indices()
                    .map(|(i, _)| i)
                    .nth(at % joined.len().max(1))
                    .unwrap_or(0);
                lines = joined[..cut].lines().map(str::to_string).collect();
            }
        }
    }
    lines.join("\n")
}

fn env() -> BTreeMap<String, String> {
    BTreeMap::from([("HEADROOM_SMTP__PASSWORD".to_string(), "x".to_string())])
}

proptest! {
    #[test]
    fn the_config_parser_never_panics(mutations in prop::collection::vec(mutation(), 1..6)) {
        let text = mutate(&shipped("config/headroom.toml"), &mutations);
        let _ = headroom::config::Config::from_text("fuzz.toml", &text, Path::new("."), &env());
    }

    #[test]
    fn the_config_parser_never_panics_on_noise(text in "\\PC{0,400}") {
        let _ = headroom::config::Config::from_text("fuzz.toml", &text, Path::new("."), &env());
    }

    #[test]
    fn the_model_parser_never_panics(
        which in 0usize..5,
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let files = ["node-filesystem", "node-memory", "node-cpu", "http-requests", "service-cpu"];
        let text = mutate(&shipped(&format!("models/{}.toml", files[which])), &mutations);
        let _ = headroom::config::models::load_texts(&[("fuzz.toml", text.as_str())]);
    }

    #[test]
    fn the_prometheus_response_parser_never_panics(
        mutations in prop::collection::vec(mutation(), 1..4),
        status in prop_oneof![Just(200u16), Just(400), Just(422), Just(500), Just(503)],
    ) {
        let body = mutate(RESPONSE, &mutations);
        let _ = headroom::source::prometheus::parse_response("http://fuzz", "up", status, body.as_bytes());
        let _ = headroom::source::response::read(body.as_bytes(), &|_| true);
    }

    #[test]
    fn the_prometheus_response_parser_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = headroom::source::prometheus::parse_response("http://fuzz", "up", 200, &body);
        // The streaming reader a download feeds, on the same bytes.
        let _ = headroom::source::response::read(&body[..], &|_| true);
    }

    #[test]
    fn the_dump_and_csv_parsers_never_panic(text in "[a-z_{}=\",0-9\\. \n@eE+-]{0,300}") {
        let _ = headroom::source::file::FileSource::from_text("fuzz", &text);
        let _ = headroom::app::forecast_csv::read(&text);
    }
}

#[test]
fn the_mutations_reach_the_parsers() {
    // The shipped files parse, and a mutated value is rejected with a problem naming it: the
    // fuzzing above exercises the error paths, not only the happy one.
    let config = shipped("config/headroom.toml");
    let no_env = BTreeMap::new();
    let parsed = headroom::config::Config::from_text("c", &config, Path::new("config"), &no_env);
    assert!(parsed.is_ok(), "{:?}", parsed.err());
    let line = config
        .lines()
        .position(|l| l.starts_with("timeout"))
        .expect("a timeout line");
    let broken = mutate(&config, &[Mutation::ReplaceValue(line, "nan".into())]);
    let problems = headroom::config::Config::from_text("c", &broken, Path::new("config"), &no_env)
        .expect_err("a timeout of nan is refused");
    assert!(problems.to_string().contains("source.timeout"), "{problems}");
    assert!(headroom::source::prometheus::parse_response("u", "q", 200, RESPONSE.as_bytes()).is_ok());
}
