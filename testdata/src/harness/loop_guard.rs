//! Proofs of the loop guard: a front end must never be triggered by an object it wrote itself,
//! or every output would fire another run.
//!
//! Two halves, both used by the Lambda and the worker-fleet tests:
//!
//! - **in the templates**: [`filter_could_match`] says whether a trigger's key filter can
//!   match an output key; [`SegmentClass`] reads a parameter's `AllowedPattern` and proves that
//!   two different allowed prefixes never overlap; [`rule_refuses_equal`] finds the template
//!   rule that refuses equal input and output prefixes.
//! - **at run time**: a [`CountingProxy`] in front of S3 proves that an event for the function's
//!   own output prefix is dropped before any S3 request is made.

use super::fault_proxy::FaultProxy;
use super::yaml_lines::{Line, block_at, find_key};

/// Whether some object key could both fire the trigger (starts with `input_prefix`, ends with
/// `input_suffix`) and be written by the function (starts with `output_prefix`, ends with one of
/// `output_suffix_candidates`). An empty `input_suffix` matches every key; an empty candidate
/// list means "any suffix". Over-approximates on purpose: `true` means "not provably safe".
pub fn filter_could_match(
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

/// The character class of a prefix pattern of the form `^[CLASS]+/$` whose `CLASS` can't produce
/// `/`: then every allowed value is one non-empty path segment followed by `/`, and two different
/// allowed values are never prefixes of each other (a `/` can only sit at a value's end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentClass {
    /// The class as inclusive character ranges (`a-z` → `('a', 'z')`, `.` → `('.', '.')`).
    ranges: Vec<(char, char)>,
}

impl SegmentClass {
    /// Reads `pattern`; patterns of any other shape, negated classes and escapes are refused
    /// (`None`): this reads a regex conservatively, it doesn't evaluate it.
    pub fn parse(pattern: &str) -> Option<SegmentClass> {
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
        Some(SegmentClass { ranges })
    }

    /// Whether `value` matches `^[CLASS]+/$`.
    pub fn matches(&self, value: &str) -> bool {
        value.strip_suffix('/').is_some_and(|segment| {
            !segment.is_empty() && segment.chars().all(|c| self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi))
        })
    }

    /// The argument, tried: every pair of different allowed values of one or two characters
    /// (the ends of each range) + `/` is matched by the class and can't overlap as trigger and
    /// output prefixes.
    ///
    /// # Panics
    ///
    /// On the first pair that overlaps (which would mean [`SegmentClass::parse`] is wrong).
    pub fn assert_values_never_overlap(&self) {
        let alphabet: Vec<char> = self.ranges.iter().flat_map(|&(lo, hi)| [lo, hi]).collect();
        let mut values: Vec<String> = alphabet.iter().map(|c| format!("{c}/")).collect();
        for a in &alphabet {
            for b in &alphabet {
                values.push(format!("{a}{b}/"));
            }
        }
        values.sort();
        values.dedup();
        for a in &values {
            assert!(self.matches(a), "{a:?}");
            for b in values.iter().filter(|b| *b != a) {
                assert!(!filter_could_match(a, "", b, &[]), "allowed prefixes {a:?} and {b:?} overlap");
            }
        }
    }
}

/// Whether `rule` (a block under a template's `Rules:`) asserts
/// `Fn::Not: [Fn::Equals: [Ref: a, Ref: b]]` (either order), with no `RuleCondition` limiting it.
pub fn rule_refuses_equal(rule: &[Line<'_>], a: &str, b: &str) -> bool {
    if find_key(rule, "RuleCondition").is_some() {
        return false;
    }
    let Some(assertions) = block_at(rule, &["Assertions"]) else {
        return false;
    };
    let (ref_a, ref_b) = (format!("Ref: {a}"), format!("Ref: {b}"));
    let text: Vec<&str> = assertions.iter().map(|l| l.text).collect();
    text.windows(4).any(|w| {
        w[0] == "Fn::Not:"
            && w[1] == "Fn::Equals:"
            && ((w[2] == ref_a && w[3] == ref_b) || (w[2] == ref_b && w[3] == ref_a))
    })
}

/// A pass-through proxy in front of S3 that records every request, to prove that something
/// made none: point the binary under test at [`CountingProxy::endpoint`], act, then
/// [`CountingProxy::assert_no_requests`].
#[derive(Debug)]
pub struct CountingProxy {
    proxy: FaultProxy,
}

impl CountingProxy {
    /// Starts the proxy in front of `upstream` (e.g. moto's endpoint); it fails nothing.
    pub fn start(upstream: &str) -> CountingProxy {
        CountingProxy { proxy: FaultProxy::start(upstream, Vec::new()) }
    }

    /// `http://127.0.0.1:PORT` of the proxy.
    pub fn endpoint(&self) -> String {
        self.proxy.endpoint()
    }

    /// The requests seen so far (`METHOD target`), in order.
    pub fn requests(&self) -> Vec<String> {
        self.proxy.requests()
    }

    /// # Panics
    ///
    /// If any request reached the proxy (they are listed).
    pub fn assert_no_requests(&self) {
        let requests = self.requests();
        assert!(requests.is_empty(), "S3 was called: {requests:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml_lines::{children, scan};
    use super::*;

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
        let class = SegmentClass::parse("^[A-Za-z0-9._-]+/$").expect("the templates' pattern is understood");
        assert!(class.matches("incoming/"));
        assert!(class.matches("a.b_c-9/"));
        for bad in ["", "/", "incoming", "in/coming/", "in coming/", "in\u{e9}/"] {
            assert!(!class.matches(bad), "{bad:?}");
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
            assert_eq!(SegmentClass::parse(pattern), None, "{pattern}");
        }
        class.assert_values_never_overlap();
    }

    #[test]
    fn rules_refusing_equal_prefixes_are_found() {
        let rules = |text: &str| -> Vec<bool> {
            let lines = scan(text);
            let rules = block_at(&lines, &["Rules"]).expect("Rules");
            (0..rules.len())
                .filter(|&i| rules[i].indent == rules[0].indent)
                .map(|i| rule_refuses_equal(children(rules, i), "In", "Out"))
                .collect()
        };
        let assertion = "    Assertions:\n      - Assert:\n          Fn::Not:\n            - Fn::Equals:\n                - Ref: Out\n                - Ref: In\n";
        assert_eq!(rules(&format!("Rules:\n  Differ:\n{assertion}")), [true]);
        let conditional = format!("Rules:\n  Differ:\n    RuleCondition:\n      Ref: X\n{assertion}");
        assert_eq!(rules(&conditional), [false]);
        let other = assertion.replace("Ref: Out", "Ref: Other");
        assert_eq!(rules(&format!("Rules:\n  Differ:\n{other}  Empty:\n    Assertions: []\n")), [false, false]);
    }
}
