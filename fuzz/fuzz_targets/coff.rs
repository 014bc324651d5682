#![no_main]
//! Fuzzes the coff handler. Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run coff fuzz/corpus/coff corpus/coff`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::coff::Coff;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Coff, data));
