//! Fitness functions: architecture rules checked on the source tree.
//!
//! The main rule is the floor plan of `ARCHITECTURE.md` and ADR 0007: every top-level module
//! of `src/` sits on a declared layer, imports only its own layer or lower ones, and no two
//! modules import each other, even through others. The core (the model types, the engine,
//! scenarios, recommendations, the outcome and the planner) reaches no IO, async runtime or
//! logging, directly or through anything it imports. The check reads the `crate::` and
//! `super::` paths of every non-test source file, so a new file is covered the day it is added.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, bottom to top; each names the top-level modules of `src/` on it.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves",
        &["series", "duration", "percent", "clock", "format", "shard", "net"],
    ),
    ("model types", &["model"]),
    ("forecasting engine", &["forecast"]),
    ("scenarios", &["scenario"]),
    ("recommendations", &["recommend"]),
    ("outcome", &["outcome"]),
    ("planner", &["plan"]),
    ("replay", &["replay"]),
    ("config", &["config"]),
    ("state file", &["store"]),
    ("renderings", &["report"]),
    ("sources", &["source"]),
    ("telemetry", &["telemetry"]),
    ("delivery", &["delivery"]),
    ("HTTP API", &["api"]),
    ("wiring", &["app"]),
    ("command line", &["cli", "main", "lib"]),
];

/// The pure core: these modules, and everything they import, do no IO.
const CORE: &[&str] = &[
    "model",
    "forecast",
    "scenario",
    "recommend",
    "outcome",
    "plan",
    "replay",
];

/// What the core never names: async runtimes, network and database clients, the HTTP server,
/// mail, logging, files and sockets.
const NOT_IN_THE_CORE: &[&str] = &[
    "tokio",
    "reqwest",
    "axum",
    "rusqlite",
    "lettre",
    "tracing",
    "prometheus_client",
    "std::fs",
    "std::net",
    "std::process",
];

