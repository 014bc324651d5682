//! Where a compressed container keeps the payload it expanded (gzip, xz,
//! bzip2, zstd): in memory up to `in_memory`, in scratch space beyond it
//! when the handler that claimed the payload streams; and how that payload
//! goes back through the dispatcher.

use std::io::{self, Write};

use crate::handler::{Change, Context, FormatError, Nested, NestedWritten, Scratch, Sink, Source};

/// An expanded payload, or a payload's rewrite.
pub(crate) enum Held {
    Memory(Vec<u8>),
    Scratch(Box<dyn Scratch>),
}

impl Held {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Held::Memory(v) => v.len() as u64,
            Held::Scratch(s) => s.len(),
        }
    }

    pub(crate) fn source(&self) -> &dyn Source {
        match self {
            Held::Memory(v) => v,
            Held::Scratch(s) => &**s,
        }
    }

    pub(crate) fn sink(&mut self) -> &mut dyn Sink {
        match self {
            Held::Memory(v) => v,
            Held::Scratch(s) => &mut **s,
        }
    }

    /// Makes what was written readable by position.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        match self {
            Held::Memory(_) => Ok(()),
            Held::Scratch(s) => s.finish(),
        }
    }

    /// A new, empty one: scratch space when there is some, else memory.
    pub(crate) fn new(ctx: &Context) -> Self {
        ctx.spill
            .scratch()
            .map_or_else(|_| Held::Memory(Vec::new()), Held::Scratch)
    }

    /// Appends `b`, moving what is held to scratch space first when `spill`
    /// and it grows past `in_memory`. Contexts made outside a run have no
    /// scratch space: the payload then stays in memory.
    pub(crate) fn grow(&mut self, b: &[u8], spill: bool, ctx: &Context) -> io::Result<()> {
        if let Held::Memory(v) = self {
            if spill && (v.len() + b.len()) as u64 > ctx.settings.in_memory {
                if let Ok(mut s) = ctx.spill.scratch() {
                    s.write_all(v)?;
                    *self = Held::Scratch(s);
                }
            }
        }
        self.sink().write_all(b)
    }

    /// Hands the payload to the dispatcher under `inner`: its rewrite and
    /// the changes, or `None` when it stays as it is (unclaimed, unchanged,
    /// or left untouched, which the dispatcher reports).
    pub(crate) fn rewritten(
        &mut self,
        ctx: &Context,
        inner: &Context,
    ) -> Result<Option<(Held, Vec<Change>)>, FormatError> {
        match self {
            Held::Memory(v) => match inner.dispatch.member(v, inner) {
                Nested::Rewritten { bytes, changes, .. } => {
                    Ok(Some((Held::Memory(bytes), changes)))
                }
                _ => Ok(None),
            },
            Held::Scratch(s) => {
                s.finish().map_err(|e| scratch_failed(&e))?;
                let mut out = Held::new(ctx);
                match inner.dispatch.member_to(&**s, out.sink(), inner) {
                    NestedWritten::Rewritten(_, changes) => {
                        out.finish().map_err(|e| scratch_failed(&e))?;
                        Ok(Some((out, changes)))
                    }
                    _ => Ok(None),
                }
            }
        }
    }
}

/// Scratch space that failed: the file is left as it is, reported.
pub(crate) fn scratch_failed(e: &io::Error) -> FormatError {
    FormatError::TooLarge(format!("scratch space for the payload failed: {e}"))
}
