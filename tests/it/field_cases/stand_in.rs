//! A stand-in for the Prometheus query API, in the test: a loopback listener on its own thread
//! that answers `query_range` with JSON the test computes and records every request's
//! parameters.
//!
//! It is used only for answers a real server cannot give on demand: NaN and infinite samples of
//! a ratio rule, a federated query layer that lost a store (Thanos' `warnings`,
//! VictoriaMetrics cluster's `isPartial`), a series that vanishes from one answer to the next,
//! and label names a Prometheus 2 cannot store.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request's decoded query parameters.
pub type Params = HashMap<String, String>;

/// What the test answers a `query_range` with: the request's parameters and how many
/// `query_range` requests came before it; returns (HTTP status, JSON body).
pub type Answer = dyn Fn(&Params, usize) -> (u16, String) + Send + Sync;

pub struct StandIn {
    pub port: u16,
    requests: Arc<Mutex<Vec<(String, Params)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StandIn {
    pub fn start(answer: impl Fn(&Params, usize) -> (u16, String) + Send + Sync + 'static) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stand-in");
        let port = listener.local_addr().expect("address").port();
        let requests: Arc<Mutex<Vec<(String, Params)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let answer: Arc<Answer> = Arc::new(answer);
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &requests, &*answer);
                    }
                }
            })
        };
        StandIn {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The parameters of every `query_range` request so far.
    pub fn range_requests(&self) -> Vec<Params> {
        self.requests
            .lock()
            .expect("requests")
            .iter()
            .filter(|(path, _)| path.ends_with("/api/v1/query_range"))
            .map(|(_, params)| params.clone())
            .collect()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<(String, Params)>>, answer: &Answer) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut content_length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut body = vec![0u8; content_length];
    let _ = std::io::Read::read_exact(&mut reader, &mut body);
    let mut params = decode(query);
    params.extend(decode(&String::from_utf8_lossy(&body)));
    let (status, json) = if path.ends_with("/api/v1/query_range") {
        let mut log = requests.lock().expect("requests");
        let before = log.iter().filter(|(p, _)| p.ends_with("/api/v1/query_range")).count();
        log.push((path.to_string(), params.clone()));
        drop(log);
        answer(&params, before)
    } else {
        requests.lock().expect("requests").push((path.to_string(), params));
        (
            404,
            format!("{{\"status\":\"error\",\"errorType\":\"not_found\",\"error\":\"{path}\"}}"),
        )
    };
    let reason = if status == 200 { "OK" } else { "Error" };
    let mut stream = &stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
    let _ = stream.flush();
}

/// `a=1&b=x%20y` into a map (`+` is a space).
fn decode(text: &str) -> Params {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 2;
            }
            (byte, _) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The request's grid: `start`, `end` and `step` as Prometheus reads them, the timestamps from
/// `start` to `end`.
pub fn grid(params: &Params) -> Vec<f64> {
    let number = |key: &str| -> f64 {
        params
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("query_range without a numeric {key}: {params:?}"))
    };
    let (start, end, step) = (number("start"), number("end"), number("step"));
    let points = ((end - start) / step).floor() as usize + 1;
    (0..points).map(|i| start + i as f64 * step).collect()
}

/// A matrix answer: each series as (labels, [(t, value text)]), plus extra top-level fields
/// (`"warnings": [...]`, `"isPartial": true`).
pub fn matrix(series: &[(serde_json::Value, Vec<(f64, String)>)], extra: serde_json::Value) -> String {
    let result: Vec<serde_json::Value> = series
        .iter()
        .map(|(metric, values)| {
            serde_json::json!({
                "metric": metric,
                "values": values.iter().map(|(t, v)| serde_json::json!([t, v])).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut body = serde_json::json!({
        "status": "success",
        "data": {"resultType": "matrix", "result": result},
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body.to_string()
}

/// A sample value as the query API writes it.
pub fn api_value(value: f64) -> String {
    match value {
        v if v.is_nan() => "NaN".into(),
        v if v == f64::INFINITY => "+Inf".into(),
        v if v == f64::NEG_INFINITY => "-Inf".into(),
        v => format!("{v}"),
    }
}
