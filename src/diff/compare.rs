//! Comparing two differing contents of one file or archive member: the
//! handler's change notes on each side, the verdict, what remains after
//! normalizing, and archives member by member.

use std::collections::BTreeSet;
use std::path::Path;

use super::hints::{RefTimes, hints};
use super::notes::align_notes;
use super::raw::raw_diff;
use super::{DiffKind, Difference, MEMBERS, Verdict};
use crate::config::Config;
use crate::handler::{Change, Handler, Member, Outcome};

/// Analyses two differing contents of one file (or member).
pub(super) fn analyse(
    a: &[u8],
    b: &[u8],
    name: &Path,
    path: &str,
    config: &Config,
    refs: &RefTimes,
    depth: u32,
) -> Vec<Difference> {
    let ctx = config.context(name);
    let ctx = crate::config::Context { depth, ..ctx };
    let ha = config.table.sniff(a, &ctx);
    let hb = config.table.sniff(b, &ctx);
    let mut d = Difference {
        path: path.to_string(),
        kind: DiffKind::Contents,
        handler: None,
        fields: Vec::new(),
        verdict: Some(Verdict::NotFixed),
        remaining: Vec::new(),
        hints: hints(a, b, refs),
    };
    let handler = match (ha, hb) {
        (Some(x), Some(y)) if x.name() == y.name() => x,
        (x, y) => {
            if x.is_some() || y.is_some() {
                d.fields.push(format!(
                    "claimed by {} vs {}",
                    x.map_or("no handler", |h| h.name()),
                    y.map_or("no handler", |h| h.name())
                ));
            }
            d.remaining = raw_diff(a, b);
            return vec![d];
        }
    };
    d.handler = Some(handler.name());
    let oa = crate::dispatch::run_guarded(handler, a, &ctx);
    let ob = crate::dispatch::run_guarded(handler, b, &ctx);
    let (na, nb) = match (&oa, &ob) {
        (Ok(x), Ok(y)) => (x.bytes(a).to_vec(), y.bytes(b).to_vec()),
        (x, y) => {
            for (side, r) in [("A", x), ("B", y)] {
                if let Err(e) = r {
                    d.fields.push(format!("{side} cannot be normalized: {e}"));
                }
            }
            d.remaining = raw_diff(a, b);
            return vec![d];
        }
    };
    d.fields = align_notes(notes(oa.as_ref().ok()), notes(ob.as_ref().ok()));
    let mut nested = Vec::new();
    if let Some(order) = member_order(handler, a, b, &ctx) {
        d.fields.push(order);
    }
    if na == nb {
        d.verdict = Some(Verdict::FixedByStripNd);
        if d.fields.is_empty() {
            d.fields
                .push("differs only in what strip-nd normalizes".into());
        }
    } else {
        match (handler.members(&na, &ctx), handler.members(&nb, &ctx)) {
            (Some(Ok(ma)), Some(Ok(mb))) if depth < config.settings.max_depth => {
                let (remaining, deeper) = compare_members(&ma, &mb, path, config, refs, depth);
                d.remaining = remaining;
                nested = deeper;
            }
            _ => d.remaining = raw_diff(&na, &nb),
        }
        if d.remaining.is_empty() && nested.is_empty() {
            let same_members = matches!(
                (handler.members(&na, &ctx), handler.members(&nb, &ctx)),
                (Some(Ok(x)), Some(Ok(y))) if x == y
            );
            d.remaining.push(if same_members {
                "the members are identical: only the encoding differs (compression level, tool version or layout)".into()
            } else {
                "the normalized files still differ".into()
            });
        }
    }
    let mut out = vec![d];
    out.extend(nested);
    out
}

/// The changes of a normalization, or none.
fn notes(o: Option<&Outcome>) -> &[Change] {
    match o {
        Some(Outcome::Rewritten { changes, .. }) => changes,
        _ => &[],
    }
}

/// "entry order differs (first at index 3)" when both archives hold the same
/// members in another order.
fn member_order(
    handler: &dyn Handler,
    a: &[u8],
    b: &[u8],
    ctx: &crate::config::Context,
) -> Option<String> {
    let (Some(Ok(ma)), Some(Ok(mb))) = (handler.members(a, ctx), handler.members(b, ctx)) else {
        return None;
    };
    let na: Vec<&str> = ma.iter().map(|m| m.name.as_str()).collect();
    let nb: Vec<&str> = mb.iter().map(|m| m.name.as_str()).collect();
    if na == nb {
        return None;
    }
    let (mut sa, mut sb) = (na.clone(), nb.clone());
    sa.sort_unstable();
    sb.sort_unstable();
    if sa != sb {
        return None;
    }
    let first = na.iter().zip(&nb).position(|(x, y)| x != y).unwrap_or(0);
    Some(format!("entry order differs (first at index {first})"))
}

/// Compares the members of two normalized archives: what remains at this level
/// (members only on one side, order) and the differences of members in both.
fn compare_members(
    ma: &[Member],
    mb: &[Member],
    path: &str,
    config: &Config,
    refs: &RefTimes,
    depth: u32,
) -> (Vec<String>, Vec<Difference>) {
    let mut remaining = Vec::new();
    let mut nested = Vec::new();
    let names_b: BTreeSet<&str> = mb.iter().map(|m| m.name.as_str()).collect();
    let names_a: BTreeSet<&str> = ma.iter().map(|m| m.name.as_str()).collect();
    for m in ma
        .iter()
        .filter(|m| !names_b.contains(m.name.as_str()))
        .take(MEMBERS)
    {
        remaining.push(format!("member {} only in A", m.name));
    }
    for m in mb
        .iter()
        .filter(|m| !names_a.contains(m.name.as_str()))
        .take(MEMBERS)
    {
        remaining.push(format!("member {} only in B", m.name));
    }
    let order_a: Vec<&str> = ma
        .iter()
        .map(|m| m.name.as_str())
        .filter(|n| names_b.contains(n))
        .collect();
    let order_b: Vec<&str> = mb
        .iter()
        .map(|m| m.name.as_str())
        .filter(|n| names_a.contains(n))
        .collect();
    if order_a != order_b {
        let first = order_a
            .iter()
            .zip(&order_b)
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        remaining.push(format!("member order differs (first at index {first})"));
    }
    for m in ma.iter().take(MEMBERS * 20) {
        if let Some(other) = mb.iter().find(|o| o.name == m.name) {
            if other.bytes != m.bytes {
                let sub = format!("{path}!{}", m.name);
                nested.extend(analyse(
                    &m.bytes,
                    &other.bytes,
                    Path::new(&m.name),
                    &sub,
                    config,
                    refs,
                    depth + 1,
                ));
            }
        }
    }
    (remaining, nested)
}
