#![no_main]
//! Fuzzes the pyc handler (header and the iterative marshal parser). Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run pyc fuzz/corpus/pyc corpus/pyc`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::pyc::Pyc;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Pyc, data));
