//! The trade-off chart of `polsim sweep --plot`: approval rate against bad
//! rate (or expected loss), one mark per swept value, as a self-contained SVG
//! document written by hand (no dependency, no script, no external font).
//!
//! The function is pure: it takes the points already computed and returns
//! the text. Whatever the numbers, the output is well-formed XML with no
//! `NaN` or `inf` in it: a point without a rate is left out (and named in a
//! note under the chart), and no drawable point at all gives a chart that
//! says so.
//!
//! Each drawn point is exactly one element whose `class` contains `point`
//! (`point`, or `point current` for the policy's own value); nothing else in
//! the document has such a class, so a reader (or a test) can count them.

use std::fmt::Write;

/// One swept value.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotPoint {
    /// What the mark is labelled with, e.g. `600` or `min_score=600`.
    pub label: String,
    /// The line the point belongs to: with two swept params, the value of the
    /// first one (e.g. `max_dti=0.40`), so that each value of it gets its own
    /// line and colour; empty with one param. Points of a series are joined
    /// in the order they are given.
    pub series: String,
    /// Approval rate, 0..1; `None` when it is undefined (no rows).
    pub x: Option<f64>,
    /// Bad rate among approved (0..1), or expected loss in money; `None`
    /// when undefined (a bad rate with nothing approved).
    pub y: Option<f64>,
    /// The value the policy itself has (drawn distinctively).
    pub current: bool,
}

/// What the vertical axis shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YAxis {
    /// Observed bad rate among approved rows, a fraction shown in percent.
    BadRate,
    /// Expected loss, in the policy's money (no currency).
    Loss,
}

/// More points than this and only every k-th one gets a text label (the
/// current one always does); every mark keeps a tooltip with its label.
const MAX_LABELS: usize = 12;

const WIDTH: f64 = 880.0;
const PLOT_HEIGHT: f64 = 360.0;
const MARGIN_RIGHT: f64 = 32.0;
const FONT: &str = "Helvetica, Arial, sans-serif";
const TITLE_SIZE: f64 = 17.0;
const TEXT_SIZE: f64 = 12.0;
/// The notes under the chart.
const NOTE_SIZE: f64 = 11.0;
const LABEL_SIZE: f64 = 11.0;
const RADIUS: f64 = 4.5;
const CURRENT_RADIUS: f64 = 7.0;
const CURRENT_FILL: &str = "#e8590c";
const CURRENT_STROKE: &str = "#8a3300";
const INK: &str = "#222222";
const MUTED: &str = "#5f6368";
const GRID: &str = "#e3e5e8";
const AXIS: &str = "#8a8f96";
/// Line colours, one per series (distinguishable with the usual colour
/// blindnesses, and none of them the current value's orange).
const PALETTE: [&str; 8] = [
    "#1f5fa8", "#2a9d8f", "#7b4fa0", "#c44e7a", "#3f8f3f", "#8c6d1f", "#5c6b73", "#4a4a9c",
];

