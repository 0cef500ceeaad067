//! The function's configuration, from environment variables (read once, at cold start).

use std::path::PathBuf;

use audioproc_engine::{OutputFormat, PeakMode, Preset, ProcessingSpec};

/// Default output prefix.
pub const DEFAULT_OUTPUT_PREFIX: &str = "processed/";
/// Default cap on input size: 2 GiB.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 2 << 30;

/// Everything the handler needs to know besides the event.
#[derive(Clone, Debug)]
pub struct Config {
    /// `AUDIOPROC_OUTPUT_BUCKET`: where outputs go; `None` = the input's bucket.
    pub output_bucket: Option<String>,
    /// `AUDIOPROC_OUTPUT_PREFIX` (default `processed/`).
    pub output_prefix: String,
    /// From `AUDIOPROC_PRESET`, `AUDIOPROC_TARGET_LUFS`, `AUDIOPROC_TRUE_PEAK_DBTP`,
    /// `AUDIOPROC_MODE`, `AUDIOPROC_FORMAT` (default flac), `AUDIOPROC_SAMPLE_RATE`,
    /// `AUDIOPROC_FLAC_LEVEL` (default 5).
    pub spec: ProcessingSpec,
    /// `AUDIOPROC_ALLOWED_BUCKETS` (comma list); empty = any bucket.
    pub allowed_buckets: Vec<String>,
    /// `AUDIOPROC_MAX_INPUT_BYTES` (default 2 GiB).
    pub max_input_bytes: u64,
    /// Where temporary files go: `TMPDIR`, else `/tmp` (Lambda's ephemeral storage).
    pub work_dir: PathBuf,
}

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// A message naming the variable that is malformed or out of range.
    pub fn from_env() -> Result<Config, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `var` (the environment, or a map in tests).
    ///
    /// # Errors
    /// As [`Config::from_env`].
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let get = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let parse_f64 = |name: &str| -> Result<Option<f64>, String> {
            get(name).map(|v| v.parse::<f64>().map_err(|_| format!("{name}={v:?} is not a number"))).transpose()
        };
        let preset = match get("AUDIOPROC_PRESET") {
            Some(p) => Preset::from_name(&p)
                .ok_or(format!("AUDIOPROC_PRESET={p:?}: expected ebu, streaming, podcast or atsc"))?,
            None => Preset::Ebu,
        };
        let format = match get("AUDIOPROC_FORMAT") {
            Some(f) => {
                OutputFormat::from_name(&f).ok_or(format!("AUDIOPROC_FORMAT={f:?}: expected flac, wav, mp3 or opus"))?
            }
            None => OutputFormat::Flac,
        };
        let mut spec = ProcessingSpec::new(preset, format);
        if let Some(t) = parse_f64("AUDIOPROC_TARGET_LUFS")? {
            spec.target_lufs = t;
        }
        if let Some(tp) = parse_f64("AUDIOPROC_TRUE_PEAK_DBTP")? {
            spec.true_peak_dbtp = tp;
        }
        if let Some(m) = get("AUDIOPROC_MODE") {
            spec.mode = PeakMode::from_name(&m).ok_or(format!("AUDIOPROC_MODE={m:?}: expected linear or limit"))?;
        }
        if let Some(r) = get("AUDIOPROC_SAMPLE_RATE") {
            spec.sample_rate = Some(r.parse().map_err(|_| format!("AUDIOPROC_SAMPLE_RATE={r:?} is not a rate in Hz"))?);
        }
        if let Some(l) = get("AUDIOPROC_FLAC_LEVEL") {
            spec.flac_level = l.parse().map_err(|_| format!("AUDIOPROC_FLAC_LEVEL={l:?} is not a level 0…8"))?;
        }
        spec.validate().map_err(|e| format!("processing settings: {e}"))?;
        let output_bucket = get("AUDIOPROC_OUTPUT_BUCKET");
        let output_prefix =
            var("AUDIOPROC_OUTPUT_PREFIX").map_or_else(|| DEFAULT_OUTPUT_PREFIX.to_owned(), |p| p.trim().to_owned());
        if output_prefix.is_empty() && output_bucket.is_none() {
            return Err("AUDIOPROC_OUTPUT_PREFIX is empty and AUDIOPROC_OUTPUT_BUCKET is not set: outputs would land \
                        where the trigger fires (an endless loop); set a prefix or a separate output bucket"
                .to_owned());
        }
        let allowed_buckets = get("AUDIOPROC_ALLOWED_BUCKETS")
            .map(|v| v.split(',').map(|b| b.trim().to_owned()).filter(|b| !b.is_empty()).collect())
            .unwrap_or_default();
        let max_input_bytes = match get("AUDIOPROC_MAX_INPUT_BYTES") {
            Some(v) => v.parse().map_err(|_| format!("AUDIOPROC_MAX_INPUT_BYTES={v:?} is not a byte count"))?,
            None => DEFAULT_MAX_INPUT_BYTES,
        };
        let work_dir = get("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        Ok(Config { output_bucket, output_prefix, spec, allowed_buckets, max_input_bytes, work_dir })
    }

    /// Whether events from `bucket` may be processed.
    pub fn bucket_allowed(&self, bucket: &str) -> bool {
        self.allowed_buckets.is_empty() || self.allowed_buckets.iter().any(|b| b == bucket)
    }

    /// The bucket outputs of an input in `input_bucket` go to.
    pub fn output_bucket_for<'a>(&'a self, input_bucket: &'a str) -> &'a str {
        self.output_bucket.as_deref().unwrap_or(input_bucket)
    }

    /// Whether `key` in `bucket` is one of our own outputs (or reports): such events are ignored.
    pub fn is_own_output(&self, bucket: &str, key: &str) -> bool {
        bucket == self.output_bucket_for(bucket) && key.starts_with(&self.output_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_overrides() {
        let c = config(&[]).unwrap();
        assert_eq!(
            (c.output_prefix.as_str(), c.spec.format, c.spec.target_lufs),
            ("processed/", OutputFormat::Flac, -23.0)
        );
        let c = config(&[
            ("AUDIOPROC_PRESET", "streaming"),
            ("AUDIOPROC_TARGET_LUFS", "-16"),
            ("AUDIOPROC_MODE", "limit"),
            ("AUDIOPROC_FORMAT", "mp3"),
            ("AUDIOPROC_SAMPLE_RATE", "48000"),
            ("AUDIOPROC_FLAC_LEVEL", "8"),
            ("AUDIOPROC_ALLOWED_BUCKETS", "a, b"),
        ])
        .unwrap();
        assert_eq!((c.spec.target_lufs, c.spec.true_peak_dbtp, c.spec.mode), (-16.0, -1.0, PeakMode::Limit));
        assert_eq!((c.spec.format, c.spec.sample_rate, c.spec.flac_level), (OutputFormat::Mp3, Some(48_000), 8));
        assert_eq!(c.allowed_buckets, ["a", "b"]);
        assert!(c.bucket_allowed("b") && !c.bucket_allowed("c"));
    }

    #[test]
    fn bad_values_are_named() {
        for (k, v) in [
            ("AUDIOPROC_PRESET", "loud"),
            ("AUDIOPROC_TARGET_LUFS", "x"),
            ("AUDIOPROC_FORMAT", "aac"),
            ("AUDIOPROC_MODE", "clip"),
            ("AUDIOPROC_MAX_INPUT_BYTES", "-1"),
            ("AUDIOPROC_TRUE_PEAK_DBTP", "5"),
            ("AUDIOPROC_FLAC_LEVEL", "9"),
            ("AUDIOPROC_FLAC_LEVEL", "fast"),
        ] {
            let e = config(&[(k, v)]).unwrap_err();
            assert!(e.contains(k) || e.contains("settings"), "{e}");
        }
        assert!(config(&[("AUDIOPROC_OUTPUT_PREFIX", "")]).unwrap_err().contains("loop"));
        assert!(config(&[("AUDIOPROC_OUTPUT_PREFIX", ""), ("AUDIOPROC_OUTPUT_BUCKET", "out")]).is_ok());
    }

    #[test]
    fn own_outputs_are_recognised() {
        let c = config(&[]).unwrap();
        assert!(c.is_own_output("in", "processed/x.flac"));
        assert!(!c.is_own_output("in", "incoming/processed/x.flac"));
        let c = config(&[("AUDIOPROC_OUTPUT_BUCKET", "out")]).unwrap();
        assert!(c.is_own_output("out", "processed/a.flac"));
        assert!(!c.is_own_output("in", "processed/a.flac"));
    }
}
