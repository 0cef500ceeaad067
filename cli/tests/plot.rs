//! `--curve` and `--plot` on the real binary: the curves in the JSON documents only when asked
//! for, SVG plots that parse and carry the expected series, legend and axis labels, PNG plots
//! of the expected size that are not blank, one plot per file in a folder, and usage errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use audioproc_testdata::ebu::stereo_steps;
use audioproc_testdata::signal::programme;
use audioproc_testdata::writers::{Encoding, WavOptions, wav};
use serde_json::Value;

fn audioproc(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_audioproc")).args(args).current_dir(dir).output().expect("runs")
}

fn ok(out: &Output) {
    assert!(out.status.success(), "{:?}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// A 12-second programme at about −18 LUFS whose loudest passage goes over −1 dBTP.
fn hot_wav(dir: &Path, name: &str) -> PathBuf {
    let mut sig = stereo_steps(44_100, &[(-24.0, 4.0), (-12.0, 4.0), (-0.5, 0.5), (-24.0, 3.5)]);
    sig.append(&programme(44_100, 2, 0.5, 2));
    let p = dir.join(name);
    std::fs::write(&p, wav(&sig, Encoding::Pcm24, WavOptions::default())).expect("write");
    p
}

/// Every `<text>` of an SVG, and every line's stroke colour (polylines and paths).
struct Svg {
    texts: Vec<String>,
    strokes: Vec<String>,
    /// Polygons (markers) by fill colour.
    fills: Vec<String>,
}

fn parse_svg(path: &Path) -> Svg {
    let text = std::fs::read_to_string(path).expect("read svg");
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("SVG does not parse: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let nodes: Vec<_> = doc.descendants().filter(roxmltree::Node::is_element).collect();
    let attr = |n: &roxmltree::Node<'_, '_>, a: &str| n.attribute(a).unwrap_or_default().to_ascii_uppercase();
    Svg {
        texts: nodes
            .iter()
            .filter(|n| n.tag_name().name() == "text")
            .map(|n| n.text().unwrap_or_default().trim().to_owned())
            .collect(),
        strokes: nodes
            .iter()
            .filter(|n| matches!(n.tag_name().name(), "polyline" | "path" | "line"))
            .map(|n| attr(n, "stroke"))
            .collect(),
        fills: nodes.iter().filter(|n| n.tag_name().name() == "polygon").map(|n| attr(n, "fill")).collect(),
    }
}

impl Svg {
    fn has_text(&self, t: &str) -> bool {
        self.texts.iter().any(|x| x.contains(t))
    }
    fn lines_of(&self, colour: &str) -> usize {
        self.strokes.iter().filter(|s| *s == colour).count()
    }
}

/// The series colours of `cli/src/plot/chart.rs`.
const INPUT_SHORT_TERM: &str = "#546078";
const INPUT_MOMENTARY: &str = "#ACB4C4";
const OUTPUT_SHORT_TERM: &str = "#0B57D0";
const OUTPUT_MOMENTARY: &str = "#8AB4F8";
const TARGET: &str = "#008744";
const CEILING: &str = "#C81E1E";
const OVER: &str = "#E60000";

#[test]
fn analyze_plot_svg_has_the_series_legend_and_axis_labels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    hot_wav(d, "hot.wav");
    ok(&audioproc(&["analyze", "hot.wav", "--plot", "hot.svg"], d));
    let svg = parse_svg(&d.join("hot.svg"));
    for t in [
        "hot.wav",
        "Time (mm:ss)",
        "Level (LUFS, dBTP)",
        "Short-term",
        "Momentary",
        "Integrated -",
        "Ceiling -1.0 dBTP",
    ] {
        assert!(svg.has_text(t), "no {t:?} in {:?}", svg.texts);
    }
    // Time labels in mm:ss.
    assert!(svg.has_text("00:00") && svg.has_text("00:10"), "{:?}", svg.texts);
    assert!(svg.has_text("True peak over the ceiling"), "the −0.5 dBFS burst: {:?}", svg.texts);
    assert!(svg.lines_of(INPUT_SHORT_TERM) >= 2 && svg.lines_of(INPUT_MOMENTARY) >= 2, "{:?}", svg.strokes);
    assert!(svg.lines_of(CEILING) >= 2, "{:?}", svg.strokes);
    assert_eq!(svg.lines_of(TARGET), 0, "analyze has no target");
    assert!(svg.fills.iter().any(|f| f == OVER), "{:?}", svg.fills);
}

#[test]
fn process_plot_has_input_and_output_on_the_same_axes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    hot_wav(d, "in.wav");
    let out = audioproc(&["process", "in.wav", "-o", "out.flac", "--mode", "limit", "--plot", "p.svg", "--json"], d);
    ok(&out);
    assert!(json(&out).get("curve").is_none(), "--plot alone keeps the document as it was");
    let svg = parse_svg(&d.join("p.svg"));
    for t in ["in.wav → out.flac", "Input short-term", "Output short-term", "Input momentary", "Output momentary"] {
        assert!(svg.has_text(t), "no {t:?} in {:?}", svg.texts);
    }
    assert!(svg.has_text("Target -23.0 LUFS") && svg.has_text("Ceiling -1.0 dBTP"), "{:?}", svg.texts);
    assert!(svg.has_text("Output integrated -23"), "{:?}", svg.texts);
    for colour in [INPUT_SHORT_TERM, OUTPUT_SHORT_TERM, OUTPUT_MOMENTARY, TARGET, CEILING] {
        assert!(svg.lines_of(colour) >= 2, "{colour}: {:?}", svg.strokes);
    }
    assert!(svg.has_text("Input true peak over the ceiling"), "{:?}", svg.texts);
    assert!(!svg.has_text("Output true peak over the ceiling"), "the limiter holds the ceiling: {:?}", svg.texts);
}

#[test]
fn png_plots_have_the_expected_size_and_are_not_blank() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    hot_wav(d, "in.wav");
    ok(&audioproc(&["process", "in.wav", "-o", "out.wav", "--plot", "p.png"], d));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(d.join("p.png")).expect("png")));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    assert_eq!((info.width, info.height), (1200, 600));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()].chunks(3).map(|p| [p[0], p[1], p[2]]).collect();
    let white = pixels.iter().filter(|p| **p == [255, 255, 255]).count();
    assert!(white < pixels.len() * 98 / 100, "nearly blank: {white} of {} white", pixels.len());
    let count = |rgb: [u8; 3]| pixels.iter().filter(|p| **p == rgb).count();
    // The curves are drawn in their colours (anti-aliased text is not), the text in black.
    assert!(count([11, 87, 208]) > 500, "output short-term: {}", count([11, 87, 208]));
    assert!(count([84, 96, 120]) > 500, "input short-term: {}", count([84, 96, 120]));
    assert!(pixels.iter().filter(|p| p.iter().all(|c| *c < 80)).count() > 1000, "no text");
}

