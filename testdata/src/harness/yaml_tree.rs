//! A reader for the block-style YAML the project's CloudFormation templates (`deploy/*.yaml`)
//! are written in, into a tree: maps, lists and scalars, with literal (`|`) and folded (`>`)
//! block scalars kept whole (the user data scripts). Long-form intrinsics only (`Fn::Sub:`,
//! never `!Sub`), no anchors, flow collections on one line (`[Function, Arn]`, `{}`).
//!
//! It is not a YAML parser for the world: what it doesn't understand it refuses with the line
//! number, so a template that drifts from this style fails its tests loudly rather than being
//! misread. Std only, like the rest of the harness.

/// A node: a scalar (quotes removed; an empty value is `""`), a list or a map (in order).
#[derive(Clone, Debug, PartialEq)]
pub enum Yaml {
    /// A string, number or boolean as written (unquoted).
    Scalar(String),
    /// A block (`- x`) or flow (`[x, y]`) list.
    List(Vec<Yaml>),
    /// A block map, its entries in order.
    Map(Vec<(String, Yaml)>),
}

/// Reads `text`.
///
/// # Errors
/// A construct outside the templates' style (tabs, flow maps, unbalanced indentation, ...),
/// with its line number.
pub fn parse(text: &str) -> Result<Yaml, String> {
    let mut reader = Reader { lines: text.lines().map(str::to_owned).collect(), at: 0 };
    let Some(indent) = reader.next_indent() else {
        return Ok(Yaml::Map(Vec::new()));
    };
    let node = reader.node(indent)?;
    match reader.next_indent() {
        None => Ok(node),
        Some(_) => Err(format!("line {}: unexpected indentation", reader.at + 1)),
    }
}

static EMPTY_LIST: Vec<Yaml> = Vec::new();
static EMPTY_MAP: Vec<(String, Yaml)> = Vec::new();

impl Yaml {
    /// The value of `key` in a map.
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        self.entries().iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value under the nested keys `path`.
    pub fn at(&self, path: &[&str]) -> Option<&Yaml> {
        path.iter().try_fold(self, |node, key| node.get(key))
    }

