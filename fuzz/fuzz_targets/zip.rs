#![no_main]
//! Fuzzes the zip handler (and, through dispatch, the handlers of its
//! members). Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run zip fuzz/corpus/zip corpus/zip`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::zip::Zip;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Zip, data));
