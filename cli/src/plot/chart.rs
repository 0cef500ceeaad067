//! Drawing one [`Plot`] on any plotters backend (SVG or bitmap).
//!
//! One level axis in dB serves the loudness (LUFS) and the true peak (dBTP), as on a broadcast
//! loudness meter. For each programme: the short-term curve (thick), the momentary curve (thin,
//! lighter) and its integrated level (dashed), in the programme's colour; then the target
//! (dashed green), the true-peak ceiling (dashed red) and a red marker on every point whose true
//! peak is over the ceiling. `null` readings (silence) lift the pen.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::scale::{level_range, mm_ss, overs, time_ticks};
use super::{Plot, PlotError, Programme};

/// The colours of a programme's series: short-term, momentary.
struct Palette {
    short_term: RGBColor,
    momentary: RGBColor,
}

/// The first programme (the input, or the analysed file) in grey-blue, the second (the output)
/// in blue.
const PALETTES: [Palette; 2] = [
    Palette { short_term: RGBColor(84, 96, 120), momentary: RGBColor(172, 180, 196) },
    Palette { short_term: RGBColor(11, 87, 208), momentary: RGBColor(138, 180, 248) },
];
const TARGET: RGBColor = RGBColor(0, 135, 68);
const CEILING: RGBColor = RGBColor(200, 30, 30);
const OVER: RGBColor = RGBColor(230, 0, 0);

/// The font family every text uses (the embedded font is registered under this name).
const FONT: &str = "sans-serif";
/// Width of the legend column on the right, pixels.
const LEGEND_WIDTH: u32 = 290;

/// How a legend entry's sample is drawn.
#[derive(Clone, Copy, Debug)]
enum Swatch {
    /// A solid line of this width.
    Line(RGBColor, u32),
    /// A dashed line of this width.
    Dashed(RGBColor, u32),
    /// A filled triangle.
    Marker(RGBColor),
}

/// The legend, filled in as the series are drawn, then drawn beside the chart (never over it).
type Legend = Vec<(String, Swatch)>;

/// Draws `plot` filling `root`: the title, the chart, and the legend in a column on the right.
pub(super) fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, plot: &Plot<'_>) -> Result<(), PlotError> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| PlotError::Draw(e.to_string());
    root.fill(&WHITE).map_err(err)?;
    let body = root.titled(&plot.title, (FONT, 24)).map_err(err)?;
    let (width, _) = body.dim_in_pixel();
    let (area, legend_area) = body.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
    let duration =
        plot.programmes.iter().map(|p| p.curve.len() as f64 * p.curve.interval_s).fold(0.0, f64::max).max(1.0);
    let (bottom, top) = level_range(plot);
    let mut chart = ChartBuilder::on(&area)
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..duration, bottom..top)
        .map_err(err)?;
    // The time axis has round minutes and seconds (see `time_axis`), not plotters' own ticks.
    chart
        .configure_mesh()
        .x_labels(0)
        .x_desc("Time (mm:ss)")
        .y_desc("Level (LUFS, dBTP)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(err)?;
    time_axis(&area, &mut chart, duration, (bottom, top)).map_err(err)?;

    let mut legend = Legend::new();
    for (p, palette) in plot.programmes.iter().zip(&PALETTES) {
        draw_programme(&mut chart, p, palette, duration, &mut legend).map_err(err)?;
    }
    if let Some(target) = plot.target_lufs {
        let label = format!("Target {target:.1} LUFS");
        level_line(&mut chart, target, duration, Swatch::Dashed(TARGET, 2), label, &mut legend).map_err(err)?;
    }
    let label = format!("Ceiling {:.1} dBTP", plot.ceiling_dbtp);
    level_line(&mut chart, plot.ceiling_dbtp, duration, Swatch::Dashed(CEILING, 2), label, &mut legend).map_err(err)?;
    for p in &plot.programmes {
        draw_overs(&mut chart, p, plot.ceiling_dbtp, &mut legend).map_err(err)?;
    }
    draw_legend(&legend_area, &legend).map_err(err)?;
    root.present().map_err(err)
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A light vertical line and an `mm:ss` label at each round time tick.
fn time_axis<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &mut Chart<'_, DB>,
    duration: f64,
    (bottom, top): (f64, f64),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let ticks = time_ticks(duration, 10);
    let grid = BLACK.mix(0.12);
    chart.draw_series(ticks.iter().map(|t| PathElement::new(vec![(*t, bottom), (*t, top)], grid)))?;
    let style = TextStyle::from((FONT, 15)).pos(Pos::new(HPos::Center, VPos::Top));
    for t in ticks {
        let (x, y) = chart.backend_coord(&(t, bottom));
        let (left, top) = area.get_base_pixel();
        area.draw(&Text::new(mm_ss(t), (x - left, y - top + 6), style.clone()))?;
    }
    Ok(())
}