    /// The text of a scalar.
    pub fn str(&self) -> Option<&str> {
        match self {
            Yaml::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The items of a list (none for anything else).
    pub fn items(&self) -> &[Yaml] {
        match self {
            Yaml::List(items) => items,
            _ => &EMPTY_LIST,
        }
    }

    /// The entries of a map (none for anything else).
    pub fn entries(&self) -> &[(String, Yaml)] {
        match self {
            Yaml::Map(entries) => entries,
            _ => &EMPTY_MAP,
        }
    }

    /// The intrinsic function of a one-entry map whose key starts with `Fn::` or is `Ref`
    /// (`("Ref", X)`, `("Fn::If", [..])`).
    pub fn intrinsic(&self) -> Option<(&str, &Yaml)> {
        match self.entries() {
            [(key, value)] if key == "Ref" || key.starts_with("Fn::") => Some((key, value)),
            _ => None,
        }
    }

    /// `X` of `Ref: X`.
    pub fn reference(&self) -> Option<&str> {
        self.intrinsic().filter(|(f, _)| *f == "Ref").and_then(|(_, v)| v.str())
    }

    /// The template string of `Fn::Sub: "..."` or `Fn::Sub: ["...", {vars}]`.
    pub fn sub_template(&self) -> Option<&str> {
        let (_, value) = self.intrinsic().filter(|(f, _)| *f == "Fn::Sub")?;
        value.str().or_else(|| value.items().first().and_then(Yaml::str))
    }

    /// What this value can be, with every `Fn::If` opened (both branches, recursively) and
    /// `Ref: AWS::NoValue` branches left out: the statements of a policy whose statements are
    /// conditional, the values of a parameter that depends on a condition.
    pub fn alternatives(&self) -> Vec<&Yaml> {
        match self.intrinsic() {
            Some(("Fn::If", branches)) => branches.items().iter().skip(1).flat_map(Yaml::alternatives).collect(),
            _ if self.reference() == Some("AWS::NoValue") => Vec::new(),
            _ => vec![self],
        }
    }

    /// [`Yaml::alternatives`] of each item of a list (or of the value itself when it is no list,
    /// as `Action: s3:GetObject` stands for a list of one).
    pub fn each_alternative(&self) -> Vec<&Yaml> {
        let alternatives = self.alternatives();
        alternatives
            .into_iter()
            .flat_map(|node| match node {
                Yaml::List(items) => items.iter().flat_map(Yaml::alternatives).collect(),
                other => vec![other],
            })
            .collect()
    }
}

struct Reader {
    lines: Vec<String>,
    at: usize,
}

/// Whether a line holds nothing to read (blank, or a whole-line comment).
fn is_blank(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// `(key, rest)` of a map entry `key: rest` / `key:`; `None` for a plain or quoted scalar.
fn split_entry(content: &str) -> Option<(&str, &str)> {
    if content.starts_with(['\'', '"', '[', '{']) {
        return None;
    }
    if let Some((key, rest)) = content.split_once(": ") {
        return Some((key, rest.trim()));
    }
    content.strip_suffix(':').map(|key| (key, ""))
}

/// `value` without a trailing ` # comment` (outside quotes).
fn strip_comment(value: &str) -> &str {
    let mut quote = None;
    for (i, c) in value.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if i > 0 && value[..i].ends_with(' ') => return value[..i].trim_end(),
            _ => {}
        }
    }
    value
}

/// A flow scalar without its quotes (`''` escapes a single quote in single quotes; double
/// quotes are taken as they are, the templates use no escapes in them).
fn scalar(value: &str) -> Yaml {
    let v = strip_comment(value);
    Yaml::Scalar(if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        v[1..v.len() - 1].replace("''", "'")
    } else if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v[1..v.len() - 1].to_owned()
    } else {
        v.to_owned()
    })
}

impl Reader {
    /// Indentation of the next line with content, skipping blank and comment lines.
    fn next_indent(&mut self) -> Option<usize> {
        while self.at < self.lines.len() && is_blank(&self.lines[self.at]) {
            self.at += 1;
        }
        let line = self.lines.get(self.at)?;
        Some(line.len() - line.trim_start().len())
    }

    fn error(&self, what: &str) -> String {
        format!("line {}: {what}: {:?}", self.at + 1, self.lines.get(self.at).map_or("", |l| l.as_str()))
    }

    /// The node whose first line is the next line with content, at `indent`.
    fn node(&mut self, indent: usize) -> Result<Yaml, String> {
        let line = &self.lines[self.at];
        if line.contains('\t') {
            return Err(self.error("tab"));
        }
        let content = line.trim();
        if content == "-" || content.starts_with("- ") {
            return self.list(indent);
        }
        if split_entry(content).is_some() {
            return self.map(indent);
        }
        let value = content.to_owned();
        self.at += 1;
        self.flow(&value)
    }

    fn list(&mut self, indent: usize) -> Result<Yaml, String> {
        let mut items = Vec::new();
        while self.next_indent() == Some(indent) {
            let content = self.lines[self.at].trim_start();
            if !(content == "-" || content.starts_with("- ")) {
                break;
            }
            // The item's own content starts after "- ": rewrite the marker as indentation, so
            // that `- Key: v` + `  Other: w` read as one map and `- - x` as a nested list.
            let rest = content[1..].trim_start();
            if rest.is_empty() {
                self.at += 1;
                items.push(self.child(indent)?);
                continue;
            }
            let inner = self.lines[self.at].len() - rest.len();
            self.lines[self.at] = format!("{}{rest}", " ".repeat(inner));
            items.push(self.node(inner)?);
        }
        Ok(Yaml::List(items))
    }

