#![no_main]
//! Fuzzes the ar handler. Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run ar fuzz/corpus/ar corpus/ar`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::ar::Ar;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Ar, data));
