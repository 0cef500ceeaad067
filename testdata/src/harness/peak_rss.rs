//! A process's peak resident memory, from Linux's `/proc/<pid>/status`.

/// The most memory process `pid` has held so far (`VmHWM`), KiB; `None` when its status cannot
/// be read (it exited, or this is not Linux) or has no such line.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_held_some_memory() {
        assert!(super::peak_rss_kib(std::process::id()).is_some_and(|kib| kib > 0));
    }
}