/// The chart: `title` on top, `subtitle` under it (e.g. the data file and
/// row count), then the plot of `points` with the vertical axis `y`.
pub fn trade_off(title: &str, subtitle: &str, points: &[PlotPoint], y: YAxis) -> String {
    let drawable: Vec<Drawn> = points
        .iter()
        .enumerate()
        .filter_map(|(index, p)| match (finite(p.x), finite(p.y)) {
            (Some(x), Some(y)) => Some(Drawn {
                index,
                x,
                y,
                px: 0.0,
                py: 0.0,
            }),
            _ => None,
        })
        .collect();
    let undrawn: Vec<&PlotPoint> = points
        .iter()
        .filter(|p| finite(p.x).is_none() || finite(p.y).is_none())
        .collect();

    // Series, in order of first appearance.
    let mut series: Vec<&str> = Vec::new();
    for p in points {
        if !series.contains(&p.series.as_str()) {
            series.push(&p.series);
        }
    }
    let colour_of = |name: &str| {
        let i = series.iter().position(|s| *s == name).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };

    let x_axis = Axis::new(drawable.iter().map(|d| d.x), Scale::Rate);
    let y_scale = match y {
        YAxis::BadRate => Scale::Rate,
        YAxis::Loss => Scale::Money,
    };
    let y_axis = Axis::new(drawable.iter().map(|d| d.y), y_scale);
    let x_ticks = x_axis.ticks();
    let y_ticks = y_axis.ticks();
    let y_tick_labels: Vec<String> = y_ticks.iter().map(|&v| y_axis.tick_label(v)).collect();
    let widest_y_tick = y_tick_labels
        .iter()
        .map(|l| text_width(l, TEXT_SIZE))
        .fold(0.0, f64::max);

    // Header: title, subtitle, legend (wrapped onto as many rows as needed).
    let mut legend: Vec<LegendItem> = Vec::new();
    let named_series = series.len() > 1 || series.first().is_some_and(|s| !s.is_empty());
    if named_series {
        for s in &series {
            legend.push(LegendItem::Series(s.to_string(), colour_of(s)));
        }
    }
    // Only when the current value's mark is on the chart.
    if drawable.iter().any(|d| points[d.index].current) {
        legend.push(LegendItem::Current);
    }
    let plot_left = (24.0 + 10.0 + widest_y_tick + 10.0).round();
    let plot_right = WIDTH - MARGIN_RIGHT;
    let mut legend_rows: Vec<Vec<(f64, &LegendItem)>> = Vec::new();
    {
        let mut row: Vec<(f64, &LegendItem)> = Vec::new();
        let mut at = plot_left;
        for item in &legend {
            let w = item.width();
            if !row.is_empty() && at + w > plot_right {
                legend_rows.push(std::mem::take(&mut row));
                at = plot_left;
            }
            row.push((at, item));
            at += w + 18.0;
        }
        if !row.is_empty() {
            legend_rows.push(row);
        }
    }
    let header_bottom = if subtitle.is_empty() { 36.0 } else { 56.0 };
    let legend_top = header_bottom + 8.0;
    let plot_top = legend_top + 18.0 * legend_rows.len() as f64 + 12.0;
    let plot_bottom = plot_top + PLOT_HEIGHT;

    // Notes under the chart.
    let mut notes: Vec<String> = Vec::new();
    if !undrawn.is_empty() && !drawable.is_empty() {
        let what = match y {
            YAxis::BadRate => "no approved rows, so no bad rate",
            YAxis::Loss => "rate undefined",
        };
        let names: Vec<&str> = undrawn.iter().map(|p| p.label.as_str()).collect();
        // As many names as fit on the line, so that the count of the rest
        // is never cut off by the ellipsis.
        let note = |keep: usize| format!("Not drawn ({what}): {}", list_some(&names, keep, "more"));
        let keep = (1..=8)
            .rev()
            .find(|&k| text_width(&note(k), NOTE_SIZE) <= plot_right - plot_left)
            .unwrap_or(1);
        notes.push(note(keep));
    }
    if drawable.len() > MAX_LABELS + 1 {
        notes.push("Only some points are labelled; hover a mark to see its value.".to_owned());
    }
    let notes_top = plot_bottom + 62.0;
    let height = (notes_top + 18.0 * notes.len() as f64 + 6.0).round();

    let mut out = String::with_capacity(8 * 1024);
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT}" font-size="{TEXT_SIZE}" role="img">"#,
        w = num(WIDTH),
        h = num(height),
    );
    let full_title = if subtitle.is_empty() {
        title.to_owned()
    } else {
        format!("{title} ({subtitle})")
    };
    let _ = writeln!(out, "<title>{}</title>", escape(&full_title));
    let _ = writeln!(
        out,
        r##"<rect class="background" x="0" y="0" width="{}" height="{}" fill="#ffffff"/>"##,
        num(WIDTH),
        num(height)
    );
    let text_room = WIDTH - 2.0 * 16.0;
    let _ = writeln!(
        out,
        r#"<text class="title" x="{}" y="26" font-size="{TITLE_SIZE}" font-weight="bold" fill="{INK}">{}</text>"#,
        num(16.0),
        escape(&fit(title, TITLE_SIZE * 1.08, text_room))
    );
    if !subtitle.is_empty() {
        let _ = writeln!(
            out,
            r#"<text class="subtitle" x="{}" y="46" fill="{MUTED}">{}</text>"#,
            num(16.0),
            escape(&fit(subtitle, TEXT_SIZE, text_room))
        );
    }
    for (r, row) in legend_rows.iter().enumerate() {
        let cy = legend_top + 18.0 * r as f64 + 7.0;
        for (at, item) in row {
            item.draw(&mut out, *at, cy);
        }
    }

    // Grid and ticks.
    let xs =
        |v: f64| plot_left + (v - x_axis.lo) / (x_axis.hi - x_axis.lo) * (plot_right - plot_left);
    let ys = |v: f64| plot_bottom - (v - y_axis.lo) / (y_axis.hi - y_axis.lo) * PLOT_HEIGHT;
    let _ = writeln!(out, r#"<g class="grid" stroke="{GRID}" stroke-width="1">"#);
    for &v in &x_ticks {
        let x = xs(v);
        let _ = writeln!(
            out,
            r#"<line x1="{x}" y1="{t}" x2="{x}" y2="{b}"/>"#,
            x = num(x),
            t = num(plot_top),
            b = num(plot_bottom)
        );
    }
    for &v in &y_ticks {
        let y = ys(v);
        let _ = writeln!(
            out,
            r#"<line x1="{l}" y1="{y}" x2="{r}" y2="{y}"/>"#,
            y = num(y),
            l = num(plot_left),
            r = num(plot_right)
        );
    }
    out.push_str("</g>\n");
    let _ = writeln!(
        out,
        r#"<g class="axis" stroke="{AXIS}" stroke-width="1"><line x1="{l}" y1="{b}" x2="{r}" y2="{b}"/><line x1="{l}" y1="{t}" x2="{l}" y2="{b}"/></g>"#,
        l = num(plot_left),
        r = num(plot_right),
        t = num(plot_top),
        b = num(plot_bottom)
    );
    let _ = writeln!(
        out,
        r#"<g class="tick-labels" fill="{MUTED}" text-anchor="middle">"#
    );
    for &v in &x_ticks {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}">{}</text>"#,
            num(xs(v)),
            num(plot_bottom + 18.0),
            escape(&x_axis.tick_label(v))
        );
    }
    out.push_str("</g>\n");
    let _ = writeln!(
        out,
        r#"<g class="tick-labels" fill="{MUTED}" text-anchor="end">"#
    );
    for (&v, label) in y_ticks.iter().zip(&y_tick_labels) {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}">{}</text>"#,
            num(plot_left - 8.0),
            num(ys(v) + TEXT_SIZE * 0.35),
            escape(label)
        );
    }
    out.push_str("</g>\n");
    let _ = writeln!(
        out,
        r#"<text class="axis-title" x="{}" y="{}" text-anchor="middle" fill="{INK}">approval rate (%)</text>"#,
        num((plot_left + plot_right) / 2.0),
        num(plot_bottom + 42.0)
    );
    let y_title = match y {
        YAxis::BadRate => "bad rate among approved (%)",
        YAxis::Loss => "expected loss",
    };
    let (tx, ty) = (20.0, (plot_top + plot_bottom) / 2.0);
    let _ = writeln!(
        out,
        r#"<text class="axis-title" x="{x}" y="{y}" transform="rotate(-90 {x} {y})" text-anchor="middle" fill="{INK}">{y_title}</text>"#,
        x = num(tx),
        y = num(ty)
    );

    if drawable.is_empty() {
        let message = if points.is_empty() {
            "no data to plot".to_owned()
        } else {
            let missing = match y {
                YAxis::BadRate => "an approval rate and a bad rate",
                YAxis::Loss => "an approval rate and an expected loss",
            };
            format!("no data to plot: no point has {missing}")
        };
        let _ = writeln!(
            out,
            r#"<text class="no-data" x="{}" y="{}" text-anchor="middle" font-size="15" fill="{MUTED}">{}</text>"#,
            num((plot_left + plot_right) / 2.0),
            num((plot_top + plot_bottom) / 2.0),
            escape(&fit(&message, 15.0, plot_right - plot_left - 20.0))
        );
    } else {
        let mut drawn = drawable;
        for d in &mut drawn {
            d.px = xs(d.x);
            d.py = ys(d.y);
        }
        draw_points(
            &mut out,
            points,
            &drawn,
            &series,
            &colour_of,
            Bounds {
                x0: plot_left + 2.0,
                y0: plot_top + 2.0,
                x1: plot_right - 2.0,
                y1: plot_bottom - 2.0,
            },
            y,
        );
    }

    for (i, note) in notes.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<text class="note" x="{}" y="{}" font-size="{NOTE_SIZE}" fill="{MUTED}">{}</text>"#,
            num(plot_left),
            num(notes_top + 18.0 * i as f64),
            escape(&fit(note, NOTE_SIZE, plot_right - plot_left))
        );
    }
    out.push_str("</svg>\n");
    out
}

