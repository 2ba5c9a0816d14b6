//! A hand-written SVG chart: throughput and p99 latency against connection count.
//!
//! Why by hand: an SVG line chart is a few dozen elements of plain text; a plotting
//! crate would add minutes to every build for something this small. The chart has two
//! panels side by side, a logarithmic x axis (connections: 1, 10, 50, 200, 1,000), a
//! linear y axis for throughput and a logarithmic one for p99, because latencies
//! differ by orders of magnitude between a PING at 1 connection and an ORDER at 1,000.

use std::fmt::Write as _;

/// One line on the chart: a name, a colour, and (connections, value) points.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub colour: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// Colours that stay distinct for colour-blind readers (Okabe-Ito).
pub const COLOURS: &[&str] = &[
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9",
];

const PANEL_W: f64 = 420.0;
const PANEL_H: f64 = 260.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 50.0;
const GAP: f64 = 110.0;

/// The whole chart as an SVG document.
pub fn render(title: &str, throughput: &[Series], p99_ms: &[Series]) -> String {
    let width = LEFT + PANEL_W + GAP + PANEL_W + 30.0;
    let height = TOP + PANEL_H + 110.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>"#,
        width / 2.0,
        escape(title)
    );
    panel(&mut svg, LEFT, "throughput (requests/s)", throughput, false);
    panel(
        &mut svg,
        LEFT + PANEL_W + GAP,
        "p99 latency (ms, log scale)",
        p99_ms,
        true,
    );
    // One legend for both panels.
    let mut x = LEFT;
    let y = TOP + PANEL_H + 70.0;
    for series in throughput {
        let _ = writeln!(
            svg,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            x + 24.0,
            series.colour,
            x + 30.0,
            y + 4.0,
            escape(&series.name)
        );
        x += 40.0 + 8.0 * series.name.chars().count() as f64;
    }
    svg.push_str("</svg>\n");
    svg
}

fn panel(svg: &mut String, left: f64, title: &str, series: &[Series], log_y: bool) {
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .filter(|x| *x > 0.0)
        .collect();
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite() && (!log_y || *y > 0.0))
        .collect();
    // Connection counts start at 1: the axis does too.
    let x_min = 1.0_f64;
    let x_max = xs.iter().copied().fold(1.0, f64::max).max(x_min * 10.0);
    let (y_min, y_max) = if log_y {
        let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ys.iter().copied().fold(0.0, f64::max);
        let lo = if lo.is_finite() {
            10f64.powf(lo.log10().floor())
        } else {
            0.01
        };
        (lo, 10f64.powf(hi.max(lo * 10.0).log10().ceil()))
    } else {
        (0.0, nice_ceiling(ys.iter().copied().fold(0.0, f64::max)))
    };
    let sx = |x: f64| left + (x.ln() - x_min.ln()) / (x_max.ln() - x_min.ln()) * PANEL_W;
    let sy = |y: f64| {
        let t = if log_y {
            (y.max(y_min).ln() - y_min.ln()) / (y_max.ln() - y_min.ln())
        } else {
            y / y_max
        };
        TOP + PANEL_H - t * PANEL_H
    };
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" font-size="13" text-anchor="middle">{}</text>"#,
        left + PANEL_W / 2.0,
        TOP - 12.0,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{left}" y="{TOP}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#888"/>"##
    );
    // x ticks at the connection counts that were measured.
    let mut ticks: Vec<f64> = xs.clone();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    for x in ticks {
        let px = sx(x);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{}" stroke="#eee"/><text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"##,
            TOP + PANEL_H,
            TOP + PANEL_H + 16.0,
            x
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">connections (log scale)</text>"#,
        left + PANEL_W / 2.0,
        TOP + PANEL_H + 36.0
    );
    // y ticks: five steps, or one per decade.
    let y_ticks: Vec<f64> = if log_y {
        let mut v = Vec::new();
        let mut t = y_min;
        while t <= y_max * 1.0001 {
            v.push(t);
            t *= 10.0;
        }
        v
    } else {
        (0..=5).map(|i| y_max * f64::from(i) / 5.0).collect()
    };
    for y in y_ticks {
        let py = sy(y);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + PANEL_W,
            left - 6.0,
            py + 4.0,
            tick_label(y)
        );
    }
    for s in series {
        let points: Vec<String> = s
            .points
            .iter()
            .filter(|(x, y)| *x > 0.0 && y.is_finite() && (!log_y || *y > 0.0))
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        if points.is_empty() {
            continue;
        }
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2.5"/>"#,
            points.join(" "),
            s.colour
        );
        for p in &points {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                svg,
                r#"<circle cx="{x}" cy="{y}" r="3.5" fill="{}"/>"#,
                s.colour
            );
        }
    }
}

/// The smallest 1, 2 or 5 times a power of ten at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * magnitude >= v {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn tick_label(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 1.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_well_formed_document() {
        let series = vec![Series {
            name: "feira ping".into(),
            colour: COLOURS[0],
            points: vec![(1.0, 1000.0), (50.0, 20000.0), (1000.0, 15000.0)],
        }];
        let svg = render("t <1>", &series, &series);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt;1&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(17_300.0), 20_000.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }
}
