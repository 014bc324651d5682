//! `perllocal.pod`, the install log that `ExtUtils::MakeMaker` (and
//! `Module::Build`) append to on `make install`, as written by
//! `ExtUtils::Command::MM::perllocal_install`. Each entry opens with
//! `=head2 <date>: C<Module> L<Name|Name>`, the date in Perl's scalar
//! `localtime` format: `Wed Mar  4 05:06:07 2026`.
//!
//! Recognized by content, never by name, and only when the whole file is a
//! list of such entries: ignoring blank lines (and a `\r` before each `\n`),
//! every line belongs to an entry of exactly this shape:
//!
//! ```text
//! =head2 <localtime date>: C<type> L<link>
//! =over 4
//! =item *            \ any number of
//! C<text>            /  these pairs
//! =back
//! ```
//!
//! Any other POD command, paragraph or text is something `perllocal_install`
//! never writes, so such a file is not claimed: other POD, and source code
//! that quotes an entry, stay as they are. Dispatch checks the shape on the
//! first bytes it reads (the last line there may be cut and is not checked);
//! [`Perllocal::normalize`] checks it again on the whole file and returns
//! `Unchanged` when those first bytes do not have it (a file that is not a
//! perllocal.pod, given directly), or `Malformed` when they do but a later
//! line breaks it or the last entry is unfinished (left untouched and
//! reported).
//!
//! Normalized: the date of every `=head2` line. The format has no zone; it is
//! read as UTC. A date later than the epoch becomes the epoch in the same
//! format, as `localtime` prints it under `TZ=UTC`
//! (`Tue Jan  1 00:00:00 1980`, see [`crate::dates`]); an earlier one stays.
//!
//! Left alone: everything else, byte for byte, including the order of the
//! entries, the install paths and the `VERSION`/`EXE_FILES` items. The paths
//! depend on the build's prefix, not on the clock.

use crate::dates::{parse_perl, replace_ranges};
use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Outcome, SNIFF_LEN};

/// The `perllocal.pod` handler.
pub struct Perllocal;

const HEAD2: &[u8] = b"=head2 ";

/// The range of the date in an entry line, when `line` is one:
/// `=head2 <date>: C<type> L<link>`.
fn entry_date(line: &[u8]) -> Option<std::ops::Range<usize>> {
    let rest = line.strip_prefix(HEAD2)?;
    let colon = memchr::memmem::find(rest, b": C<")?;
    let text = std::str::from_utf8(&rest[..colon]).ok()?;
    parse_perl(text)?;
    let tail = &rest[colon + 4..];
    let close = memchr::memmem::find(tail, b"> L<")?;
    let target = &tail[close + 4..];
    if close == 0 || target.len() < 2 || !target.ends_with(b">") {
        return None;
    }
    Some(HEAD2.len()..HEAD2.len() + colon)
}

/// `(start, end, next)` of each line: its content without the `\n` (and a
/// `\r` before it), and where the next line starts.
fn lines(input: &[u8]) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= input.len() {
            return None;
        }
        let start = pos;
        let nl = memchr::memchr(b'\n', &input[start..]).map_or(input.len(), |i| start + i);
        let end = if nl > start && input[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        pos = (nl + 1).min(input.len());
        Some((start, end, pos))
    })
}

/// Where the reader is inside an entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first entry or after a `=back`: the next is a `=head2`.
    Between,
    /// After `=head2`: the next is `=over 4`.
    Head,
    /// After `=over 4` or an item's text: `=item *` or `=back`.
    List,
    /// After `=item *`: its `C<...>` text.
    Item,
}

/// Checks that `text` is a list of entries of the shape in the module docs
/// and returns the ranges of their dates, or the 1-based number of the first
/// line that breaks the shape (one past the last when the last entry is
/// unfinished). When `complete` is false, `text` is only the first bytes of
/// the file: its last line, which may be cut, is not checked, and the last
/// entry may be unfinished.
fn entries(text: &[u8], complete: bool) -> Result<Vec<std::ops::Range<usize>>, usize> {
    let mut dates = Vec::new();
    let mut state = State::Between;
    let mut count = 0;
    for (n, (start, end, next)) in lines(text).enumerate() {
        if !complete && next == text.len() && text.last() != Some(&b'\n') {
            break;
        }
        count = n + 1;
        let line = &text[start..end];
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        state = match state {
            State::Between => {
                let r = entry_date(line).ok_or(count)?;
                dates.push(start + r.start..start + r.end);
                State::Head
            }
            State::Head if line == b"=over 4" => State::List,
            State::List if line == b"=item *" => State::Item,
            State::List if line == b"=back" => State::Between,
            State::Item if line.starts_with(b"C<") && line.ends_with(b">") && line.len() > 2 => {
                State::List
            }
            _ => return Err(count),
        };
    }
    if dates.is_empty() || (complete && state != State::Between) {
        return Err(count + 1);
    }
    Ok(dates)
}