/// Every non-test `.rs` file under `dir`, as (path relative to `dir`, text).
fn sources(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(relative, std::fs::read_to_string(&path).expect("read source"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The code of a file without comments, string and character literals, and test modules
/// (`#[cfg(test)]` items); `None` for files that are test code as a whole (named so, or in a
/// `tests/` folder of a module).
fn code_of(path: &str, text: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if matches!(name, "tests.rs" | "testing.rs" | "test_util.rs") || path.split('/').any(|part| part == "tests") {
        return None;
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !chars[..i].last().is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // A raw string: r"...", r#"..."#.
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}'), or a lifetime ('a).
            let close = if next == Some('\\') {
                (i + 2..chars.len().min(i + 12)).find(|&j| chars[j] == '\'')
            } else {
                (chars.get(i + 2) == Some(&'\'')).then_some(i + 2)
            };
            match close {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    Some(without_test_items(&out))
}

/// `code` without the items marked `#[cfg(test)]` (a module with a body, or a declaration).
fn without_test_items(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let semicolon = after.find(';');
        let brace = after.find('{');
        let end = match (brace, semicolon) {
            (Some(b), Some(s)) if b < s => matching_brace(after, b).map_or(after.len(), |e| e + 1),
            (Some(b), None) => matching_brace(after, b).map_or(after.len(), |e| e + 1),
            (_, Some(s)) => s + 1,
            (None, None) => after.len(),
        };
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn matching_brace(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The module path of a file under `src/` (`report/weekly/html.rs` is `report::weekly::html`,
/// `api/mod.rs` is `api`).
fn module_path(path: &str) -> Vec<String> {
    let mut parts: Vec<String> = path.trim_end_matches(".rs").split('/').map(String::from).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The top-level module (box) a file belongs to.
fn box_of(path: &str) -> String {
    module_path(path).first().cloned().unwrap_or_default()
}

/// The top-level modules a file's code names through `crate::` and `super::` paths.
fn imports(path: &str, code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |text: &str| -> String {
        text.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if rest.trim_start().starts_with('{') {
            let open = at + "crate::".len() + rest.find('{').unwrap_or(0);
            let close = matching_brace(code, open).unwrap_or(code.len() - 1);
            let mut depth = 0;
            let mut item = String::new();
            for c in code[open + 1..close].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(ident(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.insert(ident(&item));
        } else {
            found.insert(ident(rest));
        }
    }
    // `super::` climbs from the file's own module.
    let module = module_path(path);
    for (at, _) in code.match_indices("super::") {
        if code[..at].ends_with("super::") || code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let mut rest = &code[at..];
        let mut up = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            up += 1;
            rest = r;
        }
        if up >= module.len() {
            found.insert(ident(rest));
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

/// What the checker found wrong.
fn violations(files: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    let layer_of: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, (_, modules))| modules.iter().map(move |m| (*m, i)))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut code_by_box: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (path, text) in files {
        let Some(code) = code_of(path, text) else {
            continue;
        };
        let from = box_of(path);
        let Some(&from_layer) = layer_of.get(from.as_str()) else {
            problems.push(format!(
                "{path}: module `{from}` is on no layer; add it to LAYERS (and ARCHITECTURE.md)"
            ));
            continue;
        };
        for to in imports(path, &code) {
            if to == from {
                continue;
            }
            match layer_of.get(to.as_str()) {
                None => problems.push(format!("{path}: imports `crate::{to}`, which is on no layer")),
                Some(&to_layer) if to_layer > from_layer => problems.push(format!(
                    "{path}: `{from}` ({}) imports `{to}` ({}), a higher layer",
                    LAYERS[from_layer].0, LAYERS[to_layer].0
                )),
                Some(_) => {}
            }
            edges.entry(from.clone()).or_default().insert(to);
        }
        code_by_box.entry(from).or_default().push((path.clone(), code));
    }
    // Cycles between modules, of any length.
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, trail)) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if next == start {
                    let mut cycle = trail.clone();
                    cycle.push(start.clone());
                    let text = format!("import cycle: {}", cycle.join(" -> "));
                    if !problems.iter().any(|p| same_cycle(p, &text)) {
                        problems.push(text);
                    }
                } else if seen.insert(next.clone()) {
                    let mut trail = trail.clone();
                    trail.push(next.clone());
                    stack.push((next.clone(), trail));
                }
            }
        }
    }
    // The core and everything it reaches, transitively.
    let mut reached: BTreeSet<String> = CORE.iter().map(|m| m.to_string()).collect();
    let mut frontier: Vec<String> = reached.iter().cloned().collect();
    while let Some(module) = frontier.pop() {
        for next in edges.get(&module).into_iter().flatten() {
            if reached.insert(next.clone()) {
                frontier.push(next.clone());
            }
        }
    }
    for module in &reached {
        for (path, code) in code_by_box.get(module).into_iter().flatten() {
            for word in NOT_IN_THE_CORE {
                if names(code, word) {
                    problems.push(format!(
                        "{path}: names `{word}`, but `{module}` is {} the pure core",
                        if CORE.contains(&module.as_str()) {
                            "in"
                        } else {
                            "reached from"
                        }
                    ));
                }
            }
        }
    }
    problems
}

/// Whether two cycle reports are the same cycle started at different modules.
fn same_cycle(a: &str, b: &str) -> bool {
    let members = |text: &str| -> BTreeSet<String> {
        text.trim_start_matches("import cycle: ")
            .split(" -> ")
            .map(String::from)
            .collect()
    };
    a.starts_with("import cycle: ") && members(a) == members(b)
}

/// Whether `code` names the path `word` (`std::fs` also as `std::{fs, ...}`).
fn names(code: &str, word: &str) -> bool {
    let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
    let direct = code
        .match_indices(word)
        .any(|(at, _)| boundary(code[..at].chars().next_back()) && boundary(code[at + word.len()..].chars().next()));
    direct
        || word.split_once("::").is_some_and(|(root, leaf)| {
            code.match_indices(&format!("{root}::{{")).any(|(at, m)| {
                let group = &code[at + m.len()..];
                let group = &group[..group.find('}').unwrap_or(group.len())];
                group
                    .split(',')
                    .any(|item| item.trim().split("::").next() == Some(leaf))
            })
        })
}

#[test]
fn layers_have_no_cycles_no_upward_imports_and_a_pure_core() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = violations(&sources(&src));
    assert!(
        problems.is_empty(),
        "architecture rules broken:\n{}",
        problems.join("\n")
    );
}

/// The checker itself: a tree with a deliberate upward import, a cycle and an impure core is
/// refused on each count, and the same tree fixed passes. Paths in comments, strings and test
/// modules do not count.
#[test]
fn the_layer_check_catches_deliberate_violations() {
    let tree = |files: &[(&str, &str)]| -> BTreeMap<String, String> {
        files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect()
    };
    let clean = tree(&[
        (
            "forecast/mod.rs",
            "use crate::series::Labels;\n// crate::api in a comment\nfn f() { let _ = \"crate::api\"; }\n#[cfg(test)]\nmod tests { use crate::api::x; }\n",
        ),
        ("series.rs", "pub struct Labels;"),
        (
            "api/mod.rs",
            "use crate::{forecast::{self, Grid}, series::Labels};\nuse tokio::sync::Mutex;",
        ),
    ]);
    assert_eq!(violations(&clean), Vec::<String>::new());

    let broken = tree(&[
        ("forecast/mod.rs", "use crate::series::Labels;\npub mod grid;"),
        ("forecast/grid.rs", "fn g() { super::super::api::serve(); }"),
        ("series.rs", "use crate::{shard::Shard};\npub struct Labels;"),
        ("shard.rs", "use crate::series::Labels;\nuse std::{fs, io};"),
        ("api/mod.rs", "use crate::forecast::Grid;"),
        ("widgets.rs", "pub fn w() {}"),
    ]);
    let problems = violations(&broken);
    let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
    assert!(
        has("forecast/grid.rs: `forecast` (forecasting engine) imports `api` (HTTP API), a higher layer"),
        "{problems:#?}"
    );
    assert!(
        has("import cycle: ") && (has("api -> forecast") || has("forecast -> api")),
        "{problems:#?}"
    );
    assert!(
        has("import cycle: ") && (has("series -> shard") || has("shard -> series")),
        "{problems:#?}"
    );
    assert!(
        has("shard.rs: names `std::fs`, but `shard` is reached from the pure core"),
        "{problems:#?}"
    );
    assert!(has("widgets.rs: module `widgets` is on no layer"), "{problems:#?}");
}

/// Fails when any of `files` mentions any of `forbidden`, saying `why`.
fn assert_never_mentioned(src: &Path, files: &[&str], forbidden: &[&str], why: &str) {
    let all = sources(src);
    for (path, text) in all.iter().filter(|(p, _)| files.iter().any(|f| p.starts_with(f))) {
        let Some(code) = code_of(path, text) else {
            continue;
        };
        for word in forbidden {
            assert!(!names(&code, word), "{path} names `{word}`: {why}");
        }
    }
}

/// Only the binary's entry point and the CLI decide exit codes; library code never exits.
#[test]
fn library_code_never_exits_the_process() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (path, text) in sources(&src) {
        assert!(
            !text.contains("process::exit"),
            "{path} calls process::exit; return an ExitCode instead"
        );
    }
}

/// What the report and the webhooks say is decided by pure code: every rendering, and the
/// diff of recommendations. Sending (SMTP, HTTP) and storing happen elsewhere, so the words
/// and charts are testable without a network, and a delivery outage can never change what is
/// said.
#[test]
fn renderings_and_change_detection_do_no_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert_never_mentioned(
        &src,
        &["report/", "delivery/changes.rs"],
        &[
            "tokio",
            "reqwest",
            "axum",
            "lettre",
            "rusqlite",
            "std::fs",
            "std::net",
            "crate::api",
            "crate::app",
            "crate::source",
            // The state file's row types are plain data; its handle is IO.
            "crate::store::Store",
        ],
        "renderings and change detection stay free of IO",
    );
}

/// Every message leaves through the outbox: only the delivery worker and the CLI's explicit
/// `report --send` talk to SMTP or webhooks, so nothing can skip the durable queue.
#[test]
fn only_the_delivery_module_sends() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (path, text) in sources(&src) {
        if path.starts_with("delivery/") || path == "cli.rs" {
            continue;
        }
        for word in ["webhook::post", ".send_raw(", "mailer.send("] {
            assert!(
                !text.contains(word),
                "{path} sends directly (`{word}`); queue through the outbox instead"
            );
        }
    }
}

