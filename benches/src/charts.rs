//! Hand-written SVG charts (grouped horizontal bars): no plotting crate, no fonts needed
//! at build time; viewers render the text with their own sans-serif font.

use std::fmt::Write as _;

/// Series colours, in [`crate::clients::Driver::ALL`] order, then the raw floor.
pub const COLORS: [&str; 5] = ["#1b9e77", "#66a61e", "#d95f02", "#7570b3", "#888888"];

pub struct Chart<'a> {
    pub title: &'a str,
    /// Axis label, e.g. "MB/s (log scale)".
    pub unit: &'a str,
    pub log: bool,
    /// One group of bars per category.
    pub categories: Vec<String>,
    /// Series names (legend) and colours.
    pub series: Vec<(&'a str, &'a str)>,
    /// `values[category][series]`; `None` draws no bar.
    pub values: Vec<Vec<Option<f64>>>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn fmt_value(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

impl Chart<'_> {
    pub fn svg(&self) -> String {
        let bar_h = 12.0;
        let group_gap = 14.0;
        let left = 230.0;
        let plot_w = 560.0;
        let right_pad = 70.0;
        let top = 50.0;
        let nser = self.series.len() as f64;
        let group_h = nser * bar_h + group_gap;
        let plot_h = group_h * self.categories.len() as f64;
        let legend_h = 18.0 * self.series.len() as f64 + 10.0;
        let width = left + plot_w + right_pad;
        let height = top + plot_h + 40.0 + legend_h;
        let all: Vec<f64> = self
            .values
            .iter()
            .flatten()
            .flatten()
            .copied()
            .filter(|v| *v > 0.0)
            .collect();
        let max = all.iter().cloned().fold(f64::MIN, f64::max).max(1e-9);
        let min = all.iter().cloned().fold(f64::MAX, f64::min).min(max);
        // Log scale: from the decade below the smallest value to the decade above the largest.
        let (lo, hi) = if self.log {
            (
                min.log10().floor(),
                max.log10().ceil().max(min.log10().floor() + 1.0),
            )
        } else {
            (0.0, max * 1.05)
        };
        let x = |v: f64| -> f64 {
            let t = if self.log {
                (v.max(10f64.powf(lo)).log10() - lo) / (hi - lo)
            } else {
                v / hi
            };
            left + t * plot_w
        };
        let mut s = String::new();
        writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
        )
        .unwrap();
        writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#).unwrap();
        writeln!(
            s,
            r#"<text x="{}" y="22" font-size="14" font-weight="bold" text-anchor="middle">{}</text>"#,
            width / 2.0,
            esc(self.title)
        )
        .unwrap();
        // Grid and tick labels.
        let ticks: Vec<f64> = if self.log {
            (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect()
        } else {
            let step = nice_step(hi / 5.0);
            (0..)
                .map(|i| i as f64 * step)
                .take_while(|v| *v <= hi)
                .collect()
        };
        for t in ticks {
            let tx = x(t);
            writeln!(
                s,
                r##"<line x1="{tx:.1}" y1="{top}" x2="{tx:.1}" y2="{:.1}" stroke="#ddd"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#444">{}</text>"##,
                top + plot_h,
                top + plot_h + 14.0,
                fmt_value(t)
            )
            .unwrap();
        }
        writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            left + plot_w / 2.0,
            top + plot_h + 30.0,
            esc(self.unit)
        )
        .unwrap();
        for (ci, cat) in self.categories.iter().enumerate() {
            let gy = top + ci as f64 * group_h;
            writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                left - 8.0,
                gy + nser * bar_h / 2.0 + 4.0,
                esc(cat)
            )
            .unwrap();
            for (si, (_, color)) in self.series.iter().enumerate() {
                let Some(v) = self.values[ci][si] else {
                    continue;
                };
                let y = gy + si as f64 * bar_h;
                let w = (x(v) - left).max(1.0);
                writeln!(
                    s,
                    r##"<rect x="{left}" y="{y:.1}" width="{w:.1}" height="{:.1}" fill="{color}"/><text x="{:.1}" y="{:.1}" fill="#222" font-size="10">{}</text>"##,
                    bar_h - 2.0,
                    left + w + 3.0,
                    y + bar_h - 3.0,
                    fmt_value(v)
                )
                .unwrap();
            }
        }
        let ly = top + plot_h + 44.0;
        for (si, (name, color)) in self.series.iter().enumerate() {
            let y = ly + si as f64 * 18.0;
            writeln!(
                s,
                r#"<rect x="{left}" y="{y:.1}" width="14" height="12" fill="{color}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                left + 20.0,
                y + 10.0,
                esc(name)
            )
            .unwrap();
        }
        s.push_str("</svg>\n");
        s
    }
}

fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let n = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    n * mag
}

/// Writes `charts/<name>.svg` under the benchmarks crate; returns the path relative to the
/// repository root (for links in BENCHMARKS.md).
pub fn write(name: &str, chart: &Chart) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("charts");
    std::fs::create_dir_all(&dir).expect("create charts dir");
    std::fs::write(dir.join(format!("{name}.svg")), chart.svg()).expect("write chart");
    format!("benches/charts/{name}.svg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_value_and_escaped_text() {
        let chart = Chart {
            title: "a < b",
            unit: "MB/s",
            log: true,
            categories: vec!["t1".into(), "t2".into()],
            series: vec![("x", COLORS[0]), ("y & z", COLORS[1])],
            values: vec![vec![Some(1.5), None], vec![Some(20.0), Some(300.0)]],
        };
        let svg = chart.svg();
        // 3 bars + 2 legend swatches + the background.
        assert_eq!(svg.matches("<rect").count(), 6);
        assert!(svg.contains("a &lt; b") && svg.contains("y &amp; z"));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
}
