//! The replay's renderings on the fixture replay of `test_util`: golden table and JSON, and
//! an HTML page with one chart per entity.

use super::*;
use crate::test_util::{check_golden, replay};

#[test]
fn the_table_lists_each_entity_most_false_hours_saved_first() {
    let table = to_table(&replay());
    check_golden("replay-table.txt", &table);
    let entities: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("disk ") && l.contains("host="))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    // Saved: short 0 (pending is not false), steady 0, flat -5.
    assert_eq!(entities, ["host=short", "host=steady", "host=flat"]);
    assert!(table.contains("disk failed at 1 of 73 moments"), "{table}");
}

#[test]
fn the_json_document_is_as_documented() {
    let document = json::document(&replay());
    assert_eq!(document.moments.len(), 73);
    // Every entity at every moment; at the failed moment (hour 110) none is planned.
    let failed = &document.moments[62];
    assert_eq!(failed.at, 110.0 * 3600.0);
    assert!(
        failed
            .entities
            .iter()
            .all(|e| e.status == "absent" && e.urgency.is_none())
    );
    let steady = failed
        .entities
        .iter()
        .find(|e| e.labels["host"] == "steady")
        .expect("steady");
    assert!(steady.baseline_fires, "the baseline needs no plan");
    assert_eq!(steady.baseline_verdict, Some("true"));
    let text = serde_json::to_string_pretty(&document).expect("json") + "\n";
    check_golden("replay.json", &text);
}

#[test]
fn the_page_has_a_chart_per_entity_inlined() {
    let replay = replay();
    let page = html::render(&replay);
    assert_eq!(page.matches("<img class=\"chart\"").count(), 3, "one chart per entity");
    assert_eq!(page.matches("src=\"data:image/png;base64,iVBORw0KGgo").count(), 3);
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing remote"
    );
    assert!(page.contains("predict_linear((used)[6h:1h], 86400) &gt;= 90.00"));
    let rows = rows(&replay);
    let png = chart::render_png(&replay, rows[1].model, rows[1].entity, "disk host=steady").expect("chart");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    if let Some(dir) = std::env::var_os("HEADROOM_CHART_DIR") {
        std::fs::write(std::path::Path::new(&dir).join("replay-steady.png"), &png).expect("write chart");
    }
}
