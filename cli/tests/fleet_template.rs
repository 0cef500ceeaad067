//! Checks on `deploy/workers.yaml`, the CloudFormation template of the worker fleet (alone, or
//! nested in the whole system's `deploy/stack.yaml`):
//!
//! - cfn-lint 1.51 (installed by `scripts/s3-venv.sh`) finds no error and no warning;
//! - the systemd unit in the user data restarts the worker always and stops it with SIGTERM,
//!   waiting longer than the worker's grace period;
//! - the S3 notification can never name an object the workers write (the loop guard), in this
//!   template and in the bucket it nests (`deploy/bucket.yaml`).
//!
//! The templates are read with the harness's YAML reader
//! (`audioproc_testdata::harness::yaml_tree`) and the unit with its systemd reader
//! (`systemd_unit`); the loop-guard reasoning is `audioproc_testdata::harness::loop_guard`,
//! shared with the Lambda and whole-stack tests.

use std::path::PathBuf;

use audioproc_testdata::harness::cfn_lint;
use audioproc_testdata::harness::loop_guard::{SegmentClass, assert_bucket_guards_trigger, rules_refuse_equal};
use audioproc_testdata::harness::systemd_unit::{Unit, written_file};
use audioproc_testdata::harness::yaml_tree::{Yaml, parse};

const TEMPLATE: &str = include_str!("../../deploy/workers.yaml");
const BUCKET: &str = include_str!("../../deploy/bucket.yaml");

/// The only prefix pattern the checks accept: one non-empty path segment of characters that
/// can't be '/', then '/'. Two different such values are never prefixes of each other.
const SINGLE_SEGMENT: &str = "^[A-Za-z0-9._-]+/$";

const UNIT_PATH: &str = "/etc/systemd/system/audioproc-worker.service";

fn template() -> Yaml {
    parse(TEMPLATE).expect("deploy/workers.yaml reads")
}

/// A scalar property of a template parameter.
fn parameter(template: &Yaml, name: &str, property: &str) -> String {
    template
        .at(&["Parameters", name, property])
        .and_then(Yaml::str)
        .unwrap_or_else(|| panic!("template: Parameters.{name}.{property} not found"))
        .to_owned()
}

/// The user data script of the launch template (the `Fn::Sub` text inside `Fn::Base64`).
fn user_data(template: &Yaml) -> String {
    template
        .at(&["Resources", "WorkerLaunchTemplate", "Properties", "LaunchTemplateData", "UserData", "Fn::Base64"])
        .and_then(Yaml::sub_template)
        .expect("WorkerLaunchTemplate has no Fn::Base64 / Fn::Sub user data")
        .to_owned()
}

/// The systemd unit the user data writes.
fn systemd_unit(script: &str) -> Unit {
    let text = written_file(script, UNIT_PATH).unwrap_or_else(|| panic!("the user data doesn't write {UNIT_PATH}"));
    Unit::parse(&text).expect("the unit reads")
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
    cfn_lint::assert_clean(&dir.join("../deploy/workers.yaml"), &dir);
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
    let script = user_data(&template());
    let unit = systemd_unit(&script);
    assert_eq!(unit.value("Service", "Restart"), Some("always"), "{unit:#?}");
    assert_eq!(unit.value("Service", "KillSignal"), Some("SIGTERM"), "{unit:#?}");
    let exec = unit.value("Service", "ExecStart").expect("no ExecStart");
    assert!(exec.starts_with("/opt/audioproc/bin/audioproc worker "), "{exec}");
    assert_eq!(flag_value(exec, "--queue"), Some("${WorkQueue}"));
    assert_eq!(flag_value(exec, "--output"), Some("s3://${OutputBucketName}/${OutputPrefix}"));
    assert_eq!(flag_value(exec, "--health-port"), Some("8080"));
    // systemd must wait for the worker's grace period before it kills it.
    let grace: u64 = flag_value(exec, "--grace").map_or(60, |g| g.parse().expect("--grace is a number"));
    let stop = unit.seconds("Service", "TimeoutStopSec").expect("no TimeoutStopSec");
    assert!(stop > grace, "TimeoutStopSec={stop} must exceed --grace {grace}");
    assert_eq!(unit.value("Install", "WantedBy"), Some("multi-user.target"), "{unit:#?}");
    assert!(
        unit.values("Service", "Environment").contains(&"MALLOC_ARENA_MAX=2"),
        "allocator arenas capped: {unit:#?}"
    );
    assert!(script.lines().any(|l| l == "systemctl enable --now audioproc-worker.service"), "{script}");
}

#[test]
fn notification_prefix_never_matches_outputs() {
    let template = template();
    let input_prefix = parameter(&template, "InputPrefix", "Default");
    let output_prefix = parameter(&template, "OutputPrefix", "Default");

    // Both prefixes are single segments ending in '/', so different values never overlap...
    for name in ["InputPrefix", "OutputPrefix"] {
        assert_eq!(parameter(&template, name, "AllowedPattern"), SINGLE_SEGMENT, "{name}");
    }
    assert!(is_single_segment(&input_prefix) && is_single_segment(&output_prefix));
    single_segment().assert_values_never_overlap();
    assert!(!is_single_segment("a/b/") && !is_single_segment("/") && !is_single_segment("a"));
    // ...the defaults differ...
    assert!(!input_prefix.starts_with(&output_prefix) && !output_prefix.starts_with(&input_prefix));
    // ...and a rule refuses equal values.
    assert!(
        rules_refuse_equal(&template, "InputPrefix", "OutputPrefix"),
        "no rule asserts InputPrefix != OutputPrefix"
    );

    // The input bucket is deploy/bucket.yaml with this template's prefixes; its notification
    // goes to the work queue and filters on InputPrefix only; the workers write under
    // OutputPrefix.
    let bucket = template.at(&["Resources", "InputBucket", "Properties"]).expect("no InputBucket");
    assert_eq!(bucket.get("Location").and_then(Yaml::str), Some("bucket.yaml"));
    for name in ["InputPrefix", "OutputPrefix"] {
        assert_eq!(bucket.at(&["Parameters", name]).and_then(Yaml::reference), Some(name), "{name}");
    }
    assert!(bucket.at(&["Parameters", "InputSuffix"]).is_none(), "the workers take every key under InputPrefix");
    assert_eq!(bucket.at(&["Parameters", "Trigger"]).and_then(Yaml::str), Some("queue"));
    let target = bucket.at(&["Parameters", "TriggerArn"]).and_then(Yaml::intrinsic);
    assert!(
        matches!(target, Some(("Fn::GetAtt", at)) if at.items().first().and_then(Yaml::str) == Some("WorkQueue")),
        "{target:?}"
    );
    assert_bucket_guards_trigger(&parse(BUCKET).expect("deploy/bucket.yaml reads"));
    let unit = systemd_unit(&user_data(&template));
    let exec = unit.value("Service", "ExecStart").expect("no ExecStart");
    assert!(flag_value(exec, "--output").is_some_and(|o| o.ends_with("/${OutputPrefix}")));
}

#[test]
fn queue_redrives_after_five_receives() {
    let template = template();
    let queue = template.at(&["Resources", "WorkQueue", "Properties"]).expect("no WorkQueue");
    assert_eq!(queue.get("VisibilityTimeout").and_then(Yaml::str), Some("900"));
    assert_eq!(queue.at(&["RedrivePolicy", "maxReceiveCount"]).and_then(Yaml::str), Some("5"));
}
