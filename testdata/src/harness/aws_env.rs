//! The environment a real binary (`audioproc`, `audioproc-lambda`) needs to talk to the local
//! moto server as if it were AWS: endpoint, region and test credentials, and none of the
//! `AWS_*` settings of the environment the tests run in.

use std::ffi::OsStr;
use std::process::Command;

/// The region every test resource lives in.
pub const REGION: &str = "us-east-1";

/// The access key id and secret the tests use (moto accepts any).
pub const TEST_CREDENTIAL: &str = "test";

/// A `Command` for `program` whose AWS SDK goes to `endpoint` (`AWS_ENDPOINT_URL`) in
/// [`REGION`] with test credentials and without instance metadata; every `AWS_*` variable of
/// the test's own environment is removed first. Set more variables after this (a later `env`
/// overrides these, e.g. `AWS_ENDPOINT_URL_S3`).
pub fn aws_command(program: impl AsRef<OsStr>, endpoint: &str) -> Command {
    let mut cmd = Command::new(program);
    remove_inherited(&mut cmd, "AWS_");
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", TEST_CREDENTIAL)
        .env("AWS_SECRET_ACCESS_KEY", TEST_CREDENTIAL)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// Removes from `cmd`'s environment every variable of this process whose name starts with
/// `prefix`.
pub fn remove_inherited(cmd: &mut Command, prefix: &str) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with(prefix) {
            cmd.env_remove(name);
        }
    }
}
