#![no_main]
//! Fuzzes the mo handler. Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run mo fuzz/corpus/mo corpus/mo`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::mo::Mo;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Mo, data));
