//! The handler table at work: which handlers are on ([`HandlerSet`]), which
//! one claims a file ([`Table::sniff`]), and the one implementation of
//! [`Dispatch`] through which archive handlers hand their members back.
//!
//! Every rule that holds for members holds here, once, for every format:
//! the size limit, the depth limit, the panic guard, the `member!` prefix of
//! the members' changes, and the report of members left untouched
//! ([`Recorder`]).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

use crate::handler::{
    Context, Dispatch, FormatError, Handler, Nested, NestedWritten, Outcome, Sink, Source, Written,
};
use crate::handlers::HANDLERS;

/// A set of enabled handlers (a bit per entry of [`HANDLERS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandlerSet(u64);

impl Default for HandlerSet {
    fn default() -> Self {
        let mut bits = 0;
        for (i, h) in HANDLERS.iter().enumerate() {
            if h.enabled_by_default() {
                bits |= 1 << i;
            }
        }
        Self(bits)
    }
}

/// A `--handlers` value named an unknown handler or was empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HandlerSpecError(String);

/// Looks a handler up by name.
pub fn by_name(name: &str) -> Option<(usize, &'static dyn Handler)> {
    HANDLERS
        .iter()
        .copied()
        .enumerate()
        .find(|(_, h)| h.name() == name)
}

impl HandlerSet {
    /// No handler at all.
    pub fn none() -> Self {
        Self(0)
    }

    /// Whether handler number `i` of [`HANDLERS`] is enabled.
    pub fn contains(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
    }

    /// Enables or disables handler number `i`.
    pub fn set(&mut self, i: usize, on: bool) {
        if on {
            self.0 |= 1 << i;
        } else {
            self.0 &= !(1 << i);
        }
    }

    /// Parses a `--handlers` value. `+a,-b` adjusts the default set; a plain
    /// list `a,b` enables exactly those handlers. Mixing is allowed: plain
    /// names then mean "only these", and `+`/`-` apply on top.
    pub fn parse(spec: &str) -> Result<Self, HandlerSpecError> {
        Self::parse_with(spec, Self::default())
    }

    /// Like [`HandlerSet::parse`], with `base` as the set `+a,-b` adjusts
    /// (the default set plus `rules` when rules are given, say).
    pub fn parse_with(spec: &str, base: Self) -> Result<Self, HandlerSpecError> {
        let items: Vec<&str> = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Err(HandlerSpecError(
                "--handlers needs a list such as +gzip,-zip or gzip,zip".into(),
            ));
        }
        let exclusive = items.iter().any(|s| !s.starts_with(['+', '-']));
        let mut set = if exclusive { Self::none() } else { base };
        for item in items {
            let (on, name) = match item.as_bytes()[0] {
                b'+' => (true, &item[1..]),
                b'-' => (false, &item[1..]),
                _ => (true, item),
            };
            let Some((i, _)) = by_name(name) else {
                let known: Vec<&str> = HANDLERS.iter().map(|h| h.name()).collect();
                return Err(HandlerSpecError(format!(
                    "unknown handler {name:?} in --handlers; known handlers: {}",
                    known.join(", ")
                )));
            };
            set.set(i, on);
        }
        Ok(set)
    }

    /// Names of the enabled handlers, in table order.
    pub fn names(self) -> Vec<&'static str> {
        HANDLERS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.contains(*i))
            .map(|(_, h)| h.name())
            .collect()
    }
}

/// A handler table in dispatch order and the handlers of it that are on.
#[derive(Clone, Copy)]
pub struct Table {
    /// The handlers, in dispatch order: [`HANDLERS`] except in tests of the
    /// engine itself.
    pub entries: &'static [&'static dyn Handler],
    /// Which entries may claim files.
    pub enabled: HandlerSet,
    /// Whether a member's handler that panics is turned into a malformed
    /// member (a run must survive a bug). Property tests and fuzz targets
    /// turn it off, so a panic in a nested handler fails them.
    pub catch_panics: bool,
}

impl Default for Table {
    fn default() -> Self {
        Self {
            entries: HANDLERS,
            enabled: HandlerSet::default(),
            catch_panics: true,
        }
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.entries
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| self.enabled.contains(*i))
                    .map(|(_, h)| h.name()),
            )
            .finish()
    }
}

