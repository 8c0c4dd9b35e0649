//! The `--plot` SVG: speedup over sequential revm as grouped bars, one group per block (or
//! summary), one bar per thread count, with a line at 1.0 (as fast as sequential) and, on
//! each bar above one thread, a tick at the machine's ceiling (`ceiling.rs`). Plain SVG
//! written by hand: no plotting dependency.

use std::fmt::Write;

/// One bar group: a workload, a mainnet block or a geometric mean.
pub(crate) struct Group {
    pub(crate) label: String,
    /// One speedup per thread count of the chart, in its order (`None`: not measured).
    pub(crate) speedups: Vec<Option<f64>>,
    /// The machine's ceiling at each thread count, in the same order (`None`: not measured,
    /// as at one thread).
    pub(crate) ceilings: Vec<Option<f64>>,
}

/// One row of the chart, with its own title and groups.
pub(crate) struct Panel {
    pub(crate) title: String,
    pub(crate) groups: Vec<Group>,
}

const BAR: f64 = 16.0;
const GAP: f64 = 14.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 24.0;
const PLOT_HEIGHT: f64 = 220.0;
const PANEL_TOP: f64 = 34.0;
const LABEL_SPACE: f64 = 118.0;
const HEADER: f64 = 72.0;
/// Bar colours by thread-count position (colour-blind-safe palette).
const COLOURS: [&str; 6] = [
    "#9e9e9e", "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The y-axis top: the largest speedup or ceiling plus headroom, rounded up to a half, at
/// least 2.
fn y_max(panels: &[Panel]) -> f64 {
    let top = panels
        .iter()
        .flat_map(|p| &p.groups)
        .flat_map(|g| g.speedups.iter().chain(&g.ceilings).flatten())
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    ((top * 1.1) * 2.0).ceil().max(4.0) / 2.0
}

/// Renders the chart.
pub(crate) fn svg(title: &str, subtitle: &str, threads: &[usize], panels: &[Panel]) -> String {
    let per_group = BAR * threads.len().max(1) as f64 + GAP;
    let widest = panels
        .iter()
        .map(|p| p.groups.len())
        .max()
        .unwrap_or(0)
        // Room for the legend: a key per thread count and the ceiling's.
        .max(threads.len() * 2 + 2);
    let width = LEFT + RIGHT + per_group * widest as f64;
    let panel_height = PANEL_TOP + PLOT_HEIGHT + LABEL_SPACE;
    let height = HEADER + panel_height * panels.len() as f64 + 10.0;
    let y_top = y_max(panels);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">"#
    );
    let _ = writeln!(
        s,
        r##"<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="22" font-size="16" font-weight="bold">{}</text>
<text x="{LEFT}" y="40" font-size="11" fill="#555">{}</text>"##,
        escape(title),
        escape(subtitle)
    );
    // Legend, top right, below the subtitle.
    let mut lx = width - RIGHT - 90.0 * (threads.len() + 1) as f64;
    for (i, t) in threads.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let _ = writeln!(
            s,
            r##"<rect x="{lx:.1}" y="48" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="58" font-size="11">{t} thread{}</text>"##,
            lx + 16.0,
            if *t == 1 { "" } else { "s" }
        );
        lx += 90.0;
    }
    if panels
        .iter()
        .flat_map(|p| &p.groups)
        .any(|g| g.ceilings.iter().any(Option::is_some))
    {
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" x2="{:.1}" y1="54" y2="54" stroke="black" stroke-width="2"/><text x="{:.1}" y="58" font-size="11">machine ceiling</text>"#,
            lx + 12.0,
            lx + 16.0
        );
    }
    for (p, panel) in panels.iter().enumerate() {
        let top = HEADER + panel_height * p as f64 + PANEL_TOP;
        let bottom = top + PLOT_HEIGHT;
        let y = |v: f64| bottom - (v.clamp(0.0, y_top) / y_top) * PLOT_HEIGHT;
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{:.1}" font-size="13" font-weight="bold">{}</text>"#,
            top - 12.0,
            escape(&panel.title)
        );
        // Grid and y ticks every 0.5.
        let mut tick = 0.0;
        while tick <= y_top + 1e-9 {
            let ty = y(tick);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" x2="{:.1}" y1="{ty:.1}" y2="{ty:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{tick:.1}x</text>"##,
                width - RIGHT,
                LEFT - 6.0,
                ty + 3.5
            );
            tick += 0.5;
        }
        let _ = writeln!(
            s,
            r##"<text transform="translate(16 {:.1}) rotate(-90)" font-size="11" text-anchor="middle">speedup over sequential revm</text>"##,
            (top + bottom) / 2.0
        );
        for (g, group) in panel.groups.iter().enumerate() {
            let gx = LEFT + GAP / 2.0 + per_group * g as f64;
            for (i, value) in group.speedups.iter().enumerate() {
                let Some(v) = value else { continue };
                let x = gx + BAR * i as f64;
                let colour = COLOURS[i % COLOURS.len()];
                let _ = writeln!(
                    s,
                    r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{} at {} thread(s): {v:.2}x</title></rect>"##,
                    y(*v),
                    BAR - 1.0,
                    bottom - y(*v),
                    escape(&group.label),
                    threads.get(i).copied().unwrap_or_default()
                );
                let _ = writeln!(
                    s,
                    r#"<text transform="translate({:.1} {:.1}) rotate(-90)" font-size="8">{v:.2}</text>"#,
                    x + BAR / 2.0 + 3.0,
                    y(*v) - 3.0
                );
                if let Some(Some(c)) = group.ceilings.get(i) {
                    let cy = y(*c);
                    let _ = writeln!(
                        s,
                        r#"<line x1="{:.1}" x2="{:.1}" y1="{cy:.1}" y2="{cy:.1}" stroke="black" stroke-width="2"><title>{}: the machine's ceiling at {} threads {c:.2}x</title></line>"#,
                        x - 1.0,
                        x + BAR,
                        escape(&group.label),
                        threads.get(i).copied().unwrap_or_default()
                    );
                }
            }
            let _ = writeln!(
                s,
                r#"<text transform="translate({:.1} {:.1}) rotate(-45)" font-size="10" text-anchor="end">{}</text>"#,
                gx + per_group / 2.0 - GAP / 2.0,
                bottom + 14.0,
                escape(&group.label)
            );
        }
        // Axes and the 1.0 line (as fast as sequential).
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{LEFT}" y1="{top:.1}" y2="{bottom:.1}" stroke="#333"/><line x1="{LEFT}" x2="{:.1}" y1="{bottom:.1}" y2="{bottom:.1}" stroke="#333"/><line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#c00" stroke-dasharray="6 3"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#c00" text-anchor="end">1.0 = sequential</text>"##,
            width - RIGHT,
            width - RIGHT,
            y(1.0),
            y(1.0),
            width - RIGHT,
            y(1.0) - 3.0
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_labels_and_the_one_line() {
        let panels = [Panel {
            title: "workloads".into(),
            groups: vec![
                Group {
                    label: "raw-transfers".into(),
                    speedups: vec![Some(0.98), Some(1.8)],
                    ceilings: vec![None, Some(1.9)],
                },
                Group {
                    label: "a<b".into(),
                    speedups: vec![Some(1.0), None],
                    ceilings: vec![None, None],
                },
            ],
        }];
        let svg = svg("t", "s", &[1, 2], &panels);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<rect x=").count(), 3 + 2); // 3 bars, 2 legend keys
        assert!(svg.contains("raw-transfers at 2 thread(s): 1.80x"));
        assert!(svg.contains("a&lt;b"));
        assert!(svg.contains("1.0 = sequential"));
        // One ceiling tick (the 2-thread bar of raw-transfers) and its legend key.
        assert!(svg.contains("raw-transfers: the machine's ceiling at 2 threads 1.90x"));
        assert_eq!(svg.matches("machine's ceiling at").count(), 1);
        assert!(svg.contains(">machine ceiling</text>"));
    }
}
