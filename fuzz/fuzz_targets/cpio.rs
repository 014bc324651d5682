#![no_main]
//! Fuzzes the cpio handler (newc, crc, odc, and binary in both byte orders:
//! the corpus has each). Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run cpio fuzz/corpus/cpio corpus/cpio`

use libfuzzer_sys::fuzz_target;
use strip_nd::handlers::cpio::Cpio;

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check(&Cpio, data));