/// `anyhow` is for the command line only: every library module returns its own typed error,
/// so callers can tell failures apart and the CLI decides how to word them.
#[test]
fn anyhow_only_in_the_command_line() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (path, text) in sources(&src) {
        if path == "cli.rs" || path == "main.rs" {
            continue;
        }
        let Some(code) = code_of(&path, &text) else {
            continue;
        };
        assert!(
            !names(&code, "anyhow"),
            "{path} uses anyhow; return a typed error (thiserror)"
        );
    }
}

/// No source file grows past 600 lines: past that, a file is doing more than one job.
#[test]
fn no_source_file_over_600_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (path, text) in sources(&src) {
        let lines = text.lines().count();
        assert!(lines <= 600, "{path} has {lines} lines; split it by job (at most 600)");
    }
}

/// The golden documents of the unit tests (every field of every public JSON document, from a
/// fixture) validate against the schemas in `docs/schemas/`, so the schemas and the outputs
/// cannot drift apart. The end-to-end tests validate real outputs against the same schemas.
#[test]
fn golden_documents_match_their_schemas() {
    for name in ["cycle", "recommendations", "budget", "replay"] {
        let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/golden/{name}.json"));
        let document = std::fs::read_to_string(&golden).expect("golden document");
        crate::harness::assert_matches_schema(&format!("docs/schemas/{name}.schema.json"), &document);
    }
}