/// The legend: one row per entry, its sample then its text.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    legend: &Legend,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let text = TextStyle::from((FONT, 14)).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (label, swatch)) in legend.iter().enumerate() {
        let y = 32 + 24 * i32::try_from(i).unwrap_or(i32::MAX / 48);
        let line = vec![(4, y), (36, y)];
        match *swatch {
            Swatch::Line(colour, width) => area.draw(&PathElement::new(line, colour.stroke_width(width)))?,
            Swatch::Dashed(colour, width) => {
                area.draw(&DashedPathElement::new(line, 7, 4, colour.stroke_width(width)))?
            }
            Swatch::Marker(colour) => area.draw(&TriangleMarker::new((20, y), 6, colour.filled()))?,
        }
        area.draw(&Text::new(label.clone(), (44, y), text.clone()))?;
    }
    Ok(())
}

/// A programme's momentary and short-term curves and its integrated level.
fn draw_programme<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    p: &Programme<'_>,
    palette: &Palette,
    duration: f64,
    legend: &mut Legend,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let series = [
        (&p.curve.momentary, palette.momentary, 1, "momentary"),
        (&p.curve.short_term, palette.short_term, 3, "short-term"),
    ];
    for (values, colour, width, name) in series {
        let style = colour.stroke_width(width);
        let runs = runs(values, |i| p.curve.time_s(i));
        chart.draw_series(runs.into_iter().map(move |run| PathElement::new(run, style)))?;
        legend.push((series_name(p.label, name), Swatch::Line(colour, width)));
    }
    if let Some(level) = p.integrated_lufs {
        let label = series_name(p.label, &format!("integrated {level:.1} LUFS"));
        level_line(chart, level, duration, Swatch::Dashed(palette.short_term, 1), label, legend)?;
    }
    Ok(())
}

/// A dashed horizontal line at `level` across the chart, and its legend entry.
fn level_line<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    level: f64,
    duration: f64,
    swatch: Swatch,
    label: String,
    legend: &mut Legend,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let style = match swatch {
        Swatch::Line(colour, width) | Swatch::Dashed(colour, width) => colour.stroke_width(width),
        Swatch::Marker(colour) => colour.stroke_width(1),
    };
    let line = DashedPathElement::new(vec![(0.0, level), (duration, level)], 10, 6, style);
    chart.draw_series(std::iter::once(line))?;
    legend.push((label, swatch));
    Ok(())
}

/// A red triangle on every point of `p` whose true peak is over `ceiling`; a legend entry only
/// when there is one.
fn draw_overs<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    p: &Programme<'_>,
    ceiling: f64,
    legend: &mut Legend,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let points: Vec<(f64, f64)> =
        overs(p.curve.true_peak.iter().copied(), ceiling).map(|(i, v)| (p.curve.time_s(i), v)).collect();
    if points.is_empty() {
        return Ok(());
    }
    let count = points.len();
    let style = OVER.filled();
    chart.draw_series(points.into_iter().map(move |xy| TriangleMarker::new(xy, 6, style)))?;
    legend.push((series_name(p.label, &format!("true peak over the ceiling ({count})")), Swatch::Marker(OVER)));
    Ok(())
}

/// A legend entry: `Input short-term`, or `Short-term` for an unnamed programme.
fn series_name(programme: &str, what: &str) -> String {
    if programme.is_empty() {
        let mut chars = what.chars();
        chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
    } else {
        format!("{programme} {what}")
    }
}

/// The runs of consecutive readings of `values` (a `None` ends a run), as (time, level) points.
fn runs(values: &[Option<f64>], time: impl Fn(usize) -> f64) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut pen_down = false;
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) if pen_down => runs.last_mut().into_iter().for_each(|r| r.push((time(i), *v))),
            Some(v) => {
                runs.push(vec![(time(i), *v)]);
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_lift_the_pen() {
        let v = [None, Some(-20.0), Some(-21.0), None, None, Some(-30.0)];
        let r = runs(&v, |i| i as f64);
        assert_eq!(r, vec![vec![(1.0, -20.0), (2.0, -21.0)], vec![(5.0, -30.0)]]);
        assert!(runs(&[None, None], |i| i as f64).is_empty());
    }
}
