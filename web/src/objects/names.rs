//! Names: what a user's file name becomes in a key (safe on S3 and on a local disk), and the
//! output's name.

/// Longest safe name kept, bytes.
const MAX_NAME_BYTES: usize = 120;

/// A file name safe as the last segment of a key and of a local path: letters, digits, and
/// ` .-_()+,` kept (any script), anything else (slashes, controls, quotes…) becomes `_`; no
/// leading dot or space; at most [`MAX_NAME_BYTES`]; `upload` if nothing is left. The extension
/// is kept when the name is shortened.
pub fn safe_name(name: &str) -> String {
    let mapped: String =
        name.chars().map(|c| if c.is_alphanumeric() || " .-_()+,".contains(c) { c } else { '_' }).collect();
    let trimmed = mapped.trim_start_matches(['.', ' ']).trim_end_matches([' ', '.']);
    if trimmed.is_empty() || trimmed.chars().all(|c| c == '_') {
        return "upload".to_owned();
    }
    if trimmed.len() <= MAX_NAME_BYTES {
        return trimmed.to_owned();
    }
    let ext = trimmed.rsplit_once('.').map(|(_, e)| e).filter(|e| e.len() <= 10).unwrap_or("");
    let mut stem: String = String::new();
    for c in trimmed.chars() {
        if stem.len() + c.len_utf8() + ext.len() + 1 > MAX_NAME_BYTES {
            break;
        }
        stem.push(c);
    }
    if ext.is_empty() { stem } else { format!("{stem}.{ext}") }
}

/// The output's file name: the input's stem with the format's extension.
pub fn output_name(filename: &str, extension: &str) -> String {
    let safe = safe_name(filename);
    let stem = safe.rsplit_once('.').map_or(safe.as_str(), |(s, _)| s);
    format!("{}.{extension}", if stem.is_empty() { "output" } else { stem })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_names_become_safe_segments_and_keep_their_extension() {
        assert_eq!(safe_name("My Song (live).wav"), "My Song (live).wav");
        assert_eq!(safe_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_name("a/b\\c\u{0}d\n.flac"), "a_b_c_d_.flac");
        assert_eq!(safe_name("Ünïcødé 日本語.mp3"), "Ünïcødé 日本語.mp3");
        assert_eq!(safe_name(".hidden"), "hidden");
        assert_eq!(safe_name("\u{202e}txt.exe"), "_txt.exe", "a direction override is not kept");
        assert_eq!(safe_name(""), "upload");
        assert_eq!(safe_name("///"), "upload");
        let long = format!("{}.wav", "é".repeat(200));
        let s = safe_name(&long);
        assert!(s.len() <= MAX_NAME_BYTES && s.ends_with(".wav"), "{s}");
        assert_eq!(output_name("x.y.wav", "flac"), "x.y.flac");
        assert_eq!(safe_name("'; DROP TABLE tracks; --.wav"), "__ DROP TABLE tracks_ --.wav");
    }
}
