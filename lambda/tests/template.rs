//! Checks on `lambda/template.yaml`, the SAM template that deploys the function:
//!
//! - cfn-lint 1.51 (installed by `scripts/s3-venv.sh`) finds no error and no warning;
//! - the S3 trigger can never match an object the function writes (the loop guard);
//! - the function is configured with exactly the documented `AUDIOPROC_*` variables.
//!
//! The template is read with the harness's line scanner for block-style YAML
//! (`audioproc_testdata::harness::yaml_lines`); the loop-guard reasoning is
//! `audioproc_testdata::harness::loop_guard`, shared with the fleet template's tests.

use std::env;
use std::path::PathBuf;

use audioproc_testdata::harness::cfn_lint;
use audioproc_testdata::harness::loop_guard::{SegmentClass, filter_could_match, rule_refuses_equal};
use audioproc_testdata::harness::yaml_lines::{
    Line, block_at, children, flow_list, name_value_items, parameter, scan, value_text,
};

const TEMPLATE: &str = include_str!("../template.yaml");

/// The variables the function reads (`lambda/src/config.rs`), all of which the template sets.
const DOCUMENTED_VARIABLES: [&str; 10] = [
    "AUDIOPROC_OUTPUT_BUCKET",
    "AUDIOPROC_OUTPUT_PREFIX",
    "AUDIOPROC_PRESET",
    "AUDIOPROC_TARGET_LUFS",
    "AUDIOPROC_TRUE_PEAK_DBTP",
    "AUDIOPROC_MODE",
    "AUDIOPROC_FORMAT",
    "AUDIOPROC_SAMPLE_RATE",
    "AUDIOPROC_ALLOWED_BUCKETS",
    "AUDIOPROC_MAX_INPUT_BYTES",
];

/// Suffixes of the objects the function writes besides the audio (`<output key>.json`,
/// `<input key>.error.json`).
const SIDECAR_SUFFIXES: [&str; 2] = [".json", ".error.json"];

#[test]
fn cfn_lint_finds_no_errors_or_warnings() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    cfn_lint::assert_clean(&dir.join("template.yaml"), &dir);
}

#[test]
fn trigger_can_never_match_outputs() {
    let lines = scan(TEMPLATE);
    let param = |name: &str, property: &str| {
        parameter(&lines, name, property).unwrap_or_else(|| panic!("template: Parameters.{name}.{property} not found"))
    };
    let input_prefix = param("InputPrefix", "Default");
    let output_prefix = param("OutputPrefix", "Default");
    let input_suffix = param("InputSuffix", "Default");
    let formats = flow_list(&param("Format", "AllowedValues"));
    assert!(formats.contains(&"flac".to_owned()), "Format values: {formats:?}");
    let extensions: Vec<String> = formats.iter().map(|f| format!(".{f}")).collect();
    let mut output_suffixes: Vec<&str> = extensions.iter().map(String::as_str).collect();
    output_suffixes.extend(SIDECAR_SUFFIXES);

    // (a) The defaults don't overlap, whatever the suffixes.
    assert!(
        !filter_could_match(&input_prefix, &input_suffix, &output_prefix, &output_suffixes),
        "default trigger {input_prefix:?}…{input_suffix:?} can match outputs under {output_prefix:?}"
    );
    assert!(!filter_could_match(&input_prefix, "", &output_prefix, &[]), "{input_prefix:?} / {output_prefix:?}");

    // (b) Both prefixes are constrained to one non-empty segment ending in '/', which the
    // defaults satisfy; so any two different allowed values never overlap.
    let pattern = param("InputPrefix", "AllowedPattern");
    assert_eq!(pattern, param("OutputPrefix", "AllowedPattern"), "both prefixes must be constrained alike");
    let class = SegmentClass::parse(&pattern)
        .unwrap_or_else(|| panic!("AllowedPattern {pattern:?} does not force one path segment ending in '/'"));
    assert!(class.matches(&input_prefix) && class.matches(&output_prefix));
    // The argument, tried: every pair of different allowed values up to 2 characters + '/'.
    class.assert_values_never_overlap();

    // (c) A rule refuses equal prefixes, in every configuration.
    let rules = block_at(&lines, &["Rules"]).expect("template: no Rules section");
    let rule_names: Vec<usize> = (0..rules.len()).filter(|&i| rules[i].indent == rules[0].indent).collect();
    assert!(
        rule_names.iter().any(|&i| rule_refuses_equal(children(rules, i), "InputPrefix", "OutputPrefix")),
        "no unconditional rule asserts InputPrefix != OutputPrefix"
    );

    // The trigger filters on InputPrefix (and InputSuffix) only; outputs go under OutputPrefix.
    let filters = name_value_items(&lines);
    assert!(filters.iter().any(|(name, _)| name == "prefix"), "no S3 key filter found");
    for (name, value) in &filters {
        match name.as_str() {
            "prefix" => assert_eq!(value, "Ref: InputPrefix"),
            "suffix" => assert_eq!(value, "Ref: InputSuffix"),
            other => panic!("unexpected S3 key filter rule {other:?}"),
        }
    }
    let variables = block_at(&lines, &["Resources", "Function", "Properties", "Environment", "Variables"])
        .expect("template: Function environment variables not found");
    assert_eq!(value_text(variables, "AUDIOPROC_OUTPUT_PREFIX").as_deref(), Some("Ref: OutputPrefix"));
}

#[test]
fn function_sets_exactly_the_documented_variables() {
    let lines = scan(TEMPLATE);
    let variables = block_at(&lines, &["Resources", "Function", "Properties", "Environment", "Variables"])
        .expect("template: Function environment variables not found");
    let base = variables[0].indent;
    let set: Vec<&str> = variables.iter().filter(|l| l.indent == base).filter_map(Line::key).collect();
    for name in set.iter().filter(|n| n.starts_with("AUDIOPROC_")) {
        assert!(DOCUMENTED_VARIABLES.contains(name), "the template sets {name}, which the function doesn't read");
    }
    for name in DOCUMENTED_VARIABLES {
        assert!(set.contains(&name), "the template doesn't set {name}");
    }
    // And nothing else in the template sets one (another resource, a second function).
    let everywhere = lines.iter().filter_map(Line::key).filter(|k| k.starts_with("AUDIOPROC_")).count();
    assert_eq!(everywhere, DOCUMENTED_VARIABLES.len(), "AUDIOPROC_* keys outside the function's Variables");
    assert!(set.contains(&"RUST_LOG"));
}
