//! Differences of files no handler claims: a short unified diff for text,
//! the first differing offsets for binary.

use super::{BINARY_OFFSETS, DIFF_LINES};

pub(super) fn is_text(bytes: &[u8]) -> bool {
    !bytes[..bytes.len().min(8192)].contains(&0) && std::str::from_utf8(bytes).is_ok()
}

/// A short unified diff (text) or the first differing offsets (binary).
pub(super) fn raw_diff(a: &[u8], b: &[u8]) -> Vec<String> {
    if is_text(a) && is_text(b) {
        let (ta, tb) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
        let diff = similar::TextDiff::configure()
            .timeout(std::time::Duration::from_secs(2))
            .diff_lines(ta.as_ref(), tb.as_ref());
        let text = diff
            .unified_diff()
            .context_radius(1)
            .header("A", "B")
            .to_string();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() > DIFF_LINES {
            let more = lines.len() - DIFF_LINES;
            lines.truncate(DIFF_LINES);
            lines.push(format!("... {more} more diff lines"));
        }
        if sorted_lines(a) == sorted_lines(b) {
            lines.push("the same lines in another order".into());
        }
        return lines;
    }
    let mut out = Vec::new();
    if a.len() != b.len() {
        out.push(format!("size {} vs {} bytes", a.len(), b.len()));
    }
    let mut i = 0;
    let n = a.len().min(b.len());
    while i < n && out.len() < BINARY_OFFSETS + 1 {
        if a[i] == b[i] {
            i += 1;
            continue;
        }
        let start = i.saturating_sub(4);
        let end = (i + 12).min(n);
        out.push(format!(
            "offset {i:#x}: {} vs {}",
            hex(&a[start..end.min(a.len())]),
            hex(&b[start..end.min(b.len())])
        ));
        i = end;
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn sorted_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = bytes.split(|&c| c == b'\n').collect();
    lines.sort_unstable();
    lines
}