#[test]
fn curve_goes_into_the_json_only_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    hot_wav(d, "a.wav");
    let plain = json(&audioproc(&["analyze", "--json", "a.wav"], d));
    let plotted = json(&audioproc(&["analyze", "--json", "a.wav", "--plot", "a.svg"], d));
    assert_eq!(plain, plotted);
    assert!(plain["files"][0].get("curve").is_none());
    let with = json(&audioproc(&["analyze", "--json", "--curve", "a.wav"], d));
    let c = &with["files"][0]["curve"];
    assert_eq!(c["schema"], "audioproc.curve/1");
    assert_eq!(c["interval_s"], 0.1);
    assert_eq!(c["momentary"].as_array().map(Vec::len), Some(125));
    assert!(c["short_term"][0].is_null() && c["short_term"][29].is_number(), "{}", c["short_term"]);

    let out = audioproc(&["process", "a.wav", "-o", "b.flac", "--json", "--curve"], d);
    ok(&out);
    let doc = json(&out);
    for side in ["input", "output"] {
        assert_eq!(doc["curve"][side]["schema"], "audioproc.curve/1", "{side}");
        assert_eq!(doc["curve"][side]["true_peak"].as_array().map(Vec::len), Some(125), "{side}");
    }
    // The everyday command, one document per line.
    let out = audioproc(&["a.wav", "--json", "--curve"], d);
    ok(&out);
    assert_eq!(json(&out)["curve"]["output"]["schema"], "audioproc.curve/1");
}

#[test]
fn several_files_plot_into_a_folder_and_bad_plot_names_are_usage_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    hot_wav(d, "a.wav");
    hot_wav(d, "b.wav");
    ok(&audioproc(&["analyze", "a.wav", "b.wav", "--plot", "plots"], d));
    for name in ["a.wav.svg", "b.wav.svg"] {
        assert!(parse_svg(&d.join("plots").join(name)).has_text("Short-term"), "{name}");
    }
    ok(&audioproc(&["a.wav", "b.wav", "--plot", "normalised", "--plot-format", "png"], d));
    for name in ["a.wav.png", "b.wav.png"] {
        let bytes = std::fs::read(d.join("normalised").join(name)).expect(name);
        assert!(bytes.starts_with(b"\x89PNG"), "{name}");
    }
    // An existing plot is not replaced without --force.
    let again = audioproc(&["analyze", "a.wav", "--plot", "plots/a.wav.svg"], d);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"), "{again:?}");
    ok(&audioproc(&["analyze", "a.wav", "--plot", "plots/a.wav.svg", "--force"], d));

    for args in [
        &["analyze", "a.wav", "--plot", "a.jpg"][..],
        &["analyze", "a.wav", "b.wav", "--plot", "both.svg"],
        &["process", "a.wav", "-o", "c.flac", "--plot", "p.pdf"],
        &["a.wav", "--plot", "p"],
    ] {
        let out = audioproc(args, d);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--plot"), "{args:?}");
    }
    assert!(!d.join("c.flac").exists(), "a usage error does no work");
}
