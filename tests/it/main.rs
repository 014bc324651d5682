//! The one integration test binary: CLI tests on temp trees, corpus tests with
//! real consumers, NAR tests against Nix, and property tests.
//!
//! Tests that need a tool a fresh machine lacks are `#[ignore = "needs <tool>"]`;
//! CI installs the tools and runs them with `--include-ignored`.

mod archives;
mod cli;
mod completions;
mod corpus;
mod crash;
mod ctar;
mod dates;
mod diff;
mod files;
mod font;
mod gzstream;
mod iso;
mod malformed;
mod manifests;
mod memory;
mod mo;
mod nar;
mod nix;
mod pdf;
mod pe;
mod props;
mod pyc;
mod realworld;
mod report;
mod rules;
mod sniff;
mod stream;
mod text_claims;
mod util;
mod zip;
mod zipgen;
mod zipstream;