impl Handler for Perllocal {
    fn name(&self) -> &'static str {
        "perllocal"
    }

    fn describe(&self) -> &'static str {
        "perllocal.pod (ExtUtils::MakeMaker install log), whole file: '=head2 <localtime date>: C<type> L<link>' entries with =over/=item/C<>/=back lists only: clamps each entry's date"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        entries(head, head.len() < SNIFF_LEN).is_ok()
    }

    fn ruled_out(&self, prefix: &[u8], _ctx: &Context) -> bool {
        // Past blank lines, the first line is an entry's `=head2 `.
        let start = prefix
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        start < prefix.len() && crate::handler::starts_none_of(&prefix[start..], &[HEAD2])
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        if input.len() as u64 > ctx.settings.max_size {
            return Err(FormatError::TooLarge(format!("{} bytes", input.len())));
        }
        if !self.sniff(&input[..input.len().min(SNIFF_LEN)], ctx) {
            // Not a perllocal.pod: not this handler's file, whoever asked.
            return Ok(Outcome::Unchanged);
        }
        let dates = entries(input, true).map_err(|line| {
            FormatError::malformed(format!(
                "line {line} breaks the '=head2 <date>: C<...> L<...>', =over 4, =item *, \
                 C<...>, =back shape of perllocal_install's entries"
            ))
        })?;
        let mut edits = Vec::new();
        let mut changes = Vec::new();
        for (i, r) in dates.into_iter().enumerate() {
            // entries parsed it, so it is UTF-8 and a date.
            let text = std::str::from_utf8(&input[r.clone()]).unwrap_or_default();
            let Some(new) = parse_perl(text).and_then(|d| d.clamped(ctx.epoch())) else {
                continue;
            };
            changes.push(Change::set(format!("entry {}", i + 1), "", text, &new));
            edits.push((r, new));
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
        assert_eq!(run("plain text\n").unwrap(), Outcome::Unchanged);
        assert!(!Perllocal.sniff(format!("{ENTRY}=head1 NOTES\n\nmore\n").as_bytes(), &ctx));
        assert!(!Perllocal.sniff(ENTRY.replace("=over 4", "=over 8").as_bytes(), &ctx));
        assert!(!Perllocal.sniff(
            ENTRY.replace(" L<Demo::Hello|Demo::Hello>", "").as_bytes(),
            &ctx
        ));
        assert_eq!(
            run(&ENTRY.replace("2026", "1975")).unwrap(),
            Outcome::Unchanged
        );
    }

    #[test]
    fn source_quoting_an_entry_is_left_alone() {
        let ctx = Config::default();
        let ctx = ctx.context(Path::new("x"));
        // A Perl test and a POD page whose first line quotes an entry.
        for file in [
            format!("{ENTRY}1;\n"),
            format!("{ENTRY}use Test::More;\nis(1, 1);\n"),
            format!("{ENTRY}=head1 SEE ALSO\n\nL<perlmodinstall>\n"),
            ENTRY.replace("=back\n\n", ""),
        ] {
            assert!(!Perllocal.sniff(file.as_bytes(), &ctx), "{file:?}");
            assert_eq!(run(&file).unwrap(), Outcome::Unchanged, "{file:?}");
        }
    }

    #[test]
    fn a_later_line_out_of_shape_is_malformed() {
        let mut file = String::new();
        while file.len() < SNIFF_LEN + 10 {
            file.push_str(ENTRY);
        }
        file.push_str("=cut\n");
        let ctx = Config::default();
        assert!(Perllocal.sniff(&file.as_bytes()[..SNIFF_LEN], &ctx.context(Path::new("x"))));
        assert!(matches!(run(&file), Err(FormatError::Malformed(_))));
        // Cut inside an entry: unfinished.
        let cut = &file[..SNIFF_LEN + 10];
        assert!(matches!(run(cut), Err(FormatError::Malformed(_))));
    }

    #[test]
    fn crlf_entries() {
        let file = ENTRY.replace('\n', "\r\n");
        let Outcome::Rewritten { bytes, .. } = run(&file).unwrap() else {
            panic!("expected a rewrite")
        };
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            file.replace("Wed Mar  4 05:06:07 2026", "Tue Jan  1 00:00:00 1980")
        );
    }
}