/// A point that has both coordinates, with its place on the canvas.
struct Drawn {
    /// Index into the caller's points.
    index: usize,
    x: f64,
    y: f64,
    px: f64,
    py: f64,
}

#[derive(Clone, Copy, Debug)]
struct Bounds {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Bounds {
    fn contains(&self, b: &Bounds) -> bool {
        b.x0 >= self.x0 && b.x1 <= self.x1 && b.y0 >= self.y0 && b.y1 <= self.y1
    }

    fn overlaps(&self, b: &Bounds) -> bool {
        self.x0 < b.x1 && b.x0 < self.x1 && self.y0 < b.y1 && b.y0 < self.y1
    }

    /// Whether the segment from `a` to `b` passes through the box
    /// (Liang-Barsky clipping).
    fn crossed_by(&self, a: (f64, f64), b: (f64, f64)) -> bool {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let mut t0: f64 = 0.0;
        let mut t1: f64 = 1.0;
        for (p, q) in [
            (-dx, a.0 - self.x0),
            (dx, self.x1 - a.0),
            (-dy, a.1 - self.y0),
            (dy, self.y1 - a.1),
        ] {
            if p == 0.0 {
                if q < 0.0 {
                    return false;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
                if t0 > t1 {
                    return false;
                }
            }
        }
        true
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_points(
    out: &mut String,
    points: &[PlotPoint],
    drawn: &[Drawn],
    series: &[&str],
    colour_of: &dyn Fn(&str) -> &'static str,
    plot: Bounds,
    y: YAxis,
) {
    // Lines: one per series, through its points in the given order.
    let mut segments: Vec<((f64, f64), (f64, f64))> = Vec::new();
    for s in series {
        let line: Vec<&Drawn> = drawn
            .iter()
            .filter(|d| points[d.index].series == *s)
            .collect();
        if line.len() < 2 {
            continue;
        }
        let coords: Vec<String> = line
            .iter()
            .map(|d| format!("{},{}", num(d.px), num(d.py)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline class="line" fill="none" stroke="{}" stroke-width="2" stroke-linejoin="round" stroke-opacity="0.75" points="{}"/>"#,
            colour_of(s),
            coords.join(" ")
        );
        for w in line.windows(2) {
            segments.push(((w[0].px, w[0].py), (w[1].px, w[1].py)));
        }
    }

    // Marks: the ordinary ones, then the current one on top.
    let radius = |d: &Drawn| {
        if points[d.index].current {
            CURRENT_RADIUS
        } else {
            RADIUS
        }
    };
    let mut order: Vec<&Drawn> = drawn.iter().collect();
    order.sort_by_key(|d| points[d.index].current);
    for d in &order {
        let p = &points[d.index];
        let value = match y {
            YAxis::BadRate => format!("bad rate {}", percent(d.y, 2)),
            YAxis::Loss => format!("expected loss {}", grouped(d.y, 2)),
        };
        let tip = format!(
            "{}{}: approval rate {}, {value}",
            p.label,
            if p.current { " (current)" } else { "" },
            percent(d.x, 2)
        );
        if p.current {
            let _ = writeln!(
                out,
                r#"<circle class="point current" cx="{}" cy="{}" r="{}" fill="{CURRENT_FILL}" stroke="{CURRENT_STROKE}" stroke-width="1.5"><title>{}</title></circle>"#,
                num(d.px),
                num(d.py),
                num(CURRENT_RADIUS),
                escape(&tip)
            );
        } else {
            let _ = writeln!(
                out,
                r##"<circle class="point" cx="{}" cy="{}" r="{}" fill="{}" stroke="#ffffff" stroke-width="1.2"><title>{}</title></circle>"##,
                num(d.px),
                num(d.py),
                num(RADIUS),
                colour_of(&p.series),
                escape(&tip)
            );
        }
    }

    // Points that land on the same spot one after the other (a step of the
    // param that moves no row) share one label: `600–620`, or with the
    // current value among them `600–620 (current 610)`.
    let mut runs: Vec<Vec<&Drawn>> = Vec::new();
    for d in drawn {
        match runs.last_mut() {
            Some(run)
                if points[run[0].index].series == points[d.index].series
                    && (run[0].px - d.px).abs() < 0.75
                    && (run[0].py - d.py).abs() < 0.75 =>
            {
                run.push(d)
            }
            _ => runs.push(vec![d]),
        }
    }
    let run_of = |d: &Drawn| {
        runs.iter()
            .position(|r| r.iter().any(|m| m.index == d.index))
            .unwrap_or(usize::MAX)
    };

    // Labels: the current one first (it must get a place), then every k-th
    // run and the last one, each at the first of eight spots around its mark that stays in
    // the plot, clear of the marks and of the labels already placed,
    // preferring spots the lines do not cross. A label with no such spot is
    // left out (its mark keeps its tooltip).
    let stride = runs.len().div_ceil(MAX_LABELS).max(1);
    let has_current = |r: &Vec<&Drawn>| r.iter().any(|d| points[d.index].current);
    let mut wanted: Vec<usize> = (0..runs.len()).filter(|&i| has_current(&runs[i])).collect();
    let last = runs.len().saturating_sub(1);
    wanted.extend(
        (0..runs.len()).filter(|&i| !has_current(&runs[i]) && (i % stride == 0 || i == last)),
    );
    let marks: Vec<(usize, Bounds)> = drawn
        .iter()
        .map(|d| {
            let r = radius(d) + 1.0;
            (
                run_of(d),
                Bounds {
                    x0: d.px - r,
                    y0: d.py - r,
                    x1: d.px + r,
                    y1: d.py + r,
                },
            )
        })
        .collect();
    let mut placed: Vec<Bounds> = Vec::new();
    let _ = writeln!(
        out,
        r##"<g class="labels" font-size="{LABEL_SIZE}" fill="{INK}" stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke">"##
    );
    for run_index in wanted {
        let run = &runs[run_index];
        let current = run.iter().find(|d| points[d.index].current);
        let d = *current.unwrap_or(&run[0]);
        let p = &points[d.index];
        let first = &points[run[0].index].label;
        let last = &points[run[run.len() - 1].index].label;
        let (range, value) = label_range(first, last, &p.label);
        let text = match current {
            Some(_) if run.len() > 1 => format!("{range} (current {value})"),
            Some(_) => format!("{range} (current)"),
            None => range,
        };
        let text = fit(&text, LABEL_SIZE, 220.0);
        let bold = p.current;
        let w = text_width(&text, LABEL_SIZE) * if bold { 1.08 } else { 1.0 };
        let h = LABEL_SIZE;
        let g = radius(d) + 4.0;
        let diag = g * 0.75;
        // Top-left corners of the candidate boxes, in order of preference.
        let spots = [
            (d.px + g, d.py - h / 2.0),
            (d.px - g - w, d.py - h / 2.0),
            (d.px - w / 2.0, d.py - g - h),
            (d.px - w / 2.0, d.py + g),
            (d.px + diag, d.py - diag - h),
            (d.px - diag - w, d.py + diag),
            (d.px - diag - w, d.py - diag - h),
            (d.px + diag, d.py + diag),
        ];
        let boxes: Vec<Bounds> = spots
            .iter()
            .map(|&(x, y)| Bounds {
                x0: x,
                y0: y,
                x1: x + w,
                y1: y + h,
            })
            .collect();
        let clear = |b: &Bounds| {
            let pad = Bounds {
                x0: b.x0 - 2.0,
                y0: b.y0 - 1.0,
                x1: b.x1 + 2.0,
                y1: b.y1 + 1.0,
            };
            plot.contains(b)
                && !placed.iter().any(|o| o.overlaps(&pad))
                && !marks
                    .iter()
                    .any(|(r, m)| *r != run_index && m.overlaps(&pad))
        };
        let crossings = |b: &Bounds| {
            segments
                .iter()
                .filter(|(a, c)| b.crossed_by(*a, *c))
                .count()
        };
        let mut best: Option<(usize, usize)> = None; // (crossings, spot)
        for (i, b) in boxes.iter().enumerate() {
            if clear(b) {
                let c = crossings(b);
                if best.is_none_or(|(bc, _)| c < bc) {
                    best = Some((c, i));
                }
            }
        }
        let chosen = match best {
            Some((_, i)) => boxes[i],
            // The current value is always labelled: the first spot, moved
            // inside the plot.
            None if p.current => {
                let b = boxes[0];
                let dx = (plot.x0 - b.x0).max(0.0) - (b.x1 - plot.x1).max(0.0);
                let dy = (plot.y0 - b.y0).max(0.0) - (b.y1 - plot.y1).max(0.0);
                Bounds {
                    x0: b.x0 + dx,
                    y0: b.y0 + dy,
                    x1: b.x1 + dx,
                    y1: b.y1 + dy,
                }
            }
            None => continue,
        };
        placed.push(chosen);
        let baseline = chosen.y0 + h * 0.82;
        if bold {
            let _ = writeln!(
                out,
                r#"<text class="label current-label" x="{}" y="{}" font-weight="bold" fill="{CURRENT_STROKE}">{}</text>"#,
                num(chosen.x0),
                num(baseline),
                escape(&text)
            );
        } else {
            // With several lines, a label takes its line's colour.
            let fill = if series.len() > 1 {
                format!(r#" fill="{}""#, colour_of(&p.series))
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                r#"<text class="label" x="{}" y="{}"{fill}>{}</text>"#,
                num(chosen.x0),
                num(baseline),
                escape(&text)
            );
        }
    }
    out.push_str("</g>\n");
}

enum LegendItem {
    Series(String, &'static str),
    Current,
}

impl LegendItem {
    const CURRENT_TEXT: &str = "current value";

    fn text(&self) -> String {
        match self {
            LegendItem::Series(name, _) => fit(name, TEXT_SIZE, 260.0),
            LegendItem::Current => Self::CURRENT_TEXT.to_owned(),
        }
    }

    fn width(&self) -> f64 {
        28.0 + text_width(&self.text(), TEXT_SIZE)
    }

    fn draw(&self, out: &mut String, x: f64, cy: f64) {
        match self {
            LegendItem::Series(_, colour) => {
                let _ = writeln!(
                    out,
                    r##"<g class="legend"><line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="2"/><circle cx="{}" cy="{y}" r="{}" fill="{colour}" stroke="#ffffff" stroke-width="1.2"/></g>"##,
                    num(x),
                    num(x + 20.0),
                    num(x + 10.0),
                    num(RADIUS),
                    y = num(cy)
                );
            }
            LegendItem::Current => {
                let _ = writeln!(
                    out,
                    r#"<circle class="legend" cx="{}" cy="{}" r="{}" fill="{CURRENT_FILL}" stroke="{CURRENT_STROKE}" stroke-width="1.5"/>"#,
                    num(x + 10.0),
                    num(cy),
                    num(CURRENT_RADIUS)
                );
            }
        }
        let _ = writeln!(
            out,
            r#"<text class="legend" x="{}" y="{}" fill="{INK}">{}</text>"#,
            num(x + 26.0),
            num(cy + TEXT_SIZE * 0.35),
            escape(&self.text())
        );
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scale {
    /// A fraction shown in percent, within 0..100%.
    Rate,
    /// An amount of money, digit-grouped (`1.2M` past a million).
    Money,
}

/// An axis range that starts and ends on a tick.
#[derive(Debug)]
struct Axis {
    lo: f64,
    hi: f64,
    step: f64,
    scale: Scale,
}

impl Axis {
    /// The range of `values` (all finite), padded a little, and widened when
    /// it is a single value so that the point sits in the middle.
    fn new(values: impl Iterator<Item = f64>, scale: Scale) -> Axis {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            min = min.min(v);
            max = max.max(v);
        }
        let fallback = match scale {
            Scale::Rate => (0.0, 1.0),
            Scale::Money => (0.0, 1.0),
        };
        if !min.is_finite() || !max.is_finite() {
            (min, max) = fallback;
        }
        let floor_span = match scale {
            Scale::Rate => 0.01,
            Scale::Money => 1.0,
        };
        let span = max - min;
        let (mut a, mut b);
        let least = (min.abs().max(max.abs()) * 0.2).max(floor_span);
        if span < least {
            let centre = min / 2.0 + max / 2.0;
            (a, b) = (centre - least / 2.0, centre + least / 2.0);
        } else {
            (a, b) = (min - span * 0.06, max + span * 0.06);
        }
        // Rates stay within 0..100%, and amounts that are all positive do not
        // get a negative axis.
        if min >= 0.0 && a < 0.0 {
            a = 0.0;
        }
        if scale == Scale::Rate && max <= 1.0 && b > 1.0 {
            b = 1.0;
        }
        if !(a.is_finite() && b.is_finite() && b > a) {
            (a, b) = fallback;
        }
        // Of the round steps that give 4 to 10 intervals, the one whose
        // tick-aligned range wastes least room around the data (a little
        // against fewer than 5 or more than 7 intervals).
        let mut best: Option<(f64, f64, f64, f64)> = None; // (score, step, lo, hi)
        for k in 4..=8 {
            let step = nice_step((b - a) / k as f64);
            let lo = (a / step + 1e-9).floor() * step;
            let hi = (b / step - 1e-9).ceil() * step;
            let intervals = ((hi - lo) / step).round();
            if !(3.0..=10.0).contains(&intervals) {
                continue;
            }
            let score = (b - a) / (hi - lo)
                - 0.02 * (intervals - 7.0).max(0.0)
                - 0.03 * (5.0 - intervals).max(0.0);
            if best.is_none_or(|(s, ..)| score > s + 1e-9) {
                best = Some((score, step, lo, hi));
            }
        }
        let (_, step, lo, hi) = best.unwrap_or((0.0, f64::NAN, f64::NAN, f64::NAN));
        if !(step.is_finite() && lo.is_finite() && hi.is_finite() && hi > lo) {
            return Axis {
                lo: fallback.0,
                hi: fallback.1,
                step: 0.2,
                scale,
            };
        }
        Axis {
            lo,
            hi,
            step,
            scale,
        }
    }

    fn ticks(&self) -> Vec<f64> {
        let mut ticks = Vec::new();
        for i in 0..=100 {
            let v = self.lo + self.step * i as f64;
            if v > self.hi + self.step * 1e-6 {
                break;
            }
            // No `-0` from rounding.
            ticks.push(if v.abs() < self.step * 1e-6 { 0.0 } else { v });
        }
        ticks
    }

    fn tick_label(&self, v: f64) -> String {
        match self.scale {
            Scale::Rate => {
                let v = v * 100.0;
                format!("{:.*}", decimals(self.step * 100.0), v)
            }
            Scale::Money => {
                let top = self.lo.abs().max(self.hi.abs());
                for (unit, suffix) in [(1e12, "T"), (1e9, "B"), (1e6, "M")] {
                    if top >= unit {
                        return format!(
                            "{}{suffix}",
                            grouped(v / unit, decimals(self.step / unit))
                        );
                    }
                }
                grouped(v, decimals(self.step))
            }
        }
    }
}

/// The round step (1, 2 or 5 times a power of ten) at or above `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|&n| n >= norm - 1e-9)
        .unwrap_or(10.0);
    nice * magnitude
}

/// How many decimals show a multiple of `step` exactly.
fn decimals(step: f64) -> usize {
    (0..=6)
        .find(|&d| {
            let m = step * 10f64.powi(d as i32);
            (m - m.round()).abs() < 1e-6 * m.abs().max(1.0)
        })
        .unwrap_or(6)
}

/// `v` as a percentage with `dp` decimals: `0.0123` → `1.23%`.
fn percent(v: f64, dp: usize) -> String {
    format!("{:.*}%", dp, v * 100.0)
}

/// `v` with `dp` decimals and thousands separators: `24352.768` → `24,352.77`.
fn grouped(v: f64, dp: usize) -> String {
    let text = format!("{:.*}", dp, v);
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) if rest.chars().any(|c| c.is_ascii_digit() && c != '0') => ("-", rest),
        Some(rest) => ("", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let mut out = String::with_capacity(text.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// The label of a run of points from `first` to `last`, and `current` (one
/// of them) shortened the same way: with `min_score=600`, `min_score=620`
/// and `min_score=610`, `min_score=600–620` and `610`.
fn label_range(first: &str, last: &str, current: &str) -> (String, String) {
    if first == last {
        return (first.to_owned(), current.to_owned());
    }
    let prefix = first
        .rfind('=')
        .map(|eq| &first[..=eq])
        .filter(|p| last.starts_with(p) && current.starts_with(p))
        .unwrap_or("");
    (
        format!("{first}–{}", &last[prefix.len()..]),
        current[prefix.len()..].to_owned(),
    )
}

/// The first `keep` names, then "and N more".
fn list_some(names: &[&str], keep: usize, more: &str) -> String {
    if names.len() <= keep {
        return names.join(", ");
    }
    format!(
        "{} and {} {more}",
        names[..keep].join(", "),
        names.len() - keep
    )
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
}

/// A coordinate: one decimal, never `NaN` or `inf`.
fn num(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let text = format!("{v:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text).to_owned();
    if text == "-0" { "0".to_owned() } else { text }
}

/// A rough width of `text` in a sans-serif face at `size` px (digits and
/// lowercase run about 0.55 em, capitals and `m`/`w` wider).
fn text_width(text: &str, size: f64) -> f64 {
    text.chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | ' ' => 0.3,
            'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '-' => 0.38,
            'm' | 'w' | 'M' | 'W' | '%' | '@' => 0.85,
            c if c.is_ascii_uppercase() => 0.68,
            _ => 0.57,
        })
        .sum::<f64>()
        * size
}

/// `text`, cut with an ellipsis to fit `room` px at `size`.
fn fit(text: &str, size: f64, room: f64) -> String {
    if text_width(text, size) <= room {
        return text.to_owned();
    }
    let mut out = String::new();
    for c in text.chars() {
        out.push(c);
        if text_width(&out, size) + size * 0.6 > room {
            out.pop();
            break;
        }
    }
    out.push('…');
    out
}

/// Text for XML: the five special characters escaped, and characters XML 1.0
/// does not allow (most control characters) replaced.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(label: &str, x: Option<f64>, y: Option<f64>, current: bool) -> PlotPoint {
        PlotPoint {
            label: label.to_owned(),
            series: String::new(),
            x,
            y,
            current,
        }
    }

    /// 13 points of a min_score sweep: approvals 32%..18%, bad rates
    /// 1.6%..0.6%, the policy's 600 at index 5.
    fn sweep() -> Vec<PlotPoint> {
        (0..13)
            .map(|i| {
                let f = i as f64 / 12.0;
                pt(
                    &format!("{}", 560 + 10 * i),
                    Some(0.32 - 0.14 * f),
                    Some(0.016 - 0.010 * f.sqrt()),
                    i == 4,
                )
            })
            .collect()
    }

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"))
    }

    fn marks<'a>(doc: &'a roxmltree::Document<'a>) -> Vec<roxmltree::Node<'a, 'a>> {
        doc.descendants()
            .filter(|n| {
                n.attribute("class")
                    .is_some_and(|c| c.split_whitespace().any(|w| w == "point"))
            })
            .collect()
    }

    fn classes_mentioning_point(doc: &roxmltree::Document<'_>) -> usize {
        doc.descendants()
            .filter(|n| n.attribute("class").is_some_and(|c| c.contains("point")))
            .count()
    }

    fn assert_sane(svg: &str) {
        for bad in ["NaN", "inf", "Infinity"] {
            assert!(!svg.contains(bad), "`{bad}` in the SVG:\n{svg}");
        }
        let doc = parse(svg);
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        for attr in ["width", "height", "viewBox"] {
            assert!(root.attribute(attr).is_some(), "no {attr}");
        }
        assert!(
            root.children().any(|n| n.has_tag_name("title")),
            "no <title>"
        );
        assert!(
            root.attribute("font-family")
                .unwrap()
                .contains("sans-serif")
        );
    }

    fn all_texts(doc: &roxmltree::Document<'_>) -> Vec<String> {
        doc.descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or("").to_owned())
            .collect()
    }

    #[test]
    fn one_mark_per_point_and_the_current_one_marked() {
        let svg = trade_off("jd_plus v3", "min_score", &sweep(), YAxis::BadRate);
        assert_sane(&svg);
        let doc = parse(&svg);
        let marks = marks(&doc);
        assert_eq!(marks.len(), 13);
        assert_eq!(classes_mentioning_point(&doc), 13);
        let current: Vec<_> = marks
            .iter()
            .filter(|n| n.attribute("class") == Some("point current"))
            .collect();
        assert_eq!(current.len(), 1);
        let texts = all_texts(&doc);
        assert!(texts.iter().any(|t| t == "600 (current)"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "current value"), "{texts:?}");
        for title in ["approval rate (%)", "bad rate among approved (%)"] {
            assert!(texts.iter().any(|t| t == title), "{texts:?}");
        }
        // Thirteen points: every other one labelled, and the current one.
        assert!(texts.iter().any(|t| t == "560"), "{texts:?}");
        assert!(!texts.iter().any(|t| t == "570"), "{texts:?}");
        assert_eq!(
            doc.descendants()
                .filter(|n| n.has_tag_name("polyline"))
                .count(),
            1
        );
    }

    #[test]
    fn ticks_are_round_percentages() {
        let svg = trade_off("t", "", &sweep(), YAxis::BadRate);
        let texts = all_texts(&parse(&svg));
        for tick in ["20", "26", "30", "0.6", "1.0", "1.6"] {
            assert!(texts.iter().any(|t| t == tick), "no tick {tick}: {texts:?}");
        }
    }

    #[test]
    fn the_loss_axis_groups_digits() {
        let points: Vec<PlotPoint> = (0..5)
            .map(|i| {
                pt(
                    &i.to_string(),
                    Some(0.2 + 0.02 * i as f64),
                    Some(20_000.0 + 2_500.0 * i as f64),
                    false,
                )
            })
            .collect();
        let svg = trade_off("t", "s", &points, YAxis::Loss);
        assert_sane(&svg);
        let doc = parse(&svg);
        let texts = all_texts(&doc);
        assert!(texts.iter().any(|t| t == "expected loss"), "{texts:?}");
        assert!(
            texts.iter().any(|t| t == "24,000" || t == "25,000"),
            "{texts:?}"
        );
        assert!(doc.descendants().any(|n| {
            n.text()
                .is_some_and(|t| t.contains("expected loss 30,000.00"))
        }));

        let big: Vec<PlotPoint> = (0..3)
            .map(|i| {
                pt(
                    "b",
                    Some(0.1 * i as f64),
                    Some(1.0e6 + 1.0e5 * i as f64),
                    false,
                )
            })
            .collect();
        let big_texts = all_texts(&parse(&trade_off("t", "s", &big, YAxis::Loss)));
        assert!(big_texts.iter().any(|t| t == "1.10M"), "{big_texts:?}");
    }

    #[test]
    fn text_is_escaped() {
        let mut points = sweep();
        points[0].label = "a<b&c\"d'e>".to_owned();
        points[1].label = "ctl\u{1}x".to_owned();
        let svg = trade_off("<script>&amp;", "R&D <test>", &points, YAxis::BadRate);
        assert_sane(&svg);
        assert!(!svg.contains("<script>"));
        let doc = parse(&svg);
        let texts = all_texts(&doc);
        assert!(texts.iter().any(|t| t == "<script>&amp;"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "R&D <test>"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "a<b&c\"d'e>"), "{texts:?}");
    }

    #[test]
    fn no_points_gives_a_no_data_chart() {
        let svg = trade_off("t", "s", &[], YAxis::BadRate);
        assert_sane(&svg);
        let doc = parse(&svg);
        assert_eq!(classes_mentioning_point(&doc), 0);
        assert!(all_texts(&doc).iter().any(|t| t == "no data to plot"));
    }

    #[test]
    fn points_without_a_rate_are_named_not_drawn() {
        let points = vec![
            pt("a", None, None, true),
            pt("b", Some(0.2), None, false),
            pt("c", Some(f64::NAN), Some(0.1), false),
            pt("d", Some(f64::INFINITY), Some(0.1), false),
        ];
        let svg = trade_off("t", "s", &points, YAxis::BadRate);
        assert_sane(&svg);
        let doc = parse(&svg);
        assert_eq!(classes_mentioning_point(&doc), 0);
        assert!(
            all_texts(&doc)
                .iter()
                .any(|t| t.starts_with("no data to plot"))
        );

        let mut points = sweep();
        points[11].y = None;
        points[12].y = None;
        let svg = trade_off("t", "s", &points, YAxis::BadRate);
        assert_sane(&svg);
        let doc = parse(&svg);
        assert_eq!(marks(&doc).len(), 11);
        let texts = all_texts(&doc);
        assert!(
            texts
                .iter()
                .any(|t| t == "Not drawn (no approved rows, so no bad rate): 670, 680"),
            "{texts:?}"
        );
    }

    #[test]
    fn no_current_value_in_the_legend_when_its_point_is_not_drawn() {
        let points = vec![
            pt("600", Some(0.0), None, true),
            pt("620", Some(0.1), Some(0.01), false),
        ];
        let svg = trade_off("t", "s", &points, YAxis::BadRate);
        assert!(
            !all_texts(&parse(&svg)).iter().any(|t| t == "current value"),
            "{svg}"
        );
        let points = vec![pt("600", Some(0.0), None, true)];
        let svg = trade_off("t", "s", &points, YAxis::BadRate);
        assert!(
            !all_texts(&parse(&svg)).iter().any(|t| t == "current value"),
            "{svg}"
        );
    }

    #[test]
    fn a_long_list_of_undrawn_points_keeps_its_count_of_the_rest() {
        let mut points: Vec<PlotPoint> = (0..5)
            .map(|i| {
                pt(
                    &format!("min_score={}", 500 + i),
                    Some(0.2),
                    Some(0.01),
                    false,
                )
            })
            .collect();
        points.extend((0..10).map(|i| {
            pt(
                &format!("min_score={}", 900 + 10 * i),
                Some(0.0),
                None,
                false,
            )
        }));
        let doc_text = trade_off("t", "s", &points, YAxis::BadRate);
        let doc = parse(&doc_text);
        let note = all_texts(&doc)
            .into_iter()
            .find(|t| t.starts_with("Not drawn"))
            .expect("a note of the undrawn points");
        assert!(!note.ends_with('…'), "{note}");
        assert!(note.ends_with(" more"), "{note}");
    }

    #[test]
    fn one_point_or_a_flat_line_gets_a_padded_range() {
        for points in [
            vec![pt("600", Some(0.25), Some(0.01), true)],
            vec![pt("0", Some(0.0), Some(0.0), false)],
            vec![pt("1", Some(1.0), Some(1.0), false)],
            (0..4)
                .map(|i| pt(&i.to_string(), Some(0.25), Some(0.01 * i as f64), false))
                .collect(),
            (0..4)
                .map(|i| pt(&i.to_string(), Some(0.1 * i as f64), Some(0.0), false))
                .collect(),
        ] {
            for y in [YAxis::BadRate, YAxis::Loss] {
                let svg = trade_off("t", "s", &points, y);
                assert_sane(&svg);
                let doc = parse(&svg);
                assert_eq!(marks(&doc).len(), points.len());
                for m in marks(&doc) {
                    let cx: f64 = m.attribute("cx").unwrap().parse().unwrap();
                    let cy: f64 = m.attribute("cy").unwrap().parse().unwrap();
                    assert!((0.0..=WIDTH).contains(&cx) && cy > 0.0, "{svg}");
                }
                // At least two ticks on each axis.
                let ticks = doc
                    .descendants()
                    .filter(|n| n.attribute("class") == Some("tick-labels"))
                    .map(|g| g.children().filter(|c| c.has_tag_name("text")).count())
                    .collect::<Vec<_>>();
                assert!(ticks.iter().all(|&n| n >= 2), "{ticks:?}\n{svg}");
            }
        }
    }

    #[test]
    fn two_params_draw_a_line_per_value_of_the_first() {
        let mut points = Vec::new();
        for (s, dti) in ["0.35", "0.40", "0.45"].iter().enumerate() {
            for i in 0..5 {
                points.push(PlotPoint {
                    label: format!("{}", 580 + 20 * i),
                    series: format!("max_dti={dti}"),
                    x: Some(0.30 - 0.03 * i as f64 + 0.02 * s as f64),
                    y: Some(0.015 - 0.002 * i as f64 + 0.001 * s as f64),
                    current: s == 1 && i == 1,
                });
            }
        }
        let svg = trade_off("t", "s", &points, YAxis::BadRate);
        assert_sane(&svg);
        let doc = parse(&svg);
        assert_eq!(marks(&doc).len(), 15);
        assert_eq!(classes_mentioning_point(&doc), 15);
        assert_eq!(
            doc.descendants()
                .filter(|n| n.has_tag_name("polyline"))
                .count(),
            3
        );
        assert!(all_texts(&doc).iter().any(|t| t == "max_dti=0.45"));
    }

    #[test]
    fn points_on_the_same_spot_share_one_label() {
        let points: Vec<PlotPoint> = (0..6)
            .map(|i| {
                let moved = i >= 4;
                pt(
                    &format!("max_dti={:.2}", 0.30 + 0.02 * i as f64),
                    Some(if moved { 0.25 + 0.02 * i as f64 } else { 0.25 }),
                    Some(if moved {
                        0.012 + 0.001 * i as f64
                    } else {
                        0.012
                    }),
                    i == 1,
                )
            })
            .collect();
        let svg = trade_off("t", "s", &points, YAxis::BadRate);
        assert_sane(&svg);
        let doc = parse(&svg);
        assert_eq!(marks(&doc).len(), 6);
        let texts = all_texts(&doc);
        assert!(
            texts
                .iter()
                .any(|t| t == "max_dti=0.30–0.36 (current 0.32)"),
            "{texts:?}"
        );
        assert!(texts.iter().any(|t| t == "max_dti=0.38"), "{texts:?}");
        assert_eq!(
            label_range("600", "650", "610"),
            ("600–650".to_owned(), "610".to_owned())
        );
        assert_eq!(
            label_range("a=1, b=2", "a=1, b=4", "a=1, b=4"),
            ("a=1, b=2–4".to_owned(), "4".to_owned())
        );
    }

    #[test]
    fn labels_do_not_overlap() {
        let svg = trade_off("t", "s", &sweep(), YAxis::BadRate);
        let doc = parse(&svg);
        let boxes: Vec<(f64, f64, f64)> = doc
            .descendants()
            .filter(|n| {
                n.attribute("class")
                    .is_some_and(|c| c.split_whitespace().any(|w| w == "label"))
            })
            .map(|n| {
                let x: f64 = n.attribute("x").unwrap().parse().unwrap();
                let y: f64 = n.attribute("y").unwrap().parse().unwrap();
                (x, y, text_width(n.text().unwrap(), LABEL_SIZE))
            })
            .collect();
        assert!(boxes.len() >= 7, "{boxes:?}");
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                let apart = a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || (a.1 - b.1).abs() >= LABEL_SIZE;
                assert!(apart, "{a:?} and {b:?} overlap");
            }
        }
    }

    #[test]
    fn numbers_format_for_people() {
        assert_eq!(grouped(24352.768, 2), "24,352.77");
        assert_eq!(grouped(-1234567.0, 0), "-1,234,567");
        assert_eq!(grouped(-0.001, 2), "0.00");
        assert_eq!(grouped(999.0, 0), "999");
        assert_eq!(nice_step(0.023), 0.05);
        assert_eq!(nice_step(0.0019), 0.002);
        assert_eq!(nice_step(3.1), 5.0);
        assert_eq!(decimals(0.25), 2);
        assert_eq!(decimals(5.0), 0);
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(-0.01), "0");
        assert_eq!(num(12.26), "12.3");
    }
}
