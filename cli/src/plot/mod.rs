//! `--plot`: a file's loudness over time as an SVG or PNG chart.
//!
//! The chart shows, against time in `mm:ss`, the short-term and momentary loudness curves
//! (`audioproc.curve/1`, recorded by the engine's meter), the integrated level and, for
//! `process`, the target, all in LUFS, and the true-peak ceiling in dBTP with every point whose
//! true peak goes over it marked. `process` draws the input and the output on the same axes.
//!
//! - [`chart`]: the drawing, for any plotters backend;
//! - [`scale`]: the axes (level range, round time ticks, `mm:ss`);
//! - [`destination`]: where each input's plot goes (a file, or a folder for several inputs).
//!
//! Text is drawn with DejaVu Sans compiled into the binary (`DejaVuSans.ttf`, licence in
//! `DejaVuSans.LICENSE`): plotters' `ab_glyph` text never looks for system fonts, so a headless
//! server with no fonts installed renders the same PNG. In the SVG, text is plain `<text>`
//! (family `sans-serif`), laid out with the same metrics.

mod chart;
pub mod destination;
mod scale;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::OnceLock;

use audioproc_engine::loudness::Curve;
use audioproc_engine::{Analysis, ProcessReport};
use plotters::prelude::*;
use plotters::style::FontStyle;

pub use destination::PlotArgs;

/// Width and height of a plot, pixels.
pub const SIZE: (u32, u32) = (1200, 600);

/// The embedded font (DejaVu Sans, Bitstream Vera licence: see `DejaVuSans.LICENSE`).
static FONT_BYTES: &[u8] = include_bytes!("DejaVuSans.ttf");

/// Why a plot could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The embedded font does not load (a broken build).
    #[error("the plot font does not load")]
    Font,
    /// The chart could not be drawn.
    #[error("drawing the plot: {0}")]
    Draw(String),
    /// The PNG could not be encoded.
    #[error("encoding the PNG: {0}")]
    Png(#[from] png::EncodingError),
    /// The file could not be written.
    #[error("writing the plot {path}: {source}")]
    Write {
        /// The plot's path.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The file exists and replacing it was not asked for.
    #[error("{0} exists (use --force to replace it)")]
    Exists(String),
}

/// What an image file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotFormat {
    /// SVG (vector; text as `<text>`).
    Svg,
    /// PNG, [`SIZE`] pixels, RGB.
    Png,
}

impl PlotFormat {
    /// The format a file name's extension names (`.svg`, `.png`, any case).
    pub fn of_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "svg" => Some(PlotFormat::Svg),
            "png" => Some(PlotFormat::Png),
            _ => None,
        }
    }

    /// The extension of a plot file of this format.
    pub fn extension(self) -> &'static str {
        match self {
            PlotFormat::Svg => "svg",
            PlotFormat::Png => "png",
        }
    }
}

/// The true-peak ceiling drawn on an `analyze` plot, dBTP: EBU R128's maximum true peak.
pub const ANALYZE_CEILING_DBTP: f64 = -1.0;

/// One programme on a chart: the analysed file, or a job's input or output.
#[derive(Debug)]
pub struct Programme<'a> {
    /// Its name in the legend (`Input`, `Output`; empty for the one file of `analyze`).
    pub label: &'a str,
    /// Its curve.
    pub curve: &'a Curve,
    /// Its integrated loudness, LUFS (drawn as a line when known).
    pub integrated_lufs: Option<f64>,
}

/// Everything one chart shows.
#[derive(Debug)]
pub struct Plot<'a> {
    /// The caption (the file's name).
    pub title: String,
    /// One or two programmes, drawn in this order (the second on top).
    pub programmes: Vec<Programme<'a>>,
    /// The loudness target, LUFS (`process`).
    pub target_lufs: Option<f64>,
    /// The true-peak ceiling, dBTP: drawn, and every true peak over it marked.
    pub ceiling_dbtp: f64,
}

impl<'a> Plot<'a> {
    /// The plot of an analysed file (`None` when no curve was recorded): its curves, its
    /// integrated level and EBU R128's ceiling ([`ANALYZE_CEILING_DBTP`]).
    pub fn of_analysis(path: &Path, a: &'a Analysis) -> Option<Self> {
        let programme =
            Programme { label: "", curve: a.loudness.curve.as_ref()?, integrated_lufs: a.loudness.integrated_lufs };
        Some(Plot {
            title: file_name(path),
            programmes: vec![programme],
            target_lufs: None,
            ceiling_dbtp: ANALYZE_CEILING_DBTP,
        })
    }

    /// The plot of a job: the input and the output on the same axes, the target and the
    /// ceiling of its spec (`None` when no curves were recorded).
    pub fn of_process(input: &Path, output: &Path, r: &'a ProcessReport) -> Option<Self> {
        let (i, o) = (&r.input.loudness, &r.output.loudness);
        Some(Plot {
            title: format!("{} → {}", file_name(input), file_name(output)),
            programmes: vec![
                Programme { label: "Input", curve: i.curve.as_ref()?, integrated_lufs: i.integrated_lufs },
                Programme { label: "Output", curve: o.curve.as_ref()?, integrated_lufs: o.integrated_lufs },
            ],
            target_lufs: Some(r.spec.target_lufs),
            ceiling_dbtp: r.spec.true_peak_dbtp,
        })
    }
}

/// The last component of `path` (the whole of it when there is none).
fn file_name(path: &Path) -> String {
    path.file_name().unwrap_or(path.as_os_str()).to_string_lossy().into_owned()
}

/// Registers the embedded font once as the `sans-serif` family.
fn register_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok =
        REGISTERED.get_or_init(|| plotters::style::register_font("sans-serif", FontStyle::Normal, FONT_BYTES).is_ok());
    if *ok { Ok(()) } else { Err(PlotError::Font) }
}

/// The chart of `plot` as the bytes of a `format` file.
///
/// # Errors
/// [`PlotError::Font`], [`PlotError::Draw`], [`PlotError::Png`].
pub fn render(plot: &Plot<'_>, format: PlotFormat) -> Result<Vec<u8>, PlotError> {
    register_font()?;
    match format {
        PlotFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
                chart::draw(&root, plot)?;
            }
            Ok(svg.into_bytes())
        }
        PlotFormat::Png => {
            let (w, h) = SIZE;
            let mut rgb = vec![0u8; w as usize * h as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
                chart::draw(&root, plot)?;
            }
            let mut bytes = Vec::new();
            let mut encoder = png::Encoder::new(&mut bytes, w, h);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(&rgb)?;
            writer.finish()?;
            Ok(bytes)
        }
    }
}

/// Renders `plot` into `path` (its format from its extension, SVG when it has none we know).
/// An existing file is refused unless `force`; the file is written whole or not at all.
///
/// # Errors
/// As [`render`]; [`PlotError::Exists`], [`PlotError::Write`].
pub fn write(path: &Path, plot: &Plot<'_>, force: bool) -> Result<(), PlotError> {
    let bytes = render(plot, PlotFormat::of_path(path).unwrap_or(PlotFormat::Svg))?;
    let shown = path.display().to_string();
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return Err(PlotError::Exists(shown));
    }
    let write_err = |source| PlotError::Write { path: shown.clone(), source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new().prefix(".audioproc-plot-").tempfile_in(dir).map_err(write_err)?;
    temp.write_all(&bytes).map_err(write_err)?;
    // Readable like any other file the user makes (temporary files start private).
    temp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(write_err)?;
    let placed = if force { temp.persist(path).map(drop) } else { temp.persist_noclobber(path).map(drop) };
    placed.map_err(|e| write_err(e.error))
}
