//! A line scanner for the block-style YAML the project's CloudFormation templates are written
//! in (`lambda/template.yaml`, `cli/deploy/fleet.yaml`): long-form intrinsics such as `Fn::Sub:`,
//! never `!Sub` tags, no anchors, no multi-line flow collections.
//!
//! It is not a YAML parser: a template becomes a list of [`Line`]s (indentation, list-item
//! flag, text), and blocks are found by indentation. That is enough to read parameters,
//! environment variables and notification filters, with std only.

/// One meaningful line: its indentation (a `- ` list marker counts as indentation, so the keys of
/// a list item line up), whether it opens a list item, and its text without indentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// Columns before the text, list markers included.
    pub indent: usize,
    /// The line opens a list item (`- Name: x`).
    pub item: bool,
    /// The text after indentation and list markers, without trailing blanks.
    pub text: &'a str,
}

impl<'a> Line<'a> {
    /// `key` of a `key: value` or `key:` line (keys may hold `::`, as in `Fn::Sub:`).
    pub fn key(&self) -> Option<&'a str> {
        if let Some(k) = self.text.strip_suffix(':')
            && !k.contains(": ")
        {
            return Some(k);
        }
        self.text.split_once(": ").map(|(k, _)| k)
    }

    /// The inline value of a `key: value` line, unquoted; `None` for `key:` and plain items.
    pub fn value(&self) -> Option<String> {
        self.text.split_once(": ").map(|(_, v)| unquote(v.trim()))
    }
}

/// The lines of `text`, less blank and comment lines.
pub fn scan(text: &str) -> Vec<Line<'_>> {
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

/// A scalar without its single (`''` escapes a quote) or double quotes.
pub fn unquote(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        v[1..v.len() - 1].replace("''", "'")
    } else if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v[1..v.len() - 1].to_owned()
    } else {
        v.to_owned()
    }
}

/// The lines nested under the line at `at` (deeper indentation, up to the next line that isn't).
pub fn children<'s, 'a>(lines: &'s [Line<'a>], at: usize) -> &'s [Line<'a>] {
    let indent = lines[at].indent;
    let end = lines[at + 1..].iter().position(|l| l.indent <= indent).map_or(lines.len(), |n| at + 1 + n);
    &lines[at + 1..end]
}

/// Index of the key `key` among the direct entries of `block` (those at its first line's indent).
pub fn find_key(block: &[Line<'_>], key: &str) -> Option<usize> {
    let base = block.first()?.indent;
    block.iter().position(|l| l.indent == base && l.key() == Some(key))
}

/// The block under the nested keys `path`, starting from `block`.
pub fn block_at<'s, 'a>(mut block: &'s [Line<'a>], path: &[&str]) -> Option<&'s [Line<'a>]> {
    for key in path {
        let at = find_key(block, key)?;
        block = children(block, at);
    }
    Some(block)
}

/// The value of `key` in `block` as one line of text: its inline value, else its nested lines
/// joined (`Value:` + `Ref: InputPrefix` on the next line gives `"Ref: InputPrefix"`).
pub fn value_text(block: &[Line<'_>], key: &str) -> Option<String> {
    let at = find_key(block, key)?;
    block[at].value().or_else(|| {
        let nested: Vec<&str> = children(block, at).iter().map(|l| l.text).collect();
        Some(nested.join(" "))
    })
}

/// A scalar property of a template parameter (`Default`, `AllowedPattern`, ...): the inline
/// value of `Parameters.<name>.<property>`.
pub fn parameter(lines: &[Line<'_>], name: &str, property: &str) -> Option<String> {
    block_at(lines, &["Parameters", name]).and_then(|b| find_key(b, property).and_then(|i| b[i].value()))
}

/// A flow list such as `[flac, wav, mp3, opus]`.
pub fn flow_list(text: &str) -> Vec<String> {
    text.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|v| unquote(v.trim()))
        .filter(|v| !v.is_empty())
        .collect()
}

/// Every list item of the form `- Name: n` + `Value: v`, as `(n, value text of Value)`: the S3
/// key filter rules of a notification (`Filter.S3Key.Rules`).
pub fn name_value_items(lines: &[Line<'_>]) -> Vec<(String, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "A:\n  B:\n    - - Name: prefix\n        Value:\n          Ref: X\n      - Name: suffix\n        Value: '.wav'\n  C: [a, 'b']\n# c\nD: 1\n";

    #[test]
    fn scanner_reads_block_yaml() {
        let lines = scan(TEXT);
        assert_eq!(
            name_value_items(&lines),
            [("prefix".to_owned(), "Ref: X".to_owned()), ("suffix".to_owned(), ".wav".to_owned())]
        );
        assert_eq!(flow_list(&value_text(block_at(&lines, &["A"]).expect("A"), "C").expect("C")), ["a", "b"]);
        assert_eq!(value_text(&lines, "D").as_deref(), Some("1"));
        assert!(block_at(&lines, &["A", "X"]).is_none());
        assert_eq!(
            Line { indent: 0, item: false, text: "Fn::Sub: arn:${AWS::Partition}:s3:::x" }.key(),
            Some("Fn::Sub")
        );
        assert_eq!(Line { indent: 0, item: false, text: "Fn::Not:" }.key(), Some("Fn::Not"));
    }

    #[test]
    fn list_markers_count_as_indentation() {
        let lines = scan(TEXT);
        // Blank and comment lines are gone; `- - Name` is two items deep.
        assert_eq!(lines.len(), 9);
        assert_eq!(lines[2], Line { indent: 8, item: true, text: "Name: prefix" });
        assert_eq!(lines[3], Line { indent: 8, item: false, text: "Value:" });
        assert_eq!(lines[5], Line { indent: 8, item: true, text: "Name: suffix" });
        let b = block_at(&lines, &["A", "B"]).expect("A.B");
        assert_eq!(b.len(), 5);
        assert_eq!(children(&lines, 0).len(), 7);
        assert!(children(&lines, 8).is_empty());
    }

    #[test]
    fn keys_are_found_only_among_direct_entries() {
        let lines = scan("Top:\n  Inner:\n    Deep: 1\n  Other: 2\n");
        let top = block_at(&lines, &["Top"]).expect("Top");
        assert_eq!(find_key(top, "Other"), Some(2));
        assert_eq!(find_key(top, "Deep"), None);
        assert_eq!(value_text(top, "Inner").as_deref(), Some("Deep: 1"));
        assert_eq!(Line { indent: 0, item: true, text: "plain item" }.key(), None);
        assert_eq!(Line { indent: 0, item: false, text: "Key:" }.value(), None);
    }

    #[test]
    fn parameters_and_quotes_are_read() {
        let template = "Parameters:\n  Prefix:\n    Type: String\n    Default: 'it''s/'\n    AllowedPattern: \"^[a-z]+/$\"\n  Other:\n    Default: x\nResources: {}\n";
        let lines = scan(template);
        assert_eq!(parameter(&lines, "Prefix", "Default").as_deref(), Some("it's/"));
        assert_eq!(parameter(&lines, "Prefix", "AllowedPattern").as_deref(), Some("^[a-z]+/$"));
        assert_eq!(parameter(&lines, "Other", "Default").as_deref(), Some("x"));
        assert_eq!(parameter(&lines, "Prefix", "Missing"), None);
        assert_eq!(parameter(&lines, "Missing", "Default"), None);
        assert_eq!(unquote("'"), "'");
        assert_eq!(flow_list("[]"), Vec::<String>::new());
    }
}
