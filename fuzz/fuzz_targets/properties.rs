#![no_main]
//! Fuzzes the properties handler. Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run properties fuzz/corpus/properties corpus/properties`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::properties::Properties;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Properties, data));