impl Table {
    /// The first enabled handler that claims `head`.
    pub fn sniff(&self, head: &[u8], ctx: &Context) -> Option<&'static dyn Handler> {
        self.entries
            .iter()
            .enumerate()
            .find(|(i, h)| {
                self.enabled.contains(*i) && h.sniff(&head[..head.len().min(h.sniff_len())], ctx)
            })
            .map(|(_, h)| *h)
    }

    /// Whether no enabled handler can claim a head of at most
    /// [`crate::handler::SNIFF_LEN`] bytes starting with `prefix`.
    pub fn ruled_out(&self, prefix: &[u8], ctx: &Context) -> bool {
        self.entries
            .iter()
            .enumerate()
            .all(|(i, h)| !self.enabled.contains(i) || h.ruled_out(prefix, ctx))
    }
}

/// Runs `handler` on `input`, turning a panic into a [`FormatError`] so one bad
/// file never takes a run down, and discarding a "rewrite" that produced the
/// input unchanged.
pub fn run_guarded(
    handler: &dyn Handler,
    input: &[u8],
    ctx: &Context,
) -> Result<Outcome, FormatError> {
    let result = catch_unwind(AssertUnwindSafe(|| handler.normalize(input, ctx)));
    match result {
        Ok(Ok(Outcome::Rewritten { bytes, .. })) if bytes == input => Ok(Outcome::Unchanged),
        Ok(other) => other,
        Err(panic) => Err(panicked(handler, &*panic)),
    }
}

/// Sniffs a whole file with the context's table and runs the claiming
/// handler on it, guarded. Returns the handler's name with its outcome, or
/// `None` when no handler claims the bytes.
pub fn dispatch(
    input: &[u8],
    ctx: &Context,
) -> Option<(&'static str, Result<Outcome, FormatError>)> {
    let handler = ctx.dispatch.sniff(input, ctx)?;
    if let Some(e) = over_limits(input.len() as u64, ctx) {
        return Some((handler.name(), Err(e)));
    }
    Some((handler.name(), run_guarded(handler, input, ctx)))
}

/// Like [`run_guarded`] for [`Handler::normalize_to`].
pub fn run_guarded_to(
    handler: &dyn Handler,
    input: &dyn Source,
    out: &mut dyn Sink,
    ctx: &Context,
) -> Result<Written, FormatError> {
    catch_unwind(AssertUnwindSafe(|| handler.normalize_to(input, out, ctx)))
        .unwrap_or_else(|panic| Err(panicked(handler, &*panic)))
}

fn panicked(handler: &dyn Handler, panic: &(dyn std::any::Any + Send)) -> FormatError {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    FormatError::Malformed(format!(
        "handler {} panicked ({msg}); this is a bug in strip-nd, please report it",
        handler.name()
    ))
}

/// Whether a [`FormatError`] came from the panic guard.
pub fn is_panic(e: &FormatError) -> bool {
    matches!(e, FormatError::Malformed(m) if m.contains(" panicked (") && m.ends_with("this is a bug in strip-nd, please report it"))
}

/// Why a member of `len` bytes cannot be normalized at `ctx`, if it cannot.
fn over_limits(len: u64, ctx: &Context) -> Option<FormatError> {
    let settings = ctx.settings;
    if ctx.depth > settings.max_depth {
        return Some(FormatError::TooLarge(format!(
            "nested deeper than {} archives",
            settings.max_depth
        )));
    }
    (len > settings.max_size).then(|| {
        FormatError::TooLarge(format!(
            "{len} bytes, larger than the {}-byte limit",
            settings.max_size
        ))
    })
}

