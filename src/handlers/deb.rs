//! A `.deb`'s `md5sums` (deb(5), deb-md5sums(5)): the control tarball
//! `control.tar[.gz|.xz|.zst]` may hold `md5sums`, one line per file of
//! `data.tar.*`, `<32 hex digits>  <path without ./>`, which `dpkg --verify`
//! and `debsums` check after installation. Called by the ar handler once the
//! members of a package (`debian-binary` first) have been normalized.
//!
//! When nested dispatch changed `data.tar.*` (a `.gz` man page without `-n`
//! inside, say), the regular files of the old and the new data tarball are
//! listed (decompressed with the gzip, xz, bzip2 or zstd code, then through
//! the tar handler's `members`) and their MD5s compared. Each changed file
//! that `md5sums` lists gets its new digest, in place (the line keeps its
//! length, order, name and separator); the control tarball is then patched in
//! place (same size, so its headers stay) and recompressed like a nested
//! rewrite of its format would be (gzip at the level its XFL announces, xz and
//! zstd with the settings their headers announce, see [`super::compressed`]).
//!
//! The package is left untouched ([`FormatError::Unsupported`]) when a changed
//! file may be listed and `md5sums` cannot be kept right: a control tarball
//! that cannot be rewritten (another compression, several xz streams or zstd
//! frames, a multi-member gzip), a data tarball it cannot read back, or the
//! line of a changed file did not hold the file's MD5 before the change (a
//! stale `md5sums` is not ours to fix).

use std::path::Path;

use md5::{Digest, Md5};

use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Member};
use crate::handlers::compressed::stream_of;
use crate::handlers::gzip::{self, Gzip};
use crate::handlers::tar::{self, Tar};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

fn unsupported(msg: impl Into<String>) -> FormatError {
    FormatError::Unsupported(msg.into())
}

fn is_tar(data: &[u8]) -> bool {
    data.get(257..262) == Some(b"ustar")
}

/// The tarball inside a member: as it is, or decompressed (gzip, xz, bzip2,
/// zstd); `None` for another compression.
fn untar<'a>(
    data: &'a [u8],
    ctx: &Context,
) -> Result<Option<std::borrow::Cow<'a, [u8]>>, FormatError> {
    if is_tar(data) {
        return Ok(Some(std::borrow::Cow::Borrowed(data)));
    }
    if data.starts_with(GZIP_MAGIC) {
        let members = Gzip
            .members(data, ctx)
            .unwrap_or_else(|| Err(FormatError::malformed("not gzip")))?;
        let bytes = members
            .into_iter()
            .next()
            .map(|m| m.bytes)
            .unwrap_or_default();
        if is_tar(&bytes) {
            return Ok(Some(std::borrow::Cow::Owned(bytes)));
        }
    } else if let Some(codec) = stream_of(data) {
        let bytes = codec.unpack(data, ctx.settings.max_size)?;
        if is_tar(&bytes) {
            return Ok(Some(std::borrow::Cow::Owned(bytes)));
        }
    }
    Ok(None)
}

/// A path as `md5sums` writes it: without a leading `./` or `/`.
fn listed_name(name: &str) -> &str {
    let name = name.strip_prefix("./").unwrap_or(name);
    name.strip_prefix('/').unwrap_or(name)
}

