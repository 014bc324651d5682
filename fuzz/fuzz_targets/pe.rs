#![no_main]
//! Fuzzes the pe handler. Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run pe fuzz/corpus/pe corpus/pe`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::pe::Pe;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Pe, data));
