//! Jar manifests (`META-INF/MANIFEST.MF`) and signature files, and the
//! leftovers of Maven's compiler plugin.

use super::fields::show;

/// Jar manifest attributes that record when, where or by whom a build ran,
/// dropped from every section (names compared ignoring ASCII case).
pub const DROPPED_ATTRIBUTES: &[&str] = &[
    "Bnd-LastModified",
    "Build-Date",
    "Build-Host",
    "Build-Jdk",
    "Build-Time",
    "Build-Timestamp",
    "Build-User",
    "Built-By",
    "Built-Date",
    "Built-Host",
    "Built-On",
];

const MANIFEST: &[u8] = b"META-INF/MANIFEST.MF";
pub(super) const META_INF: &[u8] = b"META-INF/";

/// Whether a name is one of the files that sign a jar.
pub(super) fn is_signature(name: &[u8]) -> bool {
    if name.len() <= META_INF.len() || !name[..META_INF.len()].eq_ignore_ascii_case(META_INF) {
        return false;
    }
    let file = &name[META_INF.len()..];
    if file.contains(&b'/') {
        return false;
    }
    let upper = file.to_ascii_uppercase();
    upper.starts_with(b"SIG-")
        || [&b".SF"[..], b".RSA", b".DSA", b".EC"]
            .iter()
            .any(|ext| upper.ends_with(ext))
}

/// Whether a name is the jar manifest's (Java compares it ignoring case).
pub(super) fn is_manifest(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(MANIFEST)
}

/// Whether a jar member is one of the files Maven's compiler plugin leaves in
/// the classes directory when it forks `javac` (plexus-compiler): the
/// arguments file, whose name carries a random number
/// (`org.codehaus.plexus.compiler.javac.JavacCompiler<digits>arguments`), and
/// `javac.sh`, which records the build directory. Only at the top level, where
/// the classes directory puts them.
pub(super) fn is_maven_leftover(name: &[u8]) -> bool {
    name == b"javac.sh"
        || name
            .strip_prefix(b"org.codehaus.plexus.compiler.javac.JavacCompiler")
            .and_then(|r| r.strip_suffix(b"arguments"))
            .is_some_and(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
}

/// Drops [`DROPPED_ATTRIBUTES`] from a manifest. Returns the new text and the
/// names dropped, or `None` when nothing is dropped.
pub(super) fn clean_manifest(text: &[u8]) -> Option<(Vec<u8>, Vec<String>)> {
    const VERSION: &[u8] = b"Manifest-Version:";
    if text.len() < VERSION.len() || !text[..VERSION.len()].eq_ignore_ascii_case(VERSION) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len());
    let mut dropped = Vec::new();
    let mut skipping = false;
    let mut pos = 0;
    while pos < text.len() {
        let rest = &text[pos..];
        let (content, end) = match memchr::memchr2(b'\r', b'\n', rest) {
            None => (rest, rest.len()),
            Some(i) if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') => (&rest[..i], i + 2),
            Some(i) => (&rest[..i], i + 1),
        };
        if content.first() == Some(&b' ') {
            // A continuation line belongs to the attribute before it.
        } else {
            let name = content.split(|&b| b == b':').next().unwrap_or_default();
            skipping = content.contains(&b':')
                && DROPPED_ATTRIBUTES
                    .iter()
                    .any(|a| a.as_bytes().eq_ignore_ascii_case(name));
            if skipping {
                dropped.push(show(name));
            }
        }
        if !skipping {
            out.extend_from_slice(&rest[..end]);
        }
        pos += end;
    }
    (!dropped.is_empty()).then_some((out, dropped))
}
