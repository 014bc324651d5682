#![no_main]
//! Fuzzes the pdf handler. Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run pdf fuzz/corpus/pdf corpus/pdf`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::pdf::Pdf;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Pdf, data));
