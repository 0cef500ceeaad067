//! Checks on `lambda/template.yaml`, the SAM template that deploys the function:
//!
//! - cfn-lint 1.51 (installed by `scripts/s3-venv.sh`) finds no error and no warning;
//! - the S3 trigger can never match an object the function writes (the loop guard);
//! - the function is configured with exactly the documented `AUDIOPROC_*` variables.
//!
//! Only std: the template is read with a line scanner that understands the block-style YAML the
//! template is written in (long-form intrinsics such as `Fn::Sub:`, never `!Sub` tags).

#[path = "cfn_lint/mod.rs"]
mod cfn_lint;

use std::env;
use std::path::PathBuf;

const TEMPLATE: &str = include_str!("../template.yaml");

/// The variables the function reads (`lambda/src/config.rs`), all of which the template sets.
const DOCUMENTED_VARIABLES: [&str; 10] = [
    "AUDIOPROC_OUTPUT_BUCKET",
    "AUDIOPROC_OUTPUT_PREFIX",
    "AUDIOPROC_PRESET",
    "AUDIOPROC_TARGET_LUFS",
    "AUDIOPROC_TRUE_PEAK_DBTP",
    "AUDIOPROC_MODE",
    "AUDIOPROC_FORMAT",
    "AUDIOPROC_SAMPLE_RATE",
    "AUDIOPROC_ALLOWED_BUCKETS",
    "AUDIOPROC_MAX_INPUT_BYTES",
];

/// Suffixes of the objects the function writes besides the audio (`<output key>.json`,
/// `<input key>.error.json`).
const SIDECAR_SUFFIXES: [&str; 2] = [".json", ".error.json"];

// ---- the loop guard ---------------------------------------------------------------------------

/// Whether some object key could both fire the trigger (starts with `input_prefix`, ends with
/// `input_suffix`) and be written by the function (starts with `output_prefix`, ends with one of
/// `output_suffix_candidates`). An empty `input_suffix` matches every key; an empty candidate
/// list means "any suffix". Over-approximates on purpose: `true` means "not provably safe".
fn filter_could_match(
    input_prefix: &str,
    input_suffix: &str,
    output_prefix: &str,
    output_suffix_candidates: &[&str],
) -> bool {
    // Some key starts with both prefixes iff one is a prefix of the other (then the longer
    // one, followed by anything, starts with both).
    let prefixes_meet = input_prefix.starts_with(output_prefix) || output_prefix.starts_with(input_prefix);
    if !prefixes_meet {
        return false;
    }
    // Likewise for suffixes; the part between prefix and suffix can be as long as needed.
    input_suffix.is_empty()
        || output_suffix_candidates.is_empty()
        || output_suffix_candidates.iter().any(|s| s.ends_with(input_suffix) || input_suffix.ends_with(s))
}

/// The character class of a prefix pattern of the form `^[CLASS]+/$`, if `CLASS` can't produce
/// `/`: then every allowed value is one non-empty path segment followed by `/`, and two different
/// allowed values are never prefixes of each other (a `/` can only sit at a value's end). Patterns
/// of any other shape, negated classes and escapes are refused (`None`): this reads a regex
/// conservatively, it doesn't evaluate it.
fn single_segment_class(pattern: &str) -> Option<Vec<(char, char)>> {
    let class = pattern.strip_prefix("^[")?.strip_suffix("]+/$")?;
    if class.is_empty() || class.starts_with('^') || class.contains(['\\', '[', ']']) {
        return None;
    }
    let chars: Vec<char> = class.chars().collect();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        // `a-z` is a range unless the `-` is the class's last character.
        if i + 2 < chars.len() && chars[i + 1] == '-' {
            if chars[i] > chars[i + 2] {
                return None;
            }
            ranges.push((chars[i], chars[i + 2]));
            i += 3;
        } else {
            ranges.push((chars[i], chars[i]));
            i += 1;
        }
    }
    if ranges.iter().any(|&(lo, hi)| lo <= '/' && '/' <= hi) {
        return None;
    }
    Some(ranges)
}

/// Whether `value` matches `^[CLASS]+/$` for the class `ranges`.
fn matches_single_segment(ranges: &[(char, char)], value: &str) -> bool {
    value.strip_suffix('/').is_some_and(|segment| {
        !segment.is_empty() && segment.chars().all(|c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi))
    })
}

// ---- a line scanner for the template's block-style YAML ---------------------------------------

/// One meaningful line: its indentation (a `- ` list marker counts as indentation, so the keys of
/// a list item line up), whether it opens a list item, and its text without indentation.
#[derive(Clone, Copy, Debug)]
struct Line<'a> {
    indent: usize,
    item: bool,
    text: &'a str,
}

