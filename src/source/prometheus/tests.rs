use super::*;

#[test]
fn parses_nan_inf_and_fractional_timestamps() {
    let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"__name__":"x","instance":"a"},"values":[[1700000000.123,"1.5"],[1700000300,"NaN"],[1700000600,"+Inf"]]}]}}"#;
    let series = parse_response("http://p/", "x", 200, body).expect("valid");
    assert_eq!(series[0].labels.get("__name__"), None);
    assert_eq!(series[0].labels.get("instance"), Some("a"));
    assert_eq!(series[0].samples[0].timestamp, 1_700_000_000.123);
    assert!(series[0].samples[1].value.is_nan());
    assert_eq!(series[0].samples[2].value, f64::INFINITY);
}

#[test]
fn errors_carry_the_servers_message() {
    let body = br#"{"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries"}"#;
    let err = parse_response("http://p/", "up", 400, body).expect_err("error");
    let text = err.to_string();
    assert!(
        text.contains("bad_data") && text.contains("11,000") && text.contains("`up`"),
        "{text}"
    );
    let proxy = parse_response("http://p/", "up", 502, b"<html>Bad Gateway</html>").expect_err("error");
    assert!(proxy.source_down());
    assert_eq!(proxy.kind(), "http");
    let garbage = parse_response("http://p/", "up", 200, b"{\"status\":").expect_err("error");
    assert_eq!(garbage.kind(), "malformed");
}

/// The bodies Prometheus, Thanos, Mimir, Cortex and VictoriaMetrics send with their errors
/// (their sources' error writers): the status decides, the body only explains.
#[test]
fn error_answers_are_judged_by_status_first() {
    let cases: [(u16, &str, bool, &str); 7] = [
        // Prometheus' query timeout.
        (
            503,
            r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#,
            true,
            "timeout",
        ),
        // Thanos Query with a store unavailable and partial responses off.
        (
            500,
            r#"{"status":"error","errorType":"internal","error":"receive series from store: rpc error: code = Unavailable"}"#,
            true,
            "internal",
        ),
        // Mimir's per-tenant limit, and Cortex's queue full as plain text.
        (
            429,
            r#"{"status":"error","errorType":"too_many_requests","error":"the query hit the max number of chunks limit"}"#,
            true,
            "too_many_requests",
        ),
        (429, "too many outstanding requests", true, "too many outstanding"),
        // The query's own fault: bad PromQL (Prometheus), too many points (VictoriaMetrics).
        (
            400,
            r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
            false,
            "bad_data",
        ),
        (
            422,
            r#"{"status":"error","errorType":"422","error":"too many points"}"#,
            false,
            "too many points",
        ),
        (404, "404 page not found", false, "404 page not found"),
    ];
    for (status, body, down, said) in cases {
        let error = parse_response("http://p/", "up", status, body.as_bytes()).expect_err("an error");
        assert_eq!(error.source_down(), down, "{status} {body}: {error}");
        assert_eq!(
            error.kind(),
            if down || !body.starts_with('{') {
                "http"
            } else {
                "query"
            },
            "{error}"
        );
        assert!(error.to_string().contains(said), "{error}");
        assert_eq!(retry_delay(&error, 1).is_some(), down, "{error}");
    }
    // Refused credentials (an expired token), with the API's JSON error or a proxy's page: the
    // source is down until they are fixed; retrying within the cycle changes nothing.
    for (status, body) in [
        (
            401,
            r#"{"status":"error","errorType":"unauthorized","error":"token expired"}"#,
        ),
        (403, "Forbidden"),
    ] {
        let error = parse_response("http://p/", "up", status, body.as_bytes()).expect_err("an error");
        assert!(error.source_down(), "{error}");
        assert_eq!(error.kind(), "http", "{error}");
        assert_eq!(retry_delay(&error, 1), None, "{error}");
    }
}

#[test]
fn retry_after_is_honoured_up_to_a_bound() {
    let asked = |seconds: u64| SourceError::Http {
        url: "u".into(),
        query: "q".into(),
        status: 429,
        message: String::new(),
        retry_after: Some(Duration::from_secs(seconds)),
    };
    assert_eq!(retry_delay(&asked(5), 1), Some(Duration::from_secs(5)));
    assert!(retry_delay(&asked(0), 1).is_some_and(|d| d >= FIRST_BACKOFF));
    assert_eq!(retry_delay(&asked(3600), 1), None, "not waited for inside a cycle");
}

#[test]
fn the_chunk_reader_hands_chunks_to_the_parser_and_stops_on_a_failed_download() {
    let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"instance":"a"},"values":[[1700000000,"1.5"],[1700000300,"2"]]}]}}"#;
    let send = |pieces: Vec<Result<bytes::Bytes, String>>| {
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let feeder = std::thread::spawn(move || {
            for piece in pieces {
                let _ = sender.blocking_send(piece);
            }
        });
        let parsed = response::read(ChunkReader::new(receiver), &|_| true);
        feeder.join().expect("feeder");
        parsed
    };
    let pieces = body.chunks(5).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    let series = send(pieces)
        .expect("parsed")
        .into_series("u", "q", 200)
        .expect("a matrix");
    assert_eq!(series[0].samples.len(), 2);
    let failed = vec![
        Ok(bytes::Bytes::copy_from_slice(&body[..40])),
        Err("connection reset".to_string()),
    ];
    let err = send(failed).expect_err("a failed download");
    assert!(err.to_string().contains("connection reset"), "{err}");
}

#[test]
fn basic_auth_encoding() {
    assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
    assert_eq!(base64_encode(b"a"), "YQ==");
    assert_eq!(format_time(1_700_000_000.0), "1700000000");
    assert_eq!(format_time(300.5), "300.5");
}
