//! Proofs of the loop guard: a front end must never be triggered by an object it wrote itself,
//! or every output would fire another run.
//!
//! Two halves, both used by the Lambda and the worker-fleet tests:
//!
//! - **in the templates**: [`filter_could_match`] says whether a trigger's key filter can
//!   match an output key; [`SegmentClass`] reads a parameter's `AllowedPattern` and proves that
//!   two different allowed prefixes never overlap; [`rule_refuses_equal`] finds the template
//!   rule that refuses equal input and output prefixes; [`assert_bucket_guards_trigger`] reads
//!   the notifications of `deploy/bucket.yaml`, the bucket every stack makes.
//! - **at run time**: a [`CountingProxy`] in front of S3 proves that an event for the function's
//!   own output prefix is dropped before any S3 request is made.

use super::fault_proxy::FaultProxy;
use super::yaml_tree::Yaml;

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

/// Whether `rule` (an entry of a template's `Rules:`) asserts
/// `Fn::Not: [Fn::Equals: [Ref: a, Ref: b]]` (either order), with no `RuleCondition` limiting it.
pub fn rule_refuses_equal(rule: &Yaml, a: &str, b: &str) -> bool {
    if rule.get("RuleCondition").is_some() {
        return false;
    }
    let Some(assertions) = rule.get("Assertions") else {
        return false;
    };
    assertions.items().iter().any(|assertion| {
        let Some(("Fn::Not", not)) = assertion.get("Assert").and_then(Yaml::intrinsic) else {
            return false;
        };
        let Some(("Fn::Equals", equals)) = not.items().first().and_then(Yaml::intrinsic) else {
            return false;
        };
        let refs: Vec<Option<&str>> = equals.items().iter().map(Yaml::reference).collect();
        refs == [Some(a), Some(b)] || refs == [Some(b), Some(a)]
    })
}

/// Whether some entry of the template's `Rules:` refuses `a` = `b` unconditionally.
pub fn rules_refuse_equal(template: &Yaml, a: &str, b: &str) -> bool {
    template.get("Rules").is_some_and(|rules| rules.entries().iter().any(|(_, rule)| rule_refuses_equal(rule, a, b)))
}

/// One S3 event notification of a bucket: its kind (`LambdaConfigurations` or
/// `QueueConfigurations`), where it goes (the `Function` or `Queue` value) and each form its key
/// filter can take (`Fn::If` opened), as `(rule name, rule value)` pairs.
#[derive(Debug)]
pub struct Notification<'a> {
    /// `LambdaConfigurations` or `QueueConfigurations`.
    pub kind: &'a str,
    /// The function or queue it is sent to.
    pub target: &'a Yaml,
    /// The events it is sent for (`s3:ObjectCreated:*`).
    pub event: Option<&'a str>,
    /// Each alternative of `Filter.S3Key.Rules`.
    pub filters: Vec<Vec<(&'a str, &'a Yaml)>>,
}

/// The notifications the bucket `resource` of `template` can send, every `Fn::If` opened.
///
/// # Panics
/// If the resource has no `NotificationConfiguration`, or a filter rule lacks its name.
pub fn notifications<'a>(template: &'a Yaml, resource: &str) -> Vec<Notification<'a>> {
    let config = template
        .at(&["Resources", resource, "Properties", "NotificationConfiguration"])
        .unwrap_or_else(|| panic!("{resource} has no NotificationConfiguration"));
    let mut found = Vec::new();
    for (kind, list) in config.entries() {
        let target_key = match kind.as_str() {
            "LambdaConfigurations" => "Function",
            "QueueConfigurations" => "Queue",
            other => panic!("{resource}: notification kind {other} is not checked"),
        };
        for notification in list.each_alternative() {
            let target = notification.get(target_key).unwrap_or_else(|| panic!("{kind} without {target_key}"));
            let rules = notification.at(&["Filter", "S3Key", "Rules"]).map_or_else(Vec::new, Yaml::alternatives);
            let filters = rules
                .into_iter()
                .map(|rules| {
                    rules
                        .items()
                        .iter()
                        .map(|rule| {
                            let name = rule.get("Name").and_then(Yaml::str).expect("filter rule without Name");
                            (name, rule.get("Value").expect("filter rule without Value"))
                        })
                        .collect()
                })
                .collect();
            found.push(Notification { kind, target, event: notification.get("Event").and_then(Yaml::str), filters });
        }
    }
    found
}

