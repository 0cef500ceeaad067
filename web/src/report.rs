//! A track's report: the `audioproc.process/1` document of its output's sidecar (or of its
//! error report), as its owner sees it: only the document's own fields (never where the files
//! live in the store), with the file names the user knows.

use serde_json::{Map, Value};

use crate::objects::output_name;
use crate::tracks::{Finish, Track};

/// The fields of the `audioproc.process/1` document a user is shown; anything else a sidecar
/// records (its source, destination, hash, spec id) stays on the server.
const SHOWN: &[&str] = &[
    "schema",
    "ok",
    "error",
    "input",
    "output",
    "preset",
    "target_lufs",
    "true_peak_ceiling_dbtp",
    "mode",
    "format",
    "bits_per_sample",
    "gain_db",
    "limiter_max_reduction_db",
    "target_met",
    "notes",
    "passes",
    "decodes",
    "elapsed_s",
    "curve",
];

/// How `track` ends, from the sidecar (or error report) `bytes` the job wrote for it; `hide`
/// takes the store's names out of an error message.
pub fn finish_from(track: &Track, bytes: &[u8], hide: impl Fn(&str) -> String) -> Finish {
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(bytes) else {
        return Finish::Failed("the report of the output cannot be read".to_owned());
    };
    if doc.get("ok") == Some(&Value::Bool(false)) {
        let why = doc.get("error").and_then(Value::as_str).unwrap_or("processing failed");
        return Finish::Failed(hide(why));
    }
    let mut shown: Map<String, Value> = doc.into_iter().filter(|(k, _)| SHOWN.contains(&k.as_str())).collect();
    let names = [("input", track.filename.clone()), ("output", output_name(&track.filename, track.spec.extension()))];
    for (side, name) in names {
        if let Some(Value::Object(s)) = shown.get_mut(side) {
            s.insert("path".to_owned(), Value::String(name));
        }
    }
    Finish::Done(Value::Object(shown))
}
