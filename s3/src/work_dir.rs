//! Private working directories (downloads, staged outputs) named after the process that owns
//! them, so that what a killed process left behind is recognised and removed by the next run.

use std::path::Path;

/// Removes the directories `<prefix><pid>-…` under `root` whose process is no longer running.
pub fn sweep_stale(root: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix) else { continue };
        let pid = rest.split('-').next().unwrap_or("");
        let dead = !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && pid != std::process::id().to_string()
            && !Path::new("/proc").join(pid).exists();
        if dead && e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A new private directory `<prefix><pid>-XXXXXX` in `$TMPDIR`, removed when dropped; stale
/// ones of dead processes are swept first.
///
/// # Errors
/// The directory cannot be made.
pub fn create(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    let root = std::env::temp_dir();
    sweep_stale(&root, prefix);
    tempfile::Builder::new().prefix(&format!("{prefix}{}-", std::process::id())).tempdir_in(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_of_dead_processes_are_swept_and_live_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        // pid 0 is never a process of ours and has no /proc entry; our own pid is alive.
        let stale = root.path().join("audioproc-test-999999999-abc");
        let live = root.path().join(format!("audioproc-test-{}-abc", std::process::id()));
        let other = root.path().join("someone-else-1-abc");
        for d in [&stale, &live, &other] {
            std::fs::create_dir(d).unwrap();
        }
        sweep_stale(root.path(), "audioproc-test-");
        assert!(!stale.exists() && live.exists() && other.exists());
    }
}
