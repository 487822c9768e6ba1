//! Entity label names as `/metrics` writes them, so that no name a source sends can make the
//! page unparsable.
//!
//! Since Prometheus 3 any UTF-8 string is a valid label name (OpenTelemetry sends
//! `service.name`, `k8s.namespace.name`), and a query layer passes them on. A scraper that did
//! not ask for UTF-8 names (Prometheus 2, Prometheus 3 without `escaping=allow-utf-8`,
//! promtool, most tools) reads only `[a-zA-Z_][a-zA-Z0-9_]*`: one such name unquoted breaks the
//! whole page, every exhaustion series and Headroom's own health with it.
//!
//! The rule, documented in `docs/metrics.md`:
//! - for classic scrapers, a name that is not a classic name is escaped as Prometheus' own
//!   `underscores` scheme does: every character outside `[a-zA-Z0-9_]` becomes `_`, and a
//!   leading digit gets a `_` in front (`service.name` → `service_name`);
//! - for a scraper that negotiated UTF-8 names, the name is kept and quoted
//!   (`"service.name"="checkout"`), as the Prometheus 3 text formats write it;
//! - a name that would clash with one of Headroom's own labels or with another of the
//!   entity's labels gets `exported_` in front, as many times as needed.

use std::collections::BTreeSet;

/// How label names are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameStyle {
    /// Classic names only (escaped).
    Classic,
    /// UTF-8 names, quoted when they are not classic.
    Utf8,
}

/// Whether `name` is a classic Prometheus label name.
pub fn is_classic(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `name` escaped to a classic name (`underscores`).
fn escaped(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// `name` quoted for a UTF-8 scraper, with `\` and `"` escaped.
fn quoted(name: &str) -> String {
    format!(
        "\"{}\"",
        name.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
    )
}

/// The names under which an entity's labels are written, in the entity's order. `reserved`
/// are Headroom's own label names on the same series.
pub fn exposed_names(names: &[&str], reserved: &[&str], style: NameStyle) -> Vec<String> {
    // Names kept as they are take precedence; escaped ones step aside.
    let mut taken: BTreeSet<String> = reserved.iter().map(|r| r.to_string()).collect();
    taken.extend(
        names
            .iter()
            .filter(|n| is_classic(n) && !reserved.contains(n))
            .map(|n| n.to_string()),
    );
    names
        .iter()
        .map(|&name| {
            let plain = is_classic(name) && !reserved.contains(&name);
            if plain {
                return name.to_string();
            }
            if style == NameStyle::Utf8 && !is_classic(name) && !taken.contains(name) {
                taken.insert(name.to_string());
                return quoted(name);
            }
            let mut candidate = if is_classic(name) {
                name.to_string()
            } else {
                escaped(name)
            };
            while taken.contains(&candidate) || reserved.contains(&candidate.as_str()) {
                candidate = format!("exported_{candidate}");
            }
            taken.insert(candidate.clone());
            candidate
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESERVED: [&str; 2] = ["model", "status"];

    fn names(list: &[&str], style: NameStyle) -> Vec<String> {
        exposed_names(list, &RESERVED, style)
    }

    #[test]
    fn opentelemetry_names_are_escaped_for_classic_scrapers() {
        assert_eq!(
            names(&["k8s.namespace.name", "service.name", "instance"], NameStyle::Classic),
            ["k8s_namespace_name", "service_name", "instance"]
        );
        assert_eq!(
            names(&["2xx", "ünïcode", ""], NameStyle::Classic),
            ["_2xx", "_n_code", "_"]
        );
    }

    #[test]
    fn an_escaped_name_never_takes_an_existing_one() {
        // `service_name` is the entity's own label; the dotted one steps aside.
        assert_eq!(
            names(&["service.name", "service_name", "model"], NameStyle::Classic),
            ["exported_service_name", "service_name", "exported_model"]
        );
        // Two names escaping alike stay apart.
        assert_eq!(names(&["a.b", "a-b"], NameStyle::Classic), ["a_b", "exported_a_b"]);
    }

    #[test]
    fn utf8_scrapers_get_the_names_quoted() {
        assert_eq!(
            names(&["service.name", "instance", "model", "say \"hi\""], NameStyle::Utf8),
            ["\"service.name\"", "instance", "exported_model", "\"say \\\"hi\\\"\""]
        );
        assert!(is_classic("a_b1") && !is_classic("1a") && !is_classic("a.b"));
    }
}