impl<'a> Line<'a> {
    /// `key` of a `key: value` or `key:` line (keys may hold `::`, as in `Fn::Sub:`).
    fn key(&self) -> Option<&'a str> {
        if let Some(k) = self.text.strip_suffix(':')
            && !k.contains(": ")
        {
            return Some(k);
        }
        self.text.split_once(": ").map(|(k, _)| k)
    }

    /// The inline value of a `key: value` line, unquoted; `None` for `key:` and plain items.
    fn value(&self) -> Option<String> {
        self.text.split_once(": ").map(|(_, v)| unquote(v.trim()))
    }
}

/// The template's lines, less blank and comment lines.
fn scan(text: &str) -> Vec<Line<'_>> {
    text.lines()
        .filter_map(|raw| {
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                return None;
            }
            let mut indent = raw.len() - trimmed.len();
            let mut text = trimmed;
            // `- - Name: x` (an item of a list that is itself an item) counts both markers.
            while let Some(rest) = text.strip_prefix("- ") {
                indent += 2 + (rest.len() - rest.trim_start().len());
                text = rest.trim_start();
            }
            let item = text.len() != trimmed.len();
            Some(Line { indent, item, text: text.trim_end() })
        })
        .collect()
}

fn unquote(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        v[1..v.len() - 1].replace("''", "'")
    } else if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v[1..v.len() - 1].to_owned()
    } else {
        v.to_owned()
    }
}

/// The lines nested under the line at `at` (deeper indentation, up to the next line that isn't).
fn children<'s, 'a>(lines: &'s [Line<'a>], at: usize) -> &'s [Line<'a>] {
    let indent = lines[at].indent;
    let end = lines[at + 1..].iter().position(|l| l.indent <= indent).map_or(lines.len(), |n| at + 1 + n);
    &lines[at + 1..end]
}

/// Index of the key `key` among the direct entries of `block` (those at its first line's indent).
fn find_key(block: &[Line<'_>], key: &str) -> Option<usize> {
    let base = block.first()?.indent;
    block.iter().position(|l| l.indent == base && l.key() == Some(key))
}

/// The block under the nested keys `path`, starting from `block`.
fn block_at<'s, 'a>(mut block: &'s [Line<'a>], path: &[&str]) -> Option<&'s [Line<'a>]> {
    for key in path {
        let at = find_key(block, key)?;
        block = children(block, at);
    }
    Some(block)
}

