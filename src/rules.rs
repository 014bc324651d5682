//! User date rules: dates that no format handler knows about, described by the
//! user in a TOML file (`--rules FILE`, or the path in `STRIP_ND_RULES`).
//!
//! ```toml
//! [[rule]]
//! scope = "**/*.h"
//! regex = 'generated on (?P<date>\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4})'
//! format = "%a %b %e %H:%M:%S UTC %Y"
//! ```
//!
//! * `scope` is a glob (`*` and `?` stay within one path component, `**`
//!   crosses them, `{a,b}` alternates) matched against the file's path relative
//!   to the root it was found under (the file name when the root is the file),
//!   or against the member path for a file inside an archive.
//! * `regex` (Rust `regex` syntax, run over bytes) must have a named group
//!   `date`; every match in the whole file is considered, not only in its head.
//! * `format` is a strftime format (chrono's directives: `%Y %m %d %e %H %M %S
//!   %a %A %b %B %j %y %z %Z %s %T %D %F %c`...). The epoch is written in it, in UTC.
//!
//! A matched date is replaced by the epoch unless it is already at or before
//! the epoch (the clamp every strip-nd timestamp follows): the date is read
//! back with the same format (with its offset when the format has one, else as
//! UTC, else as a date at midnight); a date the format cannot read back
//! completely (a format without a day, say) is always replaced. In a binary
//! file (a NUL byte in its first 4 KiB) a date is replaced only when the
//! replacement has the same length, so no offset inside the file moves.
//! Rules apply one after the other, in file order, each to the result of the
//! one before.
//!
//! An invalid file (bad TOML, an unknown key, a bad glob or regex, no `date`
//! group, an unknown strftime directive, no rule at all) is an error naming
//! the file and the rule; the CLI exits 2 on it.

use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use globset::{Glob, GlobBuilder, GlobMatcher};
use regex::bytes::Regex;
use serde::Deserialize;

use crate::handler::{Change, DateRules};

/// New bytes and one note per date replaced.
pub type Rewrite = (Vec<u8>, Vec<Change>);

/// Rounds of the rules before a file that keeps changing is left alone.
pub const MAX_ROUNDS: usize = 8;

/// How far a file is searched for a NUL byte to call it binary.
pub const BINARY_SNIFF: usize = 4096;

/// A rules file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct RulesError {
    /// The rules file.
    pub path: PathBuf,
    /// What is wrong, naming the rule.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    scope: String,
    regex: String,
    format: String,
}

/// One compiled rule.
#[derive(Debug)]
struct Rule {
    /// 1-based position in the file, for messages.
    number: usize,
    scope: GlobMatcher,
    regex: Regex,
    format: String,
    /// The epoch written in `format`.
    replacement: Vec<u8>,
}

/// The compiled rules of one file, with the epoch they write.
#[derive(Debug)]
pub struct Rules {
    rules: Vec<Rule>,
    epoch: i64,
}

