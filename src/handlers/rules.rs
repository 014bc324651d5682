//! The `rules` handler: user date rules (see [`crate::rules`]), last in the
//! dispatch table and off unless rules are given (`--rules`, `STRIP_ND_RULES`).
//!
//! It claims a file by **scope only**: a rule's glob matches the file's path
//! (relative to its root) or member path. The content is not sniffed, because
//! a rule's date may lie anywhere in the file, not only in the first 4 KiB;
//! `normalize` then searches the whole file and returns `Unchanged` when no
//! rule's regex finds a date to replace.
//!
//! Limitation: dispatch picks the first handler that claims a file, so a
//! file another handler claims (a gzip, a zip member's own format, a pyc...)
//! is normalized by that handler only, and rules never see it. Rules are for
//! the files no handler knows.

use crate::handler::{Context, FormatError, Handler, Outcome};

/// The user-date-rules handler.
pub struct RulesHandler;

impl Handler for RulesHandler {
    fn name(&self) -> &'static str {
        "rules"
    }

    fn describe(&self) -> &'static str {
        "user date rules (--rules FILE, STRIP_ND_RULES): files whose path matches a rule's scope; dates replaced by the epoch"
    }

    fn sniff(&self, _head: &[u8], ctx: &Context) -> bool {
        ctx.settings
            .rules
            .as_ref()
            .is_some_and(|r| r.in_scope(ctx.scope_path()))
    }

    fn ruled_out(&self, prefix: &[u8], ctx: &Context) -> bool {
        // The path decides, not the bytes.
        !self.sniff(prefix, ctx)
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        let Some(rules) = &ctx.settings.rules else {
            return Ok(Outcome::Unchanged);
        };
        Ok(
            match rules
                .apply(ctx.scope_path(), input)
                .map_err(FormatError::Unsupported)?
            {
                Some((bytes, changes)) => Outcome::Rewritten { bytes, changes },
                None => Outcome::Unchanged,
            },
        )
    }

    fn enabled_by_default(&self) -> bool {
        false
    }
}