impl Dispatch for Table {
    fn sniff(&self, head: &[u8], ctx: &Context) -> Option<&'static dyn Handler> {
        Table::sniff(self, head, ctx)
    }

    fn ruled_out(&self, prefix: &[u8], ctx: &Context) -> bool {
        Table::ruled_out(self, prefix, ctx)
    }

    fn member(&self, input: &[u8], ctx: &Context) -> Nested {
        let Some(handler) = Table::sniff(self, input, ctx) else {
            return Nested::NotClaimed;
        };
        let name = handler.name();
        if let Some(e) = over_limits(input.len() as u64, ctx) {
            return Nested::Failed(name, e);
        }
        let result = if self.catch_panics {
            run_guarded(handler, input, ctx)
        } else {
            handler.normalize(input, ctx)
        };
        match result {
            Ok(Outcome::Unchanged) => Nested::Unchanged(name),
            Ok(Outcome::Rewritten { bytes, changes }) => {
                let label = ctx.name.to_string_lossy();
                Nested::Rewritten {
                    handler: name,
                    bytes,
                    changes: changes.into_iter().map(|c| c.inside(&*label)).collect(),
                }
            }
            Err(e) => Nested::Failed(name, e),
        }
    }

    fn member_to(&self, input: &dyn Source, out: &mut dyn Sink, ctx: &Context) -> NestedWritten {
        let len = input.len();
        if len <= ctx.settings.in_memory {
            let Ok(bytes) = input.read_vec(0, usize::try_from(len).unwrap_or(usize::MAX)) else {
                return NestedWritten::NotClaimed;
            };
            return match Dispatch::member(self, &bytes, ctx) {
                Nested::NotClaimed => NestedWritten::NotClaimed,
                Nested::Unchanged(h) => NestedWritten::Unchanged(h),
                Nested::Failed(h, e) => NestedWritten::Failed(h, e),
                Nested::Rewritten {
                    handler,
                    bytes,
                    changes,
                } => match out.write_all(&bytes) {
                    Ok(()) => NestedWritten::Rewritten(handler, changes),
                    Err(e) => NestedWritten::Failed(
                        handler,
                        FormatError::TooLarge(format!("cannot write to scratch space: {e}")),
                    ),
                },
            };
        }
        let head_len = self
            .entries
            .iter()
            .map(|h| h.sniff_len())
            .max()
            .unwrap_or(0)
            .min(usize::try_from(len).unwrap_or(usize::MAX));
        let Ok(head) = input.read_vec(0, head_len) else {
            return NestedWritten::NotClaimed;
        };
        let Some(handler) = Table::sniff(self, &head, ctx) else {
            return NestedWritten::NotClaimed;
        };
        let name = handler.name();
        if let Some(e) = over_limits(len, ctx) {
            return NestedWritten::Failed(name, e);
        }
        if !handler.streams() {
            return NestedWritten::Failed(
                name,
                FormatError::TooLarge(format!(
                    "{len} bytes, more than the {}-byte in-memory limit, and the {name} handler \
                     reads its input whole",
                    ctx.settings.in_memory
                )),
            );
        }
        let result = if self.catch_panics {
            run_guarded_to(handler, input, out, ctx)
        } else {
            handler.normalize_to(input, out, ctx)
        };
        match result {
            Ok(Written::Unchanged) => NestedWritten::Unchanged(name),
            Ok(Written::Rewritten(changes)) => {
                let label = ctx.name.to_string_lossy();
                NestedWritten::Rewritten(
                    name,
                    changes.into_iter().map(|c| c.inside(&*label)).collect(),
                )
            }
            Err(e) => NestedWritten::Failed(name, e),
        }
    }
}

/// A member some handler left untouched: where, which handler, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untouched {
    /// The member names from the top-level file down (`["b.zip", "c.class"]`).
    pub members: Vec<String>,
    /// The handler that claimed the member.
    pub handler: &'static str,
    /// Why it was left as it is.
    pub error: FormatError,
}

/// A [`Dispatch`] for one top-level file: the table's, remembering every
/// member it left untouched so the run can report it.
pub struct Recorder<'t> {
    table: &'t Table,
    untouched: Mutex<Vec<Untouched>>,
}

impl<'t> Recorder<'t> {
    /// A recorder over `table`, with nothing recorded yet.
    pub fn new(table: &'t Table) -> Self {
        Self {
            table,
            untouched: Mutex::new(Vec::new()),
        }
    }

    fn record(&self, ctx: &Context, handler: &'static str, error: &FormatError) {
        self.untouched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Untouched {
                members: ctx.members(),
                handler,
                error: error.clone(),
            });
    }

    /// What was recorded, each member once, in the order first seen.
    pub fn into_untouched(self) -> Vec<Untouched> {
        let mut all = self
            .untouched
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut seen = std::collections::HashSet::new();
        all.retain(|u| seen.insert((u.members.clone(), u.error.clone())));
        all
    }
}

