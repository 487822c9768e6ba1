//! PromQL series selectors (`name{label="value", other=~"re.*"}`), for sources that hold
//! samples but no query engine: the file source answers a model's query only when the query
//! is a plain selector, and says so clearly otherwise.

use regex::Regex;

use crate::series::Labels;

/// One label matcher.
#[derive(Clone, Debug)]
pub enum Matcher {
    Equal(String, String),
    NotEqual(String, String),
    Regex(String, Regex),
    NotRegex(String, Regex),
}

/// A parsed selector: a metric name (optional) and matchers.
#[derive(Clone, Debug)]
pub struct Selector {
    pub name: Option<String>,
    pub matchers: Vec<Matcher>,
}

/// Why a query is not a selector the file and scrape sources can evaluate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error(
        "`{0}` is not a plain series selector; this source can only evaluate selectors such as \
         metric{{label=\"value\"}} (write the query against a recording-rule series, or use a Prometheus source)"
    )]
    NotASelector(String),
    #[error("bad regex in `{query}`: {reason}")]
    BadRegex { query: String, reason: String },
}

impl Selector {
    /// Parses a selector; the error says what is expected.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let text = text.trim();
        let unsupported = || SelectorError::NotASelector(text.to_string());
        let (name_part, rest) = match text.find('{') {
            Some(i) => (&text[..i], &text[i..]),
            None => (text, ""),
        };
        let name_part = name_part.trim();
        if !name_part.is_empty()
            && !name_part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(unsupported());
        }
        let mut selector = Selector {
            name: (!name_part.is_empty()).then(|| name_part.to_string()),
            matchers: Vec::new(),
        };
        if !rest.is_empty() {
            let inner = rest
                .strip_prefix('{')
                .and_then(|r| r.strip_suffix('}'))
                .ok_or_else(unsupported)?;
            for (label, op, value) in split_matchers(inner).ok_or_else(unsupported)? {
                if label == "__name__" && op == "=" {
                    selector.name = Some(value);
                    continue;
                }
                let regex = || {
                    Regex::new(&format!("^(?:{value})$")).map_err(|e| SelectorError::BadRegex {
                        query: text.to_string(),
                        reason: e.to_string(),
                    })
                };
                selector.matchers.push(match op.as_str() {
                    "=" => Matcher::Equal(label, value),
                    "!=" => Matcher::NotEqual(label, value),
                    "=~" => Matcher::Regex(label, regex()?),
                    "!~" => Matcher::NotRegex(label, regex()?),
                    _ => return Err(unsupported()),
                });
            }
        }
        if selector.name.is_none() && selector.matchers.is_empty() {
            return Err(unsupported());
        }
        Ok(selector)
    }

    /// Whether a series with `name` and `labels` matches.
    pub fn matches(&self, name: &str, labels: &Labels) -> bool {
        if self.name.as_deref().is_some_and(|n| n != name) {
            return false;
        }
        self.matchers.iter().all(|m| {
            // A missing label matches like the empty string, as in Prometheus.
            let value = |l: &str| labels.get(l).unwrap_or("");
            match m {
                Matcher::Equal(l, v) => value(l) == v,
                Matcher::NotEqual(l, v) => value(l) != v,
                Matcher::Regex(l, r) => r.is_match(value(l)),
                Matcher::NotRegex(l, r) => !r.is_match(value(l)),
            }
        })
    }
}

/// Splits `a="x", b=~"y"` into (label, operator, unescaped value) triples.
fn split_matchers(inner: &str) -> Option<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    let chars: Vec<char> = inner.chars().collect();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && (chars[*i].is_whitespace() || chars[*i] == ',') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= chars.len() {
            return Some(out);
        }
        // A name is classic, or quoted (Prometheus 3: `{"service.name"="x"}`, and a quoted
        // name alone is the metric's: `{"my.metric"}`).
        let label: String = if chars[i] == '"' {
            let mut quoted = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                quoted.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return None;
            }
            i += 1;
            quoted
        } else {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            chars[start..i].iter().collect()
        };
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if !label.is_empty() && (i >= chars.len() || chars[i] == ',') {
            out.push(("__name__".to_string(), "=".to_string(), label));
            continue;
        }
        let op_start = i;
        while i < chars.len() && matches!(chars[i], '=' | '!' | '~') {
            i += 1;
        }
        let op: String = chars[op_start..i].iter().collect();
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let quote = *chars.get(i)?;
        if label.is_empty() || !matches!(quote, '"' | '\'' | '`') {
            return None;
        }
        i += 1;
        let mut value = String::new();
        while i < chars.len() && chars[i] != quote {
            if chars[i] == '\\' && quote != '`' && i + 1 < chars.len() {
                i += 1;
                value.push(match chars[i] {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
            } else {
                value.push(chars[i]);
            }
            i += 1;
        }
        if i >= chars.len() {
            return None;
        }
        i += 1;
        out.push((label, op, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_prometheus() {
        let s =
            Selector::parse(r#"node_filesystem_avail_bytes{fstype!~"tmpfs|overlay", mountpoint="/"}"#).expect("valid");
        let labels = |fs: &str| Labels::new([("fstype", fs), ("mountpoint", "/")]);
        assert!(s.matches("node_filesystem_avail_bytes", &labels("ext4")));
        assert!(!s.matches("node_filesystem_avail_bytes", &labels("tmpfs")));
        assert!(!s.matches("node_filesystem_size_bytes", &labels("ext4")));
        let by_name = Selector::parse(r#"{__name__="up", job="x"}"#).expect("valid");
        assert_eq!(by_name.name.as_deref(), Some("up"));
    }

    #[test]
    fn expressions_are_refused_with_advice() {
        let err = Selector::parse("rate(http_requests_total[5m])").expect_err("not a selector");
        assert!(err.to_string().contains("not a plain series selector"), "{err}");
        assert!(Selector::parse("a - b").is_err());
        assert!(Selector::parse(r#"x{a="unterminated}"#).is_err());
    }

    #[test]
    fn quoted_names_select_prometheus_3_series() {
        let s = Selector::parse(r#"{"k8s.pvc.used", "service.name"="checkout"}"#).expect("valid");
        assert_eq!(s.name.as_deref(), Some("k8s.pvc.used"));
        let labels = Labels::new([("service.name", "checkout")]);
        assert!(s.matches("k8s.pvc.used", &labels));
        assert!(!s.matches("k8s.pvc.used", &Labels::new([("service.name", "cart")])));
    }
}
