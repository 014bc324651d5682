#![no_main]
//! Fuzzes the png handler. Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run png fuzz/corpus/png corpus/png`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::png::Png;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Png, data));
