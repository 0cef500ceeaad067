//! Checks on `deploy/lambda.yaml`, the SAM template that deploys the function (alone, or nested
//! in the whole system's `deploy/stack.yaml`):
//!
//! - cfn-lint 1.51 (installed by `scripts/s3-venv.sh`) finds no error and no warning;
//! - the S3 trigger can never match an object the function writes (the loop guard), in this
//!   template and in the bucket it nests (`deploy/bucket.yaml`);
//! - the function is configured with exactly the documented `AUDIOPROC_*` variables.
//!
//! The templates are read with the harness's YAML reader
//! (`audioproc_testdata::harness::yaml_tree`); the loop-guard reasoning is
//! `audioproc_testdata::harness::loop_guard`, shared with the fleet and whole-stack tests.

use std::path::PathBuf;

use audioproc_testdata::harness::cfn_lint;
use audioproc_testdata::harness::loop_guard::{
    SegmentClass, assert_bucket_guards_trigger, filter_could_match, rules_refuse_equal,
};
use audioproc_testdata::harness::yaml_tree::{Yaml, parse};

const TEMPLATE: &str = include_str!("../../deploy/lambda.yaml");
const BUCKET: &str = include_str!("../../deploy/bucket.yaml");

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

fn template() -> Yaml {
    parse(TEMPLATE).expect("deploy/lambda.yaml reads")
}

/// A scalar property of a template parameter.
fn param(template: &Yaml, name: &str, property: &str) -> String {
    template
        .at(&["Parameters", name, property])
        .and_then(Yaml::str)
        .unwrap_or_else(|| panic!("template: Parameters.{name}.{property} not found"))
        .to_owned()
}

/// Every key anywhere in `node` (maps inside lists included).
fn all_keys<'a>(node: &'a Yaml, keys: &mut Vec<&'a str>) {
    match node {
        Yaml::Map(entries) => {
            for (key, value) in entries {
                keys.push(key);
                all_keys(value, keys);
            }
        }
        Yaml::List(items) => items.iter().for_each(|item| all_keys(item, keys)),
        Yaml::Scalar(_) => {}
    }
}

#[test]
fn cfn_lint_finds_no_errors_or_warnings() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    cfn_lint::assert_clean(&dir.join("../deploy/lambda.yaml"), &dir);
}

#[test]
fn trigger_can_never_match_outputs() {
    let template = template();
    let input_prefix = param(&template, "InputPrefix", "Default");
    let output_prefix = param(&template, "OutputPrefix", "Default");
    let input_suffix = param(&template, "InputSuffix", "Default");
    let formats: Vec<&str> = template
        .at(&["Parameters", "Format", "AllowedValues"])
        .map_or(&[][..], Yaml::items)
        .iter()
        .filter_map(Yaml::str)
        .collect();
    assert!(formats.contains(&"flac"), "Format values: {formats:?}");
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
    let pattern = param(&template, "InputPrefix", "AllowedPattern");
    assert_eq!(pattern, param(&template, "OutputPrefix", "AllowedPattern"), "both prefixes must be constrained alike");
    let class = SegmentClass::parse(&pattern)
        .unwrap_or_else(|| panic!("AllowedPattern {pattern:?} does not force one path segment ending in '/'"));
    assert!(class.matches(&input_prefix) && class.matches(&output_prefix));
    // The argument, tried: every pair of different allowed values up to 2 characters + '/'.
    class.assert_values_never_overlap();

    // (c) A rule refuses equal prefixes, in every configuration.
    assert!(
        rules_refuse_equal(&template, "InputPrefix", "OutputPrefix"),
        "no rule asserts InputPrefix != OutputPrefix"
    );

    // The buckets are deploy/bucket.yaml, given this template's own prefixes, and the trigger's
    // target is the function (direct) or its queue; the bucket filters the trigger on
    // InputPrefix (and InputSuffix) only.
    let bucket = template.at(&["Resources", "InputBucket", "Properties"]).expect("no InputBucket");
    assert_eq!(bucket.get("Location").and_then(Yaml::str), Some("bucket.yaml"));
    let passed = |name: &str| bucket.at(&["Parameters", name]).and_then(Yaml::reference);
    for name in ["InputPrefix", "InputSuffix", "OutputPrefix"] {
        assert_eq!(passed(name), Some(name), "InputBucket must get this template's {name}");
    }
    let targets: Vec<Option<(&str, &Yaml)>> = bucket
        .at(&["Parameters", "TriggerArn"])
        .expect("no TriggerArn")
        .alternatives()
        .into_iter()
        .map(Yaml::intrinsic)
        .collect();
    let names: Vec<Option<&str>> =
        targets.iter().map(|t| t.and_then(|(_, at)| at.items().first()).and_then(Yaml::str)).collect();
    assert_eq!(names, [Some("TriggerQueue"), Some("Function")], "{targets:?}");
    assert_bucket_guards_trigger(&parse(BUCKET).expect("deploy/bucket.yaml reads"));
    // The separate output bucket gets no trigger at all.
    let output = template.at(&["Resources", "OutputBucket", "Properties", "Parameters"]).expect("no OutputBucket");
    assert!(output.get("Trigger").is_none() && output.get("TriggerArn").is_none(), "{output:?}");

    // The function writes under OutputPrefix.
    let variables = template
        .at(&["Resources", "Function", "Properties", "Environment", "Variables"])
        .expect("template: Function environment variables not found");
    assert_eq!(variables.get("AUDIOPROC_OUTPUT_PREFIX").and_then(Yaml::reference), Some("OutputPrefix"));
}

#[test]
fn function_sets_exactly_the_documented_variables() {
    let template = template();
    let variables = template
        .at(&["Resources", "Function", "Properties", "Environment", "Variables"])
        .expect("template: Function environment variables not found");
    let set: Vec<&str> = variables.entries().iter().map(|(k, _)| k.as_str()).collect();
    for name in set.iter().filter(|n| n.starts_with("AUDIOPROC_")) {
        assert!(DOCUMENTED_VARIABLES.contains(name), "the template sets {name}, which the function doesn't read");
    }
    for name in DOCUMENTED_VARIABLES {
        assert!(set.contains(&name), "the template doesn't set {name}");
    }
    // And nothing else in the template sets one (another resource, a second function).
    let mut keys = Vec::new();
    all_keys(&template, &mut keys);
    let everywhere = keys.iter().filter(|k| k.starts_with("AUDIOPROC_")).count();
    assert_eq!(everywhere, DOCUMENTED_VARIABLES.len(), "AUDIOPROC_* keys outside the function's Variables");
    assert!(set.contains(&"RUST_LOG"));
    assert_eq!(variables.get("MALLOC_ARENA_MAX").and_then(Yaml::str), Some("2"), "the allocator's arenas are capped");
}
