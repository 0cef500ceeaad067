//! What `audioproc FILE...` does with each file, decided for all of them before any work: the
//! output (beside the input, or the input itself with `--in-place`), the spec, and the checks
//! that keep a run from losing data — two inputs never share an output, a read-only or
//! hard-linked file is not replaced without `--force`, and a symbolic link is normalised
//! through to its target.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use audioproc_engine::{OutputFormat, Overwrite, ProcessingSpec};

use crate::naming::{normalized_name, normalized_with_ext};
use crate::process::EverydayArgs;

/// One file's job.
#[derive(Debug, Clone)]
pub struct FilePlan {
    /// Where the result goes (with `--in-place`: the input's own file, through any symlink).
    pub output: PathBuf,
    /// What to do.
    pub spec: ProcessingSpec,
    /// Whether an existing output may be replaced.
    pub overwrite: Overwrite,
}

/// Why a file cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The settings are impossible for this file (exit status 2 for the whole run).
    #[error("{0}")]
    Usage(String),
    /// This file cannot be processed as asked (it fails; the others go on).
    #[error("{0}")]
    File(String),
}

/// Plans every file; files whose outputs would collide all fail, each naming the others.
pub fn plan_all(args: &EverydayArgs) -> Vec<Result<FilePlan, PlanError>> {
    let mut plans: Vec<_> = args.files.iter().map(|f| plan(args, f)).collect();
    let mut by_output: HashMap<PathBuf, Vec<usize>> = HashMap::new();
    for (i, p) in plans.iter().enumerate() {
        if let Ok(p) = p {
            by_output.entry(identity(&p.output)).or_default().push(i);
        }
    }
    for group in by_output.values().filter(|g| g.len() > 1) {
        let names: Vec<String> = group.iter().map(|&i| args.files[i].display().to_string()).collect();
        for &i in group {
            let output = plans[i].as_ref().map(|p| p.output.display().to_string()).unwrap_or_default();
            plans[i] = Err(PlanError::File(format!(
                "{} would all be written to {output}: process them separately, or give --format",
                names.join(", ")
            )));
        }
    }
    plans
}

/// A path as the file system resolves it (its directory canonicalised), to compare outputs.
fn identity(path: &Path) -> PathBuf {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or(OsStr::new(""));
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()).join(name)
}

fn plan(args: &EverydayArgs, input: &Path) -> Result<FilePlan, PlanError> {
    let ext = input.extension().unwrap_or(OsStr::new(""));
    let same = ext.to_str().and_then(OutputFormat::from_name);
    let format = match (args.spec.format, same) {
        (Some(f), _) | (None, Some(f)) => f,
        (None, None) if args.in_place => {
            return Err(PlanError::File(format!(
                "--in-place: cannot write .{} files (audioproc writes wav, flac, mp3, opus)",
                ext.to_string_lossy()
            )));
        }
        (None, None) => OutputFormat::Flac,
    };
    let spec = args.spec.spec(format);
    spec.validate().map_err(|e| PlanError::Usage(e.to_string()))?;
    if args.in_place {
        let output = in_place_target(input, args.force)?;
        return Ok(FilePlan { output, spec, overwrite: Overwrite::Replace });
    }
    // Keep an .ogg (or .FLAC) name for a same-format output.
    let output = match same {
        Some(f) if f == format => normalized_with_ext(input, ext),
        _ => normalized_name(input, format),
    };
    let overwrite = if args.force { Overwrite::Replace } else { Overwrite::Never };
    Ok(FilePlan { output, spec, overwrite })
}

/// The file `--in-place` replaces: the target of a symbolic link, and only a regular file that
/// is writable and has one name (unless `force`: replacing a file gives it a new inode, which
/// splits hard links).
fn in_place_target(input: &Path, force: bool) -> Result<PathBuf, PlanError> {
    let fail = |why: String| Err(PlanError::File(format!("--in-place: {}: {why}", input.display())));
    let target = match std::fs::symlink_metadata(input) {
        Ok(m) if m.file_type().is_symlink() => match input.canonicalize() {
            Ok(t) => t,
            Err(e) => return fail(format!("the link's target cannot be resolved: {e}")),
        },
        Ok(_) => input.to_path_buf(),
        Err(e) => return fail(e.to_string()),
    };
    let meta = match std::fs::metadata(&target) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return fail("not a regular file".to_owned()),
        Err(e) => return fail(e.to_string()),
    };
    if meta.permissions().readonly() && !force {
        return fail("the file is read-only (use --force to replace it anyway)".to_owned());
    }
    if meta.nlink() > 1 && !force {
        return fail(format!(
            "the file has {} hard links, which replacing it would split (use --force to replace this name only)",
            meta.nlink()
        ));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: EverydayArgs,
    }

    fn args(argv: &[&str]) -> EverydayArgs {
        Cli::parse_from(std::iter::once("audioproc").chain(argv.iter().copied())).args
    }

    #[test]
    fn inputs_whose_outputs_collide_all_fail_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let (wav, flac, m4a, mp3) =
            (dir.path().join("x.wav"), dir.path().join("x.flac"), dir.path().join("x.m4a"), dir.path().join("y.mp3"));
        let s = |p: &Path| p.to_str().unwrap().to_owned();
        let plans = plan_all(&args(&["--format", "mp3", &s(&wav), &s(&flac), &s(&mp3)]));
        assert!(matches!(&plans[0], Err(PlanError::File(m)) if m.contains("x.wav") && m.contains("x.flac")));
        assert!(plans[1].is_err());
        assert!(plans[2].is_ok());
        // .m4a falls back to FLAC: the same output as x.flac's.
        let plans = plan_all(&args(&[&s(&flac), &s(&m4a)]));
        assert!(plans.iter().all(Result::is_err), "{plans:?}");
        // The same file twice in place would be normalised twice.
        std::fs::write(&wav, b"x").unwrap();
        let plans = plan_all(&args(&["--in-place", &s(&wav), &s(&wav)]));
        assert!(plans.iter().all(Result::is_err), "{plans:?}");
    }

    #[test]
    fn in_place_goes_through_symlinks_and_refuses_read_only_and_hard_linked_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.wav");
        std::fs::write(&real, b"x").unwrap();
        let link = dir.path().join("link.wav");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(in_place_target(&link, false).unwrap(), real.canonicalize().unwrap());
        std::fs::hard_link(&real, dir.path().join("other.wav")).unwrap();
        assert!(matches!(in_place_target(&real, false), Err(PlanError::File(m)) if m.contains("hard links")));
        assert!(in_place_target(&real, true).is_ok());
        std::fs::remove_file(dir.path().join("other.wav")).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o444)).unwrap();
        assert!(matches!(in_place_target(&real, false), Err(PlanError::File(m)) if m.contains("read-only")));
        assert!(in_place_target(&real, true).is_ok());
    }

    #[test]
    fn impossible_settings_are_usage_errors() {
        let plans = plan_all(&args(&["--format", "flac", "--bits", "32", "a.wav"]));
        assert!(matches!(&plans[0], Err(PlanError::Usage(_))), "{plans:?}");
    }
}
