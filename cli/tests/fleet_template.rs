//! Checks on `cli/deploy/fleet.yaml`, the CloudFormation template of the worker fleet:
//!
//! - cfn-lint 1.51 (installed by `scripts/s3-venv.sh`) finds no error and no warning;
//! - the systemd unit in the user data restarts the worker always and stops it with SIGTERM,
//!   waiting longer than the worker's grace period;
//! - the S3 notification can never name an object the workers write (the loop guard).
//!
//! The template is read with the harness's line scanner for block-style YAML
//! (`audioproc_testdata::harness::yaml_lines`); the loop-guard reasoning is
//! `audioproc_testdata::harness::loop_guard`, shared with the SAM template's tests.

use std::env;
use std::path::PathBuf;

use audioproc_testdata::harness::cfn_lint;
use audioproc_testdata::harness::loop_guard::SegmentClass;
use audioproc_testdata::harness::yaml_lines::{self, Line, block_at, scan};

const TEMPLATE: &str = include_str!("../deploy/fleet.yaml");

/// The only prefix pattern the checks accept: one non-empty path segment of characters that
/// can't be '/', then '/'. Two different such values are never prefixes of each other.
const SINGLE_SEGMENT: &str = "^[A-Za-z0-9._-]+/$";

/// A scalar property of a template parameter.
fn parameter(lines: &[Line<'_>], name: &str, property: &str) -> String {
    yaml_lines::parameter(lines, name, property)
        .unwrap_or_else(|| panic!("template: Parameters.{name}.{property} not found"))
}

/// The lines of the systemd unit the user data writes (between `<<'UNIT'` and `UNIT`), without
/// the block's indentation.
fn systemd_unit(text: &str) -> Vec<String> {
    let mut lines = text.lines().skip_while(|l| !l.contains("/etc/systemd/system/audioproc-worker.service <<'UNIT'"));
    assert!(lines.next().is_some(), "the user data doesn't write /etc/systemd/system/audioproc-worker.service");
    lines.take_while(|l| l.trim() != "UNIT").map(|l| l.trim().to_owned()).collect()
}

/// The value of `key=` in the unit's `[Service]` section.
fn service_setting<'u>(unit: &'u [String], key: &str) -> Option<&'u str> {
    unit.iter()
        .skip_while(|l| *l != "[Service]")
        .take_while(|l| !l.starts_with('[') || *l == "[Service]")
        .find_map(|l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

/// The value after `flag` in a command line.
fn flag_value<'c>(command: &'c str, flag: &str) -> Option<&'c str> {
    let mut words = command.split_whitespace();
    words.by_ref().find(|w| *w == flag)?;
    words.next()
}

/// Whether `value` matches [`SINGLE_SEGMENT`].
fn is_single_segment(value: &str) -> bool {
    single_segment().matches(value)
}

/// [`SINGLE_SEGMENT`], read by the loop-guard proof.
fn single_segment() -> SegmentClass {
    SegmentClass::parse(SINGLE_SEGMENT).expect("SINGLE_SEGMENT is a single-segment pattern")
}

// ---- tests ------------------------------------------------------------------------------------

#[test]
fn cfn_lint_finds_no_errors_or_warnings() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    cfn_lint::assert_clean(&dir.join("deploy/fleet.yaml"), &dir);
}

#[test]
fn intrinsics_are_long_form() {
    for (n, line) in TEMPLATE.lines().enumerate() {
        let code = line.split(" #").next().unwrap_or_default();
        assert!(
            !code.contains(": !") && !code.trim_start().starts_with("- !"),
            "line {}: short-form tag: {line}",
            n + 1
        );
    }
}

