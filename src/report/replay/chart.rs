//! One PNG chart per replayed entity, in three bands on one time axis:
//!
//! 1. the usage with its threshold, the replayed span shaded;
//! 2. the moments each side alerted, coloured by verdict (true, false, pending);
//! 3. Headroom's likely and earliest crossing dates as they evolved over the moments, against
//!    the actual crossing that followed each moment.
//!
//! PNG with the embedded font, like the weekly report's charts, so `replay.html` is one
//! self-contained file that looks the same everywhere.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::format::number;
use crate::replay::judge::Verdict;
use crate::replay::{EntityReplay, ModelReplay, MomentPlan, Replay};
use crate::report::weekly::chart::{ChartError, FONT, encode, font_ready, legend, min_max};

pub const WIDTH: u32 = 900;
pub const HEIGHT: u32 = 470;
const DAY: f64 = 86_400.0;
/// Most crossing dates drawn past the end of the span (a 90-day horizon would squeeze the rest).
const DATES_UP_TO: f64 = 45.0 * DAY;

const HEADROOM_BLUE: RGBColor = RGBColor(31, 99, 181);
const BASELINE_ORANGE: RGBColor = RGBColor(230, 120, 0);
const THRESHOLD_RED: RGBColor = RGBColor(200, 30, 30);
const TRUE_GREEN: RGBColor = RGBColor(46, 160, 67);
const FALSE_RED: RGBColor = RGBColor(214, 39, 40);
const PENDING_GREY: RGBColor = RGBColor(160, 160, 160);
const INK: RGBColor = RGBColor(40, 40, 40);

/// Renders the chart of `entity` as a PNG file's bytes.
pub fn render_png(
    replay: &Replay,
    model: &ModelReplay,
    entity: &EntityReplay,
    title: &str,
) -> Result<Vec<u8>, ChartError> {
    if !font_ready() {
        return Err(ChartError::Font);
    }
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw(replay, model, entity, title, &mut rgb).map_err(|e| ChartError::Draw {
        title: title.to_string(),
        reason: e.to_string(),
    })?;
    encode(&rgb, WIDTH, HEIGHT)
}

fn day_label(t: &f64) -> String {
    chrono::DateTime::from_timestamp(*t as i64, 0)
        .map(|t| t.format("%d %b").to_string())
        .unwrap_or_default()
}

fn verdict_colour(verdict: Verdict) -> RGBColor {
    match verdict {
        Verdict::True => TRUE_GREEN,
        Verdict::False => FALSE_RED,
        Verdict::Pending => PENDING_GREY,
    }
}

