//! Webhook bodies and their delivery: Headroom's versioned JSON (docs/webhooks.md) or a Slack
//! Block Kit message, signed with HMAC-SHA256 over `timestamp.body`.
//!
//! The signature travels in `X-Headroom-Signature: t=<unix seconds>,v1=<hex>`, computed at each
//! attempt (so a receiver can refuse stale replays); `X-Headroom-Delivery` carries the message's
//! unique key, the same on every retry, for receivers that want to deduplicate.

use ring::hmac;

use super::Attempt;
use super::changes::{Change, ChangeKind};
use crate::config::Secret;
use crate::config::delivery::{WebhookConfig, WebhookFormat};
use crate::format;

/// The `schema_version` of the JSON payload; bumped only for changes that break readers.
pub const SCHEMA_VERSION: u32 = 1;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Headroom-Signature";
/// Header carrying the message's unique key.
pub const DELIVERY_HEADER: &str = "X-Headroom-Delivery";

/// Most changes listed in one Slack message (Block Kit allows 50 blocks).
const SLACK_MAX_CHANGES: usize = 20;

/// The body for `hook` announcing `changes`, identified by `id`.
pub fn body(format: WebhookFormat, id: &str, generated_at: f64, source: &str, changes: &[Change<'_>]) -> Vec<u8> {
    let value = match format {
        WebhookFormat::Json => json_payload(id, generated_at, source, changes),
        WebhookFormat::Slack => slack_payload(changes),
    };
    serde_json::to_vec(&value).unwrap_or_default()
}

/// Headroom's JSON payload (schema version 1).
pub fn json_payload(id: &str, generated_at: f64, source: &str, changes: &[Change<'_>]) -> serde_json::Value {
    let events: Vec<serde_json::Value> = changes
        .iter()
        .map(|change| {
            let entity = change.entity;
            let recommendation = entity.and_then(|e| e.recommendation.as_ref());
            serde_json::json!({
                "kind": change.kind.name(),
                "model": change.model,
                "unit": change.unit,
                "entity": entity.map(|e| serde_json::to_value(&e.labels).unwrap_or_default()),
                "entity_key": change.current.entity,
                "team": entity.and_then(|e| e.team.clone()),
                "urgency": change.current.urgency,
                "previous_urgency": change.previous.as_ref().map(|p| p.urgency.clone()),
                "exhaustion": {
                    "likely": change.current.likely,
                    "earliest": change.current.earliest,
                },
                "previous_exhaustion": change.previous.as_ref().map(|p| serde_json::json!({
                    "likely": p.likely,
                    "earliest": p.earliest,
                })),
                "order_by": change.current.order_by,
                "current": entity.and_then(|e| e.current),
                "capacity": entity.and_then(|e| e.capacity),
                "threshold": entity.and_then(|e| e.threshold),
                "binding": entity.and_then(|e| e.binding.clone()),
                "summary": summary(change),
                "recommendation": recommendation.map(crate::report::json::recommendation),
            })
        })
        .collect();
    serde_json::json!({
        "schema_version": SCHEMA_VERSION,
        "type": "headroom.recommendation_changes",
        "id": id,
        "generated_at": generated_at,
        "source": source,
        "events": events,
    })
}

/// One line saying what happened, for people.
pub fn summary(change: &Change<'_>) -> String {
    let date = |at: Option<f64>| at.map(format::time).unwrap_or_else(|| "beyond the horizon".into());
    let what = format!("{} {}", change.model, change.current.entity);
    match change.kind {
        ChangeKind::NewRisk => format!(
            "{what} is at risk ({}): likely exhausted {}, earliest {}",
            change.current.urgency,
            date(change.current.likely),
            date(change.current.earliest)
        ),
        ChangeKind::UrgencyUp | ChangeKind::UrgencyDown => format!(
            "{what}: urgency {} → {}; likely exhausted {}",
            change.previous.as_ref().map_or("ok", |p| p.urgency.as_str()),
            change.current.urgency,
            date(change.current.likely)
        ),
        ChangeKind::DateMoved => format!(
            "{what}: likely exhaustion moved from {} to {}",
            date(change.previous.as_ref().and_then(|p| p.likely)),
            date(change.current.likely)
        ),
        ChangeKind::RiskCleared => match change.entity {
            Some(_) => format!("{what}: risk cleared, no crossing expected within the horizon"),
            None => format!("{what}: risk cleared, the entity is no longer reported"),
        },
    }
}

/// A Slack incoming-webhook message: a header, one section per change, a footer.
pub fn slack_payload(changes: &[Change<'_>]) -> serde_json::Value {
    let mut blocks = vec![serde_json::json!({
        "type": "header",
        "text": {"type": "plain_text", "text": format!("Headroom: {} capacity change(s)", changes.len())},
    })];
    for change in changes.iter().take(SLACK_MAX_CHANGES) {
        let icon = match (change.kind, change.current.urgency.as_str()) {
            (ChangeKind::RiskCleared, _) | (ChangeKind::UrgencyDown, _) => ":white_check_mark:",
            (_, "critical") => ":red_circle:",
            _ => ":large_orange_circle:",
        };
        let mut text = format!(
            "{icon} *{}* {}",
            slack_escape(change.kind.name()),
            slack_escape(&summary(change))
        );
        if let Some(first) = change
            .entity
            .and_then(|e| e.recommendation.as_ref())
            .and_then(|r| r.justification.first())
        {
            text.push_str(&format!("\n_{}_", slack_escape(first)));
        }
        blocks.push(serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    if changes.len() > SLACK_MAX_CHANGES {
        blocks.push(serde_json::json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("…and {} more; see /api/v1/recommendations", changes.len() - SLACK_MAX_CHANGES)}],
        }));
    }
    let fallback: Vec<String> = changes.iter().take(5).map(summary).collect();
    serde_json::json!({ "text": fallback.join("\n"), "blocks": blocks })
}

/// Slack's three control characters, escaped.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The signature header's value for `body` sent at `timestamp`.
pub fn signature(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let tag = context.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Posts `body` to `hook` once and says what to do next.
pub async fn post(client: &reqwest::Client, hook: &WebhookConfig, delivery_id: &str, body: &[u8]) -> Attempt {
    let url = match reqwest::Url::parse(hook.url.expose()) {
        Ok(url) => url,
        Err(_) => return Attempt::Permanent(format!("webhook {}: the URL is not valid", hook.name)),
    };
    let timestamp = chrono::Utc::now().timestamp();
    let mut request = client
        .post(url)
        .timeout(hook.timeout.as_std())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(DELIVERY_HEADER, delivery_id)
        .body(body.to_vec());
    if let Some(secret) = &hook.secret {
        request = request.header(SIGNATURE_HEADER, signature(secret, timestamp, body));
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                Attempt::Delivered
            } else {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| crate::net::retry_after(v, crate::clock::unix_now()));
                let text = response.text().await.unwrap_or_default();
                let detail = format!(
                    "webhook {} answered {status}: {}",
                    hook.name,
                    text.chars().take(200).collect::<String>()
                );
                if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
                    Attempt::Retry {
                        error: detail,
                        retry_after,
                    }
                } else {
                    Attempt::Permanent(detail)
                }
            }
        }
        // Connection refused, reset, timeout: the receiver may come back.
        Err(error) => Attempt::Retry {
            // The URL can hold a token: name the hook, never print the URL.
            error: format!(
                "webhook {}: {}",
                hook.name,
                crate::net::error_chain(&error.without_url())
            ),
            retry_after: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cleared(host: &str) -> Change<'static> {
        let state = crate::store::risks::RiskState {
            key: format!("disk{{host=\"{host}\"}}"),
            model: "disk".into(),
            entity: format!("{{host=\"{host}\"}}"),
            urgency: "ok".into(),
            likely: None,
            earliest: None,
            order_by: None,
        };
        Change {
            kind: ChangeKind::RiskCleared,
            model: "disk",
            unit: "bytes",
            previous: Some(crate::store::risks::RiskState {
                urgency: "warning".into(),
                ..state.clone()
            }),
            current: state,
            entity: None,
        }
    }

    #[test]
    fn a_slack_message_is_block_kit_with_a_fallback_and_a_bounded_length() {
        let changes: Vec<Change<'_>> = (0..25).map(|i| cleared(&format!("h<{i}>"))).collect();
        let body: serde_json::Value =
            serde_json::from_slice(&body(WebhookFormat::Slack, "id", 0.0, "src", &changes)).expect("JSON");
        let blocks = body["blocks"].as_array().expect("blocks");
        assert_eq!(blocks[0]["type"], "header");
        // A header, 20 sections, and a context line for the other 5: under Slack's 50 blocks.
        assert_eq!(blocks.len(), 22);
        assert!(
            blocks[21]["elements"][0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("5 more"))
        );
        let section = blocks[1]["text"]["text"].as_str().expect("section text");
        assert!(
            section.contains("risk cleared") && section.contains("h&lt;0&gt;"),
            "{section}"
        );
        assert!(body["text"].as_str().is_some_and(|t| t.lines().count() == 5));
    }

    #[test]
    fn the_json_payload_names_the_change_and_the_previous_state() {
        let payload = json_payload("changes-1", 10.0, "src", &[cleared("a")]);
        assert_eq!(payload["schema_version"], 1);
        let event = &payload["events"][0];
        assert_eq!(event["kind"], "risk_cleared");
        assert_eq!(event["previous_urgency"], "warning");
        assert!(event["entity"].is_null(), "a vanished entity has no labels");
        assert!(
            event["summary"]
                .as_str()
                .is_some_and(|s| s.contains("no longer reported"))
        );
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Reference value from: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret
        let value = signature(&Secret::new("s3cret"), 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            value,
            "t=1700000000,v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
        );
    }
}