impl Dispatch for Recorder<'_> {
    fn sniff(&self, head: &[u8], ctx: &Context) -> Option<&'static dyn Handler> {
        self.table.sniff(head, ctx)
    }

    fn ruled_out(&self, prefix: &[u8], ctx: &Context) -> bool {
        self.table.ruled_out(prefix, ctx)
    }

    fn member(&self, input: &[u8], ctx: &Context) -> Nested {
        let nested = self.table.member(input, ctx);
        if let Nested::Failed(handler, error) = &nested {
            self.record(ctx, handler, error);
        }
        nested
    }

    fn member_to(&self, input: &dyn Source, out: &mut dyn Sink, ctx: &Context) -> NestedWritten {
        let nested = self.table.member_to(input, out, ctx);
        if let NestedWritten::Failed(handler, error) = &nested {
            self.record(ctx, handler, error);
        }
        nested
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::handler::{Change, Settings};

    /// An "archive": `wrap` then one member, handed back to the table.
    struct Wrap;
    /// A handler with a bug: it panics on `boom`.
    struct Boom;

    impl Handler for Wrap {
        fn name(&self) -> &'static str {
            "wrap"
        }
        fn describe(&self) -> &'static str {
            "test archive"
        }
        fn sniff(&self, head: &[u8], _: &Context) -> bool {
            head.starts_with(b"wrap")
        }
        fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
            Ok(match ctx.member(Path::new("m"), &input[4..]) {
                Nested::Rewritten { bytes, changes, .. } => Outcome::Rewritten {
                    bytes: [b"wrap", &bytes[..]].concat(),
                    changes,
                },
                _ => Outcome::Unchanged,
            })
        }
    }

    impl Handler for Boom {
        fn name(&self) -> &'static str {
            "boom"
        }
        fn describe(&self) -> &'static str {
            "test handler that panics"
        }
        fn sniff(&self, head: &[u8], _: &Context) -> bool {
            head.starts_with(b"boom") || head.starts_with(b"late")
        }
        fn normalize(&self, input: &[u8], _: &Context) -> Result<Outcome, FormatError> {
            assert!(!input.starts_with(b"boom"), "a bug");
            Ok(Outcome::Rewritten {
                bytes: b"early".to_vec(),
                changes: vec![Change::set("", "stamp", "late", "early")],
            })
        }
    }

    static TABLE: &[&dyn Handler] = &[&Wrap, &Boom];

    fn table(catch_panics: bool) -> Table {
        Table {
            entries: TABLE,
            enabled: HandlerSet(0b11),
            catch_panics,
        }
    }

    #[test]
    fn members_are_prefixed_and_their_failures_recorded() {
        let settings = Settings::default();
        let table = table(true);
        let recorder = Recorder::new(&table);
        let ctx = Context::new(&settings, &recorder, Path::new("a.wrap"));
        let out = Wrap.normalize(b"wraplate", &ctx).unwrap();
        assert_eq!(out.notes(), ["m!stamp late -> early"]);
        assert_eq!(
            Wrap.normalize(b"wrapboom", &ctx).unwrap(),
            Outcome::Unchanged
        );
        let untouched = recorder.into_untouched();
        assert_eq!(untouched.len(), 1, "{untouched:?}");
        assert_eq!(untouched[0].members, ["m"]);
        assert_eq!(untouched[0].handler, "boom");
        assert!(is_panic(&untouched[0].error), "{:?}", untouched[0].error);
    }

    #[test]
    fn without_the_guard_a_nested_panic_reaches_the_caller() {
        let settings = Settings::default();
        let table = table(false);
        let ctx = Context::new(&settings, &table, Path::new("a.wrap"));
        let caught = catch_unwind(AssertUnwindSafe(|| Wrap.normalize(b"wrapboom", &ctx)));
        assert!(caught.is_err(), "the nested panic was swallowed");
    }

    #[test]
    fn members_past_the_depth_limit_are_refused() {
        let settings = Settings {
            max_depth: 0,
            ..Settings::default()
        };
        let table = table(true);
        let recorder = Recorder::new(&table);
        let ctx = Context::new(&settings, &recorder, Path::new("a.wrap"));
        assert_eq!(
            Wrap.normalize(b"wraplate", &ctx).unwrap(),
            Outcome::Unchanged
        );
        let untouched = recorder.into_untouched();
        assert!(
            matches!(&untouched[..], [u] if matches!(&u.error, FormatError::TooLarge(m) if m.contains("nested deeper"))),
            "{untouched:?}"
        );
    }

    #[test]
    fn spec_adjusts_or_replaces_the_default_set() {
        let all = HandlerSet::default();
        assert!(all.contains(0));
        let without = HandlerSet::parse("-gzip").unwrap();
        assert!(!without.contains(0));
        let only = HandlerSet::parse("gzip").unwrap();
        assert_eq!(only.names(), vec!["gzip"]);
        assert!(HandlerSet::parse("+nope").is_err());
        assert!(HandlerSet::parse(" , ").is_err());
    }
}