    fn map(&mut self, indent: usize) -> Result<Yaml, String> {
        let mut entries: Vec<(String, Yaml)> = Vec::new();
        while let Some(at) = self.next_indent() {
            if at < indent {
                break;
            }
            if at > indent {
                return Err(self.error("unexpected indentation"));
            }
            let content = self.lines[self.at].trim().to_owned();
            let Some((key, rest)) = split_entry(&content) else {
                if content.starts_with('-') {
                    break; // a list that follows its parent key at the same indentation
                }
                return Err(self.error("expected `key: value`"));
            };
            if entries.iter().any(|(k, _)| k == key) {
                return Err(self.error("duplicate key"));
            }
            self.at += 1;
            let rest = strip_comment(rest);
            let value = if rest.is_empty() {
                self.child(indent)?
            } else if let Some(style) = rest.strip_prefix(['|', '>']) {
                self.block_scalar(indent, rest.starts_with('>'), style)?
            } else {
                self.flow(rest)?
            };
            entries.push((key.to_owned(), value));
        }
        Ok(Yaml::Map(entries))
    }

    /// The value of a `key:` (or `-`) with nothing after it: the deeper block that follows
    /// (or a list at the key's own indentation), else an empty scalar.
    fn child(&mut self, indent: usize) -> Result<Yaml, String> {
        match self.next_indent() {
            Some(at) if at > indent => self.node(at),
            Some(at) if at == indent && self.lines[self.at].trim_start().starts_with("- ") => self.list(at),
            _ => Ok(Yaml::Scalar(String::new())),
        }
    }

    /// A one-line value: a flow list, `{}` or a scalar.
    fn flow(&self, value: &str) -> Result<Yaml, String> {
        if let Some(inner) = value.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or_else(|| self.error("flow list on several lines"))?;
            if inner.contains(['[', '{']) {
                return Err(self.error("nested flow collection"));
            }
            return Ok(Yaml::List(
                split_flow(inner).into_iter().filter(|v| !v.trim().is_empty()).map(|v| scalar(v.trim())).collect(),
            ));
        }
        if value.starts_with('{') {
            return if value == "{}" { Ok(Yaml::Map(Vec::new())) } else { Err(self.error("flow map")) };
        }
        Ok(scalar(value))
    }

    /// A literal (`|`) or folded (`>`) block scalar under a key at `indent`; `style` is what
    /// follows the indicator (`-` strips the final line break, `+` is refused).
    fn block_scalar(&mut self, indent: usize, folded: bool, style: &str) -> Result<Yaml, String> {
        let strip = match style.trim() {
            "" => false,
            "-" => true,
            _ => return Err(self.error("block scalar indicator")),
        };
        let mut body: Vec<&str> = Vec::new();
        let mut block_indent = None;
        while let Some(line) = self.lines.get(self.at) {
            let at = line.len() - line.trim_start().len();
            if !line.trim().is_empty() {
                if at <= indent {
                    break;
                }
                let first = *block_indent.get_or_insert(at);
                if at < first {
                    return Err(self.error("block scalar line less indented than its first"));
                }
                body.push(&line[first..]);
            } else {
                body.push("");
            }
            self.at += 1;
        }
        while body.last() == Some(&"") {
            body.pop();
        }
        let mut text = if folded { fold(&body) } else { body.join("\n") };
        if !strip && !text.is_empty() {
            text.push('\n');
        }
        Ok(Yaml::Scalar(text))
    }
}

/// Folded lines: joined by spaces, an empty line a line break.
fn fold(lines: &[&str]) -> String {
    let mut text = String::new();
    for line in lines {
        if line.is_empty() {
            text.push('\n');
        } else {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push(' ');
            }
            text.push_str(line);
        }
    }
    text
}

