//! systemd unit files, as the templates' user data writes them (`deploy/app.yaml`,
//! `deploy/workers.yaml`): [`written_file`] finds the text a script writes with a quoted
//! here-document, [`Unit::parse`] reads it into sections and settings, so that tests check
//! `Restart=`, `TimeoutStopSec=` or an `Environment=` variable as systemd would read them.

/// The text a shell script writes to `path` with `cat > PATH <<'TAG'` … `TAG` (a quoted
/// here-document: the shell expands nothing in it).
pub fn written_file(script: &str, path: &str) -> Option<String> {
    let mut lines = script.lines();
    let opening = lines.by_ref().find(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        words.len() == 4 && words[0] == "cat" && words[1] == ">" && words[2] == path && words[3].starts_with("<<'")
    })?;
    let tag = opening.split("<<'").nth(1)?.strip_suffix('\'')?;
    let mut body = String::new();
    for line in lines {
        if line == tag {
            return Some(body);
        }
        body.push_str(line);
        body.push('\n');
    }
    None
}

/// A unit file: its sections, each with its settings in order (a key may repeat, as
/// `Environment=` does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    sections: Vec<(String, Vec<(String, String)>)>,
}

impl Unit {
    /// Reads `text` as systemd does: `[Section]` headers, `Key=Value` settings (blanks around
    /// `=` dropped), `#` and `;` comment lines, a `\` at the end of a line continuing it.
    ///
    /// # Errors
    /// A setting before any section, or a line that is neither a header nor a setting.
    pub fn parse(text: &str) -> Result<Unit, String> {
        let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
        let mut pending = String::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if pending.is_empty() && (line.is_empty() || line.starts_with(['#', ';'])) {
                continue;
            }
            if let Some(continued) = line.strip_suffix('\\') {
                pending.push_str(continued);
                pending.push(' ');
                continue;
            }
            let line = format!("{pending}{line}");
            pending.clear();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                sections.push((name.to_owned(), Vec::new()));
                continue;
            }
            let (key, value) = line.split_once('=').ok_or_else(|| format!("line {}: not a setting: {raw:?}", n + 1))?;
            let (_, settings) =
                sections.last_mut().ok_or_else(|| format!("line {}: setting outside a section", n + 1))?;
            settings.push((key.trim().to_owned(), value.trim().to_owned()));
        }
        Ok(Unit { sections })
    }

    /// Every value of `key` in `section`, in order.
    pub fn values(&self, section: &str, key: &str) -> Vec<&str> {
        self.sections
            .iter()
            .filter(|(name, _)| name == section)
            .flat_map(|(_, settings)| settings.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()))
            .collect()
    }

    /// The value of `key` in `section` that systemd uses: the last one.
    pub fn value(&self, section: &str, key: &str) -> Option<&str> {
        self.values(section, key).pop()
    }

    /// A time setting such as `TimeoutStopSec=` in seconds: plain seconds, or a number with
    /// `s`, `min` or `h` (combinations like `1min 30s` included).
    pub fn seconds(&self, section: &str, key: &str) -> Option<u64> {
        let value = self.value(section, key)?;
        let mut total = 0;
        for part in value.split_whitespace() {
            let digits = part.find(|c: char| !c.is_ascii_digit()).unwrap_or(part.len());
            let number: u64 = part[..digits].parse().ok()?;
            total += number
                * match &part[digits..] {
                    "" | "s" | "sec" => 1,
                    "min" | "m" => 60,
                    "h" => 3600,
                    _ => return None,
                };
        }
        Some(total)
    }

    /// The variables the `[Service]` section's `Environment=` lines set (one `NAME=value` per
    /// line, as the templates write them), later lines overriding earlier ones.
    pub fn environment(&self) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = Vec::new();
        for assignment in self.values("Service", "Environment") {
            let (name, value) = assignment.split_once('=').unwrap_or((assignment, ""));
            vars.retain(|(n, _)| n != name);
            vars.push((name.to_owned(), value.to_owned()));
        }
        vars
    }

    /// The value of the environment variable `name` (see [`Unit::environment`]).
    pub fn variable(&self, name: &str) -> Option<String> {
        self.environment().into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "#!/bin/bash\ncat > /etc/other <<'X'\nno\nX\ncat > /etc/systemd/system/a.service <<'UNIT'\n[Unit]\nDescription=a\n\n[Service]\n# comment\nExecStart=/bin/a \\\n  --flag 1\nEnvironment=A=1\nEnvironment=B=x=y\nEnvironment=A=2\nRestart = always\nRestart=on-failure\nTimeoutStopSec=1min 30s\n\n[Install]\nWantedBy=multi-user.target\nUNIT\necho done\n";

    #[test]
    fn finds_the_file_a_script_writes() {
        let unit = written_file(SCRIPT, "/etc/systemd/system/a.service").expect("written");
        assert!(unit.starts_with("[Unit]\n") && unit.ends_with("WantedBy=multi-user.target\n"), "{unit}");
        assert_eq!(written_file(SCRIPT, "/etc/other").as_deref(), Some("no\n"));
        assert_eq!(written_file(SCRIPT, "/etc/missing"), None);
        assert_eq!(written_file("cat > /x <<'T'\nnever closed\n", "/x"), None);
    }

    #[test]
    fn reads_settings_as_systemd_does() {
        let unit = Unit::parse(&written_file(SCRIPT, "/etc/systemd/system/a.service").expect("written")).expect("unit");
        assert_eq!(unit.value("Service", "ExecStart"), Some("/bin/a  --flag 1"));
        assert_eq!(unit.values("Service", "Restart"), ["always", "on-failure"]);
        assert_eq!(unit.value("Service", "Restart"), Some("on-failure"));
        assert_eq!(unit.value("Unit", "Restart"), None);
        assert_eq!(unit.seconds("Service", "TimeoutStopSec"), Some(90));
        assert_eq!(unit.variable("A").as_deref(), Some("2"));
        assert_eq!(unit.variable("B").as_deref(), Some("x=y"));
        assert_eq!(unit.variable("C"), None);
        assert_eq!(unit.value("Install", "WantedBy"), Some("multi-user.target"));
    }

    #[test]
    fn refuses_what_is_not_a_unit() {
        assert!(Unit::parse("Key=1\n").expect_err("outside").contains("outside a section"));
        assert!(Unit::parse("[Service]\nnot a setting\n").expect_err("not a setting").contains("not a setting"));
        let unit = Unit::parse("[Service]\nTimeoutStopSec=soon\n").expect("unit");
        assert_eq!(unit.seconds("Service", "TimeoutStopSec"), None);
    }
}
