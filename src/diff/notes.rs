//! Fields from changes: pairing A's and B's changes into "field a vs b" lines.

use crate::handler::Change;

/// The field a change is to, as a report names it: `member 1: mtime`,
/// `x.jar!a.txt: DOS time`, `CreationDate at 0x1f:`.
fn key(c: &Change) -> String {
    let mut key = c.at().to_string();
    if !c.at().place.is_empty() {
        key.push(':');
    }
    if !c.field().is_empty() {
        if !key.is_empty() {
            key.push(' ');
        }
        key.push_str(c.field());
    }
    key
}

/// `field old`, or `field` alone when the old value is not shown.
fn with_value(key: &str, value: &str) -> String {
    if value.is_empty() {
        key.to_string()
    } else {
        format!("{key} {value}")
    }
}

/// Pairs the changes of A and B into "field a vs b" lines. Changes equal on
/// both sides are no difference between the builds and are left out. A
/// change of A pairs with the first unpaired change of B at the same place
/// and field (`(at, field)`); the line shows each side's old value.
pub fn align_notes(a: &[Change], b: &[Change]) -> Vec<String> {
    let only_a: Vec<&Change> = a.iter().filter(|c| !b.contains(c)).collect();
    let mut only_b: Vec<Option<&Change>> = b.iter().filter(|c| !a.contains(c)).map(Some).collect();
    let mut out = Vec::new();
    for ca in only_a {
        let k = key(ca);
        let partner = only_b
            .iter_mut()
            .find(|cb| cb.is_some_and(|cb| cb.at() == ca.at() && cb.field() == ca.field()))
            .and_then(Option::take);
        let vb = partner.map_or("absent", |cb| cb.old());
        out.push(format!("{} vs {vb}", with_value(&k, ca.old())));
    }
    for cb in only_b.into_iter().flatten() {
        out.push(format!("{} absent vs {}", key(cb), cb.old()));
    }
    out
}
