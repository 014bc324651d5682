#![no_main]
//! Fuzzes the xz, bzip2 and zstd handlers (one generic handler over three
//! codecs): each input goes to all three, so a mutation that keeps a magic
//! reaches its codec's framing, decoder, nested tar and encoder. Seed with
//! the corpus: `RUSTC_BOOTSTRAP=1 cargo fuzz run compressed fuzz/corpus/compressed corpus/compressed`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::compressed::{BZIP2, XZ, ZSTD};

fuzz_target!(|data: &[u8]| {
    strip_nd_fuzz::check(&XZ, data);
    strip_nd_fuzz::check(&BZIP2, data);
    strip_nd_fuzz::check(&ZSTD, data);
});
