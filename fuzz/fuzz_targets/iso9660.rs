#![no_main]
//! Fuzzes the iso9660 handler. Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run iso9660 fuzz/corpus/iso9660 corpus/iso9660`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::iso9660::Iso9660;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Iso9660, data));
