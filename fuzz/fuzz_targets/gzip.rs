#![no_main]
//! Fuzzes the gzip handler. Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run gzip fuzz/corpus/gzip corpus/gzip`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::gzip::Gzip;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Gzip, data));
