//! `perllocal.pod`, the install log that `ExtUtils::MakeMaker` (and
//! `Module::Build`) append to on `make install`, as written by
//! `ExtUtils::Command::MM::perllocal_install`. Each entry opens with
//! `=head2 <date>: C<Module> L<Name|Name>`, the date in Perl's scalar
//! `localtime` format: `Wed Mar  4 05:06:07 2026`.
//!
//! Recognized by content, never by name: the first non-blank line must be
//! such a `=head2` line (with a valid date and `: C<` after it).
//!
//! Normalized: the date of every `=head2 <date>: C<` line. The format has no
//! zone; it is read as UTC. A date later than the epoch becomes the epoch in
//! the same format, as `localtime` prints it under `TZ=UTC`
//! (`Tue Jan  1 00:00:00 1980`, see [`super::dates`]); an earlier one stays.
//!
//! Left alone: everything else, byte for byte, including the order of the
//! entries, the install paths and the `VERSION`/`EXE_FILES` items. The paths
//! depend on the build's prefix, not on the clock.

use crate::config::Context;
use crate::error::FormatError;
use crate::handlers::dates::{parse_perl, replace_ranges};
use crate::handlers::{Handler, Outcome};

/// The `perllocal.pod` handler.
pub struct Perllocal;

const HEAD2: &[u8] = b"=head2 ";

/// The range of the date in an entry line, when `line` is one.
fn entry_date(line: &[u8]) -> Option<std::ops::Range<usize>> {
    let rest = line.strip_prefix(HEAD2)?;
    let colon = memchr::memmem::find(rest, b": C<")?;
    let text = std::str::from_utf8(&rest[..colon]).ok()?;
    parse_perl(text)?;
    Some(HEAD2.len()..HEAD2.len() + colon)
}

/// `(start, end)` of each line, without its `\n`.
fn lines(input: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= input.len() {
            return None;
        }
        let start = pos;
        let end = memchr::memchr(b'\n', &input[start..]).map_or(input.len(), |i| start + i);
        pos = end + 1;
        Some((start, end))
    })
}

impl Handler for Perllocal {
    fn name(&self) -> &'static str {
        "perllocal"
    }

    fn describe(&self) -> &'static str {
        "perllocal.pod (ExtUtils::MakeMaker install log), signature '=head2 <localtime date>: C<': clamps each entry's date"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        lines(head)
            .map(|(s, e)| head[s..e].strip_suffix(b"\r").unwrap_or(&head[s..e]))
            .find(|l| !l.trim_ascii().is_empty())
            .is_some_and(|l| entry_date(l).is_some())
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        if input.len() as u64 > ctx.config.max_size {
            return Err(FormatError::TooLarge(format!("{} bytes", input.len())));
        }
        let mut edits = Vec::new();
        let mut changes = Vec::new();
        let mut entries = 0;
        for (start, end) in lines(input) {
            let Some(r) = entry_date(&input[start..end]) else {
                continue;
            };
            entries += 1;
            let r = start + r.start..start + r.end;
            // entry_date parsed it, so it is UTF-8 and a date.
            let text = std::str::from_utf8(&input[r.clone()]).unwrap_or_default();
            let Some(new) = parse_perl(text).and_then(|d| d.clamped(ctx.epoch())) else {
                continue;
            };
            changes.push(format!("entry {entries}: {text} -> {new}"));
            edits.push((r, new));
        }
        if entries == 0 {
            return Err(FormatError::malformed("no '=head2 <date>: C<...>' entry"));
        }
        if changes.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        Ok(Outcome::Rewritten {
            bytes: replace_ranges(
                input,
                edits.iter().map(|(r, new)| (r.clone(), new.as_bytes())),
            ),
            changes,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    const ENTRY: &str = "=head2 Wed Mar  4 05:06:07 2026: C<Module> L<Demo::Hello|Demo::Hello>\n\n\
        =over 4\n\n=item *\n\nC<installed into: /usr/local/share/perl/5.36.0>\n\n=back\n\n";

    fn run(input: &str) -> Result<Outcome, FormatError> {
        let cfg = Config::with_epoch(315_532_800);
        Perllocal.normalize(input.as_bytes(), &cfg.context(Path::new("perllocal.pod")))
    }

    #[test]
    fn every_entry_is_clamped() {
        let file = format!("{ENTRY}{}", ENTRY.replace("Wed Mar  4", "Sat Mar 14"));
        assert!(Perllocal.sniff(file.as_bytes(), &Config::default().context(Path::new("x"))));
        let Outcome::Rewritten { bytes, changes } = run(&file).unwrap() else {
            panic!("expected a rewrite")
        };
        assert_eq!(changes.len(), 2);
        let want = file
            .replace("Wed Mar  4 05:06:07 2026", "Tue Jan  1 00:00:00 1980")
            .replace("Sat Mar 14 05:06:07 2026", "Tue Jan  1 00:00:00 1980");
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), want);
        assert_eq!(run(&want).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn other_pod_is_not_claimed() {
        let ctx = Config::default();
        let ctx = ctx.context(Path::new("x"));
        assert!(!Perllocal.sniff(b"=head1 NAME\n\nFoo\n", &ctx));
        assert!(!Perllocal.sniff(b"=head2 Not a date: C<Module>\n", &ctx));
        assert!(matches!(
            run("plain text\n"),
            Err(FormatError::Malformed(_))
        ));
        assert_eq!(
            run(&ENTRY.replace("2026", "1975")).unwrap(),
            Outcome::Unchanged
        );
    }
}
