//! The `--curve`, `--plot` and `--plot-format` flags, and where each input's plot goes: the
//! file `--plot` names (one input), or one file per input in the folder it names (several
//! inputs, or an existing folder). Everything is decided before any work, so a bad `--plot`
//! is a usage error (exit status 2) and two inputs never write one plot.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::PlotFormat;

/// The curve and plot flags shared by `analyze`, `process` and `audioproc FILE...`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlotArgs {
    /// Add each file's loudness curve to the JSON documents (schema "audioproc.curve/1": the
    /// momentary and short-term loudness and the true peak over time, at most 2000 points).
    #[arg(long)]
    pub curve: bool,
    /// Draw the loudness over time into PATH, an .svg or .png file; with several files (or an
    /// existing folder) PATH is a folder that gets one plot per file, named after it.
    #[arg(long, value_name = "PATH")]
    pub plot: Option<PathBuf>,
    /// Format of the plots written into a --plot folder: svg or png.
    #[arg(long, value_name = "FORMAT", default_value = "svg", value_parser = parse_format)]
    pub plot_format: PlotFormat,
}

fn parse_format(s: &str) -> Result<PlotFormat, String> {
    PlotFormat::of_path(Path::new(&format!("plot.{s}"))).ok_or_else(|| "expected svg or png".to_owned())
}

impl PlotArgs {
    /// Whether the meter must record the curve (for the JSON, or for a plot).
    pub fn records_curve(&self) -> bool {
        self.curve || self.plot.is_some()
    }

    /// Where each of `inputs` has its plot (`None` without `--plot`).
    ///
    /// # Errors
    /// A usage message: a file `--plot` for several inputs, a name that is neither .svg nor
    /// .png, a folder that cannot be made, two inputs whose plots would have one name.
    pub fn destinations(&self, inputs: &[PathBuf]) -> Result<Option<Vec<PathBuf>>, String> {
        let Some(plot) = &self.plot else { return Ok(None) };
        PlotDestination::plan(plot, inputs.len(), self.plot_format)?.paths(inputs).map(Some)
    }
}

/// Where `--plot PATH` puts the plots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlotDestination {
    /// One input: this file (its extension gives the format).
    File(PathBuf),
    /// `DIR/<input file name>.<format>` for each input.
    Folder {
        /// The folder (made if missing).
        dir: PathBuf,
        /// The plots' format.
        format: PlotFormat,
    },
}

impl PlotDestination {
    /// Reads `--plot PATH` for `inputs` inputs.
    ///
    /// # Errors
    /// As [`PlotArgs::destinations`].
    pub fn plan(path: &Path, inputs: usize, format: PlotFormat) -> Result<Self, String> {
        let shown = path.display();
        if path.is_dir() {
            return Ok(PlotDestination::Folder { dir: path.to_owned(), format });
        }
        if inputs > 1 {
            if PlotFormat::of_path(path).is_some() || path.exists() {
                return Err(format!(
                    "--plot {shown}: with several files --plot names a folder (one plot per file), not a file"
                ));
            }
            std::fs::create_dir_all(path).map_err(|e| format!("--plot {shown}: cannot make the folder: {e}"))?;
            return Ok(PlotDestination::Folder { dir: path.to_owned(), format });
        }
        match PlotFormat::of_path(path) {
            Some(_) => Ok(PlotDestination::File(path.to_owned())),
            None => Err(format!("--plot {shown}: name an .svg or .png file (the extension gives the format)")),
        }
    }

    /// The plot of each input.
    ///
    /// # Errors
    /// A usage message when two inputs have the same file name in a folder.
    pub fn paths(&self, inputs: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
        let (dir, format) = match self {
            PlotDestination::File(f) => return Ok(inputs.iter().map(|_| f.clone()).collect()),
            PlotDestination::Folder { dir, format } => (dir, format),
        };
        let paths: Vec<PathBuf> = inputs
            .iter()
            .map(|input| {
                let mut name = input.file_name().unwrap_or(input.as_os_str()).to_owned();
                name.push(format!(".{}", format.extension()));
                dir.join(name)
            })
            .collect();
        let mut seen: HashMap<&PathBuf, &PathBuf> = HashMap::new();
        for (plot, input) in paths.iter().zip(inputs) {
            if let Some(first) = seen.insert(plot, input) {
                return Err(format!(
                    "--plot: {} and {} would both be plotted to {}: plot them separately",
                    first.display(),
                    input.display(),
                    plot.display()
                ));
            }
        }
        Ok(paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_input_needs_an_svg_or_png_name() {
        let svg = PlotDestination::plan(Path::new("x/a.SVG"), 1, PlotFormat::Svg).unwrap();
        assert_eq!(svg, PlotDestination::File("x/a.SVG".into()));
        assert!(PlotDestination::plan(Path::new("a.jpg"), 1, PlotFormat::Svg).unwrap_err().contains(".svg or .png"));
        assert!(PlotDestination::plan(Path::new("a"), 1, PlotFormat::Svg).is_err());
    }

    #[test]
    fn several_inputs_plot_into_a_folder_one_file_each() {
        let dir = tempfile::tempdir().unwrap();
        assert!(PlotDestination::plan(&dir.path().join("p.png"), 2, PlotFormat::Svg).unwrap_err().contains("folder"));
        let plots = dir.path().join("plots");
        let d = PlotDestination::plan(&plots, 2, PlotFormat::Png).unwrap();
        assert!(plots.is_dir());
        let inputs = [PathBuf::from("a/x.wav"), PathBuf::from("b/x.flac")];
        assert_eq!(d.paths(&inputs).unwrap(), vec![plots.join("x.wav.png"), plots.join("x.flac.png")]);
        let same = [PathBuf::from("a/x.wav"), PathBuf::from("b/x.wav")];
        assert!(d.paths(&same).unwrap_err().contains("a/x.wav and b/x.wav"));
        // An existing folder takes one input too.
        assert!(matches!(PlotDestination::plan(&plots, 1, PlotFormat::Svg), Ok(PlotDestination::Folder { .. })));
    }
}