fn md5_hex(data: &[u8]) -> String {
    use std::fmt::Write as _;
    Md5::digest(data)
        .iter()
        .fold(String::with_capacity(32), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Files whose content differs between two data tarballs: (listed name, old
/// MD5, new MD5).
fn changed_files(old: &[Member], new: &[Member]) -> Vec<(String, String, String)> {
    let old: std::collections::HashMap<&str, &[u8]> = old
        .iter()
        .map(|m| (listed_name(&m.name), m.bytes.as_slice()))
        .collect();
    new.iter()
        .filter_map(|m| {
            let name = listed_name(&m.name);
            let before = old.get(name)?;
            (*before != m.bytes.as_slice())
                .then(|| (name.to_string(), md5_hex(before), md5_hex(&m.bytes)))
        })
        .collect()
}

/// Where each line's digest and name are in an `md5sums` file: (digest
/// offset, name). Lines that do not follow the format are skipped (they list
/// nothing this module could match).
fn md5sums_lines(text: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive(|&b| b == b'\n') {
        let start = pos;
        pos += line.len();
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        // md5sum escapes names holding `\` or a newline and marks the line.
        let (skip, escaped) = if line.first() == Some(&b'\\') {
            (1, true)
        } else {
            (0, false)
        };
        let rest = &line[skip..];
        if rest.len() < 34
            || !rest[..32].iter().all(u8::is_ascii_hexdigit)
            || rest[32] != b' '
            || !matches!(rest[33], b' ' | b'*')
        {
            continue;
        }
        let raw = &rest[34..];
        let name = if escaped {
            let mut n = Vec::with_capacity(raw.len());
            let mut it = raw.iter();
            while let Some(&b) = it.next() {
                match (b, it.as_slice().first()) {
                    (b'\\', Some(b'\\')) => {
                        n.push(b'\\');
                        it.next();
                    }
                    (b'\\', Some(b'n')) => {
                        n.push(b'\n');
                        it.next();
                    }
                    _ => n.push(b),
                }
            }
            n
        } else {
            raw.to_vec()
        };
        let name = name.strip_prefix(b"./").map(<[u8]>::to_vec).unwrap_or(name);
        out.push((start + skip, name));
    }
    out
}

/// Checks that a package's members are in the order deb(5) gives and dpkg-deb
/// reads: `debian-binary`, any members named `_...`, `control.tar[.gz|.xz|.zst]`,
/// `data.tar[.gz|.xz|.zst|.bz2|.lzma]`, then anything (dpkg ignores trailing
/// members). An archive is a package when `debian-binary` comes first or its
/// name ends in `.deb`, `.udeb` or `.ddeb`. A damaged package (dpkg-deb refuses
/// it) is malformed rather than rewritten as a plain `ar` archive.
pub(crate) fn check_layout(names: &[&[u8]], ctx: &Context) -> Result<(), FormatError> {
    let deb_name = ctx
        .name
        .extension()
        .is_some_and(|e| e == "deb" || e == "udeb" || e == "ddeb");
    let mut rest = names.iter();
    match rest.next() {
        Some(n) if *n == b"debian-binary" => {}
        _ if !deb_name => return Ok(()),
        first => {
            return Err(FormatError::malformed(format!(
                "a .deb whose first member is {}, not debian-binary",
                first.map_or("missing".into(), |n| String::from_utf8_lossy(n))
            )));
        }
    }
    let suffixed = |n: &[u8], stem: &[u8], suffixes: &[&[u8]]| {
        n.strip_prefix(stem).is_some_and(|s| suffixes.contains(&s))
    };
    let mut rest = rest.skip_while(|n| n.starts_with(b"_"));
    let control = rest.next();
    if !control.is_some_and(|n| suffixed(n, b"control.tar", &[b"", b".gz", b".xz", b".zst"])) {
        return Err(FormatError::malformed(format!(
            "package member after debian-binary is {}, not control.tar[.gz|.xz|.zst]",
            control.map_or("missing".into(), |n| String::from_utf8_lossy(n))
        )));
    }
    let data = rest.next();
    if !data.is_some_and(|n| {
        suffixed(
            n,
            b"data.tar",
            &[b"", b".gz", b".xz", b".zst", b".bz2", b".lzma"],
        )
    }) {
        return Err(FormatError::malformed(format!(
            "package member after the control tarball is {}, not data.tar[.gz|.xz|.zst|.bz2|.lzma]",
            data.map_or("missing".into(), |n| String::from_utf8_lossy(n))
        )));
    }
    Ok(())
}

/// A member to replace: its index, new bytes and the notes.
pub(crate) struct Replacement {
    pub index: usize,
    pub bytes: Vec<u8>,
    pub notes: Vec<Change>,
}

/// For a package whose members are `names`, with contents `old` before
/// nested normalization and `new` after: the member to replace (the control
/// tarball), its new bytes and the notes, when `md5sums` must follow a change
/// of the data tarball. `None` when nothing needs it or this is no package.
pub(crate) fn sync_md5sums(
    names: &[&[u8]],
    old: &[&[u8]],
    new: &[&[u8]],
    ctx: &Context,
) -> Result<Option<Replacement>, FormatError> {
    if names.first() != Some(&&b"debian-binary"[..]) {
        return Ok(None);
    }
    let find = |prefix: &[u8]| names.iter().position(|n| n.starts_with(prefix));
    let (Some(c), Some(d)) = (find(b"control.tar"), find(b"data.tar")) else {
        return Ok(None);
    };
    if old[d] == new[d] {
        return Ok(None);
    }
    let data_name = String::from_utf8_lossy(names[d]).into_owned();
    let inner = ctx.nested(Path::new(&data_name));
    let members = |bytes: &[u8]| -> Result<Vec<Member>, FormatError> {
        let tar = untar(bytes, &inner)?
            .ok_or_else(|| unsupported(format!("{data_name} changed but cannot be read back")))?;
        Tar.members(&tar, &inner).unwrap_or_else(|| Ok(Vec::new()))
    };
    let changed = changed_files(&members(old[d])?, &members(new[d])?);
    if changed.is_empty() {
        return Ok(None);
    }
    let control_name = String::from_utf8_lossy(names[c]).into_owned();
    let control = new[c];
    let Some(tarball) = untar(control, &ctx.nested(Path::new(&control_name)))? else {
        return Err(unsupported(format!(
            "{data_name} changed and md5sums may list the files, but {control_name} is \
             compressed with a format strip-nd does not rewrite"
        )));
    };
    let Some((_, range)) = tar::files(&tarball)?
        .into_iter()
        .find(|(n, _)| listed_name(&String::from_utf8_lossy(n)) == "md5sums")
    else {
        return Ok(None);
    };
    let mut patched = tarball.into_owned();
    let lines = md5sums_lines(&patched[range.clone()]);
    let mut notes = Vec::new();
    for (name, before, after) in &changed {
        for (at, listed) in &lines {
            if listed != name.as_bytes() {
                continue;
            }
            let digest = range.start + at..range.start + at + 32;
            if !patched[digest.clone()].eq_ignore_ascii_case(before.as_bytes()) {
                return Err(unsupported(format!(
                    "md5sums: the line of {name} did not hold its MD5 before normalizing"
                )));
            }
            patched[digest].copy_from_slice(after.as_bytes());
            notes.push(
                Change::gone("md5sums", format!("MD5 of {name}"), "", "updated")
                    .inside(&*control_name),
            );
        }
    }
    if notes.is_empty() {
        return Ok(None);
    }
    let bytes = if is_tar(control) {
        Ok(patched)
    } else if let Some(codec) = stream_of(control) {
        codec.repack(control, &patched, ctx.settings.max_size)
    } else {
        gzip::with_payload(control, &patched, ctx)
    }
    .map_err(|e| match e {
        FormatError::Unsupported(why) => unsupported(format!(
            "{data_name} changed and md5sums lists its files, but {control_name}: {why}"
        )),
        e => e,
    })?;
    Ok(Some(Replacement {
        index: c,
        bytes,
        notes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5sums_lines_locate_digests_and_unescape_names() {
        let text = b"d41d8cd98f00b204e9800998ecf8427e  usr/bin/a\n\
                     \\d41d8cd98f00b204e9800998ecf8427e  usr/x\\\\y\n\
                     garbage\n\
                     d41d8cd98f00b204e9800998ecf8427e *./usr/b";
        let lines = md5sums_lines(text);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], (0, b"usr/bin/a".to_vec()));
        assert_eq!(lines[1].1, b"usr/x\\y".to_vec());
        assert_eq!(&text[lines[1].0..lines[1].0 + 2], b"d4");
        assert_eq!(lines[2].1, b"usr/b".to_vec());
    }

    #[test]
    fn damaged_package_layouts_are_malformed() {
        let cfg = crate::config::Config::with_epoch(0);
        let check = |names: &[&str], file: &str| {
            let names: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
            check_layout(&names, &cfg.context(Path::new(file)))
        };
        let ok = ["debian-binary", "control.tar.gz", "data.tar.xz"];
        assert!(check(&ok, "p.deb").is_ok());
        assert!(
            check(&ok, "libfoo.a").is_ok(),
            "a package by its first member"
        );
        assert!(
            check(
                &[
                    "debian-binary",
                    "_gpgorigin",
                    "control.tar",
                    "data.tar.zst",
                    "x"
                ],
                "p"
            )
            .is_ok()
        );
        assert!(check(&["a.o", "b.o"], "libfoo.a").is_ok(), "not a package");
        assert!(check(&[], "libfoo.a").is_ok());
        for (names, file) in [
            (&[][..], "p.deb"),
            (
                &["debian-binarz", "control.tar.gz", "data.tar.xz"][..],
                "p.udeb",
            ),
            (
                &[
                    "debian-binary",
                    "\u{80}\u{80}",
                    "control.tar.gz",
                    "data.tar.xz",
                ][..],
                "p",
            ),
            (
                &["debian-binary", "control.tar.gz", "data.tar.gz !"][..],
                "p",
            ),
            (&["debian-binary", "control.tar.gz"][..], "p"),
            (&["debian-binary", "data.tar.gz", "control.tar.gz"][..], "p"),
        ] {
            assert!(
                matches!(check(names, file), Err(FormatError::Malformed(_))),
                "{names:?} in {file}"
            );
        }
    }

    #[test]
    fn md5_is_hex() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
