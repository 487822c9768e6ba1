//! Starting and stopping the real components, and running the `headroom` binary.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What to run when a component is missing.
const SETUP_HINT: &str = "install the test components with `scripts/install-test-deps.sh` (Debian: apt-get install --no-install-recommends prometheus)";

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Fails the test with setup advice when `binary` is not on PATH.
pub fn require(binary: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(binary).is_file()))
        .unwrap_or(false);
    assert!(found, "`{binary}` is not installed: {SETUP_HINT}");
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// A minimal HTTP/1.0 GET on loopback: (status, body). No client library, no proxy surprises.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_request(port, "GET", path)
}

/// A minimal HTTP/1.0 POST with no body on loopback: (status, body).
pub fn http_post(port: u16, path: &str) -> Option<(u16, String)> {
    http_request(port, "POST", path)
}

fn http_request(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    http_request_with(port, method, path, &[])
}

/// A GET with extra request headers (`("Authorization", "Bearer ...")`).
pub fn http_get_with(port: u16, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    http_request_with(port, "GET", path, headers)
}

/// A request with a body on loopback: (status, body).
pub fn http_request_body(port: u16, method: &str, path: &str, body: &[u8]) -> Option<(u16, String)> {
    http_send(port, method, path, &[], body)
}

/// A request with extra headers and a body on loopback: (status, body).
pub fn http_send(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .ok()?;
    stream.write_all(body).ok()?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).ok()?;
    let response = String::from_utf8_lossy(&bytes).into_owned();
    let (head, rest) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, rest.to_string()))
}

fn http_request_with(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(70))).ok()?;
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).ok()?;
    // Binary bodies (PNG) come back lossily decoded; tests only look at their start.
    let response = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// A process killed when dropped.
pub struct Process {
    child: Child,
    name: String,
}

impl Process {
    pub fn spawn(name: &str, command: &mut Command) -> Process {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}; {SETUP_HINT}"));
        Process {
            child,
            name: name.to_string(),
        }
    }

    /// Stops the process (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The OS process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its standard output, when spawned with `Stdio::piped()`.
    pub fn take_stdout(&mut self) -> std::process::ChildStdout {
        self.child.stdout.take().expect("standard output was not piped")
    }

    /// The exit status, once it has exited.
    pub fn try_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Prometheus server with backfilled history, in its own temporary directory.
pub struct Prometheus {
    pub port: u16,
    process: Option<Process>,
    dir: tempfile::TempDir,
    /// Extra command-line flags (`--query.timeout=1ms`), used at every (re)start.
    pub flags: Vec<String>,
}

impl Prometheus {
    /// Backfills `openmetrics` (OpenMetrics text with second timestamps, ending in `# EOF`)
    /// and starts Prometheus on a free loopback port.
    pub fn start_with_history(openmetrics: &str) -> Prometheus {
        Prometheus::start_with_history_and_config(openmetrics, "global:\n  scrape_interval: 15s\n", &[])
    }

    /// [`Prometheus::start_with_history`] with its own `prometheus.yml` and extra files (rule
    /// files) written beside it.
    pub fn start_with_history_and_config(openmetrics: &str, config: &str, files: &[(&str, String)]) -> Prometheus {
        Prometheus::start_with(openmetrics, config, files, &[])
    }

    /// [`Prometheus::start_with_history`] with extra command-line `flags`.
    pub fn start_with_history_and_flags(openmetrics: &str, flags: &[&str]) -> Prometheus {
        Prometheus::start_with(openmetrics, "global:\n  scrape_interval: 15s\n", &[], flags)
    }

    fn start_with(openmetrics: &str, config: &str, files: &[(&str, String)], flags: &[&str]) -> Prometheus {
        require("prometheus");
        require("promtool");
        let dir = tempfile::tempdir().expect("temp dir");
        let input = dir.path().join("history.om");
        std::fs::write(&input, openmetrics).expect("write history");
        let data = dir.path().join("data");
        // The hidden --max-block-duration flag keeps promtool from re-reading the input once per
        // 2-hour block (minutes instead of seconds); see docs/testing.md.
        let output = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=486h"])
            .arg(&input)
            .arg(&data)
            .output()
            .expect("run promtool");
        assert!(
            output.status.success(),
            "promtool backfill failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("write config");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write a Prometheus file");
        }
        let mut prometheus = Prometheus {
            port: free_port(),
            process: None,
            dir,
            flags: flags.iter().map(|f| f.to_string()).collect(),
        };
        prometheus.start();
        prometheus
    }

    /// Starts (or restarts) the server on its port, over the same data.
    pub fn start(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("prometheus.log")).expect("log file");
        let process = Process::spawn(
            "prometheus",
            Command::new("prometheus")
                .arg(format!(
                    "--config.file={}",
                    self.dir.path().join("prometheus.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    self.dir.path().join("data").display()
                ))
                // The default 15-day retention deletes backfilled blocks at startup.
                .arg("--storage.tsdb.retention.time=3650d")
                .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
                .args(&self.flags)
                .stdout(Stdio::null())
                .stderr(log),
        );
        self.process = Some(process);
        let port = self.port;
        wait_until("Prometheus to be ready", Duration::from_secs(30), || {
            http_get(port, "/-/ready").is_some_and(|(status, _)| status == 200)
        });
    }

    /// Stops the server (SIGKILL), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A VictoriaMetrics single-node server (Debian's `victoria-metrics`) with imported history,
