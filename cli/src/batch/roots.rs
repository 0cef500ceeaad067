//! What `batch` works between and on: the SRC and DST roots, the checks that keep them apart,
//! and the filter that picks inputs (`--include`, `--exclude`, `--shard`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::usage::usage;
use audioproc_s3::{LocalStore, ObjectStore, S3Client, S3Store, S3Url};
use globset::{Glob, GlobSet, GlobSetBuilder};

/// A batch root: a directory, or a prefix of a bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Root {
    /// A local directory.
    Local(PathBuf),
    /// `s3://bucket/prefix/` (the prefix empty or ending in `/`).
    S3 {
        /// The bucket.
        bucket: String,
        /// The prefix.
        prefix: String,
    },
}

impl Root {
    /// Reads a command-line argument.
    pub fn parse(s: &str) -> anyhow::Result<Root> {
        match S3Url::parse(s) {
            None => Ok(Root::Local(PathBuf::from(s))),
            Some(url) => {
                let url = url?;
                let mut prefix = url.key;
                if !prefix.is_empty() && !prefix.ends_with('/') {
                    prefix.push('/');
                }
                Ok(Root::S3 { bucket: url.bucket, prefix })
            }
        }
    }

    /// As shown to people.
    pub fn display(&self) -> String {
        match self {
            Root::Local(p) => p.display().to_string(),
            Root::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// Whether it is on S3.
    pub fn is_s3(&self) -> bool {
        matches!(self, Root::S3 { .. })
    }

    /// The store it lives in and the key prefix of everything under it.
    pub fn store(&self, client: Option<&S3Client>) -> anyhow::Result<(Arc<dyn ObjectStore>, String)> {
        match self {
            Root::Local(dir) => Ok((Arc::new(LocalStore::new(dir)), String::new())),
            Root::S3 { bucket, prefix } => {
                let client = client.context("no S3 client")?.clone();
                Ok((Arc::new(S3Store::new(client, bucket)), prefix.clone()))
            }
        }
    }
}

/// `--shard K/N`.
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (k, n) = s.split_once('/').ok_or("expected K/N, e.g. 2/4")?;
    let (k, n): (u64, u64) = (k.parse().map_err(|_| "K is not a number")?, n.parse().map_err(|_| "N is not a number")?);
    if n == 0 || k == 0 || k > n {
        return Err("expected 1 ≤ K ≤ N".to_owned());
    }
    Ok((k, n))
}

/// Refuses a destination inside the source (its outputs would become inputs), and the reverse.
pub fn check_roots(src: &Root, dst: &Root) -> anyhow::Result<()> {
    match (src, dst) {
        (Root::Local(s), Root::Local(d)) => {
            if !s.is_dir() {
                return Err(usage(format!("{}: not a directory", s.display())));
            }
            let s = s.canonicalize()?;
            let d_abs = if d.exists() { d.canonicalize()? } else { std::path::absolute(d)? };
            if d_abs.starts_with(&s) || s.starts_with(&d_abs) {
                return Err(usage("the destination must not be inside the source, nor the source inside it"));
            }
        }
        (Root::Local(s), _) if !s.is_dir() => return Err(usage(format!("{}: not a directory", s.display()))),
        (Root::S3 { bucket: b1, prefix: p1 }, Root::S3 { bucket: b2, prefix: p2 })
            if b1 == b2 && (p1.starts_with(p2.as_str()) || p2.starts_with(p1.as_str())) =>
        {
            return Err(usage("the destination prefix must not overlap the source prefix"));
        }
        _ => {}
    }
    Ok(())
}

/// Refuses a `--report` file that exists (unless `force`) or lies under a local SRC (it could be
/// one of the inputs, and would be listed as one).
pub fn check_report(report: &Path, src: &Root, force: bool) -> anyhow::Result<()> {
    let meta = std::fs::symlink_metadata(report);
    if let Ok(m) = &meta
        && !m.is_file()
    {
        return Err(usage(format!("--report {}: exists and is not a regular file", report.display())));
    }
    if let Root::Local(s) = src {
        let parent = report.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if let (Ok(s), Ok(p)) = (s.canonicalize(), parent.canonicalize())
            && p.starts_with(&s)
        {
            return Err(usage(format!("--report {}: must not be inside the source directory", report.display())));
        }
    }
    if meta.is_ok() && !force {
        return Err(usage(format!("--report {}: exists (use --force to replace it)", report.display())));
    }
    Ok(())
}

/// FNV-1a, 64 bits: a stable hash for `--shard`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Which paths under SRC are inputs.
#[derive(Debug, Clone)]
pub struct Filter {
    include: GlobSet,
    exclude: GlobSet,
    shard: Option<(u64, u64)>,
}

impl Filter {
    /// From the command line.
    pub fn new(include: &[String], exclude: &[String], shard: Option<(u64, u64)>) -> anyhow::Result<Filter> {
        Ok(Filter { include: globs(include)?, exclude: globs(exclude)?, shard })
    }

