//! Fields from change notes: pairing A's and B's notes into "field a vs b"
//! lines, and splitting a note into its field and old value.

/// Pairs the change notes of A and B into "field a vs b" lines. Notes equal on
/// both sides are no difference between the builds and are left out. A note of
/// A pairs with the note of B that shares the longest prefix ending at a word
/// and holding the location (`member 1: mtime`, `hello.jar: DOS time`); what
/// follows is each side's old value.
pub fn align_notes(a: &[String], b: &[String]) -> Vec<String> {
    let only_a: Vec<&str> = a
        .iter()
        .filter(|n| !b.contains(n))
        .map(String::as_str)
        .collect();
    let mut only_b: Vec<Option<&str>> = b
        .iter()
        .filter(|n| !a.contains(n))
        .map(|n| Some(n.as_str()))
        .collect();
    let mut out = Vec::new();
    for na in only_a {
        let va = old_value(na);
        let best = only_b
            .iter()
            .enumerate()
            .filter_map(|(i, nb)| nb.map(|nb| (i, shared_field(va, old_value(nb)))))
            .filter(|(_, len)| *len > 0)
            .max_by_key(|(_, len)| *len);
        if let Some((i, len)) = best {
            let vb = old_value(only_b[i].take().unwrap_or_default());
            out.push(format!(
                "{} {} vs {}",
                &va[..len],
                &va[len + 1..],
                &vb[len + 1..]
            ));
        } else {
            let (field, value) = split_note(na);
            out.push(format!("{field} {value} vs absent"));
        }
    }
    for nb in only_b.into_iter().flatten() {
        let (field, value) = split_note(nb);
        out.push(format!("{field} absent vs {value}"));
    }
    out
}

/// A note without its new value: `x: mtime 5 -> 1` gives `x: mtime 5`,
/// `x: name "n" dropped` gives `x: name "n"`.
fn old_value(note: &str) -> &str {
    note.rsplit_once(" -> ")
        .map(|(l, _)| l)
        .or_else(|| note.strip_suffix(" dropped"))
        .unwrap_or(note)
}

/// The length of the longest common prefix of `a` and `b` that ends before a
/// space, holds a `:` (the location) and leaves a value on both sides; 0 if none.
fn shared_field(a: &str, b: &str) -> usize {
    let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let Some(space) = a[..common.min(a.len())].rfind(' ') else {
        return 0;
    };
    let field = &a[..space];
    if field.contains(':') && space + 1 < a.len() && space + 1 < b.len() {
        space
    } else {
        0
    }
}

/// Splits a change note into the field and the old value:
/// `member 1: mtime 1772600767 -> 315532800` gives (`member 1: mtime`, `1772600767`);
/// `member 1: name "b.1" dropped` gives (`member 1: name`, `"b.1"`).
fn split_note(note: &str) -> (String, String) {
    let body = old_value(note);
    // The value is the quoted string, or the last word, at the end of the body.
    if let Some(inner) = body.strip_suffix('"') {
        if let Some(q) = inner.rfind(" \"") {
            return (body[..q].to_string(), body[q + 1..].to_string());
        }
    }
    match body.rsplit_once(' ') {
        Some((field, value)) => (field.to_string(), value.to_string()),
        None => (body.to_string(), String::new()),
    }
}