impl Rules {
    /// Reads and compiles a rules file for a run with this epoch.
    pub fn load(path: &Path, epoch: u64) -> Result<Self, RulesError> {
        let err = |message: String| RulesError {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot read the rules file: {e}")))?;
        Self::parse(&text, epoch).map_err(err)
    }

    /// Compiles rules from TOML text; the error names the rule.
    pub fn parse(text: &str, epoch: u64) -> Result<Self, String> {
        let raw: RawFile =
            toml::from_str(text).map_err(|e| format!("not a valid rules file: {e}"))?;
        if raw.rule.is_empty() {
            return Err("no [[rule]] in the file (each needs scope, regex and format)".into());
        }
        let epoch_i = i64::try_from(epoch).map_err(|_| format!("epoch {epoch} is too large"))?;
        let when = DateTime::<Utc>::from_timestamp(epoch_i, 0)
            .ok_or_else(|| format!("epoch {epoch} cannot be written as a date"))?;
        let mut rules = Vec::new();
        for (i, r) in raw.rule.into_iter().enumerate() {
            let number = i + 1;
            let bad = |what: String| format!("rule {number} (scope {:?}): {what}", r.scope);
            let scope = GlobBuilder::new(&r.scope)
                .literal_separator(true)
                .build()
                .map(|g: Glob| g.compile_matcher())
                .map_err(|e| bad(format!("bad scope glob: {e}")))?;
            let regex = Regex::new(&r.regex).map_err(|e| bad(format!("bad regex: {e}")))?;
            if !regex.capture_names().any(|n| n == Some("date")) {
                return Err(bad(format!(
                    "the regex {:?} has no named group `date`, as in (?P<date>...)",
                    r.regex
                )));
            }
            if r.format.is_empty() {
                return Err(bad("empty date format".into()));
            }
            if StrftimeItems::new(&r.format).any(|it| matches!(it, Item::Error)) {
                return Err(bad(format!(
                    "the date format {:?} has an unknown or incomplete % directive",
                    r.format
                )));
            }
            let replacement = when.format(&r.format).to_string().into_bytes();
            rules.push(Rule {
                number,
                scope,
                regex,
                format: r.format,
                replacement,
            });
        }
        Ok(Self {
            rules,
            epoch: epoch_i,
        })
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is no rule (never true for loaded rules).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether some rule's scope matches `path`.
    pub fn in_scope(&self, path: &Path) -> bool {
        self.rules.iter().any(|r| r.scope.is_match(path))
    }

    /// Applies every rule whose scope matches `path` to `input`, in rounds
    /// until a round changes nothing: a replacement can make a new match for
    /// an earlier rule (an unreadable `built Nov 00 0002-10-09` becomes
    /// `built Sep  9 2001-10-09`, a later ISO date), and one pass would then
    /// not be a fixed point. Returns the new bytes and one note per date
    /// replaced, `Ok(None)` when nothing changes, and an error (the file is
    /// left alone) when the rules still change it after [`MAX_ROUNDS`].
    pub fn apply(&self, path: &Path, input: &[u8]) -> Result<Option<Rewrite>, String> {
        let mut current: Option<Vec<u8>> = None;
        let mut notes = Vec::new();
        for _ in 0..MAX_ROUNDS {
            match self.round(path, current.as_deref().unwrap_or(input)) {
                Some((bytes, more)) => {
                    notes.extend(more);
                    current = Some(bytes);
                }
                None => return Ok(current.map(|bytes| (bytes, notes))),
            }
        }
        Err(format!(
            "the date rules still change the file after {MAX_ROUNDS} rounds (each replacement makes a new match)"
        ))
    }

    /// One pass of every rule in scope, in file order.
    fn round(&self, path: &Path, input: &[u8]) -> Option<Rewrite> {
        let binary = memchr::memchr(0, &input[..input.len().min(BINARY_SNIFF)]).is_some();
        // In an ELF image only data sections may change (see `elf_data_sections`).
        let sections = input
            .starts_with(b"\x7fELF")
            .then(|| elf_data_sections(input));
        let mut current: Option<Vec<u8>> = None;
        let mut notes = Vec::new();
        for rule in self.rules.iter().filter(|r| r.scope.is_match(path)) {
            let data = current.as_deref().unwrap_or(input);
            if let Some(next) = self.apply_rule(rule, data, binary, sections.as_deref(), &mut notes)
            {
                current = Some(next);
            }
        }
        current.map(|bytes| (bytes, notes))
    }

    fn apply_rule(
        &self,
        rule: &Rule,
        data: &[u8],
        binary: bool,
        sections: Option<&[(Range<usize>, String)]>,
        notes: &mut Vec<Change>,
    ) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        let mut copied = 0;
        for caps in rule.regex.captures_iter(data) {
            let Some(m) = caps.name("date") else {
                continue;
            };
            let old = m.as_bytes();
            if old == rule.replacement.as_slice()
                || (binary && old.len() != rule.replacement.len())
                || self.not_after_epoch(old, &rule.format)
            {
                continue;
            }
            let section = match sections {
                None => None,
                Some(sections) => {
                    let inside = sections
                        .iter()
                        .find(|(r, _)| r.start <= m.start() && m.end() <= r.end);
                    match inside {
                        Some((_, name)) => Some(name.as_str()),
                        None => continue,
                    }
                }
            };
            let buf = out.get_or_insert_with(|| Vec::with_capacity(data.len()));
            buf.extend_from_slice(&data[copied..m.start()]);
            buf.extend_from_slice(&rule.replacement);
            copied = m.end();
            let place = section
                .map(|s| format!(" in section {s}"))
                .unwrap_or_default();
            notes.push(Change::set(
                format!("rule {}{place}", rule.number),
                "date",
                format!("{:?}", String::from_utf8_lossy(old)),
                format!("{:?}", String::from_utf8_lossy(&rule.replacement)),
            ));
        }
        let mut buf = out?;
        buf.extend_from_slice(&data[copied..]);
        Some(buf)
    }

    /// Whether `text`, read with `format`, is a time at or before the epoch
    /// (such dates are kept, as every clamp keeps earlier values).
    fn not_after_epoch(&self, text: &[u8], format: &str) -> bool {
        let Ok(text) = std::str::from_utf8(text) else {
            return false;
        };
        let t = DateTime::parse_from_str(text, format)
            .map(|d| d.timestamp())
            .or_else(|_| {
                NaiveDateTime::parse_from_str(text, format).map(|d| d.and_utc().timestamp())
            })
            .or_else(|_| {
                NaiveDate::parse_from_str(text, format)
                    .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp())
            });
        t.is_ok_and(|t| t <= self.epoch)
    }
}

