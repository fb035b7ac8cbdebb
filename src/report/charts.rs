//! SVG charts for the HTML report, drawn with plotters' SVG backend. Text stays `<text>`
//! (the browser lays it out), so the charts need no font files and print crisply. Every
//! chart returns an SVG string; a drawing failure becomes a short note instead of a chart.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Chart width and height in pixels.
const W: u32 = 760;
const H: u32 = 320;

/// Colour of series `i`.
pub fn colour(i: usize) -> RGBColor {
    const P: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    P[i % P.len()]
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), Box<dyn std::error::Error>>;

/// Draw with `f` into a fresh SVG string.
fn svg(f: impl FnOnce(&Area) -> Drawn) -> String {
    svg_sized(H, f)
}

fn svg_sized(height: u32, f: impl FnOnce(&Area) -> Drawn) -> String {
    let mut s = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut s, (W, height)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error>)
            .and_then(|_| f(&root))
            .and_then(|_| {
                root.present()
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error>)
            })
    };
    match result {
        Ok(()) => s,
        Err(e) => format!("<p class=\"note\">chart unavailable: {e}</p>"),
    }
}

/// `[lo, hi]` of the values, padded, never empty.
fn range(values: impl Iterator<Item = f64>, zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    let pad = ((hi - lo) * 0.06).max(hi.abs().max(1.0) * 1e-9);
    (if zero && lo >= 0.0 { 0.0 } else { lo - pad }, hi + pad)
}

/// Compact number for axis labels.
pub fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}B", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Axes for a series over periods: x is the period index, labelled with its date.
fn time_axes<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    dates: &'a [String],
    (lo, hi): (f64, f64),
) -> Result<
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    Box<dyn std::error::Error>,
> {
    let n = dates.len().max(2);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..(n - 1) as f64, lo..hi)?;
    chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&|x| dates.get(x.round() as usize).cloned().unwrap_or_default())
        .y_label_formatter(&|y| short(*y))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    Ok(chart)
}

/// A time series chart: one line per series over period labels; `shade` marks a range
/// of periods (the holdout) in grey.
pub fn time_lines(
    title: &str,
    dates: &[String],
    series: &[(&str, &[f64])],
    shade: Option<(usize, usize)>,
) -> String {
    let (lo, hi) = range(series.iter().flat_map(|s| s.1.iter().copied()), false);
    svg(|root| {
        let mut chart = time_axes(root, title, dates, (lo, hi))?;
        if let Some((a, b)) = shade {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a as f64 - 0.5, lo), (b as f64 - 0.5, hi)],
                RGBColor(200, 200, 200).mix(0.35).filled(),
            )))?;
        }
        for (i, (name, values)) in series.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(
                    values.iter().enumerate().map(|(t, v)| (t as f64, *v)),
                    c.stroke_width(2),
                ))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

/// Stacked areas over time: series stacked in order (negative parts are drawn from 0).
pub fn stacked(title: &str, dates: &[String], series: &[(&str, Vec<f64>)]) -> String {
    let mut cum = vec![0.0; dates.len()];
    let mut layers = Vec::new();
    for (name, values) in series {
        let below = cum.clone();
        for (c, v) in cum.iter_mut().zip(values) {
            *c += v.max(0.0);
        }
        layers.push((*name, below, cum.clone()));
    }
    let (_, hi) = range(cum.iter().copied(), true);
    svg_sized(380, |root| {
        let mut chart = time_axes(root, title, dates, (0.0, hi))?;
        for (i, (name, below, top)) in layers.iter().enumerate() {
            let c = colour(i);
            let mut poly: Vec<(f64, f64)> = top
                .iter()
                .enumerate()
                .map(|(t, v)| (t as f64, *v))
                .collect();
            poly.extend(below.iter().enumerate().rev().map(|(t, v)| (t as f64, *v)));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.75).filled())))?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

/// The series legend in a corner, on a translucent white box.
fn legend<'a, 'b: 'a>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    position: SeriesLabelPosition,
) -> Drawn {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(position)
        .draw()?;
    Ok(())
}

/// Axes for one bar per name: x spans `0..n` with each name centred in its unit.
fn category_axes<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    names: &'a [String],
    (lo, hi): (f64, f64),
    y_label: &str,
) -> Result<
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    Box<dyn std::error::Error>,
> {
    let n = names.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..n as f64, lo..hi)?;
    let label = |x: &f64| {
        let i = (x - 0.5).round();
        if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
            names.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        // Step 0.5 between labels puts one at every bar's centre.
        .x_labels(2 * n + 2)
        .x_label_formatter(&label)
        .y_desc(y_label)
        .y_label_formatter(&|y| short(*y))
        .draw()?;
    Ok(chart)
}

