//! Fitness functions: architecture rules checked on the source tree.

use std::path::Path;

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The forecasting core, the exhaustion maths and the recommendation maths are pure: no IO, no async, no knowledge of
/// sources, HTTP, metrics or where results go. That keeps them testable on plain vectors,
/// usable offline (`headroom forecast`), and safe to run on a blocking pool.
#[test]
fn the_forecasting_core_knows_nothing_of_io_or_delivery() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = rust_files(&src.join("forecast"));
    files.extend(rust_files(&src.join("recommend")));
    files.extend(rust_files(&src.join("scenario")));
    let forbidden = [
        "tokio",
        "reqwest",
        "axum",
        "prometheus_client",
        "std::fs",
        "std::net",
        "std::process",
        "crate::source",
        "crate::api",
        "crate::api::metrics",
        "crate::app::daemon",
        "crate::cycle",
        "crate::config",
        "crate::cli",
        "tracing",
    ];
    assert_never_mentioned(&files, &forbidden, "the forecasting core must stay pure");
}

/// Fails when any of `files` mentions any of `forbidden`, saying `why`.
fn assert_never_mentioned(files: &[std::path::PathBuf], forbidden: &[&str], why: &str) {
    for file in files {
        let text = std::fs::read_to_string(file).expect("read source");
        for word in forbidden {
            assert!(!text.contains(word), "{} mentions `{word}`: {why}", file.display());
        }
    }
}

/// Only the binary's entry point and the CLI decide exit codes; library code never exits.
#[test]
fn library_code_never_exits_the_process() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for file in rust_files(&src) {
        let text = std::fs::read_to_string(&file).expect("read source");
        assert!(
            !text.contains("process::exit"),
            "{} calls process::exit; return an ExitCode instead",
            file.display()
        );
    }
}

/// What the report and the webhooks say is decided by pure code: the weekly report's content
/// and rendering, and the diff of recommendations. Sending (SMTP, HTTP) and storing happen
/// elsewhere, so the words and charts are testable without a network, and a delivery outage
/// can never change what is said.
#[test]
fn report_content_and_change_detection_do_no_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = [
        src.join("report/weekly/mod.rs"),
        src.join("report/weekly/html.rs"),
        src.join("report/weekly/text.rs"),
        src.join("report/weekly/chart.rs"),
        src.join("report/weekly/schedule.rs"),
        src.join("delivery/changes.rs"),
    ];
    let forbidden = [
        "tokio",
        "reqwest",
        "axum",
        "lettre",
        "rusqlite",
        "std::fs",
        "std::net",
        "crate::api",
        "crate::app::daemon",
        "crate::source",
        "crate::store::Store",
    ];
    assert_never_mentioned(
        &files,
        &forbidden,
        "report content and change detection stay free of IO",
    );
}

/// Every message leaves through the outbox: only the delivery worker and the CLI's explicit
/// `report --send` talk to SMTP or webhooks, so nothing can skip the durable queue.
#[test]
fn only_the_delivery_module_sends() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for file in rust_files(&src) {
        let relative = file
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .to_string();
        if relative.starts_with("delivery/") || relative == "cli.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        for word in ["webhook::post", ".send_raw(", "mailer.send("] {
            assert!(
                !text.contains(word),
                "{relative} sends directly (`{word}`); queue through the outbox instead"
            );
        }
    }
}
