#![no_main]
//! Fuzzes the perllocal handler. Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run perllocal fuzz/corpus/perllocal corpus/perllocal`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::perllocal::Perllocal;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Perllocal, data));
