//! Running `cfn-lint` 1.51.x on a CloudFormation template: the check every template under
//! `deploy/` must pass (the whole system's `stack.yaml` and the templates it nests, among them
//! the Lambda function's `lambda.yaml` and the worker fleet's `workers.yaml`).
//!
//! cfn-lint comes from the venv `scripts/s3-venv.sh` makes, like moto (see [`super::moto`]).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The cfn-lint to run: `AUDIOPROC_CFN_LINT`, else the one in the venv `scripts/s3-venv.sh`
/// makes (`AUDIOPROC_VENV`, default `~/.cache/audioproc-venv`).
fn cfn_lint_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("AUDIOPROC_CFN_LINT") {
        return PathBuf::from(bin);
    }
    let venv = std::env::var_os("AUDIOPROC_VENV").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is not set (or set AUDIOPROC_VENV)"))
            .join(".cache/audioproc-venv")
    });
    venv.join("bin").join("cfn-lint")
}

/// Fails unless cfn-lint 1.51.x is installed and finds neither errors nor warnings in
/// `template` for us-east-1 and eu-west-1 (run from `dir`).
///
/// # Panics
///
/// If cfn-lint is missing or of another version, or reports anything (its output is quoted).
pub fn assert_clean(template: &Path, dir: &Path) {
    let bin = cfn_lint_binary();
    let version = Command::new(&bin).arg("--version").output().unwrap_or_else(|e| {
        panic!(
            "cannot run {}: {e}\nrun `bash scripts/s3-venv.sh` to install cfn-lint 1.51 (or set AUDIOPROC_CFN_LINT)",
            bin.display()
        )
    });
    let version_text = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.status.success() && version_text.trim().starts_with("cfn-lint 1.51."),
        "{} --version says {:?}: cfn-lint 1.51.x is required; run `bash scripts/s3-venv.sh`",
        bin.display(),
        version_text.trim()
    );
    let out = Command::new(&bin)
        .current_dir(dir)
        .args(["--regions", "us-east-1", "eu-west-1", "--"])
        .arg(template)
        .output()
        .expect("cfn-lint runs");
    assert!(
        out.status.success(),
        "cfn-lint {} exited with {} (2 = errors, 4 = warnings):\n{}{}",
        template.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
