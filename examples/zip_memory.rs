//! Peak memory and time of the zip handler's streamed path on one archive
//! (issue 12): `normalize_to` over the file read by position, written to a
//! file, large members spilled to temp files. Run it in its own process so
//! its peak RSS (`VmHWM`) is the handler's:
//!
//! ```text
//! cargo run --release --example zip_memory -- IN.zip OUT.zip [IN_MEMORY_BYTES]
//! ```
//!
//! Prints the result, the wall time, the time to read the input once
//! (what `cat IN.zip >/dev/null` costs, from a warm cache as the run had)
//! and the ratio, and `VmHWM`. `ZIP_MEMORY_WHOLE=1` runs the in-memory
//! `normalize` instead, for comparison.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use strip_nd::Config;
use strip_nd::handler::{Handler, Written};
use strip_nd::handlers::zip::Zip;

#[path = "../tests/it/files.rs"]
mod files;

use files::{CountingSpill, FileSink, open};

fn vm_hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .map_or_else(
            || "VmHWM unknown".into(),
            |l| l.split_whitespace().collect::<Vec<_>>().join(" "),
        )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(output)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: zip_memory IN.zip OUT.zip [IN_MEMORY_BYTES]");
        std::process::exit(2);
    };
    let mut config = Config::with_epoch(315_532_800);
    if let Some(n) = args.get(3) {
        config.settings.in_memory = n.parse().expect("IN_MEMORY_BYTES is a number");
    }
    // The cost of reading the input once, as `cat` does.
    let start = Instant::now();
    let mut f = std::fs::File::open(input).expect("open input");
    let mut buf = vec![0; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).expect("read input");
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    drop(buf);
    let read_time = start.elapsed();

    let spill = CountingSpill::default();
    let mut ctx = config.context(Path::new(input));
    ctx.spill = &spill;
    let src = open(Path::new(input)).expect("open input");
    let mut sink = FileSink::create(Path::new(output)).expect("create output");
    let start = Instant::now();
    // ZIP_MEMORY_WHOLE=1: the in-memory path, for comparison.
    let result = if std::env::var_os("ZIP_MEMORY_WHOLE").is_some() {
        let bytes = std::fs::read(input).expect("read input");
        Zip.normalize(&bytes, &ctx).map(|o| match o {
            strip_nd::Outcome::Unchanged => Written::Unchanged,
            strip_nd::Outcome::Rewritten { bytes, changes } => {
                sink.write_all(&bytes).expect("write output");
                Written::Rewritten(changes)
            }
        })
    } else {
        Zip.normalize_to(&src, &mut sink, &ctx)
    };
    sink.flush().expect("flush output");
    let time = start.elapsed();
    match result {
        Ok(Written::Unchanged) => println!("unchanged"),
        Ok(Written::Rewritten(changes)) => println!("rewritten: {} changes", changes.len()),
        Err(e) => println!("left alone: {e}"),
    }
    println!(
        "{total} bytes; normalize_to {:.3} s; read once {:.3} s; ratio {:.2}; {} scratch files; {}",
        time.as_secs_f64(),
        read_time.as_secs_f64(),
        time.as_secs_f64() / read_time.as_secs_f64(),
        spill.made(),
        vm_hwm()
    );
}