/// The items of a flow list's inside, split on commas outside quotes.
fn split_flow(inner: &str) -> Vec<&str> {
    let (mut items, mut start, mut quote) = (Vec::new(), 0, None);
    for (i, c) in inner.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Yaml {
        Yaml::Scalar(v.to_owned())
    }

    const TEMPLATE: &str = "\
# a comment
Parameters:
  Prefix:
    Type: String
    Default: 'it''s/'   # trailing comment
    AllowedValues: [a, 'b, c']
Resources:
  Role:
    Properties:
      Statement:
        - Sid: One
          Action:
            - s3:GetObject
          Resource:
            Fn::Sub: arn:${AWS::Partition}:s3:::${Bucket}/*
        - Fn::If:
            - Cond
            - Sid: Two
              Action: sqs:ReceiveMessage
            - Ref: AWS::NoValue
      Rules:
        - - ''
        - Ref: X
      Empty: {}
      Tag:
      - Key: Name
  Data:
    UserData:
      Fn::Sub: |
        #!/bin/bash
        cat <<'UNIT'
        [Service]

          Restart=always
        UNIT
    Folded: >-
      one
      two
Last: 1
";

    #[test]
    fn reads_maps_lists_and_scalars() {
        let doc = parse(TEMPLATE).expect("parses");
        assert_eq!(doc.at(&["Parameters", "Prefix", "Default"]), Some(&s("it's/")));
        assert_eq!(doc.at(&["Parameters", "Prefix", "AllowedValues"]), Some(&Yaml::List(vec![s("a"), s("b, c")])));
        let statements = doc.at(&["Resources", "Role", "Properties", "Statement"]).expect("statements");
        assert_eq!(statements.items().len(), 2);
        assert_eq!(statements.items()[0].get("Sid"), Some(&s("One")));
        assert_eq!(statements.items()[0].at(&["Action"]).map(Yaml::items), Some(&[s("s3:GetObject")][..]));
        assert_eq!(
            statements.items()[0].get("Resource").and_then(Yaml::sub_template),
            Some("arn:${AWS::Partition}:s3:::${Bucket}/*")
        );
        let rules = doc.at(&["Resources", "Role", "Properties", "Rules"]).expect("rules");
        assert_eq!(rules.items()[0], Yaml::List(vec![s("")]));
        assert_eq!(rules.items()[1].reference(), Some("X"));
        assert_eq!(doc.at(&["Resources", "Role", "Properties", "Empty"]), Some(&Yaml::Map(Vec::new())));
        // A list at its key's own indentation.
        let tag = doc.at(&["Resources", "Role", "Properties", "Tag"]).expect("Tag");
        assert_eq!(tag.items()[0].get("Key"), Some(&s("Name")));
        assert_eq!(doc.get("Last"), Some(&s("1")));
    }

    #[test]
    fn block_scalars_keep_their_lines() {
        let doc = parse(TEMPLATE).expect("parses");
        let script = doc.at(&["Resources", "Data", "UserData"]).and_then(Yaml::sub_template).expect("script");
        assert_eq!(script, "#!/bin/bash\ncat <<'UNIT'\n[Service]\n\n  Restart=always\nUNIT\n");
        assert_eq!(doc.at(&["Resources", "Data", "Folded"]), Some(&s("one two")));
    }

    #[test]
    fn alternatives_open_conditions() {
        let doc = parse(TEMPLATE).expect("parses");
        let statements = doc.at(&["Resources", "Role", "Properties", "Statement"]).expect("statements");
        let sids: Vec<&str> =
            statements.each_alternative().iter().filter_map(|st| st.get("Sid").and_then(Yaml::str)).collect();
        assert_eq!(sids, ["One", "Two"]);
        assert_eq!(s("x").alternatives(), [&s("x")]);
        assert_eq!(s("x").each_alternative(), [&s("x")]);
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        for (bad, why) in [
            ("A:\n\tB: 1\n", "tab"),
            ("A: {b: 1}\n", "flow map"),
            ("A: [1,\n  2]\n", "flow list on several lines"),
            ("A:\n    B: 1\n  C: 2\n", "unexpected indentation"),
            ("A: 1\nA: 2\n", "duplicate key"),
            ("A: |+\n  x\n", "block scalar indicator"),
            ("A: [[1]]\n", "nested flow collection"),
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert_eq!(parse("# only a comment\n"), Ok(Yaml::Map(Vec::new())));
    }
}
