//! `[replay.baseline]` in the config: the `predict_linear` rule `headroom replay` compares
//! Headroom with.
//!
//! ```toml
//! [replay.baseline]
//! window = "6h"    # the line is fitted on this much recent history
//! ahead = "24h"    # and fires when, this far ahead, it is past the model's threshold
//! ```

use super::problems::Table;
use crate::replay::baseline::BaselineRule;

/// Reads `[replay]`; problems are recorded in the document, and defaults stand in for bad
/// values.
pub fn parse(mut table: Table<'_>) -> BaselineRule {
    let defaults = BaselineRule::default();
    let mut baseline = table.table("baseline");
    let window = baseline
        .parsed("window", "a duration such as 6h")
        .unwrap_or(defaults.window);
    let ahead = baseline
        .parsed("ahead", "a duration such as 24h")
        .unwrap_or(defaults.ahead);
    baseline.finish();
    table.finish();
    BaselineRule { window, ahead }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::config::Config;
    use crate::duration::PromDuration;

    const SOURCE: &str = "[source]\nurl = \"http://127.0.0.1:9090\"\n";

    fn load(text: &str) -> Result<Config, crate::config::problems::Problems> {
        Config::from_text("headroom.toml", text, Path::new("/etc/headroom"), &BTreeMap::new())
    }

    #[test]
    fn the_baseline_defaults_to_the_node_mixin_rule_and_can_be_changed() {
        let config = load(SOURCE).expect("valid");
        assert_eq!(config.replay_baseline.window, PromDuration::from_secs(6 * 3600));
        assert_eq!(config.replay_baseline.ahead, PromDuration::from_secs(86_400));
        let config = load(&format!(
            "{SOURCE}\n[replay.baseline]\nwindow = \"12h\"\nahead = \"4h\"\n"
        ))
        .expect("valid");
        assert_eq!(config.replay_baseline.window, PromDuration::from_secs(12 * 3600));
        assert_eq!(config.replay_baseline.ahead, PromDuration::from_secs(4 * 3600));
    }

    #[test]
    fn every_problem_of_the_baseline_is_named_with_its_line() {
        let text =
            format!("{SOURCE}\n[replay]\nkind = 1\n\n[replay.baseline]\nwindow = \"soon\"\nahead = 24\nfor = \"1h\"\n");
        let problems: Vec<String> = load(&text)
            .expect_err("invalid")
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("headroom.toml:8: replay.baseline.window: invalid duration")),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with(
                "headroom.toml:9: replay.baseline.ahead: expected a duration such as 24h, found the number 24"
            )),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p
                    .starts_with("headroom.toml:10: replay.baseline.for: unknown key; valid keys here: ahead, window")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("headroom.toml:5: replay.kind: unknown key")),
            "{problems:#?}"
        );
    }
}
