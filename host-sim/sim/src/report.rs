//! Reports: text tables, JSON files and SVG plots (hand-written SVG: no plotting
//! dependency for one line chart).

use crate::SimError;
use std::fmt::Write as _;
use std::path::Path;

/// Writes `value` as pretty JSON to `path`.
///
/// # Errors
/// [`SimError::Json`] if `value` does not serialise, [`SimError::Write`] (naming the
/// file) on I/O failure.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), SimError> {
    let text = serde_json::to_string_pretty(value).map_err(SimError::Json)?;
    write_file(path, &text)
}

fn write_file(path: &Path, text: &str) -> Result<(), SimError> {
    std::fs::write(path, text).map_err(|source| SimError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// One named line on a plot: (x, y) points with y in [0, 1].
pub struct Line<'a> {
    /// Legend text.
    pub name: &'a str,
    /// Points.
    pub points: &'a [(f64, f64)],
}

/// Renders a line chart of coverage (0..1) against `x_label` as an SVG document.
pub fn svg(title: &str, x_label: &str, lines: &[Line<'_>]) -> String {
    let (w, h) = (720.0, 420.0);
    let (left, right, top, bottom) = (60.0, 20.0, 40.0, 50.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let x_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(1e-9f64, f64::max);
    let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        w / 2.0,
        esc(title)
    );
    // Axes and grid.
    for k in 0..=4 {
        let y = top + ph - ph * f64::from(k) / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/>"##,
            left + pw
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}%</text>"#,
            left - 6.0,
            y + 4.0,
            k * 25
        );
    }
    for k in 0..=5 {
        let x = left + pw * f64::from(k) / 5.0;
        let v = x_max * f64::from(k) / 5.0;
        let _ = write!(
            s,
            r#"<text x="{x}" y="{}" text-anchor="middle">{}</text>"#,
            top + ph + 18.0,
            fmt_num(v)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        left + pw / 2.0,
        h - 10.0,
        esc(x_label)
    );
    let _ = write!(
        s,
        r#"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">coverage</text>"#,
        top + ph / 2.0,
        top + ph / 2.0
    );
    let _ = write!(
        s,
        r#"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
    );
    for (i, l) in lines.iter().enumerate() {
        let c = colours[i % colours.len()];
        let pts: Vec<String> = l
            .points
            .iter()
            .map(|(x, y)| {
                format!(
                    "{:.1},{:.1}",
                    left + pw * x / x_max,
                    top + ph - ph * y.clamp(0.0, 1.0)
                )
            })
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        let ly = top + 16.0 + 16.0 * i as f64;
        let _ = write!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{c}" stroke-width="2"/>"#,
            left + pw - 170.0,
            left + pw - 150.0
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            left + pw - 145.0,
            ly + 4.0,
            esc(l.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Writes an SVG document to `path`.
///
/// # Errors
/// [`SimError::Write`], naming the file.
pub fn write_svg(path: &Path, doc: &str) -> Result<(), SimError> {
    write_file(path, doc)
}

/// Formats rows as an aligned text table with a header row.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < width.len() {
                width[i] = width[i].max(c.len());
            }
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:>w$}", w = width[i]))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = vec![line(header.iter().map(|s| s.to_string()).collect())];
    out.push(
        width
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    for r in rows {
        out.push(line(r.clone()));
    }
    out
}