/// in its own temporary directory.
pub struct VictoriaMetrics {
    pub port: u16,
    _process: Process,
    _dir: tempfile::TempDir,
}

impl VictoriaMetrics {
    /// Imports `openmetrics` (second timestamps, as for promtool) through
    /// `/api/v1/import/prometheus` and waits until it is searchable.
    pub fn start_with_history(openmetrics: &str) -> VictoriaMetrics {
        require("victoria-metrics");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("vm.log")).expect("log");
        let process = Process::spawn(
            "victoria-metrics",
            Command::new("victoria-metrics")
                .arg(format!("-storageDataPath={}", dir.path().join("data").display()))
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                // The default retention is one month: older imported rows are dropped silently.
                .arg("-retentionPeriod=100y")
                // The default hides the last 30 s behind the previous value.
                .arg("-search.latencyOffset=1s")
                .arg("-loggerLevel=WARN")
                .stdout(Stdio::null())
                .stderr(log),
        );
        wait_until("VictoriaMetrics to be ready", Duration::from_secs(30), || {
            http_get(port, "/health").is_some_and(|(status, _)| status == 200)
        });
        // Prometheus text with millisecond timestamps.
        let mut text = String::with_capacity(openmetrics.len() + openmetrics.len() / 8);
        let mut series = std::collections::BTreeSet::new();
        for line in openmetrics.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            if let Some((rest, ts)) = line.rsplit_once(' ') {
                let ms = (ts.parse::<f64>().expect("timestamp") * 1000.0).round() as i64;
                text.push_str(&format!("{rest} {ms}\n"));
                series.insert(rest.rsplit_once(' ').map(|(s, _)| s.to_string()).unwrap_or_default());
            }
        }
        let (status, body) = http_request_body(port, "POST", "/api/v1/import/prometheus", text.as_bytes())
            .expect("import into VictoriaMetrics");
        assert_eq!(status, 204, "import: {body}");
        let _ = http_get(port, "/internal/force_flush");
        let expected = series.len();
        wait_until("imported series to be searchable", Duration::from_secs(30), || {
            http_get(port, "/api/v1/series/count").is_some_and(|(_, body)| {
                serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|j| j["data"][0].as_u64())
                    .is_some_and(|n| n as usize >= expected)
            })
        });
        let (_, metrics) = http_get(port, "/metrics").expect("VictoriaMetrics metrics");
        let ignored: f64 = metrics
            .lines()
            .filter(|l| l.starts_with("vm_rows_ignored_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert_eq!(ignored, 0.0, "VictoriaMetrics dropped imported rows");
        VictoriaMetrics {
            port,
            _process: process,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A Headroom config reading `url`, with models in `models/` beside it and `extra` TOML
/// (sections such as `[schedule]` or `[[scenarios]]`) appended.
pub fn config_for(url: &str, extra: &str) -> String {
    format!("[source]\nurl = \"{url}\"\ntimeout = \"10s\"\n\n[models]\ndir = \"models\"\n\n{extra}")
}

/// A temporary Headroom setup: a config file and a models directory.
pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    /// Writes `config` as headroom.toml and each `(file, text)` into models/.
    pub fn new(config: &str, models: &[(&str, &str)]) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("headroom.toml"), config).expect("write config");
        std::fs::create_dir(dir.path().join("models")).expect("models dir");
        for (file, text) in models {
            std::fs::write(dir.path().join("models").join(file), text).expect("write model");
        }
        Setup { dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("headroom.toml")
    }
}

/// The `headroom` binary under test.
pub fn headroom() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_headroom"));
    command.env_remove("HEADROOM_CONFIG").env("RUST_LOG", "headroom=info");
    command
}

/// Starts `headroom run` with a setup's config on a free loopback port, logging to a file in
/// the setup's directory: (process, port, log path).
pub fn start_daemon(setup: &Setup) -> (Process, u16, PathBuf) {
    start_daemon_with(setup, free_port(), &[])
}