/// Horizontal-label bars with optional interval whiskers, one bar per name.
pub fn bars(
    title: &str,
    names: &[String],
    values: &[f64],
    intervals: Option<&[[f64; 2]]>,
    y_label: &str,
) -> String {
    let all = values.iter().copied().chain(
        intervals
            .into_iter()
            .flatten()
            .flat_map(|iv| iv.iter().copied()),
    );
    let (lo, hi) = range(all, true);
    svg(|root| {
        let mut chart = category_axes(root, title, names, (lo, hi), y_label)?;
        chart.draw_series(values.iter().enumerate().map(|(i, v)| {
            let x = i as f64;
            Rectangle::new([(x + 0.2, 0.0), (x + 0.8, *v)], colour(i).mix(0.8).filled())
        }))?;
        if let Some(iv) = intervals {
            for (i, [a, b]) in iv.iter().enumerate() {
                let x = i as f64 + 0.5;
                let line = |p: Vec<(f64, f64)>| PathElement::new(p, BLACK.stroke_width(1));
                chart.draw_series([
                    line(vec![(x, *a), (x, *b)]),
                    line(vec![(x - 0.1, *a), (x + 0.1, *a)]),
                    line(vec![(x - 0.1, *b), (x + 0.1, *b)]),
                ])?;
            }
        }
        Ok(())
    })
}

/// Grouped bars: per name, one bar for each group (e.g. spend share vs effect share).
pub fn grouped(
    title: &str,
    names: &[String],
    groups: &[(&str, Vec<f64>)],
    y_label: &str,
) -> String {
    let k = groups.len().max(1) as f64;
    let (lo, hi) = range(groups.iter().flat_map(|g| g.1.iter().copied()), true);
    svg(|root| {
        let mut chart = category_axes(root, title, names, (lo, hi), y_label)?;
        for (j, (label, values)) in groups.iter().enumerate() {
            let c = colour(j);
            let w = 0.8 / k;
            chart
                .draw_series(values.iter().enumerate().map(|(i, v)| {
                    let x0 = i as f64 + 0.1 + j as f64 * w;
                    Rectangle::new([(x0, 0.0), (x0 + w * 0.9, *v)], c.mix(0.85).filled())
                }))?
                .label(*label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// A waterfall: each step adds its value to the running total; the last bar is the total.
pub fn waterfall(title: &str, steps: &[(String, f64)], total_label: &str) -> String {
    let mut names: Vec<String> = steps.iter().map(|s| s.0.clone()).collect();
    names.push(total_label.to_string());
    let mut run = 0.0;
    let mut spans = Vec::new();
    for (_, v) in steps {
        spans.push((run, run + v));
        run += v;
    }
    spans.push((0.0, run));
    let n = names.len();
    let (lo, hi) = range(spans.iter().flat_map(|s| [s.0, s.1]), true);
    svg(|root| {
        let mut chart = category_axes(root, title, &names, (lo, hi), "")?;
        chart.draw_series(spans.iter().enumerate().map(|(i, (a, b))| {
            let x = i as f64;
            let c = if i + 1 == n {
                RGBColor(60, 60, 60)
            } else if b >= a {
                colour(2)
            } else {
                colour(3)
            };
            Rectangle::new([(x + 0.15, *a), (x + 0.85, *b)], c.mix(0.85).filled())
        }))?;
        Ok(())
    })
}

/// Lines over a numeric x axis, with optional labelled markers `(series, x, y, label)`.
pub fn xy_lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, Vec<(f64, f64)>)],
    markers: &[(usize, f64, f64, &str)],
) -> String {
    let (x0, x1) = range(series.iter().flat_map(|s| s.1.iter().map(|p| p.0)), true);
    let (y0, y1) = range(
        series
            .iter()
            .flat_map(|s| s.1.iter().map(|p| p.1))
            .chain(markers.iter().map(|m| m.2)),
        true,
    );
    svg_sized(360, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|x| short(*x))
            .y_label_formatter(&|y| short(*y))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
        }
        for (i, x, y, label) in markers {
            let c = colour(*i);
            let filled = *label == "recommended";
            chart.draw_series(std::iter::once(Circle::new(
                (*x, *y),
                5,
                if filled {
                    c.filled()
                } else {
                    c.stroke_width(2)
                },
            )))?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    })
}
