#![no_main]
//! Fuzzes the sfnt font handler. Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run font fuzz/corpus/font corpus/font`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::font::Font;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Font, data));
