//! The gzip handler's scratch path: a claimed payload (the tar of a
//! `.tar.gz`) larger than the in-memory limit, when the claiming handler
//! streams, is inflated into a scratch file, normalized by position into
//! another, and recompressed from it. Its bytes must be the in-memory path's.

use std::fmt::Write;
use std::fs;

use strip_nd::handler::{Handler, Outcome, Sink, Written};
use strip_nd::handlers::gzip::Gzip;

use crate::files::{CountingSpill, open};
use crate::util::{config_in_memory, need, tool};

/// Lowered so the tar below (about 300 KiB) is well past it.
const IN_MEMORY: u64 = 64 << 10;

/// Files in the tar.
const PARTS: u32 = 8;

#[test]
#[ignore = "needs tar and gzip"]
fn a_payload_past_the_limit_goes_through_scratch_and_gives_the_in_memory_bytes() {
    need("tar", "tar");
    need("gzip", "gzip");
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("t");
    fs::create_dir(&tree).unwrap();
    // Files written now: the tar records current mtimes (past the epoch), so
    // its headers change and the member is recompressed. Each file is under
    // the limit, so the only scratch files are the gzip handler's.
    for k in 0..PARTS {
        let mut text = String::new();
        for i in 0..1500 {
            writeln!(text, "line {i} of part {k}: {}", i * 7919 % 10007).unwrap();
        }
        assert!((text.len() as u64) < IN_MEMORY);
        fs::write(tree.join(format!("part{k}.txt")), text).unwrap();
    }
    let gz = dir.path().join("t.tar.gz");
    // Without -n: what tar's gzip records in the header is left as it comes.
    tool(
        "tar",
        [
            "czf".as_ref(),
            gz.as_os_str(),
            "-C".as_ref(),
            dir.path().as_os_str(),
            "t".as_ref(),
        ],
    );
    let input = fs::read(&gz).unwrap();
    let tar_len = tool("gzip", ["-dc".as_ref(), gz.as_os_str()]).len() as u64;
    assert!(tar_len > 4 * IN_MEMORY, "the tar is only {tar_len} bytes");

    // In memory: the whole file, the default limit, no scratch space.
    let whole = config_in_memory(u64::MAX);
    let Outcome::Rewritten {
        bytes: want,
        changes,
    } = Gzip.normalize(&input, &whole.context(&gz)).unwrap()
    else {
        panic!("the .tar.gz was not rewritten")
    };
    let want_changes: Vec<String> = changes.iter().map(ToString::to_string).collect();

    // Streamed, the payload past the limit: into scratch files.
    let low = config_in_memory(IN_MEMORY);
    let spill = CountingSpill::default();
    let mut ctx = low.context(&gz);
    ctx.spill = &spill;
    let mut got = Vec::new();
    let sink: &mut dyn Sink = &mut got;
    let Written::Rewritten(changes) = Gzip.normalize_to(&open(&gz).unwrap(), sink, &ctx).unwrap()
    else {
        panic!("the streamed .tar.gz was not rewritten")
    };
    assert!(
        spill.made() >= 2,
        "{} scratch files: the payload and the normalized tar were not spilled",
        spill.made()
    );
    assert!(
        got == want,
        "the scratch path gave other bytes than the in-memory path"
    );
    let got_changes: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(got_changes, want_changes);
    assert!(
        got_changes.iter().any(|c| c.contains("recompressed")),
        "{got_changes:?}"
    );

    // Real consumers accept it.
    let out = dir.path().join("out.tar.gz");
    fs::write(&out, &got).unwrap();
    tool("gzip", ["-t".as_ref(), out.as_os_str()]);
    let listing = String::from_utf8(tool("tar", ["tvf".as_ref(), out.as_os_str()])).unwrap();
    for k in 0..PARTS {
        assert!(listing.contains(&format!("t/part{k}.txt")), "{listing}");
    }
    assert!(
        listing.contains("1980-01-01") || listing.contains("1979-12-31"),
        "mtimes not clamped:\n{listing}"
    );
    assert_eq!(
        tool("gzip", ["-dc".as_ref(), out.as_os_str()]).len() as u64,
        tar_len
    );
}