#[test]
fn systemd_unit_restarts_always_and_stops_gracefully() {
    let unit = systemd_unit(TEMPLATE);
    assert_eq!(service_setting(&unit, "Restart"), Some("always"), "{unit:#?}");
    assert_eq!(service_setting(&unit, "KillSignal"), Some("SIGTERM"), "{unit:#?}");
    let exec = service_setting(&unit, "ExecStart").expect("no ExecStart");
    assert!(exec.starts_with("/opt/audioproc/bin/audioproc worker "), "{exec}");
    assert_eq!(flag_value(exec, "--queue"), Some("${WorkQueue}"));
    assert_eq!(flag_value(exec, "--output"), Some("s3://${OutputBucketName}/${OutputPrefix}"));
    assert_eq!(flag_value(exec, "--health-port"), Some("8080"));
    // systemd must wait for the worker's grace period before it kills it.
    let grace: u64 = flag_value(exec, "--grace").map_or(60, |g| g.parse().expect("--grace is a number"));
    let stop: u64 = service_setting(&unit, "TimeoutStopSec")
        .expect("no TimeoutStopSec")
        .parse()
        .expect("TimeoutStopSec in plain seconds");
    assert!(stop > grace, "TimeoutStopSec={stop} must exceed --grace {grace}");
    assert!(unit.iter().any(|l| l == "WantedBy=multi-user.target"), "{unit:#?}");
    assert!(TEMPLATE.contains("systemctl enable --now audioproc-worker.service"));
}

#[test]
fn notification_prefix_never_matches_outputs() {
    let lines = scan(TEMPLATE);
    let input_prefix = parameter(&lines, "InputPrefix", "Default");
    let output_prefix = parameter(&lines, "OutputPrefix", "Default");

    // Both prefixes are single segments ending in '/', so different values never overlap...
    for name in ["InputPrefix", "OutputPrefix"] {
        assert_eq!(parameter(&lines, name, "AllowedPattern"), SINGLE_SEGMENT, "{name}");
    }
    assert!(is_single_segment(&input_prefix) && is_single_segment(&output_prefix));
    single_segment().assert_values_never_overlap();
    assert!(!is_single_segment("a/b/") && !is_single_segment("/") && !is_single_segment("a"));
    // ...the defaults differ...
    assert!(!input_prefix.starts_with(&output_prefix) && !output_prefix.starts_with(&input_prefix));
    // ...and a rule refuses equal values.
    let rules = block_at(&lines, &["Rules"]).expect("template: no Rules");
    let text: Vec<&str> = rules.iter().map(|l| l.text).collect();
    assert!(
        text.windows(4).any(|w| w == ["Fn::Not:", "Fn::Equals:", "Ref: InputPrefix", "Ref: OutputPrefix"]),
        "no rule asserts InputPrefix != OutputPrefix"
    );
    assert!(!text.iter().any(|t| t.starts_with("RuleCondition")), "the rule must hold unconditionally");

    // The notification filters on InputPrefix only; the workers write under OutputPrefix.
    let notification = block_at(&lines, &["Resources", "InputBucket", "Properties", "NotificationConfiguration"])
        .expect("template: InputBucket has no NotificationConfiguration");
    let filter: Vec<&str> = notification.iter().map(|l| l.text).collect();
    assert!(filter.contains(&"Event: s3:ObjectCreated:*"), "{filter:?}");
    let rules_at = filter.iter().position(|t| *t == "Rules:").expect("no S3Key filter rules");
    assert_eq!(filter[rules_at + 1..], ["Name: prefix", "Value:", "Ref: InputPrefix"]);
    let unit = systemd_unit(TEMPLATE);
    let exec = service_setting(&unit, "ExecStart").expect("no ExecStart");
    assert!(flag_value(exec, "--output").is_some_and(|o| o.ends_with("/${OutputPrefix}")));
}

#[test]
fn queue_redrives_after_five_receives() {
    let lines = scan(TEMPLATE);
    let queue = block_at(&lines, &["Resources", "WorkQueue", "Properties"]).expect("no WorkQueue");
    let value = |key: &str| queue.iter().find(|l| l.key() == Some(key)).and_then(Line::value);
    assert_eq!(value("VisibilityTimeout").as_deref(), Some("900"));
    assert_eq!(value("maxReceiveCount").as_deref(), Some("5"));
}
