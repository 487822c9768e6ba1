//! One PNG chart per at-risk entity: history, forecast with its 80 % and 95 % bands, the
//! threshold, and the exhaustion markers.
//!
//! PNG, not SVG: mail clients (Gmail, Outlook) do not show SVG, and remote images are blocked
//! by default, so the charts travel inside the email as inline parts referenced by
//! Content-ID. Text is drawn with an embedded font (DejaVu Sans), so rendering needs no system
//! font library and looks the same everywhere.

use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::ChartData;
use crate::format::number;

/// Chart size in pixels.
pub const WIDTH: u32 = 720;
pub const HEIGHT: u32 = 300;

const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

fn font_ready() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok())
}

/// Why a chart could not be drawn.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChartError {
    #[error("the embedded chart font could not be loaded")]
    Font,
    #[error("drawing the chart of {title}: {reason}")]
    Draw { title: String, reason: String },
    #[error("encoding the chart as PNG: {0}")]
    Encode(String),
}

/// Renders `chart` as a PNG file's bytes.
pub fn render_png(chart: &ChartData) -> Result<Vec<u8>, ChartError> {
    if !font_ready() {
        return Err(ChartError::Font);
    }
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw(chart, &mut rgb).map_err(|e| ChartError::Draw {
        title: chart.title.clone(),
        reason: e.to_string(),
    })?;
    encode(&rgb)
}

fn draw<'a>(chart: &ChartData, rgb: &'a mut [u8]) -> Result<(), Box<dyn std::error::Error + 'a>> {
    let chart = &visible(chart);
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let (x_range, y_range) = ranges(chart);
    let mut context = ChartBuilder::on(&root)
        .margin(8)
        .caption(&chart.title, (FONT, 15))
        .x_label_area_size(24)
        .y_label_area_size(64)
        .build_cartesian_2d(x_range.clone(), y_range.clone())?;
    context
        .configure_mesh()
        .x_labels(7)
        .y_labels(5)
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_label_formatter(&|x| {
            chrono::DateTime::from_timestamp(*x as i64, 0)
                .map(|t| t.format("%d %b").to_string())
                .unwrap_or_default()
        })
        .y_label_formatter(&|y| number(*y))
        .y_desc(chart.unit.as_str())
        .label_style((FONT, 11))
        .draw()?;
    let band = |upper: fn(&crate::forecast::PathPoint) -> f64, lower: fn(&crate::forecast::PathPoint) -> f64| {
        let mut points: Vec<(f64, f64)> = chart.forecast.iter().map(|p| (p.timestamp, upper(p))).collect();
        points.extend(chart.forecast.iter().rev().map(|p| (p.timestamp, lower(p))));
        points
    };
    let forecast_blue = RGBColor(31, 99, 181);
    if !chart.forecast.is_empty() {
        context
            .draw_series(std::iter::once(Polygon::new(
                band(|p| p.upper_95, |p| p.lower_95),
                forecast_blue.mix(0.13).filled(),
            )))?
            .label("95 % interval")
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], forecast_blue.mix(0.13).filled()));
        context
            .draw_series(std::iter::once(Polygon::new(
                band(|p| p.upper_80, |p| p.lower_80),
                forecast_blue.mix(0.28).filled(),
            )))?
            .label("80 % interval")
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], forecast_blue.mix(0.28).filled()));
    }
    context
        .draw_series(LineSeries::new(
            chart.history.iter().copied(),
            RGBColor(40, 40, 40).stroke_width(2),
        ))?
        .label("history")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], RGBColor(40, 40, 40).stroke_width(2)));
    context
        .draw_series(LineSeries::new(
            chart.forecast.iter().map(|p| (p.timestamp, p.mean)),
            forecast_blue.stroke_width(2),
        ))?
        .label("forecast")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], forecast_blue.stroke_width(2)));
    let red = RGBColor(200, 30, 30);
    if let Some(threshold) = chart.threshold {
        context
            .draw_series(LineSeries::new(
                [(x_range.start, threshold), (x_range.end, threshold)],
                red.stroke_width(1),
            ))?
            .label("threshold")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], red));
    }
    if let Some(likely) = chart.likely {
        context
            .draw_series(LineSeries::new(
                [(likely, y_range.start), (likely, y_range.end)],
                red.stroke_width(2),
            ))?
            .label(format!("likely exhaustion {}", day(likely)))
            .legend(move |(x, y)| PathElement::new([(x + 7, y - 6), (x + 7, y + 6)], red.stroke_width(2)));
    }
    if let Some(earliest) = chart.earliest.filter(|e| Some(*e) != chart.likely) {
        let orange = RGBColor(230, 120, 0);
        context
            .draw_series(DashedLineSeries::new(
                [(earliest, y_range.start), (earliest, y_range.end)],
                5,
                4,
                orange.stroke_width(1),
            ))?
            .label(format!("earliest {}", day(earliest)))
            .legend(move |(x, y)| PathElement::new([(x + 7, y - 6), (x + 7, y + 6)], orange));
    }
    context
        .configure_series_labels()
        .position(legend_corner(chart))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font((FONT, 11))
        .draw()?;
    root.present()?;
    Ok(())
}

