//! The property every fuzz target checks: a handler never panics, and any
//! output it rewrites is a fixed point (normalizing it again changes nothing).
//! Nested handlers' panics propagate too ([`Config::panicking`]).

use std::path::Path;

use strip_nd::config::Config;
use strip_nd::handlers::{Handler, Outcome};

/// Runs `handler` on `data` and asserts idempotence of any rewrite.
pub fn check(handler: &dyn Handler, data: &[u8]) {
    check_with(handler, data, &Config::with_epoch(1_000_000_000).panicking(), Path::new("fuzz"));
}

/// The same, with a given config and file name.
pub fn check_with(handler: &dyn Handler, data: &[u8], config: &Config, name: &Path) {
    let ctx = config.context(name);
    if let Ok(Outcome::Rewritten { bytes, .. }) = handler.normalize(data, &ctx) {
        match handler.normalize(&bytes, &ctx) {
            Ok(Outcome::Unchanged) => {}
            other => panic!("{}: a rewritten output is not a fixed point: {other:?}", handler.name()),
        }
    }
}
