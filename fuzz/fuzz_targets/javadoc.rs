#![no_main]
//! Fuzzes the javadoc handler. Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run javadoc fuzz/corpus/javadoc corpus/javadoc`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::javadoc::Javadoc;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Javadoc, data));