/// The part worth drawing: the forecast up to a week past the exhaustion markers (or two
/// weeks past the last sample), not a 90-day horizon that squeezes the history into a corner.
fn visible(chart: &ChartData) -> ChartData {
    let last = chart
        .history
        .last()
        .map(|(t, _)| *t)
        .or_else(|| chart.forecast.first().map(|p| p.timestamp))
        .unwrap_or(0.0);
    let marker = chart
        .likely
        .into_iter()
        .chain(chart.earliest)
        .fold(f64::NEG_INFINITY, f64::max);
    let end = (last + 14.0 * 86_400.0).max(marker + 7.0 * 86_400.0);
    ChartData {
        forecast: chart.forecast.iter().filter(|p| p.timestamp <= end).copied().collect(),
        ..chart.clone()
    }
}

/// The upper corner the data leaves free: rising data leaves the upper left, falling data the
/// upper right.
fn legend_corner(chart: &ChartData) -> SeriesLabelPosition {
    let first = chart.history.first().map(|(_, v)| *v);
    let last = chart
        .forecast
        .last()
        .map(|p| p.mean)
        .or(chart.history.last().map(|(_, v)| *v));
    match (first, last) {
        (Some(a), Some(b)) if b < a => SeriesLabelPosition::UpperRight,
        _ => SeriesLabelPosition::UpperLeft,
    }
}

/// The time and value ranges that hold everything drawn, with a little air.
fn ranges(chart: &ChartData) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let times = chart
        .history
        .iter()
        .map(|(t, _)| *t)
        .chain(chart.forecast.iter().map(|p| p.timestamp));
    let (mut t0, mut t1) = min_max(times).unwrap_or((0.0, 1.0));
    if t1 <= t0 {
        t1 = t0 + 86_400.0;
        t0 -= 86_400.0;
    }
    let values = chart
        .history
        .iter()
        .map(|(_, v)| *v)
        .chain(chart.forecast.iter().flat_map(|p| [p.lower_95, p.upper_95, p.mean]))
        .chain(chart.threshold);
    let (v0, v1) = min_max(values).unwrap_or((0.0, 1.0));
    let pad = ((v1 - v0) * 0.06).max(v1.abs() * 0.01).max(1e-9);
    (t0..t1, (v0 - pad)..(v1 + pad))
}

fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn day(at: f64) -> String {
    chrono::DateTime::from_timestamp(at as i64, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// RGB pixels to PNG.
fn encode(rgb: &[u8]) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| ChartError::Encode(e.to_string()))?;
        writer
            .write_image_data(rgb)
            .map_err(|e| ChartError::Encode(e.to_string()))?;
    }
    Ok(out)
}
