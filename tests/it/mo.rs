//! A mutation campaign on the gettext corpus with msgunfmt as the oracle:
//! what msgunfmt refuses is reported malformed, and what strip-nd rewrites
//! msgunfmt reads with the same messages as before.

use std::fs;
use std::path::Path;
use std::process::Command;

use strip_nd::config::Config;
use strip_nd::error::FormatError;
use strip_nd::handlers::Outcome;

use crate::util::{EPOCH, Rng, corpus, need};

fn u32_at(d: &[u8], at: usize, be: bool) -> usize {
    let b: [u8; 4] = d[at..at + 4].try_into().unwrap();
    (if be {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }) as usize
}

/// Mutants of one catalog: truncations, bytes set to 0, 0xff or +-1 in the
/// file header, the descriptor tables and the hash table, and random bit
/// flips anywhere.
fn mutants(d: &[u8], rng: &mut Rng) -> Vec<Vec<u8>> {
    let be = d[0] == 0x95;
    let n = u32_at(d, 8, be);
    let (orig, trans) = (u32_at(d, 12, be), u32_at(d, 16, be));
    let (hash_n, hash) = (u32_at(d, 20, be), u32_at(d, 24, be));
    let mut out = Vec::new();
    for cut in (0..d.len()).step_by(23).chain([d.len() - 1]) {
        out.push(d[..cut].to_vec());
    }
    let regions = [
        (0, 28),
        (orig, orig + 8 * n),
        (trans, trans + 8 * n),
        (hash, hash + 4 * hash_n),
    ];
    for (start, end) in regions {
        for _ in 0..8 {
            if start == end {
                break;
            }
            let at = start + rng.below(end - start);
            let mut m = d.to_vec();
            m[at] = match rng.below(4) {
                0 => 0,
                1 => 0xff,
                2 => d[at].wrapping_add(1),
                _ => d[at].wrapping_sub(1),
            };
            out.push(m);
        }
    }
    for _ in 0..30 {
        let mut m = d.to_vec();
        let at = rng.below(d.len());
        m[at] ^= 1 << rng.below(8);
        out.push(m);
    }
    out
}

/// msgunfmt's listing without the two date lines strip-nd may change, or
/// `None` when msgunfmt refuses the file (or hangs on it).
fn listing(path: &Path) -> Option<Vec<String>> {
    let out = Command::new("timeout")
        .args(["10", "msgunfmt"])
        .arg(path)
        .output()
        .expect("msgunfmt runs");
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.contains("POT-Creation-Date:") && !l.contains("PO-Revision-Date:"))
            .map(str::to_owned)
            .collect()
    })
}

#[test]
#[ignore = "needs msgunfmt"]
fn mutated_catalogs_msgunfmt_refuses_are_malformed_and_rewrites_stay_readable() {
    need("msgunfmt", "gettext");
    let tmp = tempfile::tempdir().unwrap();
    let config = Config::with_epoch(EPOCH);
    let ctx = config.context(Path::new("m.mo"));
    let mut rng = Rng(0x5eed_0f0c_0ffe);
    let mut files: Vec<_> = fs::read_dir(corpus("mo"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mo"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the mo corpus is missing");
    let (mut total, mut refused, mut malformed, mut rewritten, mut unchanged) = (0, 0, 0, 0, 0);
    let (mut unclaimed, mut other_errors) = (0, 0);
    let (mut failures, mut stricter) = (Vec::new(), Vec::new());
    for file in &files {
        let original = fs::read(file).unwrap();
        for (k, m) in mutants(&original, &mut rng).into_iter().enumerate() {
            total += 1;
            let name = format!("{}#{k}", file.file_name().unwrap().to_string_lossy());
            let input = tmp.path().join("in.mo");
            fs::write(&input, &m).unwrap();
            let before = listing(&input);
            refused += usize::from(before.is_none());
            match strip_nd::dispatch::dispatch(&m, &ctx) {
                None => unclaimed += 1,
                Some((h, _)) if h != "mo" => failures.push(format!("{name}: claimed by {h}")),
                Some((_, Err(FormatError::Malformed(why)))) => {
                    malformed += 1;
                    if before.is_some() {
                        // Stricter than msgunfmt: left untouched, which is safe.
                        stricter.push(format!("{name}: {why}"));
                    }
                }
                Some((_, Err(e))) => {
                    other_errors += 1;
                    if before.is_none() {
                        failures.push(format!("{name}: msgunfmt refuses it, strip-nd: {e}"));
                    }
                }
                Some((_, Ok(Outcome::Unchanged))) => {
                    unchanged += 1;
                    if before.is_none() {
                        failures.push(format!("{name}: msgunfmt refuses it, called unchanged"));
                    }
                }
                Some((_, Ok(Outcome::Rewritten { bytes, .. }))) => {
                    rewritten += 1;
                    let output = tmp.path().join("out.mo");
                    fs::write(&output, &bytes).unwrap();
                    let after = listing(&output);
                    if before.is_none() {
                        failures.push(format!("{name}: msgunfmt refuses it, rewritten"));
                    } else if after.is_none() {
                        failures.push(format!("{name}: msgunfmt refuses the output"));
                    } else if after != before {
                        failures.push(format!("{name}: the messages changed"));
                    }
                }
            }
        }
    }
    eprintln!(
        "{total} mutants: msgunfmt refuses {refused}; strip-nd: {malformed} malformed, \
         {rewritten} rewritten, {unchanged} unchanged, {other_errors} other errors, \
         {unclaimed} unclaimed; malformed though msgunfmt reads them: {stricter:?}"
    );
    assert!(
        total >= 900 && refused >= 300,
        "a weak campaign: {total}, {refused}"
    );
    assert!(
        rewritten >= 50,
        "too few rewrites to check the outputs: {rewritten}"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
