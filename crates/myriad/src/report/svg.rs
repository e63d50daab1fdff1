//! Charts as inline SVG, generated here rather than by a JavaScript charting
//! library: the HTML report then needs no script at all, opens offline in any
//! browser, prints, and is a pure function of the report (a test can read the
//! numbers back out of it). Each chart is a few line or step series on linear
//! or logarithmic axes with round-numbered ticks; every point carries a
//! `<title>` so hovering shows its value.

use std::fmt::Write;

/// Plot area and margins, in SVG user units.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 86.0;
const RIGHT: f64 = 34.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 36.0;

/// Colours of the series, in order (distinguishable, also in greyscale print).
pub(crate) const PALETTE: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

/// How an axis maps values and labels its ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scale {
    /// Linear from zero (or the smallest value, when negative).
    Linear,
    /// Base-10 logarithmic; values at or below zero are not drawn.
    Log,
    /// The percentile spectrum's axis: a value is `-log10(1 - q)`, so 90%,
    /// 99%, 99.9% are evenly spaced, as HdrHistogram plots it.
    Percentile,
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub name: String,
    /// `(x, y)` in axis units (for [`Scale::Percentile`], x is the
    /// percentile as a fraction, e.g. 0.99).
    pub points: Vec<(f64, f64)>,
}

/// A chart: title, axes, series.
#[derive(Debug, Clone)]
pub(crate) struct Chart {
    /// An identifier for the figure, unique in the page (`id` attribute).
    pub id: &'static str,
    pub title: String,
    pub x_scale: Scale,
    pub y_scale: Scale,
    pub x_label: String,
    /// Formats a y value for ticks and hover text.
    pub y_format: fn(f64) -> String,
    /// Formats an x value for hover text (ticks of a linear x axis too).
    pub x_format: fn(f64) -> String,
    pub series: Vec<Series>,
}

fn esc(s: &str) -> String {
    super::html::escape(s)
}

/// Where a value lies on an axis, before scaling to pixels.
fn project(scale: Scale, v: f64) -> Option<f64> {
    match scale {
        Scale::Linear => Some(v),
        Scale::Log => (v > 0.0).then(|| v.log10()),
        Scale::Percentile => (v < 1.0).then(|| -(1.0 - v).log10()),
    }
}

/// Round tick values covering `[lo, hi]` (already projected), and the
/// projected range the axis spans.
fn ticks(scale: Scale, lo: f64, hi: f64) -> (Vec<f64>, f64, f64) {
    match scale {
        Scale::Linear => {
            // A flat series (all zero errors, say) still gets a few round ticks.
            let (lo, hi) = if hi > lo {
                (lo.min(0.0), hi)
            } else if hi > 0.0 {
                (0.0, hi * 1.25)
            } else {
                (lo.min(0.0), 5.0)
            };
            let step = nice_step((hi - lo) / 5.0);
            let top = (hi / step).ceil() * step;
            let bottom = (lo / step).floor() * step;
            let n = ((top - bottom) / step).round() as usize;
            let values = (0..=n).map(|i| bottom + step * i as f64).collect();
            (values, bottom, top)
        }
        Scale::Log => {
            let (bottom, top) = (lo.floor(), hi.ceil().max(lo.floor() + 1.0));
            let values = (bottom as i32..=top as i32).map(f64::from).collect();
            (values, bottom, top)
        }
        Scale::Percentile => {
            let top = hi.ceil().max(1.0);
            let values = (0..=top as i32).map(f64::from).collect();
            (values, 0.0, top)
        }
    }
}

/// 1, 2 or 5 times a power of ten, at least `rough`.
fn nice_step(rough: f64) -> f64 {
    if rough <= 0.0 || !rough.is_finite() {
        return 1.0;
    }
    let pow = 10f64.powf(rough.log10().floor());
    let f = rough / pow;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * pow
}

/// The label of a tick at projected position `t`.
fn tick_label(scale: Scale, t: f64, format: fn(f64) -> String) -> String {
    match scale {
        Scale::Linear => format(t),
        Scale::Log => format(10f64.powf(t)),
        Scale::Percentile => percentile_label(1.0 - 10f64.powf(-t)),
    }
}

/// `0%`, `90%`, `99%`, `99.9%`, …
pub(crate) fn percentile_label(q: f64) -> String {
    let p = q * 100.0;
    if p < 1e-9 {
        return "0%".to_string();
    }
    let mut decimals = 0;
    while decimals < 6
        && ((p * 10f64.powi(decimals)).round() / 10f64.powi(decimals) - p).abs() > 1e-9
    {
        decimals += 1;
    }
    format!("{p:.*}%", decimals as usize)
}