    /// Whether `rel` (a `/`-separated path under SRC) is an input: not hidden, not a report,
    /// matched by `--include` (if any), not by `--exclude`, and in this `--shard`.
    pub fn accepts(&self, rel: &str) -> bool {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        !name.starts_with('.')
            && !name.ends_with(".json")
            && (self.include.is_empty() || self.include.is_match(rel))
            && !self.exclude.is_match(rel)
            && self.shard.is_none_or(|(k, n)| fnv1a(rel.as_bytes()) % n == k - 1)
    }
}

fn globs(patterns: &[String]) -> anyhow::Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| usage(format!("bad glob {p:?}: {e}")))?);
    }
    Ok(b.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_cover_every_path_once() {
        assert_eq!(parse_shard("2/4"), Ok((2, 4)));
        for bad in ["0/4", "5/4", "1/0", "x/2", "3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
        let shards: Vec<Filter> = (1..=3).map(|k| Filter::new(&[], &[], Some((k, 3))).unwrap()).collect();
        for i in 0..200 {
            let rel = format!("artist{}/track {i}.wav", i % 7);
            assert_eq!(shards.iter().filter(|f| f.accepts(&rel)).count(), 1, "{rel}");
        }
    }

    #[test]
    fn the_filter_leaves_out_hidden_files_reports_and_excluded_paths() {
        let f = Filter::new(&["**/*.wav".to_owned()], &["skip/**".to_owned()], None).unwrap();
        assert!(f.accepts("a/b.wav"));
        for no in ["a/.b.wav", "a/b.flac", "a/b.wav.json", "skip/x.wav"] {
            assert!(!f.accepts(no), "{no}");
        }
        assert!(Filter::new(&["[".to_owned()], &[], None).is_err());
    }

    #[test]
    fn roots_parse_and_overlapping_roots_are_refused() {
        assert_eq!(Root::parse("s3://b-1/in").unwrap(), Root::S3 { bucket: "b-1".into(), prefix: "in/".into() });
        assert_eq!(Root::parse("s3://b-1").unwrap(), Root::S3 { bucket: "b-1".into(), prefix: String::new() });
        let s3 = |p: &str| Root::S3 { bucket: "b-1".into(), prefix: p.into() };
        assert!(check_roots(&s3("in/"), &s3("in/out/")).is_err());
        assert!(check_roots(&s3("in/"), &s3("out/")).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let src = Root::Local(dir.path().join("src"));
        std::fs::create_dir(dir.path().join("src")).unwrap();
        assert!(check_roots(&src, &Root::Local(dir.path().join("src/out"))).is_err());
        assert!(check_roots(&src, &Root::Local(dir.path().to_owned())).is_err());
        assert!(check_roots(&src, &Root::Local(dir.path().join("dst"))).is_ok());
        assert!(check_roots(&Root::Local(dir.path().join("none")), &s3("x/")).is_err());
    }

    #[test]
    fn a_report_file_that_exists_or_lies_under_src_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        let src = Root::Local(dir.path().join("src"));
        std::fs::write(dir.path().join("src/a.wav"), b"x").unwrap();
        std::fs::write(dir.path().join("old.jsonl"), b"x").unwrap();
        for force in [false, true] {
            assert!(check_report(&dir.path().join("src/a.wav"), &src, force).is_err(), "an input");
            assert!(check_report(&dir.path().join("src/new.jsonl"), &src, force).is_err(), "under SRC");
        }
        assert!(check_report(&dir.path().join("old.jsonl"), &src, false).is_err());
        assert!(check_report(&dir.path().join("old.jsonl"), &src, true).is_ok());
        assert!(check_report(&dir.path().join("new.jsonl"), &src, false).is_ok());
        assert!(check_report(dir.path(), &src, true).is_err(), "a directory");
    }
}