/// [`start_daemon`] on `port`, with extra environment variables; the log is appended to, so a
/// restarted daemon's log follows the first one's.
pub fn start_daemon_with(setup: &Setup, port: u16, env: &[(&str, &str)]) -> (Process, u16, PathBuf) {
    let log = setup.dir.path().join("headroom.log");
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .expect("log file");
    let process = Process::spawn(
        "headroom run",
        headroom()
            .envs(env.iter().copied())
            .args([
                "run",
                "--config",
                setup.config().to_str().expect("utf-8"),
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stderr(log_file),
    );
    (process, port, log)
}

/// Runs `headroom` with `args` and returns its output.
pub fn run_headroom(args: &[&str]) -> Output {
    headroom().args(args).output().expect("run headroom")
}

/// Runs `command` with `input` on its standard input; returns its output.
pub fn run_with_stdin(command: &mut Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start command");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write standard input");
    child.wait_with_output().expect("command output")
}

/// `headroom once --format json --at AT` with a setup's config.
pub fn once_json(setup: &Setup, at: u64) -> Output {
    once_json_with(setup, at, &[])
}

/// [`once_json`] with more arguments (`--scenario NAME`).
pub fn once_json_with(setup: &Setup, at: u64, extra: &[&str]) -> Output {
    let config = setup.config();
    let at = at.to_string();
    let mut args = vec![
        "once",
        "--config",
        config.to_str().expect("utf-8"),
        "--format",
        "json",
        "--at",
        &at,
    ];
    args.extend_from_slice(extra);
    run_headroom(&args)
}

/// A history window of `days` at `step` seconds ending on the step grid just before now:
/// `(start, end, points)` in Unix seconds.
pub fn recent_window(days: u64, step: u64) -> (u64, u64, u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let end = now / step * step;
    let points = days * 86_400 / step;
    (end - (points - 1) * step, end, points)
}

/// Pipes `text` into `promtool check metrics`; returns (exit code, output).
pub fn promtool_check_metrics(text: &str) -> (i32, String) {
    require("promtool");
    let output = run_with_stdin(Command::new("promtool").args(["check", "metrics"]), text);
    let mut all = String::from_utf8_lossy(&output.stdout).to_string();
    all.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), all)
}

/// Reads a file the test wrote, for failure messages.
pub fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A real receiver on loopback, run from `tests/support`: the SMTP server (aiosmtpd) or the
/// webhook receiver (Python's http.server). Messages are saved as files in its directory.
pub struct Receiver {
    pub port: u16,
    pub dir: tempfile::TempDir,
    script: &'static str,
    extra: Vec<String>,
    process: Option<Process>,
}

/// The interpreter with Debian's python3-aiosmtpd (a pyenv python3 on PATH may lack it).
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

impl Receiver {
    /// An SMTP server, not started yet (so a test can start it late).
    pub fn smtp() -> Receiver {
        Receiver::new("smtp_sink.py", Vec::new())
    }

    /// An SMTP server with extra options (`--cert`, `--key`, `--smtps`, `--auth`), not started yet.
    pub fn smtp_with(options: &[&str]) -> Receiver {
        Receiver::new("smtp_sink.py", options.iter().map(|o| o.to_string()).collect())
    }

    /// A fake Prometheus API whose behaviour is read from `mode_file` at each request (see
    /// `tests/support/fake_prometheus.py`), not started yet.
    pub fn fake_prometheus(mode_file: &Path) -> Receiver {
        Receiver::new(
            "fake_prometheus.py",
            vec!["--mode-file".into(), mode_file.display().to_string()],
        )
    }

    /// A webhook receiver answering `status`, not started yet.
    pub fn webhook(status: u16) -> Receiver {
        Receiver::new("webhook_receiver.py", vec!["--status".into(), status.to_string()])
    }

    fn new(script: &'static str, extra: Vec<String>) -> Receiver {
        Receiver {
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            script,
            extra,
            process: None,
        }
    }

    /// Starts the receiver and waits until it listens.
    pub fn start(&mut self) -> &mut Receiver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/support")
            .join(self.script);
        let out = self.dir.path().join("out");
        let log = std::fs::File::create(self.dir.path().join("receiver.log")).expect("log");
        let process = Process::spawn(
            self.script,
            Command::new(SYSTEM_PYTHON)
                .arg(&script)
                .args(["--port", &self.port.to_string(), "--dir"])
                .arg(&out)
                .args(&self.extra)
                .stdout(Stdio::null())
                .stderr(log),
        );
        self.process = Some(process);
        let port = self.port;
        wait_until("a test receiver to listen", Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        self
    }

    /// The files saved so far with extension `ext` (`eml` or `json`), in arrival order.
    pub fn saved(&self, ext: &str) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("out"))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == ext))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// The receiver's own log, for failure messages.
    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("receiver.log"))
    }
}

/// `tests/support/mail_summary.py` on a saved email: its parts, HTML checks and texts.
pub fn mail_summary(eml: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/mail_summary.py");
    let output = Command::new(SYSTEM_PYTHON)
        .arg(script)
        .arg(eml)
        .output()
        .expect("run mail_summary.py");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("summary JSON")
}

/// The value of the first sample of `name` whose labels contain every `labels` pair, from
/// Prometheus text exposition.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|line| labels.iter().all(|(k, v)| line.contains(&format!("{k}=\"{v}\""))))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Validates the JSON `document` against the schema file `schema` (relative to the project
/// root) with Debian's python3-jsonschema; fails naming every error.
pub fn assert_matches_schema(schema: &str, document: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("document.json");
    std::fs::write(&path, document).expect("write document");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("/usr/bin/python3")
        .arg(root.join("tests/support/validate_json.py"))
        .arg(root.join(schema))
        .arg(&path)
        .output()
        .expect("run validate_json.py");
    assert!(
        output.status.success(),
        "document does not match {schema}:\n{}{}\n{document}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
