//! Text formatting shared by the CLI's reports (the JSON documents live in
//! `audioproc_engine::report`).

/// `-23.0 LUFS`, or `-∞` for no value.
pub fn fmt(x: Option<f64>, unit: &str) -> String {
    x.map_or_else(|| "-∞".to_owned(), |v| format!("{v:.1} {unit}"))
}