/// The file ranges of an ELF image's data sections: `SHT_PROGBITS` sections
/// that are not executable (`.rodata`, `.data`, `.comment`...), with their
/// names. Code, symbol tables, relocations and headers are never touched, so
/// a rule cannot break the image; an image goblin cannot parse has none.
fn elf_data_sections(input: &[u8]) -> Vec<(Range<usize>, String)> {
    use goblin::elf::section_header::{SHF_EXECINSTR, SHT_PROGBITS};
    let Ok(elf) = goblin::elf::Elf::parse(input) else {
        return Vec::new();
    };
    elf.section_headers
        .iter()
        .filter(|s| s.sh_type == SHT_PROGBITS && s.sh_flags & u64::from(SHF_EXECINSTR) == 0)
        .filter_map(|s| {
            let start = usize::try_from(s.sh_offset).ok()?;
            let end = start.checked_add(usize::try_from(s.sh_size).ok()?)?;
            (end <= input.len()).then(|| {
                let name = elf.shdr_strtab.get_at(s.sh_name).unwrap_or("?").to_string();
                (start..end, name)
            })
        })
        .collect()
}

impl DateRules for Rules {
    fn in_scope(&self, path: &Path) -> bool {
        Rules::in_scope(self, path)
    }

    fn apply(&self, path: &Path, input: &[u8]) -> Result<Option<Rewrite>, String> {
        Rules::apply(self, path, input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER_RULE: &str = r#"
[[rule]]
scope = "**/*.h"
regex = 'generated on (?P<date>\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4})'
format = "%a %b %e %H:%M:%S UTC %Y"
"#;

    #[test]
    fn a_replacement_that_makes_a_new_match_is_followed_to_a_fixed_point() {
        // Found by the rules fuzz target: rule 3 replaces the unreadable
        // "Nov 00 0002" with the epoch's "Sep  9 2001", which turns
        // "0002-10-09" into "2001-10-09", a later date for rule 2.
        let rules = Rules::parse(
            "[[rule]]\nscope = \"**\"\nregex = '(?P<date>\\d{4}-\\d\\d-\\d\\d)'\nformat = \"%Y-%m-%d\"\n\
             [[rule]]\nscope = \"**\"\nregex = 'built (?P<date>(?:Nov|Sep) [ \\d]\\d \\d{4})'\nformat = \"%b %e %Y\"\n",
            1_000_000_000,
        )
        .unwrap();
        let input = b"built Nov 00 0002-10-09\n";
        let (out, _) = rules.apply(Path::new("x.h"), input).unwrap().unwrap();
        assert_eq!(out, b"built Sep  9 2001-09-09\n");
        assert!(rules.apply(Path::new("x.h"), &out).unwrap().is_none());
    }

    #[test]
    fn the_generated_header_example_gets_the_epoch() {
        let rules = Rules::parse(HEADER_RULE, 315_532_800).unwrap();
        let input = b"/* generated on Wed Mar  4 05:06:07 UTC 2026 */\nint x;\n";
        let (out, notes) = rules
            .apply(Path::new("include/gen.h"), input)
            .unwrap()
            .unwrap();
        assert_eq!(
            out,
            b"/* generated on Tue Jan  1 00:00:00 UTC 1980 */\nint x;\n"
        );
        assert_eq!(
            notes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                r#"rule 1: date "Wed Mar  4 05:06:07 UTC 2026" -> "Tue Jan  1 00:00:00 UTC 1980""#
            ]
        );
        // Idempotent, and out of scope means untouched.
        assert!(
            rules
                .apply(Path::new("include/gen.h"), &out)
                .unwrap()
                .is_none()
        );
        assert!(rules.apply(Path::new("gen.c"), input).unwrap().is_none());
        assert!(rules.in_scope(Path::new("gen.h")));
        assert!(!rules.in_scope(Path::new("gen.hpp")));
    }

    #[test]
    fn dates_before_the_epoch_are_kept() {
        let rules = Rules::parse(HEADER_RULE, 315_532_800).unwrap();
        let input = b"generated on Mon Jan  1 00:00:00 UTC 1973";
        assert!(rules.apply(Path::new("a.h"), input).unwrap().is_none());
    }

    #[test]
    fn binary_files_only_get_same_length_replacements() {
        let rules = Rules::parse(
            r#"
[[rule]]
scope = "*.bin"
regex = 'built (?P<date>\d+-\d+-\d+)'
format = "%Y-%m-%d"
"#,
            315_532_800,
        )
        .unwrap();
        let input = b"\0\x01built 2026-03-04\0built 2026-3-4\0";
        let (out, notes) = rules.apply(Path::new("x.bin"), input).unwrap().unwrap();
        assert_eq!(out, b"\0\x01built 1980-01-01\0built 2026-3-4\0");
        assert_eq!(notes.len(), 1);
        // The same bytes as text (no NUL) get both.
        let text = b"built 2026-03-04 built 2026-3-4";
        let (out, _) = rules.apply(Path::new("x.bin"), text).unwrap().unwrap();
        assert_eq!(out, b"built 1980-01-01 built 1980-01-01");
    }

    #[test]
    fn bad_files_name_the_rule() {
        let cases = [
            ("not toml [", "not a valid rules file"),
            ("", "no [[rule]]"),
            (
                "[[rule]]\nscope = \"a\"\nregex = \"x\"\nformat = \"%Y\"\n",
                "rule 1 (scope \"a\"): the regex \"x\" has no named group",
            ),
            (
                "[[rule]]\nscope = \"a[\"\nregex = \"(?P<date>x)\"\nformat = \"%Y\"\n",
                "rule 1 (scope \"a[\"): bad scope glob",
            ),
            (
                "[[rule]]\nscope = \"a\"\nregex = \"(?P<date>x\"\nformat = \"%Y\"\n",
                "rule 1 (scope \"a\"): bad regex",
            ),
            (
                "[[rule]]\nscope = \"a\"\nregex = \"(?P<date>x)\"\nformat = \"%Q\"\n",
                "unknown or incomplete % directive",
            ),
            (
                "[[rule]]\nscope = \"a\"\nregex = \"(?P<date>x)\"\nformat = \"%Y\"\nextra = 1\n",
                "unknown field",
            ),
        ];
        for (text, want) in cases {
            let e = Rules::parse(text, 0).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let two =
            format!("{HEADER_RULE}\n[[rule]]\nscope = \"b\"\nregex = \"y\"\nformat = \"%Y\"\n");
        assert!(
            Rules::parse(&two, 0)
                .unwrap_err()
                .starts_with("rule 2 (scope \"b\")")
        );
    }
}