/// The loop guard of `deploy/bucket.yaml`, the bucket every stack makes: uploads are announced
/// to the processor (`TriggerArn`) only for keys under `InputPrefix` (and ending in
/// `InputSuffix`); results under `OutputPrefix` are announced only to the bucket's own events
/// queue, for the app; both prefixes are single segments that a rule keeps apart.
///
/// # Panics
/// On the first way a processor could be triggered by a result.
pub fn assert_bucket_guards_trigger(bucket: &Yaml) {
    for name in ["InputPrefix", "OutputPrefix"] {
        let pattern = bucket.at(&["Parameters", name, "AllowedPattern"]).and_then(Yaml::str).unwrap_or_default();
        let class = SegmentClass::parse(pattern)
            .unwrap_or_else(|| panic!("bucket: {name} pattern {pattern:?} does not force one path segment"));
        class.assert_values_never_overlap();
    }
    assert!(rules_refuse_equal(bucket, "InputPrefix", "OutputPrefix"), "bucket: no rule refuses equal prefixes");
    let notifications = notifications(bucket, "Bucket");
    let (trigger, events): (Vec<_>, Vec<_>) =
        notifications.iter().partition(|n| n.target.reference() == Some("TriggerArn"));
    assert!(!trigger.is_empty(), "bucket: no notification goes to TriggerArn");
    for n in &trigger {
        assert_eq!(n.event, Some("s3:ObjectCreated:*"), "{n:?}");
        assert!(!n.filters.is_empty(), "the trigger has no key filter: {n:?}");
        for filter in &n.filters {
            let refs: Vec<(&str, Option<&str>)> = filter.iter().map(|(name, v)| (*name, v.reference())).collect();
            assert!(
                refs == [("prefix", Some("InputPrefix"))]
                    || refs == [("prefix", Some("InputPrefix")), ("suffix", Some("InputSuffix"))],
                "the trigger must filter on InputPrefix (and InputSuffix) only: {refs:?}"
            );
        }
    }
    for n in &events {
        assert_eq!(n.kind, "QueueConfigurations", "only the events queue may get other notifications: {n:?}");
        let queue = n.target.intrinsic();
        assert!(
            matches!(queue, Some(("Fn::GetAtt", at)) if at.items().first().and_then(Yaml::str) == Some("EventsQueue")),
            "a notification to {queue:?}: only EventsQueue (read by the app) may get results"
        );
        for filter in &n.filters {
            let refs: Vec<(&str, Option<&str>)> = filter.iter().map(|(name, v)| (*name, v.reference())).collect();
            assert_eq!(refs, [("prefix", Some("OutputPrefix"))], "status events filter on OutputPrefix only");
        }
    }
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
    use super::super::yaml_tree::parse;
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
            let template = parse(text).expect("template");
            let rules = template.get("Rules").expect("Rules");
            rules.entries().iter().map(|(_, rule)| rule_refuses_equal(rule, "In", "Out")).collect()
        };
        let assertion = "    Assertions:\n      - Assert:\n          Fn::Not:\n            - Fn::Equals:\n                - Ref: Out\n                - Ref: In\n";
        assert_eq!(rules(&format!("Rules:\n  Differ:\n{assertion}")), [true]);
        let conditional = format!("Rules:\n  Differ:\n    RuleCondition:\n      Ref: X\n{assertion}");
        assert_eq!(rules(&conditional), [false]);
        let other = assertion.replace("Ref: Out", "Ref: Other");
        assert_eq!(rules(&format!("Rules:\n  Differ:\n{other}  Empty:\n    Assertions: []\n")), [false, false]);
        let equals = assertion.replace("Fn::Not:\n            - Fn::Equals:", "Fn::And:\n            - Fn::Equals:");
        assert_eq!(rules(&format!("Rules:\n  Differ:\n{equals}")), [false]);
    }

    const BUCKET: &str = "\
Parameters:
  InputPrefix:
    AllowedPattern: '^[A-Za-z0-9._-]+/$'
  OutputPrefix:
    AllowedPattern: '^[A-Za-z0-9._-]+/$'
Rules:
  Differ:
    Assertions:
      - Assert:
          Fn::Not:
            - Fn::Equals:
                - Ref: InputPrefix
                - Ref: OutputPrefix
Resources:
  Bucket:
    Properties:
      NotificationConfiguration:
        QueueConfigurations:
          - Fn::If:
              - C
              - Event: s3:ObjectCreated:*
                Queue:
                  Ref: TriggerArn
                Filter:
                  S3Key:
                    Rules:
                      - Name: prefix
                        Value:
                          Ref: InputPrefix
              - Ref: AWS::NoValue
          - Event: s3:ObjectCreated:*
            Queue:
              Fn::GetAtt: [EventsQueue, Arn]
            Filter:
              S3Key:
                Rules:
                  - Name: prefix
                    Value:
                      Ref: OutputPrefix
";

    #[test]
    fn bucket_loop_guard_is_checked() {
        let bucket = parse(BUCKET).expect("bucket");
        assert_bucket_guards_trigger(&bucket);
        let found = notifications(&bucket, "Bucket");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].filters[0][0].1.reference(), Some("InputPrefix"));
        // Each way of breaking it is caught.
        for (from, to) in [
            ("Ref: InputPrefix\n              - Ref: AWS", "Ref: OutputPrefix\n              - Ref: AWS"),
            (
                "                          Ref: InputPrefix\n",
                "                          Ref: InputPrefix\n                      - Name: suffix\n                        Value:\n                          Ref: OutputPrefix\n",
            ),
            (
                "                Filter:\n                  S3Key:\n                    Rules:\n                      - Name: prefix\n                        Value:\n                          Ref: InputPrefix\n",
                "",
            ),
            ("                      Ref: OutputPrefix", "                      Ref: InputPrefix"),
            ("Fn::GetAtt: [EventsQueue, Arn]", "Ref: TriggerArn"),
            ("Fn::GetAtt: [EventsQueue, Arn]", "Fn::GetAtt: [OtherQueue, Arn]"),
            ("Ref: OutputPrefix\nResources", "Ref: Other\nResources"),
            ("'^[A-Za-z0-9._-]+/$'\n  OutputPrefix", "'^.+/$'\n  OutputPrefix"),
        ] {
            let broken = BUCKET.replacen(from, to, 1);
            assert_ne!(broken, BUCKET, "{from:?} not found");
            let bucket = parse(&broken).expect("bucket");
            let caught = std::panic::catch_unwind(|| assert_bucket_guards_trigger(&bucket));
            assert!(caught.is_err(), "not caught: {from:?} -> {to:?}");
        }
    }
}