impl Chart {
    /// The chart as an `<svg>` element; a note instead when it has no data.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<figure class="chart" id="{id}"><figcaption>{title}</figcaption>"#,
            id = self.id,
            title = esc(&self.title)
        );
        let projected: Vec<Vec<(f64, f64, f64, f64)>> = self
            .series
            .iter()
            .map(|s| {
                s.points
                    .iter()
                    .filter_map(|&(x, y)| {
                        Some((project(self.x_scale, x)?, project(self.y_scale, y)?, x, y))
                    })
                    .filter(|p| p.0.is_finite() && p.1.is_finite())
                    .collect()
            })
            .collect();
        let all = || projected.iter().flatten();
        if all().next().is_none() {
            out.push_str(r#"<p class="empty">no data</p></figure>"#);
            return out;
        }
        let fold = |f: fn(&(f64, f64, f64, f64)) -> f64, max: bool| {
            all()
                .map(f)
                .fold(if max { f64::MIN } else { f64::MAX }, |a, b| {
                    if max {
                        a.max(b)
                    } else {
                        a.min(b)
                    }
                })
        };
        let (xs, x0, x1) = ticks(self.x_scale, fold(|p| p.0, false), fold(|p| p.0, true));
        let (ys, y0, y1) = ticks(self.y_scale, fold(|p| p.1, false), fold(|p| p.1, true));
        let (pw, ph) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
        let sx = |x: f64| {
            LEFT + if x1 > x0 {
                (x - x0) / (x1 - x0) * pw
            } else {
                0.0
            }
        };
        let sy = |y: f64| {
            TOP + ph
                - if y1 > y0 {
                    (y - y0) / (y1 - y0) * ph
                } else {
                    0.0
                }
        };
        let _ = write!(
            out,
            r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg">"#,
            title = esc(&self.title)
        );
        // Grid and ticks.
        for &t in &ys {
            let y = sy(t);
            let _ = write!(
                out,
                r##"<line class="grid" x1="{LEFT}" x2="{x2:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{tx:.1}" y="{ty:.1}" text-anchor="end">{label}</text>"##,
                x2 = LEFT + pw,
                tx = LEFT - 6.0,
                ty = y + 4.0,
                label = esc(&tick_label(self.y_scale, t, self.y_format))
            );
        }
        let every = (xs.len() / 8).max(1);
        for &t in xs.iter().step_by(every) {
            let x = sx(t);
            let _ = write!(
                out,
                r##"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{y2:.1}"/><text class="tick" x="{x:.1}" y="{ty:.1}" text-anchor="middle">{label}</text>"##,
                y2 = TOP + ph,
                ty = TOP + ph + 16.0,
                label = esc(&tick_label(self.x_scale, t, self.x_format))
            );
        }
        let _ = write!(
            out,
            r##"<text class="axis" x="{x:.1}" y="{y:.1}" text-anchor="middle">{label}</text>"##,
            x = LEFT + pw / 2.0,
            y = HEIGHT - 4.0,
            label = esc(&self.x_label)
        );
        // Series: a polyline each, and a hoverable dot per point when few.
        for (i, (series, points)) in self.series.iter().zip(&projected).enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            if points.is_empty() {
                continue;
            }
            let path: Vec<String> = points
                .iter()
                .map(|p| format!("{:.1},{:.1}", sx(p.0), sy(p.1)))
                .collect();
            let _ = write!(
                out,
                r#"<polyline class="series" data-series="{name}" fill="none" stroke="{color}" stroke-width="1.6" points="{pts}"/>"#,
                name = esc(&series.name),
                pts = path.join(" ")
            );
            if points.len() <= 400 {
                for p in points {
                    let x_text = match self.x_scale {
                        Scale::Percentile => percentile_label(p.2),
                        _ => (self.x_format)(p.2),
                    };
                    let _ = write!(
                        out,
                        r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="2" fill="{color}"><title>{name}: {y} at {x}</title></circle>"#,
                        cx = sx(p.0),
                        cy = sy(p.1),
                        name = esc(&series.name),
                        y = esc(&(self.y_format)(p.3)),
                        x = esc(&x_text)
                    );
                }
            }
        }
        // Legend, top left.
        let mut lx = LEFT + 4.0;
        for (i, series) in self.series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let _ = write!(
                out,
                r#"<rect x="{lx:.1}" y="8" width="10" height="10" fill="{color}"/><text class="legend" x="{tx:.1}" y="17">{name}</text>"#,
                tx = lx + 14.0,
                name = esc(&series.name)
            );
            lx += 24.0 + 7.0 * series.name.chars().count() as f64;
        }
        out.push_str("</svg></figure>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_cover_the_range() {
        let (t, lo, hi) = ticks(Scale::Linear, 0.0, 937.0);
        assert_eq!(t, vec![0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]);
        assert_eq!((lo, hi), (0.0, 1000.0));
        // A flat series still gets an axis.
        let (t, _, hi) = ticks(Scale::Linear, 5.0, 5.0);
        assert!(hi > 5.0 && t.len() >= 2, "{t:?}");
        // All zeros: whole-numbered ticks, not 0.2 steps.
        let (t, _, _) = ticks(Scale::Linear, 0.0, 0.0);
        assert_eq!(t, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn log_and_percentile_ticks() {
        let (t, lo, hi) = ticks(Scale::Log, 2.1, 4.7);
        assert_eq!((t, lo, hi), (vec![2.0, 3.0, 4.0, 5.0], 2.0, 5.0));
        let (t, _, _) = ticks(Scale::Percentile, 0.0, 2.5);
        let labels: Vec<String> = t
            .iter()
            .map(|&v| tick_label(Scale::Percentile, v, |_| String::new()))
            .collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%"]);
    }

    #[test]
    fn a_chart_draws_each_series_and_a_title_per_point() {
        let chart = Chart {
            id: "t",
            title: "rate <&>".into(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            x_label: "s".into(),
            y_format: |v| format!("{v:.0}"),
            x_format: |v| format!("{v:.0}s"),
            series: vec![Series {
                name: "req/s".into(),
                points: vec![(0.0, 10.0), (1.0, 20.0), (2.0, 15.0)],
            }],
        };
        let svg = chart.render();
        assert!(svg.contains("rate &lt;&amp;&gt;"), "{svg}");
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("<title>req/s: 20 at 1s</title>"), "{svg}");
        let empty = Chart {
            series: vec![],
            ..chart
        };
        assert!(empty.render().contains("no data"));
    }
}