fn draw<'a>(
    replay: &Replay,
    model: &ModelReplay,
    entity: &EntityReplay,
    title: &str,
    rgb: &'a mut [u8],
) -> Result<(), Box<dyn std::error::Error + 'a>> {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 15))?;
    let (usage_area, rest) = root.split_vertically(220);
    let (strip_area, dates_area) = rest.split_vertically(78);
    let truth = &entity.truth;
    let x0 = replay.from - DAY;
    let x1 = (replay.to + 2.0 * DAY)
        .min(truth.known_until.max(replay.to))
        .max(replay.to + replay.every);
    let x_range = x0..x1;

    // 1. Usage and threshold.
    let shown: Vec<(f64, f64)> = truth
        .samples
        .iter()
        .copied()
        .filter(|(t, _)| (x0..=x1).contains(t))
        .collect();
    let thresholds: Vec<(f64, f64)> = shown
        .iter()
        .filter_map(|(t, _)| truth.threshold.at(*t).map(|v| (*t, v)))
        .collect();
    let (lo, hi) = min_max(shown.iter().chain(&thresholds).map(|(_, v)| *v)).unwrap_or((0.0, 1.0));
    let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.01).max(1e-9);
    let mut usage = ChartBuilder::on(&usage_area)
        .margin_left(8)
        .margin_right(16)
        .margin_top(4)
        .x_label_area_size(20)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range.clone(), (lo - pad)..(hi + pad))?;
    usage
        .configure_mesh()
        .x_labels(9)
        .y_labels(5)
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(220, 220, 220))
        .x_label_formatter(&day_label)
        .y_label_formatter(&|y| number(*y))
        .y_desc(model.unit.as_str())
        .label_style((FONT, 11))
        .draw()?;
    usage.draw_series(std::iter::once(Rectangle::new(
        [(replay.from, lo - pad), (replay.to, hi + pad)],
        RGBColor(31, 99, 181).mix(0.06).filled(),
    )))?;
    usage
        .draw_series(LineSeries::new(shown.iter().copied(), INK.stroke_width(1)))?
        .label("usage")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], INK.stroke_width(2)));
    usage
        .draw_series(LineSeries::new(
            thresholds.iter().copied(),
            THRESHOLD_RED.stroke_width(2),
        ))?
        .label("threshold")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], THRESHOLD_RED.stroke_width(2)));
    usage
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font((FONT, 11))
        .draw()?;

    // 2. The moments each side alerted, by verdict.
    let mut strip = ChartBuilder::on(&strip_area)
        .margin_left(8)
        .margin_right(16)
        .margin_top(6)
        .x_label_area_size(16)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range.clone(), 0.0..2.0)?;
    strip
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(9)
        .x_label_formatter(&day_label)
        .light_line_style(RGBColor(245, 245, 245))
        .label_style((FONT, 10))
        .draw()?;
    let mut cells = Vec::new();
    for (index, &at) in replay.moments.iter().enumerate() {
        let rows = [
            (model.headroom_verdict(entity, at, index), 1.1, 1.9),
            (model.baseline_verdict(entity, at, index), 0.1, 0.9),
        ];
        for (verdict, y0, y1) in rows {
            if let Some(verdict) = verdict {
                cells.push(Rectangle::new(
                    [(at, y0), (at + replay.every, y1)],
                    verdict_colour(verdict).filled(),
                ));
            }
        }
    }
    strip.draw_series(cells)?;
    let label_font = (FONT, 11).into_font().color(&INK);
    // Each row's name in the day before the span, which no alert can cover.
    for (text, y, colour) in [("Headroom", 1.5, HEADROOM_BLUE), ("baseline", 0.5, BASELINE_ORANGE)] {
        let style = (FONT, 12)
            .into_font()
            .color(&colour)
            .pos(Pos::new(HPos::Left, VPos::Center));
        strip.draw_series(std::iter::once(Text::new(text, (x0 + DAY * 0.05, y), style)))?;
    }
    let mut legend_x = WIDTH as i32 - 250;
    for (text, colour) in [("true", TRUE_GREEN), ("false", FALSE_RED), ("pending", PENDING_GREY)] {
        strip_area.draw(&Rectangle::new([(legend_x, 0), (legend_x + 10, 10)], colour.filled()))?;
        strip_area.draw(&Text::new(text, (legend_x + 14, -1), label_font.clone()))?;
        legend_x += 70;
    }

    // 3. Headroom's crossing dates over the moments, against the actual crossing.
    let dated = |date: fn(&MomentPlan) -> Option<f64>| -> Vec<(f64, Option<f64>)> {
        replay
            .moments
            .iter()
            .zip(&entity.plans)
            .map(|(&at, plan)| (at, plan.as_ref().and_then(date)))
            .collect()
    };
    let likely = dated(|p| p.likely);
    let earliest = dated(|p| p.earliest);
    let actual: Vec<(f64, Option<f64>)> = replay
        .moments
        .iter()
        .map(|&at| (at, truth.first_past_after(at)))
        .collect();
    let limit = replay.to + DATES_UP_TO;
    let values = likely
        .iter()
        .chain(&earliest)
        .chain(&actual)
        .filter_map(|(_, v)| *v)
        .filter(|v| *v <= limit);
    let (d0, d1) = min_max(values.chain([replay.from, replay.to])).unwrap_or((replay.from, replay.to));
    let dpad = ((d1 - d0) * 0.08).max(DAY / 2.0);
    let mut dates = ChartBuilder::on(&dates_area)
        .margin_left(8)
        .margin_right(16)
        .margin_top(6)
        .margin_bottom(4)
        .x_label_area_size(20)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range, (d0 - dpad)..(d1 + dpad))?;
    dates
        .configure_mesh()
        .x_labels(9)
        .y_labels(5)
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(220, 220, 220))
        .x_label_formatter(&day_label)
        .y_label_formatter(&day_label)
        .y_desc("crossing date")
        .label_style((FONT, 11))
        .draw()?;
    let within = |points: &[(f64, Option<f64>)]| -> Vec<Vec<(f64, f64)>> {
        // Unbroken runs of dates within the drawn range.
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for &(at, value) in points {
            match value.filter(|v| *v <= limit) {
                Some(v) => runs.last_mut().map_or((), |run| run.push((at, v))),
                None => runs.push(Vec::new()),
            }
        }
        runs.retain(|run| !run.is_empty());
        runs
    };
    type Dated<'p> = &'p [(f64, Option<f64>)];
    let series: [(Dated<'_>, &str, ShapeStyle); 3] = [
        (&actual, "actual crossing", INK.stroke_width(2)),
        (
            &earliest,
            "earliest (Headroom)",
            HEADROOM_BLUE.mix(0.45).stroke_width(1),
        ),
        (&likely, "likely (Headroom)", HEADROOM_BLUE.stroke_width(2)),
    ];
    for (points, label, style) in series {
        let runs = within(points);
        for (i, run) in runs.iter().enumerate() {
            let drawn = dates.draw_series(LineSeries::new(run.iter().copied(), style).point_size(1))?;
            if i == 0 {
                drawn
                    .label(label)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], style));
            }
        }
    }
    if likely.iter().chain(&actual).all(|(_, v)| v.is_none()) {
        // In the chart's own coordinates: the area's pixels start below the panels above.
        dates.draw_series(std::iter::once(Text::new(
            "no crossing predicted by Headroom or seen in the data",
            (replay.from, (d0 + d1) / 2.0),
            label_font,
        )))?;
    } else {
        legend(&mut dates, SeriesLabelPosition::UpperRight)?;
    }
    root.present()?;
    Ok(())
}
