//! The property every fuzz target checks: a handler never panics, and any
//! output it rewrites is a fixed point (normalizing it again changes nothing).

use std::path::Path;

use strip_nd::config::Config;
use strip_nd::handlers::{Handler, Outcome};

/// Runs `handler` on `data` and asserts idempotence of any rewrite.
pub fn check(handler: &dyn Handler, data: &[u8]) {
    let config = Config::with_epoch(1_000_000_000);
    let ctx = config.context(Path::new("fuzz"));
    if let Ok(Outcome::Rewritten { bytes, .. }) = handler.normalize(data, &ctx) {
        match handler.normalize(&bytes, &ctx) {
            Ok(Outcome::Unchanged) => {}
            other => panic!("{}: a rewritten output is not a fixed point: {other:?}", handler.name()),
        }
    }
}