/// The value of `key` in `block` as one line of text: its inline value, else its nested lines
/// joined (`Value:` + `Ref: InputPrefix` on the next line gives `"Ref: InputPrefix"`).
fn value_text(block: &[Line<'_>], key: &str) -> Option<String> {
    let at = find_key(block, key)?;
    block[at].value().or_else(|| {
        let nested: Vec<&str> = children(block, at).iter().map(|l| l.text).collect();
        Some(nested.join(" "))
    })
}

/// A scalar property of a template parameter (`Default`, `AllowedPattern`, ...).
fn parameter(lines: &[Line<'_>], name: &str, property: &str) -> Option<String> {
    block_at(lines, &["Parameters", name]).and_then(|b| find_key(b, property).and_then(|i| b[i].value()))
}

/// A flow list such as `[flac, wav, mp3, opus]`.
fn flow_list(text: &str) -> Vec<String> {
    text.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|v| unquote(v.trim()))
        .filter(|v| !v.is_empty())
        .collect()
}

/// The S3 key filter rules of every notification in the template, as `(name, value text)`.
fn key_filter_rules(lines: &[Line<'_>]) -> Vec<(String, String)> {
    let mut rules = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.item && line.key() == Some("Name") {
            // The item's entries: this line and the following ones at its indentation.
            let end = lines[i + 1..].iter().position(|l| l.indent < line.indent || (l.indent == line.indent && l.item));
            let item = &lines[i..end.map_or(lines.len(), |n| i + 1 + n)];
            let name = line.value().unwrap_or_default();
            rules.push((name, value_text(item, "Value").unwrap_or_default()));
        }
    }
    rules
}

/// Whether `rule` (a block under `Rules:`) asserts `Fn::Not: [Fn::Equals: [Ref: a, Ref: b]]`
/// for `{a, b} = {InputPrefix, OutputPrefix}`, with no `RuleCondition` limiting it.
fn rule_asserts_prefixes_differ(rule: &[Line<'_>]) -> bool {
    if find_key(rule, "RuleCondition").is_some() {
        return false;
    }
    let Some(assertions) = block_at(rule, &["Assertions"]) else {
        return false;
    };
    let text: Vec<&str> = assertions.iter().map(|l| l.text).collect();
    text.windows(4).any(|w| {
        w[0] == "Fn::Not:"
            && w[1] == "Fn::Equals:"
            && ((w[2] == "Ref: InputPrefix" && w[3] == "Ref: OutputPrefix")
                || (w[2] == "Ref: OutputPrefix" && w[3] == "Ref: InputPrefix"))
    })
}

// ---- tests ------------------------------------------------------------------------------------

#[test]
fn cfn_lint_finds_no_errors_or_warnings() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    cfn_lint::assert_clean(&dir.join("template.yaml"), &dir);
}

#[test]
fn filter_could_match_reports_overlaps() {
    let outputs = [".flac", ".flac.json"];
    // Distinct single segments: never.
    assert!(!filter_could_match("incoming/", "", "processed/", &outputs));
    assert!(!filter_could_match("incoming/", "", "processed/", &[]));
    assert!(!filter_could_match("a/", ".wav", "b/", &[".wav"]));
    // An empty input prefix fires for every key, outputs included.
    assert!(filter_could_match("", "", "processed/", &outputs));
    // Equal, or nested, prefixes.
    assert!(filter_could_match("media/", "", "media/", &outputs));
    assert!(filter_could_match("media/", "", "media/out/", &outputs));
    assert!(filter_could_match("media/in/", "", "media/", &outputs));
    // Without the trailing '/', "in/" is not safe from "in-out/": "in" prefixes both.
    assert!(filter_could_match("in", "", "in-out/", &outputs));
    // A suffix filter saves nested prefixes only if no output can end with it.
    assert!(!filter_could_match("media/", ".wav", "media/out/", &outputs));
    assert!(filter_could_match("media/", ".wav", "media/out/", &[".wav", ".flac.json"]));
    assert!(filter_could_match("media/", ".json", "media/out/", &outputs));
    assert!(filter_could_match("media/", "on", "media/out/", &outputs));
    // Unknown output suffixes: assume the worst.
    assert!(filter_could_match("media/", ".wav", "media/out/", &[]));
    assert!(filter_could_match("media/", ".wav", "media/out/", &[""]));
}

#[test]
fn single_segment_class_accepts_only_slash_free_classes() {
    let class = single_segment_class("^[A-Za-z0-9._-]+/$").expect("the template's pattern is understood");
    assert!(matches_single_segment(&class, "incoming/"));
    assert!(matches_single_segment(&class, "a.b_c-9/"));
    for bad in ["", "/", "incoming", "in/coming/", "in coming/", "in\u{e9}/"] {
        assert!(!matches_single_segment(&class, bad), "{bad:?}");
    }
    for pattern in [
        "^.+/$",              // '.' matches '/'
        "^[A-Za-z0-9/]+/$",   // '/' in the class
        "^[+-0]+/$",          // '+'..'0' holds '/'
        "^[^a]+/$",           // negated class
        "^[\\w]+/$",          // escapes are not read
        "^[A-Za-z0-9._-]*/$", // allows an empty segment
        "^[A-Za-z0-9._-]+$",  // no trailing '/': "a" is a prefix of "ab"
        "[A-Za-z0-9._-]+/$",  // unanchored
        "^[A-Za-z0-9._-]+/",  // unanchored
    ] {
        assert_eq!(single_segment_class(pattern), None, "{pattern}");
    }
}

#[test]
fn trigger_can_never_match_outputs() {
    let lines = scan(TEMPLATE);
    let param = |name: &str, property: &str| {
        parameter(&lines, name, property).unwrap_or_else(|| panic!("template: Parameters.{name}.{property} not found"))
    };
    let input_prefix = param("InputPrefix", "Default");
    let output_prefix = param("OutputPrefix", "Default");
    let input_suffix = param("InputSuffix", "Default");
    let formats = flow_list(&param("Format", "AllowedValues"));
    assert!(formats.contains(&"flac".to_owned()), "Format values: {formats:?}");
    let extensions: Vec<String> = formats.iter().map(|f| format!(".{f}")).collect();
    let mut output_suffixes: Vec<&str> = extensions.iter().map(String::as_str).collect();
    output_suffixes.extend(SIDECAR_SUFFIXES);

    // (a) The defaults don't overlap, whatever the suffixes.
    assert!(
        !filter_could_match(&input_prefix, &input_suffix, &output_prefix, &output_suffixes),
        "default trigger {input_prefix:?}…{input_suffix:?} can match outputs under {output_prefix:?}"
    );
    assert!(!filter_could_match(&input_prefix, "", &output_prefix, &[]), "{input_prefix:?} / {output_prefix:?}");

    // (b) Both prefixes are constrained to one non-empty segment ending in '/', which the
    // defaults satisfy; so any two different allowed values never overlap.
    let pattern = param("InputPrefix", "AllowedPattern");
    assert_eq!(pattern, param("OutputPrefix", "AllowedPattern"), "both prefixes must be constrained alike");
    let class = single_segment_class(&pattern)
        .unwrap_or_else(|| panic!("AllowedPattern {pattern:?} does not force one path segment ending in '/'"));
    assert!(matches_single_segment(&class, &input_prefix) && matches_single_segment(&class, &output_prefix));
    // The argument, tried: every pair of different allowed values up to 2 characters + '/'.
    let alphabet: Vec<char> = class.iter().flat_map(|&(lo, hi)| [lo, hi]).collect();
    let mut values: Vec<String> = alphabet.iter().map(|c| format!("{c}/")).collect();
    for a in &alphabet {
        for b in &alphabet {
            values.push(format!("{a}{b}/"));
        }
    }
    values.sort();
    values.dedup();
    for a in &values {
        assert!(matches_single_segment(&class, a), "{a:?}");
        for b in values.iter().filter(|b| *b != a) {
            assert!(!filter_could_match(a, "", b, &[]), "allowed prefixes {a:?} and {b:?} overlap");
        }
    }

    // (c) A rule refuses equal prefixes, in every configuration.
    let rules = block_at(&lines, &["Rules"]).expect("template: no Rules section");
    let rule_names: Vec<usize> = (0..rules.len()).filter(|&i| rules[i].indent == rules[0].indent).collect();
    assert!(
        rule_names.iter().any(|&i| rule_asserts_prefixes_differ(children(rules, i))),
        "no unconditional rule asserts InputPrefix != OutputPrefix"
    );

    // The trigger filters on InputPrefix (and InputSuffix) only; outputs go under OutputPrefix.
    let filters = key_filter_rules(&lines);
    assert!(filters.iter().any(|(name, _)| name == "prefix"), "no S3 key filter found");
    for (name, value) in &filters {
        match name.as_str() {
            "prefix" => assert_eq!(value, "Ref: InputPrefix"),
            "suffix" => assert_eq!(value, "Ref: InputSuffix"),
            other => panic!("unexpected S3 key filter rule {other:?}"),
        }
    }
    let variables = block_at(&lines, &["Resources", "Function", "Properties", "Environment", "Variables"])
        .expect("template: Function environment variables not found");
    assert_eq!(value_text(variables, "AUDIOPROC_OUTPUT_PREFIX").as_deref(), Some("Ref: OutputPrefix"));
}

#[test]
fn function_sets_exactly_the_documented_variables() {
    let lines = scan(TEMPLATE);
    let variables = block_at(&lines, &["Resources", "Function", "Properties", "Environment", "Variables"])
        .expect("template: Function environment variables not found");
    let base = variables[0].indent;
    let set: Vec<&str> = variables.iter().filter(|l| l.indent == base).filter_map(Line::key).collect();
    for name in set.iter().filter(|n| n.starts_with("AUDIOPROC_")) {
        assert!(DOCUMENTED_VARIABLES.contains(name), "the template sets {name}, which the function doesn't read");
    }
    for name in DOCUMENTED_VARIABLES {
        assert!(set.contains(&name), "the template doesn't set {name}");
    }
    // And nothing else in the template sets one (another resource, a second function).
    let everywhere = lines.iter().filter_map(Line::key).filter(|k| k.starts_with("AUDIOPROC_")).count();
    assert_eq!(everywhere, DOCUMENTED_VARIABLES.len(), "AUDIOPROC_* keys outside the function's Variables");
    assert!(set.contains(&"RUST_LOG"));
}

#[test]
fn scanner_reads_block_yaml() {
    let text = "A:\n  B:\n    - - Name: prefix\n        Value:\n          Ref: X\n      - Name: suffix\n        Value: '.wav'\n  C: [a, 'b']\n# c\nD: 1\n";
    let lines = scan(text);
    assert_eq!(
        key_filter_rules(&lines),
        [("prefix".to_owned(), "Ref: X".to_owned()), ("suffix".to_owned(), ".wav".to_owned())]
    );
    assert_eq!(flow_list(&value_text(block_at(&lines, &["A"]).expect("A"), "C").expect("C")), ["a", "b"]);
    assert_eq!(value_text(&lines, "D").as_deref(), Some("1"));
    assert!(block_at(&lines, &["A", "X"]).is_none());
    assert_eq!(Line { indent: 0, item: false, text: "Fn::Sub: arn:${AWS::Partition}:s3:::x" }.key(), Some("Fn::Sub"));
    assert_eq!(Line { indent: 0, item: false, text: "Fn::Not:" }.key(), Some("Fn::Not"));
}
