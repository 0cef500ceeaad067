//! Checks on `deploy/`, the whole system as one stack: `stack.yaml` nests `network.yaml`,
//! `edge.yaml`, `data.yaml`, `bucket.yaml`, `app.yaml` and the processors `lambda.yaml` /
//! `workers.yaml`.
//!
//! - cfn-lint 1.51 (installed by `scripts/s3-venv.sh`) finds no error and no warning in any of
//!   them (it also checks the parameters and outputs each nesting passes);
//! - the properties the deployment relies on, read from the templates' trees (and from the
//!   systemd unit the app's user data writes): HTTPS with a redirect, health checks on `/readyz`
//!   outlasting the app's drain, an Auto Scaling group over two zones that rolls safely and
//!   tracks requests and CPU, a private Multi-AZ encrypted database only the app reaches, a
//!   private bucket with CORS for the app's origin only, least-privilege IAM for the app, and
//!   the app's URL as an output.
//!
//! Each check is a function over [`Templates`]; `checks_catch_broken_templates` breaks the
//! templates one way at a time and proves that the matching check fails.

mod stack;

use std::path::{Path, PathBuf};

use audioproc_testdata::harness::cfn_lint;
use stack::checks::CHECKS;
use stack::templates::{SOURCES, Templates};

// ---- tests ------------------------------------------------------------------------------------

#[test]
fn cfn_lint_finds_no_errors_or_warnings_in_any_template() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let deploy = crate_dir.join("../deploy");
    let mut found: Vec<String> = std::fs::read_dir(&deploy)
        .expect("deploy/ exists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| Path::new(name).extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    found.sort();
    let mut known: Vec<&str> = SOURCES.iter().map(|(name, _)| *name).collect();
    known.sort_unstable();
    assert_eq!(found, known, "a template under deploy/ that these tests don't read (add it to SOURCES)");
    for name in &found {
        cfn_lint::assert_clean(&deploy.join(name), &crate_dir);
        let text = std::fs::read_to_string(deploy.join(name)).expect("template");
        assert!(
            !text.lines().any(|l| l.split(" #").next().unwrap_or_default().contains(": !")),
            "{name}: short-form tag"
        );
    }
}

#[test]
fn the_stack_has_what_the_deployment_relies_on() {
    let templates = Templates::read();
    for (name, check) in CHECKS {
        eprintln!("check: {name}");
        check(&templates);
    }
}

/// Each edit breaks one property; the check named with it must fail on the edited templates.
#[test]
fn checks_catch_broken_templates() {
    let breaks: [(&str, &str, &str, &str); 22] = [
        ("https", "edge.yaml", "Protocol: HTTPS\n      Port: 443", "Protocol: HTTP\n      Port: 443"),
        ("https", "edge.yaml", "        - Type: redirect", "        - Type: forward"),
        ("health", "edge.yaml", "HealthCheckPath: /readyz", "HealthCheckPath: /healthz"),
        ("health", "edge.yaml", "    Default: 35\n", "    Default: 20\n"),
        (
            "group",
            "app.yaml",
            "        MinInstancesInService:\n          Ref: MinSize",
            "        MinInstancesInService: 0",
        ),
        (
            "group",
            "app.yaml",
            "PredefinedMetricType: ASGAverageCPUUtilization",
            "PredefinedMetricType: ASGAverageNetworkIn",
        ),
        (
            "group",
            "network.yaml",
            "        Fn::Select:\n          - 1\n          - Fn::GetAZs: ''\n      CidrBlock:\n        Fn::Select:\n          - 3",
            "        Fn::Select:\n          - 0\n          - Fn::GetAZs: ''\n      CidrBlock:\n        Fn::Select:\n          - 3",
        ),
        ("database", "data.yaml", "MultiAZ: true", "MultiAZ: false"),
        ("database", "data.yaml", "PubliclyAccessible: false", "PubliclyAccessible: true"),
        (
            "database",
            "data.yaml",
            "          SourceSecurityGroupId:\n            Ref: AppSecurityGroupId",
            "          CidrIp: 10.0.0.0/8",
        ),
        ("secret", "app.yaml", "ExecStartPre=+/opt/audioproc/bin/database-env", "ExecStartPre=/bin/true"),
        ("unit", "app.yaml", "              Restart=always", "              Restart=on-failure"),
        ("unit", "app.yaml", "TimeoutStopSec=60", "TimeoutStopSec=30"),
        ("bucket", "bucket.yaml", "                  - Ref: AllowedOrigin", "                  - '*'"),
        ("bucket", "bucket.yaml", "                  - ETag", "                  - x-amz-request-id"),
        ("bucket", "bucket.yaml", "IgnorePublicAcls: true", "IgnorePublicAcls: false"),
        (
            "bucket",
            "bucket.yaml",
            "            AbortIncompleteMultipartUpload:\n",
            "            NoncurrentVersionExpiration:\n",
        ),
        (
            "processing",
            "stack.yaml",
            "            - 'false'\n            - 'true'",
            "            - 'true'\n            - 'true'",
        ),
        (
            "settings",
            "stack.yaml",
            "        TargetLufs:\n          Ref: TargetLufs\n        TruePeakDbtp:\n          Ref: TruePeakDbtp\n        SampleRate:\n          Ref: SampleRate\n\n  WorkerProcessor",
            "        TargetLufs: ''\n        TruePeakDbtp:\n          Ref: TruePeakDbtp\n        SampleRate:\n          Ref: SampleRate\n\n  WorkerProcessor",
        ),
        (
            "policy",
            "app.yaml",
            "                  - s3:GetObject\n                  - s3:DeleteObject",
            "                  - s3:GetObject\n                  - s3:*",
        ),
        (
            "policy",
            "app.yaml",
            "                  - Fn::Sub: arn:${AWS::Partition}:s3:::${BucketName}/${OutputPrefix}*",
            "                  - Fn::Sub: arn:${AWS::Partition}:s3:::${BucketName}/*",
        ),
        ("outputs", "stack.yaml", "      Fn::Sub: https://${DomainName}/\n", "      Fn::Sub: http://${DomainName}/\n"),
    ];
    let checks = |name: &str| CHECKS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c).expect("check");
    for (check, file, from, to) in breaks {
        let sources: Vec<(&'static str, String)> = SOURCES
            .iter()
            .map(|(name, text)| {
                if *name != file {
                    return (*name, (*text).to_owned());
                }
                assert_eq!(text.matches(from).count(), 1, "{file}: {from:?} must occur once");
                (*name, text.replacen(from, to, 1))
            })
            .collect();
        let templates = Templates::from_sources(&sources);
        let check_fn = checks(check);
        let caught = std::panic::catch_unwind(|| check_fn(&templates));
        assert!(caught.is_err(), "the {check} check misses {file}: {from:?} -> {to:?}");
    }
}
