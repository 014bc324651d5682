#![no_main]
//! Fuzzes the uimage handler. Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run uimage fuzz/corpus/uimage corpus/uimage`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::uimage::UImage;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&UImage, data));
