//! `detect --plot`: the series, the band the model expected it in (the judgment's own `low` to
//! `high`: `threshold` spreads below what was expected, and `threshold` to `threshold ×
//! rise_factor` spreads above it by the series' burstiness, where the window was judged; on its
//! own a window is anomalous only outside it) and the windows where an episode opened (also
//! those the slow scale found, inside the band), as one SVG.
//!
//! The x axis is the row number, labelled with the rows' timestamps as given, so a series with
//! gaps or irregular timestamps still draws one step per window, as the model saw it.

use std::path::Path;

use plotters::prelude::*;

use super::Row;
use crate::detect::params::ModelParams;

const SIZE: (u32, u32) = (1600, 600);
const BAND: RGBColor = RGBColor(158, 202, 225);
const EXPECTED: RGBColor = RGBColor(49, 130, 189);

/// Draws `rows` of the series `name` into the SVG file `path`.
pub(super) fn draw(path: &Path, name: &str, rows: &[Row], threshold: f64) -> Result<(), String> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let n = rows.len().max(2) as f64;
    // The band's top is left out of the scale: early in a series the spread is wide, and a
    // scale made for it would flatten the series itself.
    let top = rows.iter().map(|r| r.value).fold(0.0, f64::max).max(1.0) * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{name}: clickstream-lambda detect"),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n - 1.0, 0.0..top)
        .map_err(|e| e.to_string())?;
    let label = |x: &f64| {
        let i = x.round().max(0.0) as usize;
        rows.get(i)
            .map_or_else(String::new, |r| r.timestamp.clone())
    };
    chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&label)
        .y_desc("value")
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| e.to_string())?;

    // One band and one expected line per run of judged rows: unjudged rows (the warm-up, too
    // little expected) have no band.
    let mut band_labelled = false;
    for run in judged_runs(rows) {
        let upper = run
            .clone()
            .map(|i| (i as f64, rows[i].judgment.high.min(top)));
        let lower = run
            .clone()
            .rev()
            .map(|i| (i as f64, rows[i].judgment.low.min(top)));
        let polygon = Polygon::new(upper.chain(lower).collect::<Vec<_>>(), BAND.mix(0.6));
        let first = !band_labelled;
        band_labelled = true;
        let drawn = chart
            .draw_series(std::iter::once(polygon))
            .map_err(|e| e.to_string())?;
        if first {
            drawn
                .label(format!(
                    "expected − {threshold} × spread to + {threshold}..{} × spread",
                    threshold * ModelParams::DEFAULT.rise_factor
                ))
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], BAND.filled()));
        }
        let expected = LineSeries::new(
            run.map(|i| (i as f64, rows[i].judgment.expected.min(top))),
            EXPECTED.stroke_width(1),
        );
        let line = chart.draw_series(expected).map_err(|e| e.to_string())?;
        if first {
            line.label("expected")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], EXPECTED));
        }
    }

    chart
        .draw_series(LineSeries::new(
            rows.iter().enumerate().map(|(i, r)| (i as f64, r.value)),
            BLACK.stroke_width(1),
        ))
        .map_err(|e| e.to_string())?
        .label("value")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));

    chart
        .draw_series(
            rows.iter()
                .enumerate()
                .filter(|(_, r)| r.anomaly)
                .map(|(i, r)| Circle::new((i as f64, r.value), 5, RED.stroke_width(2))),
        )
        .map_err(|e| e.to_string())?
        .label("episode opens (reported)")
        .legend(|(x, y)| Circle::new((x + 10, y), 5, RED.stroke_width(2)));

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// The index ranges of consecutive judged rows.
fn judged_runs(rows: &[Row]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, row) in rows.iter().enumerate() {
        match (row.judgment.judged, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push(s..rows.len());
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::super::detect;
    use super::*;
    use crate::detect::settings::DetectSettings;

    #[test]
    fn the_svg_holds_the_series_the_band_and_the_flagged_windows() {
        let mut text = String::from("timestamp,value\n");
        for i in 0..200 {
            let v = match i {
                120 => 500,
                160..=165 => 0,
                _ => 100 + (i * 7) % 11,
            };
            text.push_str(&format!("2015-03-01 {:02}:{:02}:00,{v}\n", i / 60, i % 60));
        }
        let mut rows = Vec::new();
        detect(
            text.as_bytes(),
            &DetectSettings::default(),
            &ModelParams::DEFAULT,
            |r| {
                rows.push(r);
                Ok(())
            },
        )
        .unwrap();
        let flagged = rows.iter().filter(|r| r.anomaly).count();
        assert!(flagged >= 2, "{flagged}");

        let dir = std::env::temp_dir().join(format!("detect-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("series.svg");
        draw(&path, "series.csv", &rows, 5.0).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("series.csv: clickstream-lambda detect"));
        assert!(
            svg.contains("2015-03-01 00:00:00"),
            "the first timestamp labels the axis"
        );
        // The series is one polyline with a point per row; the band is one polygon per judged
        // run; each flagged window is a circle (the legend adds one of its own).
        let longest = svg
            .split("<polyline")
            .skip(1)
            .map(|p| {
                p.split("points=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
            })
            .map(|points| points.split_whitespace().count())
            .max()
            .unwrap();
        assert_eq!(longest, rows.len());
        assert_eq!(svg.matches("<polygon").count(), judged_runs(&rows).len());
        assert_eq!(svg.matches("<circle").count(), flagged + 1);
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split("</text>").next()?.trim()))
            .collect();
        for text in ["value", "expected", "episode opens (reported)"] {
            assert!(texts.contains(&text), "legend {text} not in {texts:?}");
        }
    }

    #[test]
    fn runs_of_judged_rows() {
        let row = |judged| Row {
            timestamp: String::new(),
            value_text: String::new(),
            value: 1.0,
            judgment: crate::detect::model::Judgment {
                expected: 1.0,
                spread: 1.0,
                score: 0.0,
                low: 0.0,
                high: 2.0,
                judged,
                anomalous: false,
            },
            anomaly: false,
        };
        let rows: Vec<Row> = [false, true, true, false, true]
            .into_iter()
            .map(row)
            .collect();
        assert_eq!(judged_runs(&rows), [1..3, 4..5]);
        assert!(judged_runs(&[]).is_empty());
    }
}
