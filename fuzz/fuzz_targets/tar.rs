#![no_main]
//! Fuzzes the tar handler. Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run tar fuzz/corpus/tar corpus/tar`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::tar::Tar;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Tar, data));