/// Forecasting never runs on the async runtime's threads: only the planner, the engine and
/// the CSV command call the engine; the cycle and replay call the planner only from their
/// batch functions, and call those only inside `spawn_blocking`. A slow fit then cannot stall
/// `/metrics`.
#[test]
fn forecasting_stays_off_the_async_threads() {
    /// The files that plan entities, and the one function in each that may.
    const PLANNERS: [(&str, &str); 2] = [("app/cycle.rs", "plan_in_batches"), ("app/replay.rs", "plan_moments")];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (path, text) in sources(&src) {
        let Some(code) = code_of(&path, &text) else {
            continue;
        };
        let engine_callers = ["plan/mod.rs", "app/forecast_csv.rs"];
        if !path.starts_with("forecast/") && !path.starts_with("scenario/") && !engine_callers.contains(&path.as_str())
        {
            assert!(
                !code.contains("forecast::forecast("),
                "{path} calls the engine directly; plan through plan::entity on the blocking pool"
            );
        }
        let Some((_, batch_fn)) = PLANNERS.iter().find(|(file, _)| *file == path) else {
            assert!(
                !code.contains("plan::entity("),
                "{path} plans entities outside the cycle and replay"
            );
            continue;
        };
        let definition = format!("fn {batch_fn}(");
        let batch = code.find(&definition).expect("the batch function");
        let batch_end = matching_brace(&code, batch + code[batch..].find('{').expect("body")).expect("end");
        for (at, _) in code.match_indices("plan::entity(") {
            assert!(
                (batch..batch_end).contains(&at),
                "{path} calls plan::entity outside {batch_fn}"
            );
        }
        let call = format!("{batch_fn}(");
        for (at, _) in code.match_indices(&call) {
            if at == batch + "fn ".len() {
                continue;
            }
            let before = &code[..at];
            let blocking = before.rfind("spawn_blocking(").expect("called inside spawn_blocking");
            assert!(
                !before[blocking..].contains(';'),
                "{path} calls {batch_fn} outside spawn_blocking"
            );
        }
    }
}
